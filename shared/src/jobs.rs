//! Cron jobs: the record, its history, and the typed operations on them.
//!
//! A job is one hash per name ([`Keyspace::job`]) holding its definition
//! (source, spec, zone, status, version), what operators see (state, owner,
//! last run, last error) and its claim state: the last tick handled and the
//! marker of the run in progress. Its history is a capped list of JSON
//! entries ([`Keyspace::job_history`]). Every write that must be atomic is
//! one of the `job_*` Lua scripts; see each script's header for its contract.
//!
//! # How a tick runs exactly once
//!
//! Every eligible worker computes the job's fire times itself and, at each
//! one, calls the claim script with the tick's time. The script compares it
//! with the record's `tick` field (the last tick handled) and takes it only
//! when it is newer, so one worker gets it and every other one hears
//! "taken". The winner's marker (`run_claim`, with a lease in `run_until`)
//! makes a tick that comes while the run still runs a recorded skip, on any
//! worker; the worker renews the lease while its run lasts, and the finish is
//! fenced by the claim. A claim the worker did not hear back from is never
//! run.

use std::collections::HashMap;

use redis::Value;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::keys::Keyspace;
use crate::model::{validate_name, State, Status};
use crate::scripts;
use crate::store::{AdminOutcome, Registered, Store};

/// How many entries a job's history keeps; older ones are dropped first.
pub const HISTORY_LENGTH: usize = 100;

/// A job as stored in its hash.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Job {
    /// Unique per cluster among jobs.
    pub name: String,
    /// The JavaScript source, evaluated whole at each tick.
    #[serde(skip_serializing)]
    pub source: String,
    /// Grows by one whenever the source, spec or zone changes.
    pub version: u64,
    /// The cron spec as given.
    pub cron: String,
    /// The IANA zone the spec is read in; empty means UTC.
    pub tz: String,
    /// What the operator wants.
    pub status: Status,
    /// `running` while a run is in progress, else `stopped`.
    pub state: State,
    /// The worker running it now, empty when none.
    pub owner: String,
    /// The file it was added from, for people.
    pub path: String,
    /// When the last run started, Redis-clock Unix ms (0 when never).
    pub last_run_ms: u64,
    /// How the last run ended: `ok`, `error`, or empty when it never ran.
    pub last_outcome: String,
    /// How long the last run took, in ms.
    pub last_duration_ms: u64,
    /// The text of the last error, empty when none.
    pub error: String,
    /// When that error happened, Unix ms (0 when none).
    pub error_at_ms: u64,
    /// The last tick handled (claimed, skipped or missed), Unix ms; ticks at
    /// or before it are never claimed.
    pub tick_ms: u64,
    /// The worker holding the run marker, when one is set.
    pub run_worker: String,
    /// Redis-clock ms until which the run marker counts without a renewal.
    pub run_until_ms: u64,
    /// Whether a `hatter jobs run` request waits for a worker.
    pub run_requested: bool,
    /// When it was added, Unix ms.
    pub created_at_ms: u64,
    /// When its definition or status last changed, Unix ms.
    pub updated_at_ms: u64,
}

