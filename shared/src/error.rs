//! The error type of `shared` (and of the worker's Redis layer).
//!
//! An [`Error`] says which operation failed (`thread.register`,
//! `lease.renew`, ...), what kind of failure it was, and a message meant for
//! people. Callers branch on the [`ErrorKind`]; the message is only shown.

use std::fmt;

/// What kind of failure an [`Error`] is; callers branch on this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The named thread, worker or file does not exist.
    NotFound,
    /// The input is malformed: a bad name, duration, setting or file.
    Invalid,
    /// The write was refused because the caller's view is stale: its epoch
    /// is no longer the thread's, or someone else changed the record.
    Conflict,
    /// Redis could not be reached or did not answer in time. Worth retrying.
    Unavailable,
    /// Anything else: an unexpected reply, a bug.
    Internal,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        })
    }
}

/// An operation that failed, why, and in which way.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// The operation, as `area.verb` (`thread.register`).
    pub op: &'static str,
    /// What kind of failure this is.
    pub kind: ErrorKind,
    /// A sentence for people; names the thing and, where there is one, the
    /// fix.
    pub message: String,
}

impl Error {
    /// Builds an error of `kind` for `op`.
    pub fn new(op: &'static str, kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            op,
            kind,
            message: message.into(),
        }
    }

    /// A [`ErrorKind::NotFound`] error.
    pub fn not_found(op: &'static str, message: impl Into<String>) -> Error {
        Error::new(op, ErrorKind::NotFound, message)
    }

    /// An [`ErrorKind::Invalid`] error.
    pub fn invalid(op: &'static str, message: impl Into<String>) -> Error {
        Error::new(op, ErrorKind::Invalid, message)
    }

    /// Wraps a Redis client error. Connection trouble and time-outs become
    /// [`ErrorKind::Unavailable`]; error replies become
    /// [`ErrorKind::Internal`].
    pub fn redis(op: &'static str, err: redis::RedisError) -> Error {
        let kind = if is_connection_error(&err) {
            ErrorKind::Unavailable
        } else {
            ErrorKind::Internal
        };
        Error::new(op, kind, format!("redis: {err}"))
    }

    /// Whether retrying later may succeed.
    pub fn is_unavailable(&self) -> bool {
        self.kind == ErrorKind::Unavailable
    }
}

/// Whether a Redis client error means the connection is unusable (broken,
/// refused, timed out) rather than that the server answered with an error.
pub fn is_connection_error(err: &redis::RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
        || err.is_unrecoverable_error()
        || err.code() == Some("LOADING")
        || err.code() == Some("BUSY")
}

/// The result type of `shared`.
pub type Result<T> = std::result::Result<T, Error>;
