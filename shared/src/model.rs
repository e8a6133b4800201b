//! The records HATS keeps in Redis: threads and workers.
//!
//! A record is a Redis hash; [`Thread::from_fields`] and
//! [`Worker::from_fields`] read one from the field/value pairs of `HGETALL`.
//! Fields that are missing read as their defaults, so a record written by an
//! older version still loads.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};

/// The pause between two `main()` calls when none is given.
pub const DEFAULT_HANG: Duration = Duration::from_secs(1);

/// How long a thread may go without a renewal before another worker takes it
/// over, when none is given.
pub const DEFAULT_DEAD_SECONDS: u64 = 2;

/// What an operator wants of a thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// May run; some worker should be running it.
    Enabled,
    /// Must not run anywhere until enabled again.
    Disabled,
}

/// What is happening to a thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// A worker holds it and runs its script.
    Running,
    /// Nobody runs it now.
    Stopped,
    /// Its script raised an uncaught error; it is disabled until enabled.
    Crashed,
}

macro_rules! word_enum {
    ($ty:ident { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl $ty {
            /// The word stored in Redis and shown to users.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $word),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = Error;

            fn from_str(s: &str) -> Result<$ty> {
                match s {
                    $($word => Ok($ty::$variant),)+
                    other => Err(Error::invalid(
                        "model.parse",
                        format!("`{other}` is not a {}", stringify!($ty).to_lowercase()),
                    )),
                }
            }
        }
    };
}

word_enum!(Status { Enabled => "enabled", Disabled => "disabled" });
word_enum!(State { Running => "running", Stopped => "stopped", Crashed => "crashed" });

/// Typed reads of a record's hash fields; a missing or malformed field reads
/// as empty or zero, so a record written by an older version still loads.
pub struct Fields<'a>(pub &'a HashMap<String, String>);

impl Fields<'_> {
    /// The field as text.
    pub fn text(&self, key: &str) -> String {
        self.0.get(key).cloned().unwrap_or_default()
    }

    /// The field as a whole number.
    pub fn number(&self, key: &str) -> u64 {
        self.0.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// The field as a number with a fraction.
    pub fn float(&self, key: &str) -> f64 {
        self.0.get(key).and_then(|v| v.parse().ok()).unwrap_or(0.0)
    }
}

/// A registered thread, as stored in its hash (`Keyspace::thread`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Thread {
    /// Unique per cluster; see [`validate_name`].
    pub name: String,
    /// The JavaScript source.
    #[serde(skip_serializing)]
    pub source: String,
    /// Grows by one whenever the source or a setting changes; a running copy
    /// with an older version restarts.
    pub version: u64,
    /// What the operator wants.
    pub status: Status,
    /// What is happening.
    pub state: State,
    /// The worker that holds it, empty when nobody does.
    pub owner: String,
    /// The fencing number of the current (or last) claim.
    pub epoch: u64,
    /// Pause between two `main()` calls.
    #[serde(serialize_with = "serialize_duration")]
    pub hang: Duration,
    /// Seconds without renewal before another worker takes it over.
    pub dead_seconds: u64,
    /// The text of the last uncaught error, empty when none.
    pub error: String,
    /// When that error happened, in Unix milliseconds (0 when none).
    pub error_at_ms: u64,
    /// The file it was registered from, for people; empty when unknown.
    pub path: String,
    /// When the current holder claimed it, in Unix milliseconds.
    pub started_at_ms: u64,
    /// When it was last registered or changed, in Unix milliseconds.
    pub updated_at_ms: u64,
}

fn serialize_duration<S: serde::Serializer>(
    d: &Duration,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

impl Thread {
    /// Reads a thread from its hash fields. `None` when the hash is empty,
    /// which is how Redis reports a missing key.
    pub fn from_fields(name: &str, fields: &HashMap<String, String>) -> Option<Thread> {
        if fields.is_empty() {
            return None;
        }
        let f = Fields(fields);
        let (text, number) = (|k| f.text(k), |k| f.number(k));
        Some(Thread {
            name: name.to_string(),
            source: text("source"),
            version: number("version"),
            status: text("status").parse().unwrap_or(Status::Disabled),
            state: text("state").parse().unwrap_or(State::Stopped),
            owner: text("owner"),
            epoch: number("epoch"),
            hang: fields
                .get("hang_ms")
                .and_then(|v| v.parse().ok())
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_HANG),
            dead_seconds: fields
                .get("dead_seconds")
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_DEAD_SECONDS),
            error: text("error"),
            error_at_ms: number("error_at"),
            path: text("path"),
            started_at_ms: number("started_at"),
            updated_at_ms: number("updated_at"),
        })
    }
}

/// What a worker is doing, as it reports it with each heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    /// Healthy and taking work.
    Running,
    /// Over a health threshold: runs nothing, claims nothing.
    Critical,
    /// Shutting down or disabled by an operator: finishing and releasing.
    Draining,
    /// Gone: exited cleanly, or its heartbeat stopped.
    Stopped,
}

word_enum!(WorkerState {
    Running => "running",
    Critical => "critical",
    Draining => "draining",
    Stopped => "stopped",
});