impl Job {
    /// Reads a job from its hash fields; `None` for an empty hash.
    pub fn from_fields(name: &str, fields: &HashMap<String, String>) -> Option<Job> {
        if fields.is_empty() {
            return None;
        }
        let text = |k: &str| fields.get(k).cloned().unwrap_or_default();
        let number = |k: &str| {
            fields
                .get(k)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Some(Job {
            name: name.to_string(),
            source: text("source"),
            version: number("version"),
            cron: text("cron"),
            tz: text("tz"),
            status: text("status").parse().unwrap_or(Status::Disabled),
            state: text("state").parse().unwrap_or(State::Stopped),
            owner: text("owner"),
            path: text("path"),
            last_run_ms: number("last_run"),
            last_outcome: text("last_outcome"),
            last_duration_ms: number("last_duration"),
            error: text("error"),
            error_at_ms: number("error_at"),
            tick_ms: number("tick"),
            run_worker: text("run_worker"),
            run_until_ms: number("run_until"),
            run_requested: fields.get("run_request").is_some_and(|v| !v.is_empty()),
            created_at_ms: number("created_at"),
            updated_at_ms: number("updated_at"),
        })
    }

    /// The zone name to show: the stored one, or `UTC`.
    pub fn zone(&self) -> &str {
        if self.tz.is_empty() {
            "UTC"
        } else {
            &self.tz
        }
    }

    /// The record as it is at Redis time `now_ms`: a run marker whose lease
    /// ran out (its worker died) shows as `stopped`, which is what happens.
    fn settle(mut self, now_ms: u64) -> Job {
        if self.state == State::Running && self.run_until_ms <= now_ms {
            self.state = State::Stopped;
            self.owner.clear();
        }
        self
    }
}

/// How one history entry ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The script ran to its end.
    Ok,
    /// The script threw, hit a budget, or its run was lost.
    Error,
    /// The tick came while the previous run still ran.
    Skipped,
    /// Ticks that no worker took in time (an outage); `count` says how many.
    Missed,
}

impl Outcome {
    /// The word shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
            Outcome::Missed => "missed",
        }
    }
}

/// One entry of a job's history, as the scripts write it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// How it ended.
    pub outcome: Outcome,
    /// The tick's fire time, Unix ms (for a manual run, when it was taken;
    /// for missed ticks, the first one).
    #[serde(default)]
    pub tick: u64,
    /// For missed ticks: the last one of the stretch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<u64>,
    /// When the run started (was claimed), Redis-clock Unix ms.
    #[serde(default)]
    pub start: u64,
    /// How long the script ran, ms.
    #[serde(default)]
    pub duration_ms: u64,
    /// The worker that ran it (or noticed the skip or the miss).
    #[serde(default, deserialize_with = "text_or_nothing")]
    pub worker: String,
    /// The error text, for errors.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// For missed entries: how many ticks.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub count: u64,
    /// For skipped entries: the worker whose run was still going.
    #[serde(
        default,
        deserialize_with = "text_or_nothing",
        skip_serializing_if = "String::is_empty"
    )]
    pub running: String,
    /// Whether this was a `hatter jobs run` request rather than a tick.
    #[serde(default)]
    pub manual: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Lua's cjson writes a missing string as `false`; read that as empty.
fn text_or_nothing<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<String, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::String(s) => s,
        _ => String::new(),
    })
}

/// A job to add.
#[derive(Clone, Debug)]
pub struct NewJob {
    /// Its name.
    pub name: String,
    /// Its source.
    pub source: String,
    /// Its cron spec.
    pub cron: String,
    /// Its zone; `None` for UTC.
    pub tz: Option<String>,
    /// Whether it should fire.
    pub status: Status,
    /// The file it came from.
    pub path: String,
}

/// An operator's change to a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobOp {
    /// No more ticks until enabled.
    Disable,
    /// Ticks again, from the next one.
    Enable,
    /// Remove it, its history and its log.
    Remove,
}

impl JobOp {
    fn word(self) -> &'static str {
        match self {
            JobOp::Disable => "disable",
            JobOp::Enable => "enable",
            JobOp::Remove => "rm",
        }
    }
}

/// What a scheduler needs of a job to compute its ticks (no source).
#[derive(Clone, Debug, PartialEq)]
pub struct JobSpec {
    /// The job.
    pub name: String,
    /// Its version; claims carry it.
    pub version: u64,
    /// Its cron spec.
    pub cron: String,
    /// Its zone, empty for UTC.
    pub tz: String,
    /// Whether it fires.
    pub status: Status,
    /// The token of a waiting `hatter jobs run` request.
    pub run_request: Option<String>,
}

/// A claim request (see `job_claim.lua` for each field's meaning).
#[derive(Clone, Debug)]
pub struct ClaimRequest<'a> {
    /// The claiming worker.
    pub worker: &'a str,
    /// The version the tick was computed from.
    pub version: u64,
    /// A tick, or an operator's request.
    pub what: ClaimWhat<'a>,
    /// The fire time after this one, Unix ms.
    pub next_ms: Option<i64>,
    /// The lease of the run marker.
    pub lease_ms: u64,
}

