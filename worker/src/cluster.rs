//! The worker's control loop: heartbeat, lease renewal, claiming, and the
//! bookkeeping of the runs it holds.
//!
//! One task owns all of it and works in ticks of [`RENEW_INTERVAL`]: a tick
//! records the runs that ended, renews every lease in one script call, then
//! claims what is free up to the fair share. Script threads never take part
//! in a tick and a tick never waits on a script, so a script that computes
//! for a long time keeps its lease, and a renewal is never late because of
//! one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use shared::model::{Status, WorkerState};
use shared::store::{
    ClaimMode, Claimed, Heartbeat, HeldLease, LeaseCode, NewThread, RunEnd, Store,
};
use shared::{Error, ErrorKind, Keyspace};
use tokio::sync::mpsc;

use crate::health::Health;
use crate::run::{self, Ending, Finished, RunControl, RunSpec, StopReason};
use crate::runtime::{Limits, WorkerShared};
use crate::settings::{hostname, Settings};

/// How often a worker renews its leases, sends its heartbeat and looks for
/// work. Bookkeeping costs two script calls per worker per interval,
/// whatever the number of threads.
pub const RENEW_INTERVAL: Duration = Duration::from_millis(250);

/// How long a heartbeat counts. Shorter than the smallest lease (one
/// second), so that a dead worker leaves the fair-share count before its
/// threads are free to be taken over, and others do not hold back for it.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(1);

/// How long a control-loop command may take before it counts as failed.
/// Well under the smallest fencing margin, so a stalled Redis shows up as a
/// failed renewal while the leases are still safe.
pub const CONTROL_TIMEOUT: Duration = Duration::from_millis(1000);

/// How long a shutdown waits for the runs to finish their `main()` and
/// `cleanup()` before it releases their leases anyway and exits.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How early before its lease can run out on the Redis side a run stops
/// acting: a quarter of the lease, at least 250 ms, at most half of it.
///
/// The lease is set from Redis's clock when the renewal runs, which is after
/// the worker sent it; the worker counts its deadline from the moment it
/// sent the renewal, on its monotonic clock, so the margin only has to cover
/// a difference in clock rates and the time to stop, not network delay.
pub fn fence_margin(dead_seconds: u64) -> Duration {
    let lease = Duration::from_secs(dead_seconds.max(1));
    (lease / 4).max(Duration::from_millis(250)).min(lease / 2)
}

/// The deadline of a lease renewed (or claimed) at `sent`.
fn fence_deadline(sent: Instant, dead_seconds: u64) -> Instant {
    sent + Duration::from_secs(dead_seconds.max(1)) - fence_margin(dead_seconds)
}

/// A run this worker holds.
struct Local {
    /// Shared with the script thread.
    control: Arc<RunControl>,
    /// The source version it runs.
    version: u64,
    /// Its lease length.
    dead_seconds: u64,
}

/// A write about a run's end that has not reached Redis yet.
struct PendingEnd {
    name: String,
    epoch: u64,
    end: RunEnd,
}

/// The control connection, reopened after a failure.
struct Link {
    settings: shared::config::RedisSettings,
    client_name: String,
    keys: Keyspace,
    store: Option<Store>,
}

impl Link {
    async fn store(&mut self) -> Result<Store, Error> {
        if let Some(s) = &self.store {
            return Ok(s.clone());
        }
        let conn =
            shared::conn::connect(&self.settings, &self.client_name, Some(CONTROL_TIMEOUT)).await?;
        let store = Store::new(conn, self.keys.clone());
        self.store = Some(store.clone());
        Ok(store)
    }

    /// Notes the outcome of a call: a connection failure drops the
    /// connection so the next call opens a fresh one (a timed-out call may
    /// still have a reply on its way).
    fn check<T>(&mut self, r: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &r {
            if e.is_unavailable() {
                self.store = None;
            }
        }
        r
    }
}

/// The worker's control loop and everything it owns.
pub struct Cluster {
    settings: Settings,
    shared: Arc<WorkerShared>,
    link: Link,
    health: Arc<Health>,
    limits: Limits,
    /// Runs held by this worker, by thread name.
    runs: HashMap<String, Local>,
    /// Ends not yet written to Redis, retried every tick.
    pending: Vec<PendingEnd>,
    done_tx: mpsc::UnboundedSender<Finished>,
    done_rx: mpsc::UnboundedReceiver<Finished>,
    /// When Redis stopped answering, while it does not; outages are logged
    /// once when they start and once when they end.
    down_since: Option<Instant>,
    /// The operator's status for this worker, from the last renewal.
    status: Status,
    /// Whether the last renewal worked: claims wait for a current view.
    renewed: bool,
    /// When the index was last repaired, so a damaged index is fixed once,
    /// not once per tick by every worker.
    last_repair: Option<Instant>,
    started_at_ms: u64,
    host: String,
}

