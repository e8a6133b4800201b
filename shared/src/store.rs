//! Typed operations on a cluster's state, used by the worker and by hatter.
//!
//! Everything that reads or writes cluster keys goes through [`Store`]; the
//! writes that must be atomic run as the Lua scripts of [`crate::scripts`].
//! Listings are pipelined: one round trip for the index, one for the records.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, Value};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::keys::Keyspace;
use crate::model::{Status, Thread, Worker, DEFAULT_DEAD_SECONDS, DEFAULT_HANG};
use crate::scripts;

/// A thread to register.
#[derive(Clone, Debug)]
pub struct NewThread {
    /// Its name.
    pub name: String,
    /// Its source.
    pub source: String,
    /// Pause between `main()` calls; `None` keeps the current one (the
    /// default for a new thread).
    pub hang: Option<Duration>,
    /// Seconds without renewal before takeover; `None` keeps the current one.
    pub dead_seconds: Option<u64>,
    /// Whether it should run.
    pub status: Status,
    /// The file it came from.
    pub path: String,
}

/// What registering did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Registered {
    /// A new thread.
    Created,
    /// An existing thread got a new source, setting or status.
    Updated,
    /// The thread already was exactly like that.
    Unchanged,
}

/// An operator's change to a thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminOp {
    /// End the current run; any worker may claim it again.
    Stop,
    /// End it everywhere until enabled.
    Disable,
    /// Let it run again (clears `crashed`).
    Enable,
    /// Remove it and its log.
    Remove,
}

impl AdminOp {
    fn word(self) -> &'static str {
        match self {
            AdminOp::Stop => "stop",
            AdminOp::Disable => "disable",
            AdminOp::Enable => "enable",
            AdminOp::Remove => "rm",
        }
    }
}

/// What an operator's change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminOutcome {
    /// It changed the thread.
    Done,
    /// The thread already was that way.
    AlreadySo,
}

/// A thread as listed: its record plus its lease.
#[derive(Clone, Debug, Serialize)]
pub struct ThreadView {
    /// The stored record.
    #[serde(flatten)]
    pub thread: Thread,
    /// Redis-clock ms when its lease runs out; 0 when nobody holds it.
    pub lease_until_ms: u64,
    /// Milliseconds since its holder last renewed it, when held.
    pub heartbeat_age_ms: Option<u64>,
}

/// A worker as listed.
#[derive(Clone, Debug, Serialize)]
pub struct WorkerView {
    /// The stored record.
    #[serde(flatten)]
    pub worker: Worker,
    /// Whether its heartbeat is current.
    pub live: bool,
    /// Milliseconds since its last heartbeat.
    pub heartbeat_age_ms: u64,
}

/// A thread a worker has just claimed.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// Its name.
    pub name: String,
    /// The fencing number of this claim.
    pub epoch: u64,
    /// The source version claimed.
    pub version: u64,
    /// Its lease length.
    pub dead_seconds: u64,
    /// Pause between `main()` calls.
    pub hang: Duration,
    /// The source to run.
    pub source: String,
}

/// How a claim chooses threads.
#[derive(Clone, Debug)]
pub enum ClaimMode {
    /// Up to the worker's fair share, skipping these names (runs that are
    /// still winding down on this worker).
    Share {
        /// Names not to claim.
        skip: Vec<String>,
    },
    /// Exactly these names, when free, whatever the share.
    Named(Vec<String>),
}

/// One held lease, as a renewal sends it.
#[derive(Clone, Debug)]
pub struct HeldLease {
    /// The thread.
    pub name: String,
    /// The epoch of the claim.
    pub epoch: u64,
    /// Its lease length.
    pub dead_seconds: u64,
}

/// What a renewal said about one lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseCode {
    /// Renewed; the record is at this version.
    Held(u64),
    /// Nobody holds it any more: stopped, disabled or removed by an operator.
    Released,
    /// Another claim holds it now.
    Taken,
    /// Its record was deleted.
    Gone,
}

