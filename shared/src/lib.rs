//! The library the HATS `worker` and `hatter` share.
//!
//! # Layout
//!
//! - [`keys`]: builds every Redis key of a cluster; nothing else formats keys.
//! - [`model`]: the thread and worker records, names and durations.
//! - [`error`]: the typed error (operation, kind, message).
//! - [`config`]: Redis settings and the settings files of both commands.
//! - [`conn`]: opening named Redis connections with time-outs.
//! - [`scripts`]: the Lua scripts (in `shared/lua/`) that change cluster
//!   state atomically: register, admin, claim, renew, release, repair, and
//!   the `job_*` scripts of cron jobs.
//! - [`store`]: typed operations on a cluster's state, built on the above.
//! - [`cron`]: cron specs, time zones and fire times of jobs.
//! - [`jobs`]: the cron job record, its history, and the job operations of
//!   [`store::Store`] (add, list, claim a tick, renew, finish).
//!
//! # The lease protocol in one page
//!
//! Every enabled thread is a member of the cluster's lease index (a sorted
//! set) scored by when its lease runs out, in Redis-clock milliseconds; 0
//! means nobody holds it. A worker *claims* members whose score is in the
//! past, which gives each claim a new cluster-wide epoch and writes
//! `WORKER EPOCH VERSION` into the owners hash. Every renewal interval the
//! worker *renews* all its leases in one script call, which reports for each
//! one whether it is still held, was released by an operator, or was taken by
//! a newer claim. When a run ends the worker *releases* the thread, a write
//! that is refused when its epoch is no longer the thread's. Only Redis's own
//! clock (`TIME`, read inside the scripts) decides whether a lease ran out;
//! the worker uses its monotonic clock to stop running before that can
//! happen (self-fencing).

pub mod config;
pub mod conn;
pub mod cron;
pub mod error;
pub mod jobs;
pub mod keys;
pub mod model;
pub mod scripts;
pub mod store;

pub use error::{Error, ErrorKind, Result};
pub use keys::Keyspace;
