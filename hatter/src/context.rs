//! Settings and the connection every command uses.

use std::path::PathBuf;
use std::time::Duration;

use shared::config::{self, HatterFile, RedisSettings};
use shared::store::Store;
use shared::{ErrorKind, Keyspace};

use crate::cli::Global;
use crate::error::{CliError, CliResult};
use crate::output::Format;

/// What a command works with.
pub struct Context {
    /// The cluster's state.
    pub store: Store,
    /// How to print.
    pub format: Format,
}

impl Context {
    /// Resolves the settings (flags, then variables, then the file) and
    /// connects.
    pub async fn new(global: &Global) -> CliResult<Context> {
        let file = read_settings_file(global.config.as_ref())?;
        let cluster = global
            .cluster
            .clone()
            .or_else(|| std::env::var("HATS_CLUSTER_NAME").ok())
            .or(file.cluster)
            .unwrap_or_else(|| config::DEFAULT_CLUSTER.to_string());
        shared::model::validate_name("cluster", &cluster)?;
        let redis = RedisSettings {
            address: global.redis_address.clone().or(file.redis_address),
            password: global.redis_password.clone().or(file.redis_password),
            url: global.redis_url.clone().or(file.redis_url),
        };
        let conn = shared::conn::connect(&redis, "hatter", Some(Duration::from_secs(10))).await?;
        Ok(Context {
            store: Store::new(conn, Keyspace::new(&cluster)),
            format: global.format(),
        })
    }

    /// The cluster's name.
    pub fn cluster(&self) -> &str {
        self.store.keys().cluster()
    }
}

impl Global {
    fn format(&self) -> Format {
        self.output
    }
}

/// Reads `--config FILE`, or `~/.hatter.toml` when it exists.
fn read_settings_file(explicit: Option<&PathBuf>) -> CliResult<HatterFile> {
    if let Some(path) = explicit {
        return Ok(config::read_file(path)?);
    }
    let Some(home) = std::env::var_os("HOME") else {
        return Ok(HatterFile::default());
    };
    let path = PathBuf::from(home).join(".hatter.toml");
    match config::read_file::<HatterFile>(&path) {
        Ok(f) => Ok(f),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(HatterFile::default()),
        Err(e) => Err(CliError::from(e).with_hint(format!("fix or remove {}", path.display()))),
    }
}