/// A worker's report with its heartbeat.
#[derive(Clone, Debug)]
pub struct Heartbeat<'a> {
    /// The worker.
    pub worker: &'a str,
    /// How long the heartbeat counts.
    pub ttl: Duration,
    /// Whether the worker takes work.
    pub eligible: bool,
    /// Its state word.
    pub state: crate::model::WorkerState,
    /// Machine CPU percent.
    pub cpu: f64,
    /// Machine memory percent.
    pub mem: f64,
    /// Host name.
    pub host: &'a str,
    /// Process id.
    pub pid: u32,
    /// Start time, Unix ms.
    pub started_at_ms: u64,
}

/// The reply to a renewal.
#[derive(Clone, Debug)]
pub struct Renewal {
    /// Redis's clock, Unix ms.
    pub now_ms: u64,
    /// The worker's status as an operator set it.
    pub status: Status,
    /// False when the thread index needs [`Store::repair`].
    pub index_ok: bool,
    /// One code per lease sent, in order.
    pub codes: Vec<LeaseCode>,
}

/// How a run ended, as [`Store::release`] records it.
#[derive(Clone, Debug)]
pub enum RunEnd {
    /// It ended; any worker may claim it at once.
    Stopped,
    /// The script disabled itself.
    Disabled,
    /// An uncaught error.
    Crashed(String),
}

/// The cluster state behind one connection.
#[derive(Clone)]
pub struct Store {
    conn: MultiplexedConnection,
    keys: Keyspace,
}

/// The most threads one claim call takes, so that one script call stays
/// short even when a worker starts alone in front of thousands of threads.
pub const CLAIM_BATCH: usize = 200;

impl Store {
    /// A store on `conn` for the cluster of `keys`.
    pub fn new(conn: MultiplexedConnection, keys: Keyspace) -> Store {
        Store { conn, keys }
    }

    /// The keyspace of this store's cluster.
    pub fn keys(&self) -> &Keyspace {
        &self.keys
    }

    /// The underlying connection, for callers that need a raw command.
    pub fn connection(&self) -> MultiplexedConnection {
        self.conn.clone()
    }

