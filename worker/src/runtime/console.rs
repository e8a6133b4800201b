//! `console.log/info/warn/error/debug(...)`.
//!
//! Each call writes one line to the worker's log, tagged with the worker and
//! the thread, and appends it to the thread's capped log stream in Redis,
//! which `hatter threads logs` and `tail` read. The stream append does not
//! wait: a slow or absent Redis delays no script, and a line that cannot be
//! stored is dropped from the stream (it is still in the worker's log).

use boa_engine::object::ObjectInitializer;
use boa_engine::property::Attribute;
use boa_engine::{js_string, Context, JsResult, JsValue, NativeFunction};

use super::{convert, host, Kind, ScriptHost};

/// How many lines a thread's log stream keeps; older ones are dropped first.
pub const LOG_STREAM_LENGTH: usize = 1000;

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

    let shared = host.shared.clone();
    let key = host.log_key();
    let word = level.word();
    shared.rt.spawn({
        let shared = shared.clone();
        async move {
            let Ok(mut conn) = shared.api_conn().await else {
                return;
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            let res: redis::RedisResult<()> = redis::cmd("XADD")
                .arg(&key)
                .arg("MAXLEN")
                .arg("~")
                .arg(LOG_STREAM_LENGTH)
                .arg("*")
                .arg("level")
                .arg(word)
                .arg("worker")
                .arg(&shared.name)
                .arg("ts")
                .arg(now)
                .arg("line")
                .arg(&line)
                .query_async(&mut conn)
                .await;
            if let Err(e) = res {
                if shared::error::is_connection_error(&e) {
                    shared.drop_api_conn().await;
                }
            }
        }
    });
}
