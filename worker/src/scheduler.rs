//! The cron scheduler: one per worker, taking ticks of the cluster's jobs.
//!
//! Every worker runs the same loop over the same job definitions and
//! computes the same fire times; at each one it asks Redis to claim the tick
//! (`job_claim.lua`), and exactly one worker is told "claimed" and runs it
//! (see [`shared::jobs`] for the protocol). The loop:
//!
//! - polls the jobs generation counter every [`SYNC_INTERVAL`], in the same
//!   round trip as a sample of Redis's clock, and reloads the definitions
//!   only when the counter moved (or a claim said the job changed);
//! - sleeps until the next tick by its estimate of Redis's clock, then
//!   claims it in a task of its own, so that a slow claim of one job delays
//!   no other; a claim that fails in any way is not run (its outcome is
//!   unknown, and running on a guess could run a tick twice);
//! - renews the markers of its runs every [`RENEW_INTERVAL`] in one call,
//!   and moves each run's self-fencing deadline with it, so that a worker cut
//!   off from Redis stops acting before its marker can expire;
//! - records the end of each run with a finish fenced by the run's claim.
//!
//! It takes ticks only while the worker is eligible (healthy, enabled, not
//! shutting down, and its last renewal reached Redis). On shutdown it stops
//! claiming at once and returns when its runs have finished, or after
//! [`crate::cluster::SHUTDOWN_GRACE`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::cron::Schedule;
use shared::jobs::{ClaimReply, ClaimRequest, ClaimWhat, JobSpec, MissedCount, RunReport};
use shared::model::Status;
use shared::store::Store;
use shared::Error;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::cluster::{fence_margin, CONTROL_TIMEOUT, SHUTDOWN_GRACE};
use crate::job_run::{self, JobDone, JobRunSpec};
use crate::run::{RunControl, StopReason};
use crate::runtime::{Limits, WorkerShared};

/// How often the scheduler looks for changed job definitions and samples
/// Redis's clock. A definition change also reaches workers through a claim
/// refused as stale, so this bounds only how late a new or re-enabled job's
/// first tick can be.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(500);

/// How often the markers of running jobs are renewed.
pub const RENEW_INTERVAL: Duration = Duration::from_millis(250);

/// How long a run marker counts without a renewal. A tick that comes while
/// the marker counts is skipped; after a worker dies in the middle of a run,
/// ticks are skipped for at most this long before the next one runs.
pub const JOB_LEASE: Duration = Duration::from_secs(2);

/// How many missed fire times a claim counts one by one; a longer outage is
/// recorded as "at least" this many.
pub const MISSED_COUNT_CAP: u64 = 100_000;

/// How long a finish that cannot reach Redis is retried. Harmless when late:
/// it is fenced by the run's claim.
const FINISH_RETRY_FOR: Duration = Duration::from_secs(60);

/// Clock samples kept; the one with the shortest round trip wins.
const CLOCK_SAMPLES: usize = 8;

/// When a claim is sent, after the tick by the estimate of Redis's clock. A
/// claim that still arrives early is told how early and sent again.
const CLAIM_SLACK: Duration = Duration::from_millis(1);

/// The self-fencing deadline of a run whose marker was set or renewed by a
/// call sent at `sent`.
fn fence_deadline(sent: Instant) -> Instant {
    let secs = JOB_LEASE.as_secs();
    sent + JOB_LEASE - fence_margin(secs)
}

/// An estimate of Redis's clock from `TIME` samples.
///
/// Lateness is judged by Redis's clock (the claim script reads `TIME`), so
/// the worker aims at ticks by its estimate of that clock, not by its own.
#[derive(Default)]
struct RedisClock {
    /// (round trip, local midpoint, Redis µs), newest last.
    samples: VecDeque<(Duration, Instant, i64)>,
}

impl RedisClock {
    fn sample(&mut self, sent: Instant, received: Instant, redis_us: u64) {
        let rtt = received.saturating_duration_since(sent);
        if self.samples.len() == CLOCK_SAMPLES {
            self.samples.pop_front();
        }
        self.samples
            .push_back((rtt, sent + rtt / 2, redis_us as i64));
    }

    fn best(&self) -> Option<(Instant, i64)> {
        self.samples
            .iter()
            .min_by_key(|s| s.0)
            .map(|&(_, at, us)| (at, us))
    }

