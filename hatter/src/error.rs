//! hatter's errors: one type, one renderer, one mapping to exit codes.
//!
//! Every message starts with `error:`, names the thing in backticks and,
//! where there is one, ends with the command to run next.

use std::fmt;

/// What went wrong, by how the user should react.
#[derive(Debug)]
pub enum CliError {
    /// The command line or an input file is wrong (exit 2).
    Usage {
        /// What is wrong.
        message: String,
        /// What to do instead.
        hint: Option<String>,
    },
    /// A thread, worker or file does not exist (exit 3).
    NotFound {
        /// What is missing.
        message: String,
        /// What to do instead.
        hint: Option<String>,
    },
    /// The work could not be done: Redis unreachable, an unexpected reply
    /// (exit 1).
    Failed {
        /// What failed.
        message: String,
        /// What to do about it.
        hint: Option<String>,
    },
    /// The user answered no to a confirmation (exit 1).
    Declined,
}

impl CliError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage { .. } => 2,
            CliError::NotFound { .. } => 3,
            CliError::Failed { .. } | CliError::Declined => 1,
        }
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::Usage {
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint to any error that can carry one.
    pub fn with_hint(self, text: impl Into<String>) -> CliError {
        let text = Some(text.into());
        match self {
            CliError::Usage { message, .. } => CliError::Usage {
                message,
                hint: text,
            },
            CliError::NotFound { message, .. } => CliError::NotFound {
                message,
                hint: text,
            },
            CliError::Failed { message, .. } => CliError::Failed {
                message,
                hint: text,
            },
            CliError::Declined => CliError::Declined,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (message, hint) = match self {
            CliError::Usage { message, hint }
            | CliError::NotFound { message, hint }
            | CliError::Failed { message, hint } => (message.as_str(), hint.as_deref()),
            CliError::Declined => ("nothing was changed: the confirmation was declined", None),
        };
        write!(f, "error: {message}")?;
        if let Some(hint) = hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl From<shared::Error> for CliError {
    fn from(e: shared::Error) -> CliError {
        use shared::ErrorKind;
        match e.kind {
            ErrorKind::NotFound => CliError::NotFound {
                message: e.message,
                hint: None,
            },
            ErrorKind::Invalid => CliError::Usage {
                message: e.message,
                hint: None,
            },
            ErrorKind::Unavailable => CliError::Failed {
                message: e.message,
                hint: Some(
                    "check that redis-server runs there, or pass --redis-address HOST:PORT".into(),
                ),
            },
            ErrorKind::Conflict | ErrorKind::Internal => CliError::Failed {
                message: e.message,
                hint: None,
            },
        }
    }
}

/// hatter's result type.
pub type CliResult<T> = Result<T, CliError>;
