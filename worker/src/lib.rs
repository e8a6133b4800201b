//! The HATS worker: runs a cluster's JavaScript threads from Redis.
//!
//! # Layout
//!
//! - [`settings`]: flags, `HATS_*` variables and `--config FILE`, merged.
//! - [`cluster`]: the control loop: heartbeat, lease renewal, claiming, fair
//!   share, self-fencing, hand-over on shutdown, and the ends of runs.
//! - [`run`]: one run of a thread on its own OS thread, and the
//!   [`run::RunControl`] the control loop steers it with.
//! - [`runtime`]: the boa context of a run and the script API bindings.
//! - [`health`]: CPU and memory gating, `/health` and `/metrics`.
//! - [`scheduler`]: the cron scheduler: takes the ticks of the cluster's jobs
//!   while the worker is eligible, one claim per tick across the cluster.
//! - [`job_run`]: one run of a job on its own OS thread (`job.Tick`).
//!
//! `main.rs` only parses the command line, sets up logging and calls
//! [`start`].

pub mod cluster;
pub mod health;
pub mod job_run;
pub mod run;
pub mod runtime;
pub mod scheduler;
pub mod settings;

use std::path::PathBuf;
use std::sync::Arc;

use shared::model::name_from_path;
use shared::{Error, ErrorKind};

use crate::cluster::Cluster;
use crate::health::Health;
use crate::scheduler::Scheduler;
use crate::settings::Settings;

/// Reads the `--scripts` files: `(name, path, source)` each. Fails on the
/// first file that cannot be read, naming it.
pub fn read_scripts(paths: &[PathBuf]) -> Result<Vec<(String, PathBuf, String)>, Error> {
    let mut out = Vec::new();
    for path in paths {
        let source = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                "worker.scripts",
                ErrorKind::NotFound,
                format!(
                    "cannot read script `{}`: {e}; check the path given to --scripts",
                    path.display()
                ),
            )
        })?;
        let name = name_from_path(path)?;
        if out
            .iter()
            .any(|(n, _, _): &(String, PathBuf, String)| *n == name)
        {
            return Err(Error::invalid(
                "worker.scripts",
                format!("two scripts given to --scripts are both named `{name}`; rename one file"),
            ));
        }
        out.push((name, path.clone(), source));
    }
    Ok(out)
}

/// Runs a worker with `settings` until it is told to stop.
///
/// Errors before the worker is up (unreadable scripts, Redis unreachable)
/// are returned; the caller prints them and exits 2.
pub async fn start(settings: Settings) -> Result<(), Error> {
    let scripts = read_scripts(&settings.scripts)?;
    let health = Arc::new(Health::new(settings.cpu_threshold, settings.mem_threshold));
    let mut cluster = Cluster::connect(settings.clone(), health.clone()).await?;
    cluster.register_scripts(&scripts).await?;

    tokio::spawn(health.clone().measure(settings.health_interval));
    if settings.health_port != 0 {
        let listener_health = health.clone();
        let worker = settings.worker_name.clone();
        let port = settings.health_port;
        tokio::spawn(async move {
            if let Err(e) = listener_health.serve(port, worker).await {
                tracing::warn!(port, error = %e, "cannot serve /health and /metrics; pass --health-port 0 to turn them off or pick a free port");
            }
        });
    }

    // The cron scheduler runs beside the control loop and reads its flags:
    // it takes ticks only while the worker is eligible, stops taking them
    // when the shutdown starts, and ends once its job runs have finished.
    let limits = runtime::Limits {
        loop_iterations: settings.loop_limit,
        recursion: settings.recursion_limit,
    };
    let scheduler = tokio::spawn(Scheduler::new(cluster.shared(), limits).run());

    let run_now = if settings.run_now {
        scripts.iter().map(|(n, _, _)| n.clone()).collect()
    } else {
        Vec::new()
    };
    let result = cluster.run(run_now).await;
    if result.is_ok() {
        let _ = scheduler.await;
    } else {
        scheduler.abort();
    }
    result
}