    /// Redis's clock now, Unix ms.
    fn now_ms(&self) -> Option<i64> {
        let (at, us) = self.best()?;
        let now = Instant::now();
        let us = if now >= at {
            us + (now - at).as_micros() as i64
        } else {
            us - (at - now).as_micros() as i64
        };
        Some(us.div_euclid(1000))
    }

    /// The local instant at which Redis's clock reads `ms`.
    fn instant_of(&self, ms: i64) -> Option<Instant> {
        let (at, us) = self.best()?;
        let delta = ms * 1000 - us;
        Some(if delta >= 0 {
            at + Duration::from_micros(delta as u64)
        } else {
            at.checked_sub(Duration::from_micros((-delta) as u64))
                .unwrap_or(at)
        })
    }
}

/// One tick to claim.
#[derive(Clone, Copy, Debug)]
struct Tick {
    at_ms: i64,
    prev_ms: Option<i64>,
    next_ms: Option<i64>,
}

impl Tick {
    fn of(schedule: &Schedule, at_ms: i64) -> Tick {
        Tick {
            at_ms,
            prev_ms: schedule.previous_before(at_ms),
            next_ms: schedule.next_after(at_ms),
        }
    }
}

/// A job as this scheduler knows it.
struct Entry {
    spec: JobSpec,
    /// `None` when the stored spec cannot be read (written by hand, or by a
    /// newer version); the job is then never claimed here.
    schedule: Option<Schedule>,
    /// The next tick to claim.
    next: Option<Tick>,
    /// A claim of a tick is on its way.
    claiming: bool,
}

/// A run on this worker.
struct LocalRun {
    name: String,
    control: Arc<RunControl>,
}

/// A finish not written yet.
struct PendingFinish {
    done: JobDone,
    since: Instant,
}

/// What a claim task reports.
struct ClaimResult {
    name: String,
    version: u64,
    manual: bool,
    tick: Tick,
    sent: Instant,
    reply: Result<ClaimReply, Error>,
}

/// The scheduler of one worker.
pub struct Scheduler {
    shared: Arc<WorkerShared>,
    limits: Limits,
    store: Option<Store>,
    clock: RedisClock,
    generation: Option<u64>,
    reload: bool,
    jobs: HashMap<String, Entry>,
    /// Runs by claim.
    runs: HashMap<u64, LocalRun>,
    pending: Vec<PendingFinish>,
    claims: JoinSet<ClaimResult>,
    done_tx: mpsc::UnboundedSender<JobDone>,
    done_rx: mpsc::UnboundedReceiver<JobDone>,
    /// Set while Redis does not answer, so an outage is logged once.
    down_since: Option<Instant>,
}

impl Scheduler {
    /// A scheduler for the worker of `shared`, running scripts with `limits`.
    pub fn new(shared: Arc<WorkerShared>, limits: Limits) -> Scheduler {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Scheduler {
            shared,
            limits,
            store: None,
            clock: RedisClock::default(),
            generation: None,
            reload: true,
            jobs: HashMap::new(),
            runs: HashMap::new(),
            pending: Vec::new(),
            claims: JoinSet::new(),
            done_tx,
            done_rx,
            down_since: None,
        }
    }

    fn worker(&self) -> &str {
        &self.shared.name
    }