/// What a claim is for.
#[derive(Clone, Debug)]
pub enum ClaimWhat<'a> {
    /// A scheduled tick.
    Tick {
        /// Its fire time, Unix ms.
        tick_ms: i64,
        /// The fire time before it.
        prev_ms: Option<i64>,
        /// Missed fire times counted since the record's `tick` field.
        missed: Option<MissedCount>,
    },
    /// A `hatter jobs run` request, by its token.
    Manual(&'a str),
}

/// Fire times that fell strictly between the record's last handled tick
/// and this one.
#[derive(Clone, Debug)]
pub struct MissedCount {
    /// The `tick` field value counted from, as the script returned it.
    pub from: String,
    /// How many.
    pub count: u64,
    /// The first of them, Unix ms.
    pub first_ms: Option<i64>,
}

/// The reply to a claim.
#[derive(Clone, Debug, PartialEq)]
pub enum ClaimReply {
    /// Run it.
    Claimed {
        /// Fences the renewals and the finish.
        claim: u64,
        /// Redis's time at the claim, Unix ms.
        now_ms: i64,
        /// The source to run.
        source: String,
        /// The tick claimed (for a manual run, the claim time).
        tick_ms: i64,
    },
    /// Another claim handled it.
    Taken,
    /// Too early by this many ms.
    Early(u64),
    /// Count missed fire times after this `tick` value, then claim again.
    Count(String),
    /// Too late: recorded as missed.
    Late,
    /// The previous run still runs: recorded as skipped.
    Skipped,
    /// The job is disabled.
    Disabled,
    /// The job changed; reload.
    Stale,
    /// The job does not exist.
    Gone,
}

/// How a run ended, as the worker reports it.
#[derive(Clone, Debug)]
pub struct RunReport<'a> {
    /// The claim of the run.
    pub claim: u64,
    /// The worker.
    pub worker: &'a str,
    /// `None` when it ran to its end, else the error text.
    pub error: Option<&'a str>,
    /// How long the script ran.
    pub duration_ms: u64,
    /// Whether the script called `job.Disable()`.
    pub disable: bool,
}

/// A job as `hatter jobs show` sees it.
#[derive(Clone, Debug, Serialize)]
pub struct JobView {
    /// The record.
    #[serde(flatten)]
    pub job: Job,
    /// The newest history entries, newest first.
    pub history: Vec<HistoryEntry>,
    /// Redis's clock when it was read, Unix ms.
    pub now_ms: u64,
}

fn op_error(op: &'static str) -> impl Fn(redis::RedisError) -> Error {
    move |e| Error::redis(op, e)
}

fn internal(op: &'static str, what: &str) -> Error {
    Error::new(
        op,
        ErrorKind::Internal,
        format!("unexpected reply from Redis: {what}"),
    )
}

fn not_found(op: &'static str, keys: &Keyspace, name: &str) -> Error {
    Error::not_found(
        op,
        format!("no job `{name}` in cluster `{}`", keys.cluster()),
    )
}

fn time_ms(v: &Value) -> Result<u64> {
    let (secs, micros): (u64, u64) =
        redis::from_redis_value(v.clone()).map_err(|_| internal("redis.time", "TIME"))?;
    Ok(secs * 1000 + micros / 1000)
}

