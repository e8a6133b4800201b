//! The worker's settings: flags, then `HATS_*` variables, then `--config`.
//!
//! clap reads flags and variables (a flag wins over its variable); every one
//! of them is optional there, so that what neither gave can still come from
//! the settings file, and only then from the defaults below.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use shared::config::{self, RedisSettings, WorkerFile};
use shared::model::{parse_duration, validate_name};
use shared::Error;

use crate::runtime::http_api::HttpLimits;

/// The command line of `worker`.
#[derive(Clone, Debug, Default, Parser)]
#[command(
    name = "worker",
    version,
    about = "Runs the JavaScript threads stored in a HATS cluster's Redis",
    long_about = "Runs the JavaScript threads stored in a HATS cluster's Redis.\n\n\
        Every worker that reaches the same Redis and cluster name shares the work: \
        each thread runs on exactly one worker, and when a worker dies another takes \
        its threads over. Each setting can also be given as a HATS_* variable or in \
        --config FILE (TOML, or the JSON file of the original HATS).",
    after_help = "Examples:\n  worker --redis-address 127.0.0.1:6379 --scripts examples/hello.js --run-now\n  \
        HATS_CLUSTER_NAME=blue worker --config /etc/hats/worker.toml"
)]
pub struct Args {
    /// Cluster to join [default: default]
    #[arg(long, env = "HATS_CLUSTER_NAME", value_name = "NAME")]
    pub cluster_name: Option<String>,

    /// This worker's name, unique in the cluster [default: a random one]
    #[arg(long, env = "HATS_WORKER_NAME", value_name = "NAME")]
    pub worker_name: Option<String>,

    /// Redis address as HOST:PORT [default: 127.0.0.1:6379]
    #[arg(long, env = "HATS_REDIS_ADDRESS", value_name = "HOST:PORT")]
    pub redis_address: Option<String>,

    /// Redis password
    #[arg(
        long,
        env = "HATS_REDIS_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub redis_password: Option<String>,

    /// Redis URL (redis://, rediss://, redis+unix://); wins over --redis-address
    #[arg(
        long,
        env = "HATS_REDIS_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub redis_url: Option<String>,

    /// Register these script files as threads at start (comma-separated)
    #[arg(
        long,
        env = "HATS_SCRIPTS",
        value_name = "FILES",
        value_delimiter = ','
    )]
    pub scripts: Option<Vec<PathBuf>>,

    /// Claim the threads given with --scripts on this worker at once
    #[arg(long, env = "HATS_RUN_NOW", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub run_now: Option<bool>,

    /// Machine CPU percent above which this worker is critical [default: 90]
    #[arg(long, env = "HATS_CPU_THRESHOLD", value_name = "PERCENT")]
    pub cpu_threshold: Option<f64>,

    /// Machine memory percent above which this worker is critical [default: 90]
    #[arg(long, env = "HATS_MEM_THRESHOLD", value_name = "PERCENT")]
    pub mem_threshold: Option<f64>,

    /// How often CPU and memory are measured [default: 5s]
    #[arg(long, env = "HATS_HEALTH_INTERVAL", value_name = "DURATION")]
    pub health_interval: Option<String>,

    /// Serve endpoints over HTTP
    #[arg(long, env = "HATS_HOST", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub host: Option<bool>,

    /// Port for endpoints in host mode [default: 9999]
    #[arg(long, env = "HATS_HOST_PORT", value_name = "PORT")]
    pub host_port: Option<u16>,

    /// Port for /health and /metrics; 0 turns them off [default: 8787]
    #[arg(long, env = "HATS_HEALTH_PORT", value_name = "PORT")]
    pub health_port: Option<u16>,

    /// Most loop iterations one call of a script's function (or its top-level
    /// code) may run, all its loops counted together, before the script is
    /// crashed as runaway [default: 100000000]
    #[arg(long, env = "HATS_LOOP_LIMIT", value_name = "N")]
    pub loop_limit: Option<u64>,

    /// Deepest call nesting a script may reach [default: 2000]
    #[arg(long, env = "HATS_RECURSION_LIMIT", value_name = "N")]
    pub recursion_limit: Option<usize>,

    /// Time limit of one HTTP call from a script [default: 30s]
    #[arg(long, env = "HATS_HTTP_TIMEOUT", value_name = "DURATION")]
    pub http_timeout: Option<String>,

    /// Most bytes of response body an HTTP call from a script reads [default: 10485760]
    #[arg(long, env = "HATS_HTTP_MAX_BODY", value_name = "BYTES")]
    pub http_max_body: Option<usize>,

    /// Read settings from this TOML or JSON file
    #[arg(long, env = "HATS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The worker's settings, complete.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The cluster to join.
    pub cluster: String,
    /// This worker's name.
    pub worker_name: String,
    /// Where Redis is.
    pub redis: RedisSettings,
    /// Files to register as threads at start.
    pub scripts: Vec<PathBuf>,
    /// Claim `scripts` here at once.
    pub run_now: bool,
    /// CPU percent above which the worker is critical.
    pub cpu_threshold: f64,
    /// Memory percent above which the worker is critical.
    pub mem_threshold: f64,
    /// How often health is measured.
    pub health_interval: Duration,
    /// Serve endpoints.
    pub host: bool,
    /// Port for endpoints.
    pub host_port: u16,
    /// Port for /health and /metrics; 0 when off.
    pub health_port: u16,
    /// Per-loop iteration budget of a script.
    pub loop_limit: u64,
    /// Call depth budget of a script.
    pub recursion_limit: usize,
    /// Limits of scripts' HTTP calls.
    pub http: HttpLimits,
}

