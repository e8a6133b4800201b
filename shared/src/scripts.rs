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