impl Cluster {
    /// Connects to Redis and prepares the loop. Fails when Redis cannot be
    /// reached: a worker that cannot start should say so at once.
    pub async fn connect(settings: Settings, health: Arc<Health>) -> Result<Cluster, Error> {
        let keys = Keyspace::new(&settings.cluster);
        let mut link = Link {
            settings: settings.redis.clone(),
            client_name: format!("hats-worker:{}:control", settings.worker_name),
            keys: keys.clone(),
            store: None,
        };
        let store = link.store().await?;
        store.join(&settings.worker_name).await?;
        let shared = Arc::new(
            WorkerShared::new(
                &settings.worker_name,
                keys,
                settings.redis.clone(),
                tokio::runtime::Handle::current(),
            )
            .with_http_limits(settings.http),
        );
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Ok(Cluster {
            limits: Limits {
                loop_iterations: settings.loop_limit,
                recursion: settings.recursion_limit,
            },
            settings,
            shared,
            link,
            health,
            runs: HashMap::new(),
            pending: Vec::new(),
            done_tx,
            done_rx,
            down_since: None,
            status: Status::Enabled,
            renewed: false,
            last_repair: None,
            started_at_ms: unix_ms(),
            host: hostname(),
        })
    }

    fn worker(&self) -> &str {
        &self.settings.worker_name
    }

    /// What this worker's scripts share: the other duties that run scripts
    /// (the cron scheduler) read its flags and hand it to their runs.
    pub fn shared(&self) -> Arc<WorkerShared> {
        self.shared.clone()
    }

    /// Registers the `--scripts` files as threads.
    pub async fn register_scripts(
        &mut self,
        scripts: &[(String, PathBuf, String)],
    ) -> Result<(), Error> {
        let store = self.link.store().await?;
        for (name, path, source) in scripts {
            let (outcome, version) = store
                .register_thread(&NewThread {
                    name: name.clone(),
                    source: source.clone(),
                    hang: None,
                    dead_seconds: None,
                    status: Status::Enabled,
                    path: path.display().to_string(),
                })
                .await?;
            tracing::info!(worker = self.worker(), thread = %name, ?outcome, version, "registered script");
        }
        Ok(())
    }