    /// Redis's clock in Unix milliseconds.
    pub async fn now_ms(&self) -> Result<u64> {
        let (secs, micros): (u64, u64) = redis::cmd("TIME")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| Error::redis("redis.time", e))?;
        Ok(secs * 1000 + micros / 1000)
    }

    /// Registers a thread, or updates the one of the same name.
    pub async fn register_thread(&self, t: &NewThread) -> Result<(Registered, u64)> {
        crate::model::validate_name("thread", &t.name)?;
        let k = &self.keys;
        let (outcome, version): (String, u64) = scripts::REGISTER
            .key(k.threads())
            .key(k.thread(&t.name))
            .key(k.leases())
            .key(k.owners())
            .key(k.disabled())
            .arg(&t.name)
            .arg(&t.source)
            .arg(
                t.hang
                    .map(|h| h.as_millis().to_string())
                    .unwrap_or_default(),
            )
            .arg(t.dead_seconds.map(|d| d.to_string()).unwrap_or_default())
            .arg(t.status.as_str())
            .arg(&t.path)
            .arg(DEFAULT_HANG.as_millis() as u64)
            .arg(DEFAULT_DEAD_SECONDS)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| Error::redis("thread.register", e))?;
        let outcome = match outcome.as_str() {
            "created" => Registered::Created,
            "updated" => Registered::Updated,
            _ => Registered::Unchanged,
        };
        Ok((outcome, version))
    }

    /// One thread, or a not-found error naming it.
    pub async fn thread(&self, name: &str) -> Result<ThreadView> {
        let mut conn = self.conn.clone();
        let (fields, score, now): (HashMap<String, String>, Option<f64>, (u64, u64)) =
            redis::pipe()
                .hgetall(self.keys.thread(name))
                .zscore(self.keys.leases(), name)
                .cmd("TIME")
                .query_async(&mut conn)
                .await
                .map_err(|e| Error::redis("thread.get", e))?;
        let now_ms = now.0 * 1000 + now.1 / 1000;
        let thread = Thread::from_fields(name, &fields).ok_or_else(|| {
            Error::not_found(
                "thread.get",
                format!("no thread `{name}` in cluster `{}`", self.keys.cluster()),
            )
        })?;
        Ok(view(thread, score, now_ms))
    }

    /// Every thread, sorted by name.
    pub async fn threads(&self) -> Result<Vec<ThreadView>> {
        let k = &self.keys;
        let listing = self
            .records("thread.list", &k.threads(), &k.leases(), |n| k.thread(n))
            .await?;
        Ok(listing
            .records
            .into_iter()
            // A name whose record vanished between the two round trips is
            // simply not listed.
            .filter_map(|(name, fields)| {
                let thread = Thread::from_fields(&name, &fields)?;
                Some(view(
                    thread,
                    listing.scores.get(&name).copied(),
                    listing.now_ms,
                ))
            })
            .collect())
    }

    /// The records behind an index set, in two round trips however many there
    /// are: the names, then one pipeline with Redis's clock, the scores of
    /// `scores_key` and every record.
    async fn records(
        &self,
        op: &'static str,
        index_key: &str,
        scores_key: &str,
        record_key: impl Fn(&str) -> String,
    ) -> Result<Listing> {
        let mut conn = self.conn.clone();
        let mut names: Vec<String> = conn
            .smembers(index_key)
            .await
            .map_err(|e| Error::redis(op, e))?;
        names.sort();
        let mut pipe = redis::pipe();
        pipe.cmd("TIME").zrange_withscores(scores_key, 0, -1);
        for name in &names {
            pipe.hgetall(record_key(name));
        }
        let mut replies: Vec<Value> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| Error::redis(op, e))?;
        let rest = replies.split_off(2);
        let (secs, micros): (u64, u64) = parse(op, replies[0].clone())?;
        let scores: Vec<(String, f64)> = parse(op, replies[1].clone())?;
        let mut records = Vec::with_capacity(names.len());
        for (name, fields) in names.into_iter().zip(rest) {
            records.push((name, parse(op, fields)?));
        }
        Ok(Listing {
            now_ms: secs * 1000 + micros / 1000,
            scores: scores.into_iter().collect(),
            records,
        })
    }

    /// An operator's change to one thread; not-found when it does not exist.
    pub async fn admin(&self, name: &str, op: AdminOp) -> Result<AdminOutcome> {
        let k = &self.keys;
        let reply: i64 = scripts::ADMIN
            .key(k.threads())
            .key(k.thread(name))
            .key(k.leases())
            .key(k.owners())
            .key(k.disabled())
            .key(k.thread_log(name))
            .arg(name)
            .arg(op.word())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| Error::redis("thread.admin", e))?;
        match reply {
            0 => Err(Error::not_found(
                "thread.admin",
                format!("no thread `{name}` in cluster `{}`", self.keys.cluster()),
            )),
            2 => Ok(AdminOutcome::AlreadySo),
            _ => Ok(AdminOutcome::Done),
        }
    }

    /// Claims threads for `worker`, which holds `held` now.
    pub async fn claim(&self, worker: &str, held: usize, mode: &ClaimMode) -> Result<Vec<Claimed>> {
        let k = &self.keys;
        let mut inv = scripts::CLAIM.prepare_invoke();
        inv.key(k.leases())
            .key(k.owners())
            .key(k.eligible())
            .key(k.epoch())
            .arg(worker)
            .arg(held)
            .arg(k.thread_prefix());
        match mode {
            ClaimMode::Share { skip } => {
                inv.arg("share").arg(CLAIM_BATCH);
                for name in skip {
                    inv.arg(name);
                }
            }
            ClaimMode::Named(names) => {
                inv.arg("named").arg(CLAIM_BATCH);
                for name in names {
                    inv.arg(name);
                }
            }
        }
        let reply: Vec<Value> = inv
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| Error::redis("lease.claim", e))?;
        let bad = || {
            Error::new(
                "lease.claim",
                crate::error::ErrorKind::Internal,
                "malformed claim reply",
            )
        };
        let mut out = Vec::new();
        for chunk in reply.get(1..).unwrap_or_default().chunks(6) {
            if chunk.len() != 6 {
                return Err(bad());
            }
            let text = |v: &Value| -> Result<String> {
                redis::from_redis_value(v.clone()).map_err(|_| bad())
            };
            let num = |v: &Value| -> Result<u64> {
                redis::from_redis_value(v.clone()).map_err(|_| bad())
            };
            out.push(Claimed {
                name: text(&chunk[0])?,
                epoch: num(&chunk[1])?,
                version: num(&chunk[2])?,
                dead_seconds: num(&chunk[3])?,
                hang: Duration::from_millis(num(&chunk[4])?),
                source: text(&chunk[5])?,
            });
        }
        Ok(out)
    }

    /// Sends a worker's heartbeat and renews all the leases it holds.
    pub async fn renew(&self, hb: &Heartbeat<'_>, leases: &[HeldLease]) -> Result<Renewal> {
        let k = &self.keys;
        let mut inv = scripts::RENEW.prepare_invoke();
        inv.key(k.leases())
            .key(k.owners())
            .key(k.workers())
            .key(k.eligible())
            .key(k.worker(hb.worker))
            .key(k.worker_names())
            .key(k.threads())
            .key(k.disabled())
            .arg(hb.worker)
            .arg(hb.ttl.as_millis() as u64)
            .arg(if hb.eligible { "1" } else { "0" })
            .arg(hb.state.as_str())
            .arg(format!("{:.1}", hb.cpu))
            .arg(format!("{:.1}", hb.mem))
            .arg(k.thread_prefix())
            .arg(hb.host)
            .arg(hb.pid)
            .arg(hb.started_at_ms)
            .arg(env!("CARGO_PKG_VERSION"));
        for lease in leases {
            inv.arg(&lease.name)
                .arg(lease.epoch)
                .arg(lease.dead_seconds * 1000);
        }
        let reply: Vec<Value> = inv
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| Error::redis("lease.renew", e))?;
        let bad = || {
            Error::new(
                "lease.renew",
                crate::error::ErrorKind::Internal,
                "malformed renewal reply",
            )
        };
        if reply.len() != 3 + leases.len() {
            return Err(bad());
        }
        let text =
            |v: &Value| -> Result<String> { redis::from_redis_value(v.clone()).map_err(|_| bad()) };
        let now_ms: u64 = redis::from_redis_value(reply[0].clone()).map_err(|_| bad())?;
        let status = text(&reply[1])?.parse().unwrap_or(Status::Enabled);
        let index_ok: i64 = redis::from_redis_value(reply[2].clone()).map_err(|_| bad())?;
        let mut codes = Vec::with_capacity(leases.len());
        for v in &reply[3..] {
            let code = text(v)?;
            codes.push(match code.as_str() {
                "released" => LeaseCode::Released,
                "taken" => LeaseCode::Taken,
                "gone" => LeaseCode::Gone,
                held => LeaseCode::Held(
                    held.strip_prefix("held:")
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(bad)?,
                ),
            });
        }
        Ok(Renewal {
            now_ms,
            status,
            index_ok: index_ok == 1,
            codes,
        })
    }

    /// Records the end of a run. `false` when refused: the epoch is stale.
    pub async fn release(
        &self,
        name: &str,
        worker: &str,
        epoch: u64,
        end: &RunEnd,
    ) -> Result<bool> {
        let k = &self.keys;
        let (how, error) = match end {
            RunEnd::Stopped => ("stopped", ""),
            RunEnd::Disabled => ("disable", ""),
            RunEnd::Crashed(e) => ("crashed", e.as_str()),
        };
        let applied: i64 = scripts::RELEASE
            .key(k.leases())
            .key(k.owners())
            .key(k.thread(name))
            .key(k.disabled())
            .arg(name)
            .arg(worker)
            .arg(epoch)
            .arg(how)
            .arg(error)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| Error::redis("lease.release", e))?;
        Ok(applied == 1)
    }

    /// Rebuilds the thread index from the records; returns entries fixed.
    pub async fn repair(&self) -> Result<u64> {
        let k = &self.keys;
        scripts::REPAIR
            .key(k.threads())
            .key(k.leases())
            .key(k.owners())
            .key(k.disabled())
            .arg(k.thread_prefix())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| Error::redis("lease.repair", e))
    }

    /// Marks a worker as gone at once, so fair share stops counting it.
    pub async fn leave(&self, worker: &str) -> Result<()> {
        let k = &self.keys;
        redis::pipe()
            .zrem(k.workers(), worker)
            .ignore()
            .zrem(k.eligible(), worker)
            .ignore()
            .hset_multiple(k.worker(worker), &[("state", "stopped"), ("threads", "0")])
            .ignore()
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(|e| Error::redis("worker.leave", e))
    }

    /// Resets a worker's operator status to enabled (a worker that starts
    /// takes work again, whatever an earlier process of that name was told).
    pub async fn join(&self, worker: &str) -> Result<()> {
        self.conn
            .clone()
            .hset::<_, _, _, ()>(self.keys.worker(worker), "status", "enabled")
            .await
            .map_err(|e| Error::redis("worker.join", e))
    }

    /// Sets a worker's operator status; not-found for an unknown worker.
    pub async fn set_worker_status(&self, worker: &str, status: Status) -> Result<()> {
        let mut conn = self.conn.clone();
        let exists: bool = conn
            .exists(self.keys.worker(worker))
            .await
            .map_err(|e| Error::redis("worker.status", e))?;
        if !exists {
            return Err(Error::not_found(
                "worker.status",
                format!("no worker `{worker}` in cluster `{}`", self.keys.cluster()),
            ));
        }
        conn.hset::<_, _, _, ()>(self.keys.worker(worker), "status", status.as_str())
            .await
            .map_err(|e| Error::redis("worker.status", e))
    }

    /// Every worker with a record, live ones first, then by name.
    pub async fn workers(&self) -> Result<Vec<WorkerView>> {
        let k = &self.keys;
        let listing = self
            .records("worker.list", &k.worker_names(), &k.workers(), |n| {
                k.worker(n)
            })
            .await?;
        let (now_ms, beats) = (listing.now_ms, listing.scores);
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for (name, fields) in &listing.records {
            match Worker::from_fields(name, fields) {
                Some(mut worker) => {
                    let live = beats.get(name).is_some_and(|&exp| exp as u64 > now_ms);
                    if !live {
                        worker.state = crate::model::WorkerState::Stopped;
                        worker.threads = 0;
                    }
                    out.push(WorkerView {
                        heartbeat_age_ms: now_ms.saturating_sub(worker.heartbeat_ms),
                        worker,
                        live,
                    });
                }
                None => gone.push(name.clone()),
            }
        }
        // Records expire a day after a worker vanished; forget their names.
        if !gone.is_empty() {
            let _: std::result::Result<(), _> = self
                .conn
                .clone()
                .srem(self.keys.worker_names(), &gone)
                .await;
        }
        out.sort_by(|a, b| {
            b.live
                .cmp(&a.live)
                .then_with(|| a.worker.name.cmp(&b.worker.name))
        });
        Ok(out)
    }
}

