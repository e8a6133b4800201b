//! Settings: where Redis is, and the settings file of the worker and of
//! hatter.
//!
//! Both commands take each setting from, in order of precedence, a flag, a
//! `HATS_*` environment variable, then a file (`--config FILE` for the
//! worker, `~/.hatter.toml` for hatter). Flags and variables are read by clap
//! in each binary; this module reads the files and holds what both share.

use std::path::Path;
use std::time::Duration;

use redis::{ConnectionInfo, IntoConnectionInfo};
use serde::Deserialize;

use crate::error::{Error, Result};

/// The Redis address used when none is given.
pub const DEFAULT_REDIS_ADDRESS: &str = "127.0.0.1:6379";

/// The cluster used when none is given.
pub const DEFAULT_CLUSTER: &str = "default";

/// Where Redis is and how to log in.
///
/// Either `url` (any form the Redis client takes: `redis://`, `rediss://`,
/// `redis+unix://`) or `address` (`host:port`) with an optional password.
/// When both are given the URL wins; a password given apart from a URL
/// replaces the URL's.
#[derive(Clone, Default, PartialEq)]
pub struct RedisSettings {
    /// `host:port`.
    pub address: Option<String>,
    /// The password; never logged or printed.
    pub password: Option<String>,
    /// A full Redis URL.
    pub url: Option<String>,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("target", &self.describe())
            .field("password", &self.password.as_ref().map(|_| "(set)"))
            .finish()
    }
}

impl RedisSettings {
    /// Where these settings point, for messages: the address, or the URL with
    /// any password masked.
    pub fn describe(&self) -> String {
        match &self.url {
            Some(url) => mask_url_password(url),
            None => self
                .address
                .clone()
                .unwrap_or_else(|| DEFAULT_REDIS_ADDRESS.to_string()),
        }
    }

    /// The connection parameters for the Redis client.
    pub fn connection_info(&self) -> Result<ConnectionInfo> {
        let info = match &self.url {
            Some(url) => url.as_str().into_connection_info().map_err(|e| {
                Error::invalid(
                    "config.redis",
                    format!(
                        "`{}` is not a Redis URL ({e}): write it as redis://[:PASSWORD@]HOST:PORT[/DB]",
                        mask_url_password(url)
                    ),
                )
            })?,
            None => {
                let address = self.address.as_deref().unwrap_or(DEFAULT_REDIS_ADDRESS);
                let (host, port) = split_address(address)?;
                format!("redis://{host}:{port}").into_connection_info().map_err(|e| {
                    Error::invalid("config.redis", format!("bad Redis address `{address}`: {e}"))
                })?
            }
        };
        Ok(match &self.password {
            Some(pw) if !pw.is_empty() => {
                let redis = info.redis_settings().clone().set_password(pw);
                info.set_redis_settings(redis)
            }
            _ => info,
        })
    }
}

/// Splits `host:port`, accepting `[v6]:port` too.
fn split_address(address: &str) -> Result<(String, u16)> {
    let bad = || {
        Error::invalid(
            "config.redis",
            format!("Redis address `{address}` is not HOST:PORT (for example 127.0.0.1:6379)"),
        )
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || host.contains('/') {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// Replaces the password of a URL with `***`, for messages and logs.
pub fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((auth, host)) => match auth.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => format!("{scheme}://***@{host}"),
        },
        None => url.to_string(),
    }
}

/// A duration in a settings file: a string such as `"5s"`, or a number.
///
/// The original HATS wrote durations as Go `time.Duration` values, which are
/// nanoseconds; a number of a million or more is read that way, a smaller one
/// as seconds.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum FileDuration {
    /// A number; see the type's docs for the unit.
    Number(f64),
    /// Text in the form `500ms`, `5s`.
    Text(String),
}

impl FileDuration {
    /// The duration, or an error naming `what`.
    pub fn to_duration(&self, what: &str) -> Result<Duration> {
        match self {
            FileDuration::Number(n) if *n < 0.0 || !n.is_finite() => Err(Error::invalid(
                "config.file",
                format!("{what} must be a positive duration, not {n}"),
            )),
            FileDuration::Number(n) if *n >= 1_000_000.0 => Ok(Duration::from_nanos(*n as u64)),
            FileDuration::Number(n) => Ok(Duration::from_secs_f64(*n)),
            FileDuration::Text(t) => crate::model::parse_duration(what, t),
        }
    }
}

/// A flag that a settings file may give as `true`/`false` or as a string.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum FileBool {
    /// `true` or `false`.
    Bool(bool),
    /// `"true"`, `"false"`, `"1"`, `"0"`, `"yes"`, `"no"`.
    Text(String),
}

impl FileBool {
    /// The value, or an error naming `what`.
    pub fn to_bool(&self, what: &str) -> Result<bool> {
        match self {
            FileBool::Bool(b) => Ok(*b),
            FileBool::Text(t) => match t.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" | "" => Ok(false),
                _ => Err(Error::invalid(
                    "config.file",
                    format!("{what} must be true or false, not `{t}`"),
                )),
            },
        }
    }
}

/// Scripts in a settings file: a list, or one comma-separated string.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum FileList {
    /// `["a.js", "b.js"]`.
    List(Vec<String>),
    /// `"a.js,b.js"`.
    Text(String),
}

