//! One run of a cron job: a fresh JS context on its own OS thread.
//!
//! A run evaluates the job's whole source once, in a context of its own,
//! with the whole script API; `job` (and `thread`, the same object) is the
//! job's handle. Like a thread's run it gets an OS thread of its own, since
//! the engine cannot be interrupted: a job stuck in a loop holds up nothing
//! but itself, and its [`RunControl`] makes every API call it makes after a
//! loss fail.
//!
//! # `job.Tick`
//!
//! The script also sees `job.Tick`: the fire time of the tick it runs for,
//! in Unix milliseconds (for a `hatter jobs run`, the moment the run was
//! taken). It is defined by a statement the worker puts in front of the
//! source, on the source's first line so that line numbers in errors stay
//! right, and after a leading `"use strict"` directive so that the directive
//! keeps its meaning. Columns on that first line are shifted by the length
//! of that statement.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::run::{RunControl, StopReason};
use crate::runtime::{self, console, Kind, Limits, ScriptHost, WorkerShared};

/// Stack of a job's script thread; see the same constant for threads in
/// [`crate::run`].
const SCRIPT_STACK: usize = 64 * 1024 * 1024;

/// What a run needs to start.
pub struct JobRunSpec {
    /// The job.
    pub name: String,
    /// The source of the version claimed.
    pub source: String,
    /// The tick's fire time, Unix ms: `job.Tick`.
    pub tick_ms: i64,
    /// Engine budgets.
    pub limits: Limits,
}

/// What the script thread reports when the run is over.
#[derive(Debug)]
pub struct JobDone {
    /// The job.
    pub name: String,
    /// The claim of the run.
    pub claim: u64,
    /// `None` when the source ran to its end, else the error text.
    pub error: Option<String>,
    /// Whether the script called `job.Disable()`.
    pub disable: bool,
    /// Whether the run lost its marker (or could not renew it in time): its
    /// end is then not this worker's to record.
    pub lost: bool,
    /// How long the script ran.
    pub duration: Duration,
}

/// Starts a run on its own OS thread; the end is sent on `done`.
pub fn spawn(
    spec: JobRunSpec,
    control: Arc<RunControl>,
    shared: Arc<WorkerShared>,
    done: mpsc::UnboundedSender<JobDone>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("job:{}", spec.name))
        .stack_size(SCRIPT_STACK)
        .spawn(move || {
            let report = run(spec, &control, shared);
            let _ = done.send(report);
        })
        .map(|_| ())
}

/// The whole run, on the script thread.
fn run(spec: JobRunSpec, control: &Arc<RunControl>, shared: Arc<WorkerShared>) -> JobDone {
    let host = ScriptHost::new(shared, control.clone(), Kind::Job, &spec.name);
    let source = with_tick(&spec.source, spec.tick_ms);
    let started = Instant::now();
    let result = runtime::Script::load(host.clone(), &source, &spec.limits).map(drop);
    let duration = started.elapsed();

    let reason = control.reason();
    let lost = reason == StopReason::Lost || control.fenced();
    let error = match result {
        Ok(()) => None,
        // After job.Disable() or job.Stop() every API call fails on
        // purpose; that is how the script asked to end, not an error.
        Err(_) if matches!(reason, StopReason::Disable | StopReason::Stop) => None,
        Err(_) if lost => Some(control.refusal()),
        Err(e) => Some(runtime::describe_error(&e)),
    };
    // The failure also goes to the job's own log, next to what the script
    // printed, where `hatter jobs logs` shows it.
    if let (Some(error), false) = (&error, lost) {
        console::write_line(&host, console::Level::Warn, format!("run failed: {error}"));
    }
    JobDone {
        name: spec.name,
        claim: control.epoch,
        error,
        disable: reason == StopReason::Disable,
        lost,
        duration,
    }
}

/// `source` with the statement that defines `job.Tick` in front (see the
/// module docs).
pub fn with_tick(source: &str, tick_ms: i64) -> String {
    let define =
        format!("Object.defineProperty(job, \"Tick\", {{value: {tick_ms}, enumerable: true}});");
    let at = directive_end(source).unwrap_or(0);
    let (head, rest) = source.split_at(at);
    if at == 0 {
        format!("{define}{rest}")
    } else {
        format!("{head};{define}{rest}")
    }
}

/// Where a leading `"use strict"` (or `'use strict'`) directive ends, after
/// any whitespace and comments before it; `None` when the source has none.
fn directive_end(source: &str) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes[i..].starts_with(b"//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if bytes[i..].starts_with(b"/*") {
            let end = source[i + 2..].find("*/")?;
            i += 2 + end + 2;
        } else {
            break;
        }
    }
    for directive in ["\"use strict\"", "'use strict'"] {
        if source[i..].starts_with(directive) {
            let mut end = i + directive.len();
            // An optional semicolon on the same line belongs to it.
            let mut j = end;
            while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t') {
                j += 1;
            }
            if bytes.get(j) == Some(&b';') {
                end = j + 1;
            }
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tick_statement_goes_first_on_the_first_line() {
        let s = with_tick("console.log(job.Tick)\nfoo()", 5000);
        assert!(s.starts_with("Object.defineProperty(job, \"Tick\", {value: 5000"));
        assert_eq!(s.lines().count(), 2);
        assert!(s.ends_with("});console.log(job.Tick)\nfoo()"));
    }

    #[test]
    fn a_strict_directive_stays_first() {
        for (src, head) in [
            ("'use strict';\nx = 1", "'use strict';;Object"),
            ("\"use strict\"\nx = 1", "\"use strict\";Object"),
            (
                "// a job\n'use strict' ;x",
                "// a job\n'use strict' ;;Object",
            ),
            (
                "/* a\n job */ 'use strict'",
                "/* a\n job */ 'use strict';Object",
            ),
        ] {
            let s = with_tick(src, 1);
            assert!(s.starts_with(head), "{src:?} gave {s:?}");
            assert_eq!(s.lines().count(), src.lines().count(), "{src:?}");
        }
        // Not a directive: the statement simply goes first.
        assert!(with_tick("x = 'use strict'", 1).starts_with("Object"));
        assert!(with_tick("/* unterminated", 1).starts_with("Object"));
        assert!(with_tick("", 1).starts_with("Object"));
    }
}
