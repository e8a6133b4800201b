//! The Lua scripts that change cluster state atomically.
//!
//! Each script lives in `shared/lua/` with a header that documents its keys,
//! arguments and replies. They are sent with `EVALSHA` and loaded on first
//! use, which the Redis client does by itself.

use std::sync::LazyLock;

use redis::Script;

/// Creates or updates a thread.
pub static REGISTER: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/register.lua")));

/// An operator's stop, disable, enable or rm of a thread.
pub static ADMIN: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/admin.lua")));

/// Claims free or expired threads for a worker.
pub static CLAIM: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/claim.lua")));

/// A worker's heartbeat and the renewal of all its leases.
pub static RENEW: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/renew.lua")));

/// Records the end of a run, fenced by epoch.
pub static RELEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/release.lua")));

/// Rebuilds the thread index from the records.
pub static REPAIR: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/repair.lua")));

/// Creates or updates a cron job.
pub static JOB_ADD: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/job_add.lua")));

/// An operator's disable, enable, rm or run request of a job.
pub static JOB_ADMIN: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/job_admin.lua")));

/// Takes one tick (or run request) of a job for one worker.
pub static JOB_CLAIM: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/job_claim.lua")));

/// Records the end of a job run, fenced by its claim.
pub static JOB_FINISH: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/job_finish.lua")));

/// Extends the run markers of one worker's job runs.
pub static JOB_RENEW: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/job_renew.lua")));