impl FileList {
    /// The items, with empty ones dropped.
    pub fn items(&self) -> Vec<String> {
        let items: Vec<String> = match self {
            FileList::List(v) => v.clone(),
            FileList::Text(t) => t.split(',').map(str::to_string).collect(),
        };
        items
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// The worker's `--config FILE`: the same keys as its flags, every one
/// optional.
///
/// The JSON form of the original HATS reads as it is: its keys `name` and
/// `cluster` are taken for `worker-name` and `cluster-name`. Unknown keys are
/// refused, so a misspelt setting is reported instead of silently ignored.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WorkerFile {
    /// `--cluster-name`.
    #[serde(alias = "cluster")]
    pub cluster_name: Option<String>,
    /// `--worker-name`.
    #[serde(alias = "name")]
    pub worker_name: Option<String>,
    /// `--redis-address`.
    pub redis_address: Option<String>,
    /// `--redis-password`.
    pub redis_password: Option<String>,
    /// `--redis-url`.
    pub redis_url: Option<String>,
    /// `--scripts`.
    pub scripts: Option<FileList>,
    /// `--run-now`.
    pub run_now: Option<FileBool>,
    /// `--cpu-threshold`.
    pub cpu_threshold: Option<f64>,
    /// `--mem-threshold`.
    pub mem_threshold: Option<f64>,
    /// `--health-interval`.
    pub health_interval: Option<FileDuration>,
    /// `--host`.
    pub host: Option<FileBool>,
    /// `--host-port`.
    pub host_port: Option<u16>,
    /// `--health-port`.
    pub health_port: Option<u16>,
    /// `--loop-limit`.
    pub loop_limit: Option<u64>,
    /// `--recursion-limit`.
    pub recursion_limit: Option<usize>,
    /// `--http-timeout`.
    pub http_timeout: Option<FileDuration>,
    /// `--http-max-body`.
    pub http_max_body: Option<usize>,
}

/// hatter's `~/.hatter.toml`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct HatterFile {
    /// `--redis-address`.
    pub redis_address: Option<String>,
    /// `--redis-url`.
    pub redis_url: Option<String>,
    /// `--redis-password`.
    pub redis_password: Option<String>,
    /// `--cluster`.
    #[serde(alias = "cluster-name")]
    pub cluster: Option<String>,
}

/// Reads a settings file: JSON when it ends in `.json` or starts with `{`,
/// TOML otherwise.
pub fn read_file<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::new(
            "config.file",
            if e.kind() == std::io::ErrorKind::NotFound {
                crate::error::ErrorKind::NotFound
            } else {
                crate::error::ErrorKind::Invalid
            },
            format!("cannot read settings file `{}`: {e}", path.display()),
        )
    })?;
    parse_file(path, &text)
}

/// Parses the text of a settings file; see [`read_file`].
pub fn parse_file<T: for<'de> Deserialize<'de>>(path: &Path, text: &str) -> Result<T> {
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with('{');
    if is_json {
        serde_json::from_str(text).map_err(|e| {
            Error::invalid(
                "config.file",
                format!("settings file `{}`: {e}", path.display()),
            )
        })
    } else {
        toml::from_str(text).map_err(|e| {
            let msg = e.message().to_string();
            let at = e
                .span()
                .map(|s| format!(" at line {}", text[..s.start].lines().count().max(1)))
                .unwrap_or_default();
            Error::invalid(
                "config.file",
                format!("settings file `{}`{at}: {msg}", path.display()),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn the_original_json_form_reads_as_it_is() {
        let text = r#"{"name":"w7","redis-address":"10.0.0.5:6380","redis-password":"pw",
            "cluster":"prod","cpu-threshold":80,"mem-threshold":70,
            "health-interval":5000000000,"host":true}"#;
        let f: WorkerFile = parse_file(&PathBuf::from("hats.json"), text).unwrap();
        assert_eq!(f.worker_name.as_deref(), Some("w7"));
        assert_eq!(f.cluster_name.as_deref(), Some("prod"));
        assert_eq!(f.redis_address.as_deref(), Some("10.0.0.5:6380"));
        assert_eq!(f.cpu_threshold, Some(80.0));
        let interval = f
            .health_interval
            .unwrap()
            .to_duration("health-interval")
            .unwrap();
        assert_eq!(interval, Duration::from_secs(5));
        assert!(f.host.unwrap().to_bool("host").unwrap());
    }

    #[test]
    fn toml_uses_the_flag_names() {
        let text = "cluster-name = \"blue\"\nhealth-interval = \"2s\"\nscripts = \"a.js, b.js\"\n";
        let f: WorkerFile = parse_file(&PathBuf::from("w.toml"), text).unwrap();
        assert_eq!(f.cluster_name.as_deref(), Some("blue"));
        assert_eq!(f.scripts.unwrap().items(), vec!["a.js", "b.js"]);
        let interval = f
            .health_interval
            .unwrap()
            .to_duration("health-interval")
            .unwrap();
        assert_eq!(interval, Duration::from_secs(2));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err =
            parse_file::<WorkerFile>(&PathBuf::from("w.toml"), "clustr = \"x\"\n").unwrap_err();
        assert!(err.message.contains("clustr"), "{}", err.message);
    }

    #[test]
    fn passwords_never_show() {
        let s = RedisSettings {
            url: Some("redis://:hunter2@db:6379/0".into()),
            ..Default::default()
        };
        assert!(!s.describe().contains("hunter2"));
        assert!(!format!("{s:?}").contains("hunter2"));
        let s = RedisSettings {
            address: Some("db:6379".into()),
            password: Some("hunter2".into()),
            url: None,
        };
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(
            s.connection_info().unwrap().redis_settings().password(),
            Some("hunter2")
        );
    }

    #[test]
    fn addresses_are_checked() {
        for bad in ["localhost", "host:notaport", ":6379"] {
            let s = RedisSettings {
                address: Some(bad.into()),
                ..Default::default()
            };
            assert!(s.connection_info().is_err(), "{bad}");
        }
    }
}