fn opt(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

impl Store {
    /// Adds a job, or updates the one of that name. The spec and zone are
    /// checked first; an invalid one is refused and nothing is stored.
    pub async fn add_job(&self, j: &NewJob) -> Result<(Registered, u64)> {
        validate_name("job", &j.name)?;
        crate::cron::Schedule::parse(&j.cron, j.tz.as_deref())?;
        let k = self.keys();
        let (outcome, version): (String, u64) = scripts::JOB_ADD
            .key(k.jobs())
            .key(k.job(&j.name))
            .key(k.jobs_generation())
            .arg(&j.name)
            .arg(&j.source)
            .arg(j.cron.trim())
            .arg(j.tz.as_deref().map(str::trim).unwrap_or(""))
            .arg(j.status.as_str())
            .arg(&j.path)
            .invoke_async(&mut self.connection())
            .await
            .map_err(op_error("job.add"))?;
        let outcome = match outcome.as_str() {
            "created" => Registered::Created,
            "updated" => Registered::Updated,
            _ => Registered::Unchanged,
        };
        Ok((outcome, version))
    }

    /// One job with its newest `history` entries, or not-found naming it.
    pub async fn job(&self, name: &str, history: usize) -> Result<JobView> {
        let k = self.keys();
        let (fields, entries, now): (HashMap<String, String>, Vec<String>, Value) = redis::pipe()
            .hgetall(k.job(name))
            .lrange(k.job_history(name), 0, history.max(1) as isize - 1)
            .cmd("TIME")
            .query_async(&mut self.connection())
            .await
            .map_err(op_error("job.get"))?;
        let now_ms = time_ms(&now)?;
        let job = Job::from_fields(name, &fields).ok_or_else(|| not_found("job.get", k, name))?;
        let history = if history == 0 {
            Vec::new()
        } else {
            entries
                .iter()
                .filter_map(|e| serde_json::from_str(e).ok())
                .collect()
        };
        Ok(JobView {
            job: job.settle(now_ms),
            history,
            now_ms,
        })
    }

    /// Every job, sorted by name, and Redis's clock.
    pub async fn jobs(&self) -> Result<(Vec<Job>, u64)> {
        let k = self.keys();
        let mut conn = self.connection();
        let mut names: Vec<String> = redis::cmd("SMEMBERS")
            .arg(k.jobs())
            .query_async(&mut conn)
            .await
            .map_err(op_error("job.list"))?;
        names.sort();
        let mut pipe = redis::pipe();
        pipe.cmd("TIME");
        for name in &names {
            pipe.hgetall(k.job(name));
        }
        let replies: Vec<Value> = pipe
            .query_async(&mut conn)
            .await
            .map_err(op_error("job.list"))?;
        let now_ms = time_ms(&replies[0])?;
        let mut out = Vec::with_capacity(names.len());
        for (name, fields) in names.iter().zip(&replies[1..]) {
            let fields: HashMap<String, String> = redis::from_redis_value(fields.clone())
                .map_err(|_| internal("job.list", "job record"))?;
            // A name whose record vanished between the two round trips is
            // simply not listed.
            if let Some(job) = Job::from_fields(name, &fields) {
                out.push(job.settle(now_ms));
            }
        }
        Ok((out, now_ms))
    }

    /// An operator's change to one job.
    pub async fn job_admin(&self, name: &str, op: JobOp) -> Result<AdminOutcome> {
        self.job_admin_raw(name, op.word(), "").await
    }

    /// Leaves a `hatter jobs run` request with `token` for the schedulers.
    pub async fn request_job_run(&self, name: &str, token: &str) -> Result<()> {
        self.job_admin_raw(name, "run", token).await.map(|_| ())
    }

    /// Takes back a run request no worker took yet; `AlreadySo` when one
    /// already took it.
    pub async fn withdraw_job_run(&self, name: &str, token: &str) -> Result<AdminOutcome> {
        self.job_admin_raw(name, "withdraw", token).await
    }

    async fn job_admin_raw(&self, name: &str, op: &str, token: &str) -> Result<AdminOutcome> {
        let k = self.keys();
        let reply: i64 = scripts::JOB_ADMIN
            .key(k.jobs())
            .key(k.job(name))
            .key(k.job_history(name))
            .key(k.job_log(name))
            .key(k.jobs_generation())
            .arg(name)
            .arg(op)
            .arg(token)
            .invoke_async(&mut self.connection())
            .await
            .map_err(op_error("job.admin"))?;
        match reply {
            0 => Err(not_found("job.admin", k, name)),
            2 => Ok(AdminOutcome::AlreadySo),
            _ => Ok(AdminOutcome::Done),
        }
    }

    /// The jobs generation counter and Redis's clock in microseconds, in one
    /// round trip: what a scheduler polls.
    pub async fn job_generation(&self) -> Result<(u64, u64)> {
        let (generation, time): (Option<u64>, (u64, u64)) = redis::pipe()
            .get(self.keys().jobs_generation())
            .cmd("TIME")
            .query_async(&mut self.connection())
            .await
            .map_err(op_error("job.sync"))?;
        Ok((generation.unwrap_or(0), time.0 * 1_000_000 + time.1))
    }

    /// What schedulers need of every job, pipelined.
    pub async fn job_specs(&self) -> Result<Vec<JobSpec>> {
        let k = self.keys();
        let mut conn = self.connection();
        let names: Vec<String> = redis::cmd("SMEMBERS")
            .arg(k.jobs())
            .query_async(&mut conn)
            .await
            .map_err(op_error("job.specs"))?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for name in &names {
            pipe.cmd("HMGET").arg(k.job(name)).arg(&[
                "version",
                "cron",
                "tz",
                "status",
                "run_request",
            ]);
        }
        let rows: Vec<Vec<Option<String>>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(op_error("job.specs"))?;
        let mut out = Vec::with_capacity(names.len());
        for (name, row) in names.into_iter().zip(rows) {
            let [version, cron, tz, status, request]: [Option<String>; 5] =
                row.try_into().map_err(|_| internal("job.specs", "HMGET"))?;
            let (Some(version), Some(cron)) = (version, cron) else {
                continue;
            };
            out.push(JobSpec {
                name,
                version: version.parse().unwrap_or(0),
                cron,
                tz: tz.unwrap_or_default(),
                status: status
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(Status::Disabled),
                run_request: request.filter(|r| !r.is_empty()),
            });
        }
        Ok(out)
    }

    /// Claims a tick (or request) of job `name`. An error means the outcome
    /// is unknown: the caller must not run the job.
    pub async fn claim_job(&self, name: &str, req: &ClaimRequest<'_>) -> Result<ClaimReply> {
        let k = self.keys();
        let mut inv = scripts::JOB_CLAIM.prepare_invoke();
        inv.key(k.job(name))
            .key(k.job_history(name))
            .arg(req.worker)
            .arg(req.version);
        match &req.what {
            ClaimWhat::Tick {
                tick_ms,
                prev_ms,
                missed,
            } => {
                inv.arg("tick").arg(*tick_ms).arg(opt(*prev_ms));
                inv.arg(opt(req.next_ms));
                match missed {
                    Some(m) => inv.arg(&m.from).arg(m.count).arg(opt(m.first_ms)),
                    None => inv.arg("").arg(0).arg(""),
                };
            }
            ClaimWhat::Manual(token) => {
                inv.arg("manual").arg(*token).arg("").arg(opt(req.next_ms));
                inv.arg("").arg(0).arg("");
            }
        }
        inv.arg(req.lease_ms).arg(HISTORY_LENGTH);
        let reply: Vec<Value> = inv
            .invoke_async(&mut self.connection())
            .await
            .map_err(op_error("job.claim"))?;
        parse_claim(&reply)
    }

    /// Records the end of a run. `false` when refused: the run's marker is
    /// no longer its own.
    pub async fn finish_job(&self, name: &str, r: &RunReport<'_>) -> Result<bool> {
        let k = self.keys();
        let applied: i64 = scripts::JOB_FINISH
            .key(k.job(name))
            .key(k.job_history(name))
            .key(k.jobs_generation())
            .arg(r.claim)
            .arg(r.worker)
            .arg(if r.error.is_some() { "error" } else { "ok" })
            .arg(r.error.unwrap_or(""))
            .arg(r.duration_ms)
            .arg(if r.disable { "1" } else { "0" })
            .arg(HISTORY_LENGTH)
            .invoke_async(&mut self.connection())
            .await
            .map_err(op_error("job.finish"))?;
        Ok(applied == 1)
    }

    /// Extends the markers of the runs `held` (name, claim) for `lease_ms`;
    /// Redis's clock and, per run, whether it is still held.
    pub async fn renew_jobs(
        &self,
        held: &[(String, u64)],
        lease_ms: u64,
    ) -> Result<(u64, Vec<bool>)> {
        let k = self.keys();
        let mut inv = scripts::JOB_RENEW.prepare_invoke();
        inv.arg(lease_ms);
        for (name, claim) in held {
            inv.key(k.job(name)).arg(*claim);
        }
        let reply: Vec<Value> = inv
            .invoke_async(&mut self.connection())
            .await
            .map_err(op_error("job.renew"))?;
        if reply.len() != held.len() + 1 {
            return Err(internal("job.renew", "wrong number of codes"));
        }
        let now: u64 =
            redis::from_redis_value(reply[0].clone()).map_err(|_| internal("job.renew", "time"))?;
        let codes = reply[1..]
            .iter()
            .map(|v| redis::from_redis_value::<String>(v.clone()).is_ok_and(|c| c == "held"))
            .collect();
        Ok((now, codes))
    }
}

/// Reads the claim script's reply.
fn parse_claim(reply: &[Value]) -> Result<ClaimReply> {
    let bad = || internal("job.claim", "malformed claim reply");
    let text = |i: usize| -> Result<String> {
        reply
            .get(i)
            .and_then(|v| redis::from_redis_value(v.clone()).ok())
            .ok_or_else(bad)
    };
    let number = |i: usize| -> Result<i64> {
        reply
            .get(i)
            .and_then(|v| redis::from_redis_value(v.clone()).ok())
            .ok_or_else(bad)
    };
    Ok(match text(0)?.as_str() {
        "claimed" => ClaimReply::Claimed {
            claim: number(1)? as u64,
            now_ms: number(2)?,
            source: text(3)?,
            tick_ms: number(4)?,
        },
        "taken" => ClaimReply::Taken,
        "early" => ClaimReply::Early(number(1)?.max(0) as u64),
        "count" => ClaimReply::Count(text(1)?),
        "late" => ClaimReply::Late,
        "skipped" => ClaimReply::Skipped,
        "disabled" => ClaimReply::Disabled,
        "stale" => ClaimReply::Stale,
        "gone" => ClaimReply::Gone,
        _ => return Err(bad()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_reads_from_its_hash() {
        let fields: HashMap<String, String> = [
            ("source", "redis.Do('INCR', 'n')"),
            ("version", "2"),
            ("cron", "*/5 * * * * *"),
            ("tz", "Europe/Berlin"),
            ("status", "enabled"),
            ("state", "running"),
            ("owner", "w1"),
            ("run_until", "5000"),
            ("last_outcome", "error"),
            ("error", "boom"),
            ("run_request", "r1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let j = Job::from_fields("j", &fields).unwrap();
        assert_eq!(j.version, 2);
        assert_eq!(j.zone(), "Europe/Berlin");
        assert!(j.run_requested);
        assert_eq!(j.clone().settle(4000).state, State::Running);
        let settled = j.settle(6000);
        assert_eq!(settled.state, State::Stopped);
        assert!(settled.owner.is_empty());
        assert!(Job::from_fields("j", &HashMap::new()).is_none());
    }

    #[test]
    fn history_entries_read_what_the_scripts_write() {
        let skipped = r#"{"outcome":"skipped","tick":1000,"start":1002,"duration_ms":0,"worker":"w2","running":"w1","manual":false}"#;
        let e: HistoryEntry = serde_json::from_str(skipped).unwrap();
        assert_eq!(e.outcome, Outcome::Skipped);
        assert_eq!(e.running, "w1");
        let missed = r#"{"outcome":"missed","tick":1000,"last":5000,"count":5,"start":6001,"duration_ms":0,"worker":"w1"}"#;
        let e: HistoryEntry = serde_json::from_str(missed).unwrap();
        assert_eq!((e.count, e.last), (5, Some(5000)));
        // cjson writes a missing string as false.
        let lost = r#"{"outcome":"error","error":"lost","tick":1,"start":1,"duration_ms":3,"worker":false}"#;
        let e: HistoryEntry = serde_json::from_str(lost).unwrap();
        assert_eq!(e.worker, "");
    }
}