    /// Runs until the worker shuts down and every run here has finished.
    pub async fn run(mut self) {
        tracing::info!(worker = self.worker(), "cron scheduler started");
        let mut next_sync = Instant::now();
        let mut next_renew = Instant::now() + RENEW_INTERVAL;
        let mut shutdown_at: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if now >= next_sync {
                self.sync().await;
                next_sync = Instant::now() + SYNC_INTERVAL;
            }
            if Instant::now() >= next_renew {
                self.renew().await;
                next_renew = Instant::now() + RENEW_INTERVAL;
            }
            self.flush_pending().await;

            if self.shared.is_shutting_down() {
                let at = *shutdown_at.get_or_insert_with(|| {
                    tracing::info!(
                        worker = %self.shared.name,
                        running = self.runs.len(),
                        "cron scheduler takes no more ticks; finishing job runs"
                    );
                    Instant::now()
                });
                if self.runs.is_empty() && self.pending.is_empty() && self.claims.is_empty() {
                    break;
                }
                if at.elapsed() > SHUTDOWN_GRACE {
                    tracing::error!(
                        worker = self.worker(),
                        running = self.runs.len(),
                        "job runs did not finish within the shutdown grace; their outcome is not recorded"
                    );
                    break;
                }
            } else {
                if self.store.is_none() && self.next_due().is_some_and(|d| d <= Instant::now()) {
                    // Reconnect now rather than at the next sync, so that a
                    // dropped connection costs no more ticks than it must.
                    if let Err(e) = self.store().await {
                        self.failed("reconnecting", &e);
                    }
                }
                self.take_due();
            }

            let wake = self
                .next_due()
                .unwrap_or(next_sync)
                .min(next_sync)
                .min(if self.runs.is_empty() {
                    next_sync
                } else {
                    next_renew
                })
                .min(Instant::now() + Duration::from_millis(250));
            tokio::select! {
                _ = tokio::time::sleep_until(wake.into()) => {}
                Some(result) = self.claims.join_next(), if !self.claims.is_empty() => {
                    match result {
                        Ok(r) => self.claimed(r),
                        Err(e) => tracing::error!(worker = self.worker(), error = %e, "a claim task failed"),
                    }
                }
                Some(done) = self.done_rx.recv() => {
                    self.ended(done);
                }
            }
        }
        tracing::info!(worker = self.worker(), "cron scheduler stopped");
    }

    /// The scheduler's connection, opened when needed.
    async fn store(&mut self) -> Result<Store, Error> {
        if let Some(s) = &self.store {
            return Ok(s.clone());
        }
        let name = format!("hats-worker:{}:scheduler", self.shared.name);
        let conn = shared::conn::connect(&self.shared.redis, &name, Some(CONTROL_TIMEOUT)).await?;
        let store = Store::new(conn, self.shared.keys.clone());
        self.store = Some(store.clone());
        Ok(store)
    }

    /// Notes a failed Redis call: drops the connection after a connection
    /// error (a late reply may still be on its way) and logs an outage once.
    fn failed(&mut self, what: &str, err: &Error) {
        if err.is_unavailable() {
            self.store = None;
            if self.down_since.is_none() {
                self.down_since = Some(Instant::now());
                tracing::warn!(worker = %self.shared.name, error = %err, "cron scheduler lost contact with Redis during {what}; no ticks are taken here until it is back");
            }
        } else {
            tracing::warn!(worker = %self.shared.name, error = %err, "cron scheduler: {what} failed");
        }
    }

    fn succeeded(&mut self) {
        if let Some(since) = self.down_since.take() {
            tracing::info!(worker = %self.shared.name, down_for = ?since.elapsed(), "cron scheduler reaches Redis again");
        }
    }

    /// Samples Redis's clock, and reloads the job definitions when they
    /// changed.
    async fn sync(&mut self) {
        let store = match self.store().await {
            Ok(s) => s,
            Err(e) => return self.failed("sync", &e),
        };
        let sent = Instant::now();
        let (generation, redis_us) = match store.job_generation().await {
            Ok(g) => g,
            Err(e) => return self.failed("sync", &e),
        };
        self.clock.sample(sent, Instant::now(), redis_us);
        self.succeeded();
        if !self.reload && self.generation == Some(generation) {
            return;
        }
        let specs = match store.job_specs().await {
            Ok(s) => s,
            Err(e) => return self.failed("loading jobs", &e),
        };
        self.generation = Some(generation);
        self.reload = false;
        self.apply(specs);
    }

    /// Brings the job table in line with the definitions read.
    fn apply(&mut self, specs: Vec<JobSpec>) {
        let now_ms = self.clock.now_ms().unwrap_or(0);
        let mut seen = std::collections::HashSet::new();
        for spec in specs {
            seen.insert(spec.name.clone());
            if let Some(entry) = self.jobs.get_mut(&spec.name) {
                let changed = entry.spec.version != spec.version;
                let enabled =
                    entry.spec.status != Status::Enabled && spec.status == Status::Enabled;
                if !changed && !enabled {
                    // The same schedule: only the status and a run request
                    // may be new.
                    entry.spec.run_request = spec.run_request;
                    entry.spec.status = spec.status;
                    continue;
                }
            }
            let name = spec.name.clone();
            let schedule = match Schedule::parse(
                &spec.cron,
                Some(&spec.tz).filter(|z| !z.is_empty()).map(String::as_str),
            ) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(worker = self.worker(), job = %name, error = %e, "cannot read the stored schedule; this worker does not run the job");
                    None
                }
            };
            // The most recent fire time may still be owed (a worker that
            // starts after an outage makes it up when it is less than one
            // period old; the claim decides), else the next one.
            let next = schedule.as_ref().and_then(|s| {
                s.latest_at_or_before(now_ms)
                    .or_else(|| s.next_after(now_ms))
                    .map(|at| Tick::of(s, at))
            });
            tracing::debug!(worker = self.worker(), job = %name, version = spec.version, "job loaded");
            let claiming = self.jobs.get(&name).is_some_and(|e| e.claiming);
            self.jobs.insert(
                name,
                Entry {
                    spec,
                    schedule,
                    next,
                    claiming,
                },
            );
        }
        self.jobs.retain(|name, _| seen.contains(name));
    }

    /// The instant the earliest pending tick is due.
    fn next_due(&self) -> Option<Instant> {
        self.jobs
            .values()
            .filter(|e| !e.claiming && e.spec.status == Status::Enabled)
            .filter_map(|e| e.next)
            .filter_map(|t| self.clock.instant_of(t.at_ms))
            .min()
            .map(|at| at + CLAIM_SLACK)
    }

    /// Starts the claims of every tick (and run request) that is due.
    fn take_due(&mut self) {
        let Some(now_ms) = self.clock.now_ms() else {
            return;
        };
        let Some(store) = self.store.clone() else {
            return;
        };
        let eligible = self.shared.eligible.load(Ordering::SeqCst);
        let worker = self.shared.name.clone();
        let names: Vec<String> = self.jobs.keys().cloned().collect();
        for name in names {
            let entry = self.jobs.get_mut(&name).expect("listed above");
            if entry.claiming {
                continue;
            }
            let Some(schedule) = entry.schedule.clone() else {
                continue;
            };

            // An operator's `hatter jobs run`: one try per request, made
            // while this worker is eligible.
            if let Some(token) = entry.spec.run_request.take_if(|_| eligible) {
                entry.claiming = true;
                let tick = Tick {
                    at_ms: now_ms,
                    prev_ms: None,
                    next_ms: schedule.next_after(now_ms),
                };
                spawn_claim(
                    &mut self.claims,
                    store.clone(),
                    worker.clone(),
                    name.clone(),
                    entry.spec.version,
                    schedule,
                    tick,
                    Some(token),
                );
                continue;
            }

            if entry.spec.status != Status::Enabled {
                continue;
            }
            let Some(mut tick) = entry.next else {
                continue;
            };
            if tick.at_ms > now_ms {
                continue;
            }
            // Behind (a pause, a stall): the ticks in between are missed, and
            // only the latest one is still worth claiming.
            if tick.next_ms.is_some_and(|n| n <= now_ms) {
                if let Some(latest) = schedule.latest_at_or_before(now_ms) {
                    tick = Tick::of(&schedule, latest);
                }
            }
            if !eligible {
                // Not this worker's to take: an eligible one claims it.
                entry.next = tick.next_ms.map(|n| Tick::of(&schedule, n));
                continue;
            }
            entry.claiming = true;
            spawn_claim(
                &mut self.claims,
                store.clone(),
                worker.clone(),
                name.clone(),
                entry.spec.version,
                schedule,
                tick,
                None,
            );
        }
    }

    /// Handles a claim's reply.
    fn claimed(&mut self, r: ClaimResult) {
        if let Some(entry) = self.jobs.get_mut(&r.name) {
            entry.claiming = false;
            if !r.manual && entry.spec.version == r.version {
                if let Some(s) = &entry.schedule {
                    entry.next = r.tick.next_ms.map(|n| Tick {
                        at_ms: n,
                        prev_ms: Some(r.tick.at_ms),
                        next_ms: s.next_after(n),
                    });
                }
            }
        }
        let reply = match r.reply {
            Ok(reply) => {
                self.succeeded();
                reply
            }
            Err(e) => {
                if e.is_unavailable() {
                    self.store = None;
                }
                // The claim may or may not have happened; either way this
                // worker does not run the tick.
                if self.down_since.is_none() {
                    tracing::error!(worker = %self.shared.name, job = %r.name, tick = r.tick.at_ms, error = %e, "claim outcome unknown; the tick is not run here, and is lost if the claim went through");
                }
                if e.is_unavailable() {
                    self.down_since.get_or_insert_with(Instant::now);
                }
                return;
            }
        };
        let worker = self.shared.name.clone();
        match reply {
            ClaimReply::Claimed {
                claim,
                source,
                tick_ms,
                now_ms,
            } => {
                tracing::debug!(worker = %worker, job = %r.name, tick = tick_ms, late_ms = now_ms - tick_ms, claim, "claimed tick");
                self.start(r.name, claim, source, tick_ms, r.sent);
            }
            ClaimReply::Skipped => {
                tracing::debug!(worker = %worker, job = %r.name, tick = r.tick.at_ms, "tick skipped: the previous run still runs");
            }
            ClaimReply::Late => {
                tracing::warn!(worker = %worker, job = %r.name, tick = r.tick.at_ms, "tick came more than one period late; recorded as missed");
            }
            ClaimReply::Stale | ClaimReply::Gone => self.reload = true,
            ClaimReply::Disabled => self.reload = true,
            ClaimReply::Early(ms) => {
                tracing::debug!(worker = %worker, job = %r.name, early_ms = ms, "claim still early after retries");
            }
            ClaimReply::Taken | ClaimReply::Count(_) => {}
        }
    }

    /// Starts the run of a claimed tick.
    fn start(&mut self, name: String, claim: u64, source: String, tick_ms: i64, sent: Instant) {
        let control = Arc::new(RunControl::new(&name, claim, fence_deadline(sent)));
        let spec = JobRunSpec {
            name: name.clone(),
            source,
            tick_ms,
            limits: self.limits,
        };
        match job_run::spawn(
            spec,
            control.clone(),
            self.shared.clone(),
            self.done_tx.clone(),
        ) {
            Ok(()) => {
                self.runs.insert(claim, LocalRun { name, control });
            }
            Err(e) => {
                tracing::error!(worker = self.worker(), job = %name, error = %e, "cannot start a script thread; the tick is recorded as failed");
                self.pending.push(PendingFinish {
                    done: JobDone {
                        name,
                        claim,
                        error: Some(format!("the worker could not start a script thread: {e}")),
                        disable: false,
                        lost: false,
                        duration: Duration::ZERO,
                    },
                    since: Instant::now(),
                });
            }
        }
    }

    /// Handles a run that ended.
    fn ended(&mut self, done: JobDone) {
        self.runs.remove(&done.claim);
        match (&done.error, done.lost) {
            (_, true) => {
                tracing::warn!(worker = %self.shared.name, job = %done.name, "job run lost its marker; its end is not recorded here")
            }
            (Some(error), _) => {
                tracing::warn!(worker = %self.shared.name, job = %done.name, %error, "job run failed; the job keeps its schedule")
            }
            (None, _) => {
                tracing::debug!(worker = %self.shared.name, job = %done.name, took = ?done.duration, "job run done")
            }
        }
        if done.disable {
            tracing::info!(worker = %self.shared.name, job = %done.name, "job disabled itself");
        }
        if !done.lost {
            self.pending.push(PendingFinish {
                done,
                since: Instant::now(),
            });
        }
    }

    /// Writes the ends of runs; keeps what fails for the next turn.
    async fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let store = match self.store().await {
            Ok(s) => s,
            Err(e) => return self.failed("recording job runs", &e),
        };
        let worker = self.shared.name.clone();
        for p in std::mem::take(&mut self.pending) {
            let report = RunReport {
                claim: p.done.claim,
                worker: &worker,
                error: p.done.error.as_deref(),
                duration_ms: p.done.duration.as_millis() as u64,
                disable: p.done.disable,
            };
            match store.finish_job(&p.done.name, &report).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(worker = %worker, job = %p.done.name, "finish refused: the run's marker was taken over or the job removed");
                }
                Err(e) => {
                    if p.since.elapsed() < FINISH_RETRY_FOR {
                        self.pending.push(p);
                    } else {
                        tracing::error!(worker = %worker, job = %p.done.name, error = %e, "could not record a job run's end in time; it shows as lost");
                    }
                    self.failed("recording job runs", &e);
                    return;
                }
            }
        }
    }

    /// Renews the markers of the runs in progress.
    async fn renew(&mut self) {
        let held: Vec<(u64, String)> = self
            .runs
            .iter()
            .filter(|(_, r)| r.control.reason() != StopReason::Lost)
            .map(|(claim, r)| (*claim, r.name.clone()))
            .collect();
        if held.is_empty() {
            return;
        }
        let store = match self.store().await {
            Ok(s) => s,
            Err(e) => return self.failed("renewing job runs", &e),
        };
        let list: Vec<(String, u64)> = held.iter().map(|(c, n)| (n.clone(), *c)).collect();
        let sent = Instant::now();
        match store.renew_jobs(&list, JOB_LEASE.as_millis() as u64).await {
            Ok((_, codes)) => {
                self.succeeded();
                for ((claim, name), ok) in held.iter().zip(codes) {
                    let Some(run) = self.runs.get(claim) else {
                        continue;
                    };
                    if ok {
                        run.control.extend(fence_deadline(sent));
                    } else {
                        tracing::warn!(worker = %self.shared.name, job = %name, "job run lost its marker (the job was removed or taken over); stopping it here");
                        run.control.stop(StopReason::Lost);
                    }
                }
            }
            Err(e) => self.failed("renewing job runs", &e),
        }
    }
}