/// What [`Store::records`] read.
struct Listing {
    /// Redis's clock, Unix ms.
    now_ms: u64,
    /// Member scores of the sorted set read along.
    scores: HashMap<String, f64>,
    /// Each name with its record's fields (empty when the record is gone).
    records: Vec<(String, HashMap<String, String>)>,
}

/// Converts one reply value, with an internal error naming `op` on a
/// mismatch.
fn parse<T: redis::FromRedisValue>(op: &'static str, v: Value) -> Result<T> {
    redis::from_redis_value(v).map_err(|e| {
        Error::new(
            op,
            crate::error::ErrorKind::Internal,
            format!("unexpected reply from Redis: {e}"),
        )
    })
}

/// Joins a record with its lease into what listings show.
///
/// A record that says `running` while its lease ran out (its worker died and
/// nobody took it over yet) is shown as `stopped` with the owner kept, which
/// is what is happening: nobody runs it.
fn view(mut thread: Thread, lease: Option<f64>, now_ms: u64) -> ThreadView {
    let lease_until_ms = lease.map(|s| s as u64).unwrap_or(0);
    let held = lease_until_ms > now_ms && !thread.owner.is_empty();
    if thread.state == crate::model::State::Running && !held {
        thread.state = crate::model::State::Stopped;
    }
    let heartbeat_age_ms = held.then(|| {
        let renewed = lease_until_ms.saturating_sub(thread.dead_seconds * 1000);
        now_ms.saturating_sub(renewed)
    });
    ThreadView {
        thread,
        lease_until_ms,
        heartbeat_age_ms,
    }
}