/// Default loop iteration budget of one call (the engine counts every loop
/// iteration of a call together): a `while (true) {}` ends in seconds, while
/// a call whose loops do real work per iteration stays far below it.
pub const DEFAULT_LOOP_LIMIT: u64 = 100_000_000;

/// Default call depth budget; the script threads' stacks are sized for it.
pub const DEFAULT_RECURSION_LIMIT: usize = 2_000;

impl Settings {
    /// Completes `args` with the settings file and the defaults.
    pub fn resolve(args: Args) -> Result<Settings, Error> {
        let file: WorkerFile = match &args.config {
            Some(path) => config::read_file(path)?,
            None => WorkerFile::default(),
        };
        let cluster = args
            .cluster_name
            .or(file.cluster_name)
            .unwrap_or_else(|| config::DEFAULT_CLUSTER.to_string());
        validate_name("cluster", &cluster)?;
        let worker_name = args
            .worker_name
            .or(file.worker_name)
            .unwrap_or_else(random_name);
        validate_name("worker", &worker_name)?;
        let redis = RedisSettings {
            address: args.redis_address.or(file.redis_address),
            password: args.redis_password.or(file.redis_password),
            url: args.redis_url.or(file.redis_url),
        };
        redis.connection_info()?;
        let scripts = match args.scripts {
            Some(s) => s,
            None => file
                .scripts
                .map(|s| s.items().into_iter().map(PathBuf::from).collect())
                .unwrap_or_default(),
        };
        let run_now = match args.run_now {
            Some(b) => b,
            None => file
                .run_now
                .map(|b| b.to_bool("run-now"))
                .transpose()?
                .unwrap_or(false),
        };
        let host = match args.host {
            Some(b) => b,
            None => file
                .host
                .map(|b| b.to_bool("host"))
                .transpose()?
                .unwrap_or(false),
        };
        let health_interval = match args.health_interval {
            Some(text) => parse_duration("--health-interval", &text)?,
            None => file
                .health_interval
                .map(|d| d.to_duration("health-interval"))
                .transpose()?
                .unwrap_or(Duration::from_secs(5)),
        };
        if health_interval < Duration::from_millis(100) {
            return Err(Error::invalid(
                "config.health",
                "--health-interval must be at least 100ms",
            ));
        }
        let cpu_threshold = percent("--cpu-threshold", args.cpu_threshold.or(file.cpu_threshold))?;
        let mem_threshold = percent("--mem-threshold", args.mem_threshold.or(file.mem_threshold))?;
        let loop_limit = args
            .loop_limit
            .or(file.loop_limit)
            .unwrap_or(DEFAULT_LOOP_LIMIT);
        let recursion_limit = args
            .recursion_limit
            .or(file.recursion_limit)
            .unwrap_or(DEFAULT_RECURSION_LIMIT);
        if loop_limit == 0 || recursion_limit == 0 {
            return Err(Error::invalid(
                "config.limits",
                "--loop-limit and --recursion-limit must be above 0",
            ));
        }
        let mut http = HttpLimits::default();
        match args.http_timeout {
            Some(text) => http.timeout = parse_duration("--http-timeout", &text)?,
            None => {
                if let Some(d) = file.http_timeout {
                    http.timeout = d.to_duration("http-timeout")?;
                }
            }
        }
        if let Some(n) = args.http_max_body.or(file.http_max_body) {
            http.max_body = n;
        }
        if http.timeout.is_zero() || http.max_body == 0 {
            return Err(Error::invalid(
                "config.http",
                "--http-timeout and --http-max-body must be above 0",
            ));
        }
        if host {
            return Err(Error::invalid(
                "config.host",
                "this worker cannot serve endpoints (host mode): remove --host, HATS_HOST or `host` from the settings file",
            ));
        }
        Ok(Settings {
            cluster,
            worker_name,
            redis,
            scripts,
            run_now,
            cpu_threshold,
            mem_threshold,
            health_interval,
            host,
            host_port: args.host_port.or(file.host_port).unwrap_or(9999),
            health_port: args.health_port.or(file.health_port).unwrap_or(8787),
            loop_limit,
            recursion_limit,
            http,
        })
    }
}

fn percent(flag: &str, value: Option<f64>) -> Result<f64, Error> {
    let v = value.unwrap_or(90.0);
    if !(v > 0.0 && v <= 100.0) {
        return Err(Error::invalid(
            "config.health",
            format!("{flag} must be a percent above 0 and at most 100, not {v}"),
        ));
    }
    Ok(v)
}

/// A worker name for when none is given: the host name and a random suffix,
/// so names stay readable in listings and unique across restarts.
fn random_name() -> String {
    let host = hostname();
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(40)
        .collect();
    let suffix: u32 = rand::random::<u32>() % 0x10000;
    if host.is_empty() {
        format!("worker-{suffix:04x}")
    } else {
        format!("{host}-{suffix:04x}")
    }
}

/// The machine's host name, or an empty string.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}