/// Starts the claim of one tick (or, with `token`, one run request) in a task.
#[allow(clippy::too_many_arguments)]
fn spawn_claim(
    set: &mut JoinSet<ClaimResult>,
    store: Store,
    worker: String,
    name: String,
    version: u64,
    schedule: Schedule,
    tick: Tick,
    token: Option<String>,
) {
    set.spawn(async move {
        let manual = token.is_some();
        // The lease a claim grants counts from when its last attempt was
        // sent, not from the first: an early claim may sleep and retry.
        let (reply, sent) = match claim(
            &store,
            &worker,
            &name,
            version,
            &schedule,
            tick,
            token.as_deref(),
        )
        .await
        {
            Ok((reply, sent)) => (Ok(reply), sent),
            Err(e) => (Err(e), Instant::now()),
        };
        ClaimResult {
            name,
            version,
            manual,
            tick,
            sent,
            reply,
        }
    });
}

/// Claims one tick, answering the script's "early" and "count" replies;
/// the reply and when the attempt that got it was sent.
async fn claim(
    store: &Store,
    worker: &str,
    name: &str,
    version: u64,
    schedule: &Schedule,
    tick: Tick,
    token: Option<&str>,
) -> Result<(ClaimReply, Instant), Error> {
    let mut missed: Option<MissedCount> = None;
    for _ in 0..4 {
        let what = match token {
            Some(t) => ClaimWhat::Manual(t),
            None => ClaimWhat::Tick {
                tick_ms: tick.at_ms,
                prev_ms: tick.prev_ms,
                missed: missed.clone(),
            },
        };
        let req = ClaimRequest {
            worker,
            version,
            what,
            next_ms: tick.next_ms,
            lease_ms: JOB_LEASE.as_millis() as u64,
        };
        let sent = Instant::now();
        match store.claim_job(name, &req).await? {
            ClaimReply::Early(ms) if ms < 2000 => {
                tokio::time::sleep(Duration::from_millis(ms + 1)).await;
            }
            ClaimReply::Count(from) => {
                let from_ms: i64 = from.parse().unwrap_or(0);
                let (count, capped) = schedule.count_between(from_ms, tick.at_ms, MISSED_COUNT_CAP);
                if capped {
                    tracing::warn!(
                        worker,
                        job = name,
                        count,
                        "more missed ticks than are counted; recording the cap"
                    );
                }
                tracing::info!(
                    worker,
                    job = name,
                    count,
                    "ticks were missed while no worker took them; recording them once"
                );
                missed = Some(MissedCount {
                    from,
                    count,
                    first_ms: schedule.next_after(from_ms),
                });
            }
            other => return Ok((other, sent)),
        }
    }
    Ok((ClaimReply::Taken, Instant::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_estimate_maps_both_ways() {
        let mut clock = RedisClock::default();
        let sent = Instant::now();
        clock.sample(sent, sent + Duration::from_millis(10), 1_000_000_000);
        let at = clock.instant_of(1_000_000).unwrap();
        assert_eq!(at, sent + Duration::from_millis(5));
        // A sample with a shorter round trip wins.
        clock.sample(sent, sent + Duration::from_millis(2), 1_000_003_000);
        assert_eq!(
            clock.instant_of(1_000_003).unwrap(),
            sent + Duration::from_millis(1)
        );
        assert!(clock.now_ms().unwrap() >= 1_000_002);
    }

    #[test]
    fn runs_fence_themselves_before_their_marker_expires() {
        let sent = Instant::now();
        let fence = fence_deadline(sent);
        assert!(fence < sent + JOB_LEASE);
        // At least a few renewals fit before a run fences itself.
        assert!(fence - sent >= RENEW_INTERVAL * 4);
    }
}