    /// Runs until SIGTERM or SIGINT, then hands the threads over and returns.
    pub async fn run(mut self, run_now: Vec<String>) -> Result<(), Error> {
        tracing::info!(
            worker = self.worker(),
            cluster = %self.settings.cluster,
            redis = %self.settings.redis.describe(),
            "worker started"
        );
        let mut signals = Signals::new()?;

        // The first heartbeat, then the threads asked for with --run-now.
        self.renew().await;
        if !run_now.is_empty() {
            self.claim(ClaimMode::Named(run_now)).await;
        }

        let mut ticker = tokio::time::interval(RENEW_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        let mut shutdown_at: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    self.tick().await;
                }
                Some(done) = self.done_rx.recv() => {
                    self.finished(done).await;
                    self.flush_pending().await;
                }
                signal = signals.next() => {
                    if shutdown_at.is_some() {
                        tracing::warn!(worker = self.worker(), signal, "second signal: exiting now");
                        std::process::exit(130);
                    }
                    tracing::info!(worker = self.worker(), signal, "shutting down: finishing runs");
                    shutdown_at = Some(Instant::now());
                    self.shared.shutting_down.store(true, Ordering::SeqCst);
                    self.shared.eligible.store(false, Ordering::SeqCst);
                    self.stop_all(StopReason::Shutdown);
                    // Tell the cluster at once that this worker takes no
                    // more work.
                    self.renew().await;
                }
            }
            if let Some(at) = shutdown_at {
                if self.runs.is_empty() && self.pending.is_empty() {
                    break;
                }
                if at.elapsed() > SHUTDOWN_GRACE {
                    tracing::warn!(
                        worker = self.worker(),
                        left = self.runs.len(),
                        "runs did not finish within the shutdown grace; releasing their leases anyway"
                    );
                    let left: Vec<(String, u64)> = self
                        .runs
                        .iter()
                        .map(|(n, l)| (n.clone(), l.control.epoch))
                        .collect();
                    for (name, epoch) in left {
                        self.runs.remove(&name);
                        self.pending.push(PendingEnd {
                            name,
                            epoch,
                            end: RunEnd::Stopped,
                        });
                    }
                    self.flush_pending().await;
                    break;
                }
            }
        }

        if let Ok(store) = self.link.store().await {
            if let Err(e) = store.leave(self.worker()).await {
                tracing::warn!(worker = self.worker(), error = %e, "could not sign off");
            }
        }
        tracing::info!(worker = self.worker(), "worker stopped");
        Ok(())
    }

    /// One tick of the loop.
    async fn tick(&mut self) {
        self.health
            .running
            .store(self.runs.len() as u64, Ordering::SeqCst);
        while let Ok(done) = self.done_rx.try_recv() {
            self.finished(done).await;
        }
        self.flush_pending().await;

        // A run past its deadline may have lost its lease on the Redis side
        // already: it ends now, whatever the next renewal says. One line for
        // all of them: an outage fences every run at about the same time.
        let mut fenced = Vec::new();
        for local in self.runs.values() {
            if local.control.fenced() && local.control.reason() != StopReason::Lost {
                local.control.stop(StopReason::Lost);
                fenced.push(local.control.name.clone());
            }
        }
        if !fenced.is_empty() {
            fenced.sort();
            tracing::warn!(
                worker = %self.shared.name,
                count = fenced.len(),
                threads = %fenced.join(","),
                "leases could not be renewed in time; stopped those threads here"
            );
        }

        self.renew().await;
        if self.renewed && self.eligible() {
            let skip = self.runs.keys().cloned().collect();
            self.claim(ClaimMode::Share { skip }).await;
        }
    }

    /// Whether this worker takes work now.
    fn eligible(&self) -> bool {
        !self.shared.is_shutting_down() && self.status == Status::Enabled && !self.health.critical()
    }

    /// The state word this worker reports.
    fn state(&self) -> WorkerState {
        if self.shared.is_shutting_down() || self.status == Status::Disabled {
            WorkerState::Draining
        } else if self.health.critical() {
            WorkerState::Critical
        } else {
            WorkerState::Running
        }
    }

    /// Asks every run to end.
    fn stop_all(&self, reason: StopReason) {
        for local in self.runs.values() {
            local.control.stop(reason);
        }
    }

    /// Notes a Redis failure; logs the start of an outage once.
    fn redis_failed(&mut self, what: &str, err: &Error) {
        if err.is_unavailable() {
            if self.down_since.is_none() {
                self.down_since = Some(Instant::now());
                tracing::warn!(
                    worker = %self.shared.name,
                    error = %err,
                    "lost contact with Redis during {what}; threads stop on their own before their leases run out"
                );
            }
        } else {
            tracing::error!(worker = %self.shared.name, error = %err, "{what} failed");
        }
    }

    /// Notes a Redis success; logs the end of an outage once.
    fn redis_ok(&mut self) {
        if let Some(since) = self.down_since.take() {
            tracing::info!(
                worker = %self.shared.name,
                down_for = ?since.elapsed(),
                "Redis is reachable again"
            );
        }
    }

    /// Sends the heartbeat and renews every lease held.
    async fn renew(&mut self) {
        let critical = self.health.critical();
        if critical || self.status == Status::Disabled {
            self.stop_all(StopReason::Shutdown);
        }
        let (cpu, mem) = self.health.readings();
        let leases: Vec<HeldLease> = self
            .runs
            .iter()
            .filter(|(_, l)| l.control.reason() != StopReason::Lost)
            .map(|(name, l)| HeldLease {
                name: name.clone(),
                epoch: l.control.epoch,
                dead_seconds: l.dead_seconds,
            })
            .collect();
        let hb = Heartbeat {
            worker: &self.settings.worker_name,
            ttl: HEARTBEAT_TTL,
            eligible: self.eligible(),
            state: self.state(),
            cpu,
            mem,
            host: &self.host,
            pid: std::process::id(),
            started_at_ms: self.started_at_ms,
        };
        let sent = Instant::now();
        let result = match self.link.store().await {
            Ok(store) => store.renew(&hb, &leases).await,
            Err(e) => Err(e),
        };
        let renewal = match self.link.check(result) {
            Ok(r) => r,
            Err(e) => {
                self.renewed = false;
                self.shared.eligible.store(false, Ordering::SeqCst);
                self.redis_failed("lease renewal", &e);
                return;
            }
        };
        self.redis_ok();
        self.renewed = true;
        if renewal.status != self.status {
            tracing::info!(worker = self.worker(), status = %renewal.status, "operator changed this worker's status");
            self.status = renewal.status;
            if self.status == Status::Disabled {
                self.stop_all(StopReason::Shutdown);
            }
        }

        for (lease, code) in leases.iter().zip(renewal.codes) {
            let Some(local) = self.runs.get_mut(&lease.name) else {
                continue;
            };
            match code {
                LeaseCode::Held(version) => {
                    local
                        .control
                        .extend(fence_deadline(sent, local.dead_seconds));
                    if version != local.version && !local.control.stopped() {
                        tracing::info!(
                            worker = %self.shared.name,
                            thread = %lease.name,
                            from = local.version,
                            to = version,
                            "source changed; restarting"
                        );
                        local.control.stop(StopReason::Restart);
                    }
                }
                LeaseCode::Released => {
                    // Stopped or disabled by an operator: nobody else can
                    // claim the thread before this worker releases it (a stop
                    // keeps the lease; a disabled thread is not claimable),
                    // so the run may finish main() and run cleanup() while
                    // renewals keep reaching Redis.
                    local
                        .control
                        .extend(fence_deadline(sent, local.dead_seconds));
                    if !local.control.stopped() {
                        tracing::info!(worker = %self.shared.name, thread = %lease.name, "stopped by an operator");
                        local.control.stop(StopReason::Stop);
                    }
                }
                LeaseCode::Taken | LeaseCode::Gone => {
                    tracing::warn!(
                        worker = %self.shared.name,
                        thread = %lease.name,
                        why = if code == LeaseCode::Taken { "taken over by another worker" } else { "record deleted" },
                        "lease lost; stopping the thread here"
                    );
                    local.control.stop(StopReason::Lost);
                }
            }
        }

        self.shared
            .eligible
            .store(self.eligible(), Ordering::SeqCst);
        if !renewal.index_ok {
            self.repair().await;
        }
    }

    /// Rebuilds the thread index, at most once every few seconds.
    async fn repair(&mut self) {
        if self
            .last_repair
            .is_some_and(|t| t.elapsed() < Duration::from_secs(5))
        {
            return;
        }
        self.last_repair = Some(Instant::now());
        let result = match self.link.store().await {
            Ok(store) => store.repair().await,
            Err(e) => Err(e),
        };
        match self.link.check(result) {
            Ok(0) => {}
            Ok(fixed) => tracing::warn!(worker = self.worker(), fixed, "repaired the thread index"),
            Err(e) => self.redis_failed("index repair", &e),
        }
    }

    /// Claims threads and starts their runs.
    async fn claim(&mut self, mode: ClaimMode) {
        let sent = Instant::now();
        let result = match self.link.store().await {
            Ok(store) => {
                store
                    .claim(&self.settings.worker_name, self.runs.len(), &mode)
                    .await
            }
            Err(e) => Err(e),
        };
        // A claim whose reply was lost may still have happened; the threads
        // it took stay unrun here and are taken over when their lease runs
        // out. Running on a guess could run a thread twice.
        let claimed = match self.link.check(result) {
            Ok(c) => c,
            Err(e) => {
                self.redis_failed("claim", &e);
                return;
            }
        };
        for c in claimed {
            self.start(c, sent);
        }
    }

    /// Starts a run of a claimed thread.
    fn start(&mut self, c: Claimed, sent: Instant) {
        let control = Arc::new(RunControl::new(
            &c.name,
            c.epoch,
            fence_deadline(sent, c.dead_seconds),
        ));
        let spec = RunSpec {
            name: c.name.clone(),
            source: c.source,
            hang: c.hang,
            limits: self.limits,
        };
        tracing::info!(worker = %self.shared.name, thread = %c.name, epoch = c.epoch, "claimed thread");
        match run::spawn(
            spec,
            control.clone(),
            self.shared.clone(),
            self.done_tx.clone(),
        ) {
            Ok(()) => {
                self.runs.insert(
                    c.name,
                    Local {
                        control,
                        version: c.version,
                        dead_seconds: c.dead_seconds,
                    },
                );
            }
            Err(e) => {
                tracing::error!(worker = %self.shared.name, thread = %c.name, error = %e, "cannot start a script thread");
                self.pending.push(PendingEnd {
                    name: c.name,
                    epoch: c.epoch,
                    end: RunEnd::Stopped,
                });
            }
        }
    }

    /// Handles a run that ended.
    async fn finished(&mut self, done: Finished) {
        let Some(local) = self.runs.get(&done.name) else {
            return;
        };
        if local.control.epoch != done.epoch {
            return;
        }
        let local = self.runs.remove(&done.name).expect("checked above");
        let worker = self.shared.name.clone();
        let end = match done.ending {
            Ending::Crashed(error) => {
                tracing::warn!(worker = %worker, thread = %done.name, %error, "thread crashed; disabled until enabled again");
                RunEnd::Crashed(error)
            }
            Ending::Stopped(StopReason::Disable) => {
                tracing::info!(worker = %worker, thread = %done.name, "thread disabled itself");
                RunEnd::Disabled
            }
            Ending::Stopped(StopReason::Restart) if !self.shared.is_shutting_down() => {
                if self.restart(&done.name, local).await {
                    return;
                }
                RunEnd::Stopped
            }
            Ending::Stopped(reason) => {
                tracing::info!(worker = %worker, thread = %done.name, ?reason, "thread run ended");
                RunEnd::Stopped
            }
        };
        self.pending.push(PendingEnd {
            name: done.name,
            epoch: done.epoch,
            end,
        });
    }

    /// Starts a thread again with its new source, under the same lease.
    /// `false` when that is not possible now; the thread is then released.
    async fn restart(&mut self, name: &str, old: Local) -> bool {
        let result = match self.link.store().await {
            Ok(store) => store.thread(name).await,
            Err(e) => Err(e),
        };
        let view = match self.link.check(result) {
            Ok(v) => v,
            Err(e) if e.kind == ErrorKind::NotFound => return false,
            Err(e) => {
                self.redis_failed("restart", &e);
                return false;
            }
        };
        let t = view.thread;
        if t.status != Status::Enabled || t.epoch != old.control.epoch {
            return false;
        }
        let control = Arc::new(RunControl::new(
            name,
            old.control.epoch,
            old.control.fence_at(),
        ));
        let spec = RunSpec {
            name: name.to_string(),
            source: t.source,
            hang: t.hang,
            limits: self.limits,
        };
        if run::spawn(
            spec,
            control.clone(),
            self.shared.clone(),
            self.done_tx.clone(),
        )
        .is_err()
        {
            return false;
        }
        tracing::info!(worker = %self.shared.name, thread = %name, version = t.version, "restarted with the new source");
        self.runs.insert(
            name.to_string(),
            Local {
                control,
                version: t.version,
                dead_seconds: t.dead_seconds,
            },
        );
        true
    }

    /// Writes the ends of runs to Redis; keeps what fails for the next tick.
    async fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let store = match self.link.store().await {
            Ok(s) => s,
            Err(e) => {
                self.redis_failed("releasing threads", &e);
                return;
            }
        };
        let pending = std::mem::take(&mut self.pending);
        let mut failed = None;
        for p in pending {
            if failed.is_some() {
                self.pending.push(p);
                continue;
            }
            match store
                .release(&p.name, &self.settings.worker_name, p.epoch, &p.end)
                .await
            {
                Ok(applied) => {
                    if !applied {
                        tracing::debug!(worker = %self.shared.name, thread = %p.name, "release refused: a newer claim exists");
                    }
                }
                Err(e) => {
                    failed = Some(e);
                    self.pending.push(p);
                }
            }
        }
        if let Some(e) = failed {
            let _ = self.link.check::<()>(Err(e.clone()));
            self.redis_failed("releasing threads", &e);
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// SIGTERM and SIGINT as one stream.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals, Error> {
        use tokio::signal::unix::{signal, SignalKind};
        let err =
            |e: std::io::Error| Error::new("worker.signals", ErrorKind::Internal, e.to_string());
        Ok(Signals {
            term: signal(SignalKind::terminate()).map_err(err)?,
            int: signal(SignalKind::interrupt()).map_err(err)?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_stop_well_before_their_lease_can_run_out() {
        assert_eq!(fence_margin(1), Duration::from_millis(250));
        assert_eq!(fence_margin(2), Duration::from_millis(500));
        assert_eq!(fence_margin(60), Duration::from_secs(15));
        for dead in [1, 2, 5, 30] {
            let lease = Duration::from_secs(dead);
            // The margin leaves room for at least one renewal interval of
            // silence before a run fences itself.
            assert!(lease - fence_margin(dead) >= RENEW_INTERVAL * 2);
            assert!(fence_margin(dead) >= RENEW_INTERVAL);
        }
        assert!(HEARTBEAT_TTL <= Duration::from_secs(1));
    }
}
