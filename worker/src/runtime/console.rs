//! `console.log/info/warn/error/debug(...)`.
//!
//! Each call writes one line to the worker's log, tagged with the worker and
//! the thread (or job), and appends it to that item's capped log stream in
//! Redis, which `hatter threads logs` and `tail` read. Arguments are joined
//! with spaces: strings as they are, other values in their display form
//! (`1.5`, `null`, `undefined`, `{ a: 1 }`, `[ 1, 2 ]`).
//!
//! The stream append does not wait: a line goes on a worker-wide queue that
//! one task drains in order, a batch of lines per round trip, so lines reach
//! the stream in the order they were logged and a slow or absent Redis
//! delays no script. A line that cannot be stored (Redis down, the queue of
//! [`QUEUE_LENGTH`] lines full) is dropped from the stream; it is still in
//! the worker's log. For the same reason, lines logged in the last moments
//! before a worker exits may be missing from the stream.
//!
//! Each stream keeps about [`LOG_STREAM_LENGTH`] lines, oldest dropped
//! first. The trim is Redis's approximate one (`MAXLEN ~`), which removes
//! whole internal nodes only, so a stream holds between that many and about
//! a hundred more.

use boa_engine::object::ObjectInitializer;
use boa_engine::property::Attribute;
use boa_engine::{js_string, Context, JsResult, JsValue, NativeFunction};

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{convert, host, Kind, ScriptHost, WorkerShared};

/// How many lines a thread's log stream keeps; older ones are dropped first.
pub const LOG_STREAM_LENGTH: usize = 1000;

/// How many lines may wait for the log writer before new ones are dropped
/// from the streams.
pub const QUEUE_LENGTH: usize = 10_000;

/// The most lines the writer sends in one round trip.
const BATCH: usize = 500;

/// One line on its way to a log stream.
pub struct Entry {
    /// The stream's key.
    key: String,
    /// `info`, `warn`, ...
    level: &'static str,
    /// When it was logged, in Unix milliseconds.
    ts: u64,
    /// The text.
    line: String,
}

/// Registers `console`.
pub fn register(ctx: &mut Context) -> JsResult<()> {
    let console = ObjectInitializer::new(ctx)
        .function(NativeFunction::from_fn_ptr(log), js_string!("log"), 0)
        .function(NativeFunction::from_fn_ptr(info), js_string!("info"), 0)
        .function(NativeFunction::from_fn_ptr(warn), js_string!("warn"), 0)
        .function(NativeFunction::from_fn_ptr(error), js_string!("error"), 0)
        .function(NativeFunction::from_fn_ptr(debug), js_string!("debug"), 0)
        .build();
    ctx.register_global_property(js_string!("console"), console, Attribute::all())?;
    Ok(())
}

/// A log line's level.
#[derive(Clone, Copy)]
pub enum Level {
    /// `console.debug`.
    Debug,
    /// `console.log` and `console.info`.
    Info,
    /// `console.warn`, and errors the API reports without throwing.
    Warn,
    /// `console.error`.
    Error,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

fn log(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    write(Level::Info, args, ctx)
}

fn info(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    write(Level::Info, args, ctx)
}

fn warn(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    write(Level::Warn, args, ctx)
}

fn error(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    write(Level::Error, args, ctx)
}

fn debug(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    write(Level::Debug, args, ctx)
}

fn write(level: Level, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let host = host(ctx)?;
    host.guard()?;
    let line = args
        .iter()
        .map(|v| convert::display(v, ctx))
        .collect::<Vec<_>>()
        .join(" ");
    write_line(&host, level, line);
    Ok(JsValue::undefined())
}

/// Writes one line to the worker's log, tagged with the script, and appends
/// it to the script's log stream without waiting.
pub fn write_line(host: &ScriptHost, level: Level, line: String) {
    let worker = host.shared.name.as_str();
    let name = host.name.as_str();
    match (level, host.kind) {
        (Level::Debug, Kind::Thread) => {
            tracing::debug!(target: "script", worker, thread = name, "{line}")
        }
        (Level::Info, Kind::Thread) => {
            tracing::info!(target: "script", worker, thread = name, "{line}")
        }
        (Level::Warn, Kind::Thread) => {
            tracing::warn!(target: "script", worker, thread = name, "{line}")
        }
        (Level::Error, Kind::Thread) => {
            tracing::error!(target: "script", worker, thread = name, "{line}")
        }
        (Level::Debug, Kind::Job) => {
            tracing::debug!(target: "script", worker, job = name, "{line}")
        }
        (Level::Info, Kind::Job) => tracing::info!(target: "script", worker, job = name, "{line}"),
        (Level::Warn, Kind::Job) => tracing::warn!(target: "script", worker, job = name, "{line}"),
        (Level::Error, Kind::Job) => {
            tracing::error!(target: "script", worker, job = name, "{line}")
        }
    }

    let entry = Entry {
        key: host.log_key(),
        level: level.word(),
        ts: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        line,
    };
    // A full queue drops the line from the stream only; see the module docs.
    let _ = queue(&host.shared).try_send(entry);
}

/// The log queue of this worker, with its writer started.
fn queue(shared: &Arc<WorkerShared>) -> &mpsc::Sender<Entry> {
    shared.logs.get_or_init(|| {
        let (tx, rx) = mpsc::channel(QUEUE_LENGTH);
        shared.rt.spawn(writer(shared.clone(), rx));
        tx
    })
}

/// Drains the log queue in order, a batch of lines per round trip.
async fn writer(shared: Arc<WorkerShared>, mut rx: mpsc::Receiver<Entry>) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let mut pipe = redis::pipe();
        for e in batch.drain(..) {
            pipe.cmd("XADD")
                .arg(&e.key)
                .arg("MAXLEN")
                .arg("~")
                .arg(LOG_STREAM_LENGTH)
                .arg("*")
                .arg("level")
                .arg(e.level)
                .arg("worker")
                .arg(&shared.name)
                .arg("ts")
                .arg(e.ts)
                .arg("line")
                .arg(e.line)
                .ignore();
        }
        let Ok(mut conn) = shared.api_conn().await else {
            continue;
        };
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            if shared::error::is_connection_error(&e) {
                shared.drop_api_conn().await;
            }
            tracing::debug!(worker = %shared.name, error = %e, "log lines could not be stored");
        }
    }
}