/// A worker's record (`Keyspace::worker`), written with each heartbeat.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Worker {
    /// Unique per cluster.
    pub name: String,
    /// What the worker reports it is doing.
    pub state: WorkerState,
    /// Whether an operator lets it take work (`hatter workers stop` disables).
    pub status: Status,
    /// Host name of the machine it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u64,
    /// CPU use of the machine in percent, at the last health check.
    pub cpu: f64,
    /// Memory use of the machine in percent, at the last health check.
    pub mem: f64,
    /// How many threads it runs.
    pub threads: u64,
    /// Redis-clock Unix milliseconds of its last heartbeat.
    pub heartbeat_ms: u64,
    /// When it started, in Unix milliseconds.
    pub started_at_ms: u64,
    /// The HATS version it runs.
    pub version: String,
}

impl Worker {
    /// Reads a worker from its hash fields; `None` for an empty hash.
    pub fn from_fields(name: &str, fields: &HashMap<String, String>) -> Option<Worker> {
        if fields.is_empty() {
            return None;
        }
        let f = Fields(fields);
        let (text, number, float) = (|k| f.text(k), |k| f.number(k), |k| f.float(k));
        Some(Worker {
            name: name.to_string(),
            state: text("state").parse().unwrap_or(WorkerState::Stopped),
            status: text("status").parse().unwrap_or(Status::Enabled),
            host: text("host"),
            pid: number("pid"),
            cpu: float("cpu"),
            mem: float("mem"),
            threads: number("threads"),
            heartbeat_ms: number("heartbeat_at"),
            started_at_ms: number("started_at"),
            version: text("version"),
        })
    }
}

/// Checks a thread, worker or cluster name.
///
/// Names are 1 to 200 characters of letters, digits, `_`, `-` and `.`. That
/// keeps them safe inside keys (no braces, which would break the hash tag),
/// inside the space-separated owner field, and on a command line.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if name.is_empty() || name.len() > 200 || !name.chars().all(ok_char) {
        return Err(Error::invalid(
            "model.name",
            format!(
                "`{name}` is not a valid {what} name: use 1 to 200 letters, digits, `_`, `-` or `.`"
            ),
        ));
    }
    Ok(())
}

/// The name a script file registers under when none is given: its file name
/// without the extension, so `./a/hello.js` and `a/../a/hello.js` are both
/// `hello`.
pub fn name_from_path(path: &std::path::Path) -> Result<String> {
    let stem = path.file_stem().and_then(|s| s.to_str()).ok_or_else(|| {
        Error::invalid(
            "model.name",
            format!("cannot take a name from `{}`; pass --name", path.display()),
        )
    })?;
    validate_name("thread", stem).map_err(|e| {
        Error::invalid(
            "model.name",
            format!("{} (taken from the file name; pass --name)", e.message),
        )
    })?;
    Ok(stem.to_string())
}

/// Reads a duration as users type it: `100ms`, `2s`, `1m30s`.
///
/// A bare number is refused rather than guessed at, since it could mean
/// seconds or milliseconds.
pub fn parse_duration(what: &str, text: &str) -> Result<Duration> {
    let text = text.trim();
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(Error::invalid(
            "model.duration",
            format!("{what} `{text}` has no unit: write it as `{text}ms` or `{text}s`"),
        ));
    }
    humantime::parse_duration(text).map_err(|e| {
        Error::invalid(
            "model.duration",
            format!("{what} `{text}` is not a duration ({e}): write it as `500ms` or `2s`"),
        )
    })
}

/// Writes a duration the way [`parse_duration`] reads it back.
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_name("thread", "hello-world_1.v2").is_ok());
        for bad in ["", "a b", "a{b}", "x/y", &"n".repeat(201)] {
            assert!(validate_name("thread", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_file_name_gives_the_thread_name() {
        use std::path::Path;
        assert_eq!(
            name_from_path(Path::new("./examples/hello.js")).unwrap(),
            "hello"
        );
        assert_eq!(
            name_from_path(Path::new("a/../a/hello.js")).unwrap(),
            "hello"
        );
        assert!(name_from_path(Path::new("my script.js")).is_err());
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(
            parse_duration("hang", "100ms").unwrap(),
            Duration::from_millis(100)
        );
        assert_eq!(
            parse_duration("hang", "2s").unwrap(),
            Duration::from_secs(2)
        );
        let err = parse_duration("hang", "500").unwrap_err();
        assert!(err.message.contains("`500ms`"), "{}", err.message);
        assert!(parse_duration("hang", "soon").is_err());
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s 500ms");
    }

    #[test]
    fn a_thread_reads_from_its_hash() {
        let fields: HashMap<String, String> = [
            ("source", "function main(){}"),
            ("version", "3"),
            ("status", "enabled"),
            ("state", "running"),
            ("owner", "w1"),
            ("epoch", "17"),
            ("hang_ms", "250"),
            ("dead_seconds", "5"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let t = Thread::from_fields("t", &fields).unwrap();
        assert_eq!(t.version, 3);
        assert_eq!(t.status, Status::Enabled);
        assert_eq!(t.state, State::Running);
        assert_eq!(t.epoch, 17);
        assert_eq!(t.hang, Duration::from_millis(250));
        assert_eq!(t.dead_seconds, 5);
        assert!(Thread::from_fields("t", &HashMap::new()).is_none());
    }
}
