//! `hatter threads logs` and `tail`, `hatter jobs logs` and `tail`: the
//! capped log stream of a thread or a job.

use std::collections::HashMap;

use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::AsyncCommands;
use serde::Serialize;

use crate::context::Context;
use crate::error::{CliError, CliResult};
use crate::output::{self, Format};

/// One log line.
#[derive(Debug, Serialize)]
struct Line {
    id: String,
    time: String,
    level: String,
    worker: String,
    line: String,
}

fn line_of(id: String, map: &HashMap<String, redis::Value>) -> Line {
    let text = |k: &str| -> String {
        map.get(k)
            .and_then(|v| redis::from_redis_value::<String>(v.clone()).ok())
            .unwrap_or_default()
    };
    let ts: u64 = text("ts").parse().unwrap_or(0);
    Line {
        id,
        time: output::time_ms(ts),
        level: text("level"),
        worker: text("worker"),
        line: text("line"),
    }
}

fn print_line(format: Format, l: &Line) -> CliResult<()> {
    match format {
        Format::Json => {
            let text = serde_json::to_string(l).map_err(|e| CliError::Failed {
                message: e.to_string(),
                hint: None,
            })?;
            println!("{text}");
        }
        Format::Table => println!("{} {:<5} [{}] {}", l.time, l.level, l.worker, l.line),
    }
    Ok(())
}

/// Whose log to read: a thread's or a job's.
pub struct LogSource {
    /// `thread` or `job`, for messages.
    kind: &'static str,
    /// The thread's or job's name.
    name: String,
    /// Its record, which must exist.
    record_key: String,
    /// Its log stream.
    log_key: String,
    /// The operation names errors carry.
    ops: (&'static str, &'static str),
}

impl LogSource {
    /// The log of thread `name`.
    pub fn thread(ctx: &Context, name: &str) -> LogSource {
        let keys = ctx.store.keys();
        LogSource {
            kind: "thread",
            name: name.to_string(),
            record_key: keys.thread(name),
            log_key: keys.thread_log(name),
            ops: ("thread.logs", "thread.tail"),
        }
    }

    /// The log of job `name`.
    pub fn job(ctx: &Context, name: &str) -> LogSource {
        let keys = ctx.store.keys();
        LogSource {
            kind: "job",
            name: name.to_string(),
            record_key: keys.job(name),
            log_key: keys.job_log(name),
            ops: ("job.logs", "job.tail"),
        }
    }
}

async fn check_exists(ctx: &Context, src: &LogSource) -> CliResult<()> {
    let exists: bool = ctx
        .store
        .connection()
        .exists(&src.record_key)
        .await
        .map_err(|e| CliError::from(shared::Error::redis(src.ops.0, e)))?;
    if !exists {
        return Err(CliError::NotFound {
            message: format!(
                "no {} `{}` in cluster `{}`",
                src.kind,
                src.name,
                ctx.cluster()
            ),
            hint: Some(format!(
                "list the {}s with: hatter {}s list",
                src.kind, src.kind
            )),
        });
    }
    Ok(())
}

/// The last `n` lines, oldest first.
async fn last(ctx: &Context, src: &LogSource, n: usize) -> CliResult<Vec<Line>> {
    let reply: StreamRangeReply = ctx
        .store
        .connection()
        .xrevrange_count(&src.log_key, "+", "-", n)
        .await
        .map_err(|e| CliError::from(shared::Error::redis(src.ops.0, e)))?;
    let mut lines: Vec<Line> = reply
        .ids
        .into_iter()
        .map(|e| line_of(e.id, &e.map))
        .collect();
    lines.reverse();
    Ok(lines)
}

/// Prints the last `n` lines of thread `name`.
pub async fn print(ctx: &Context, name: &str, n: usize) -> CliResult<()> {
    print_source(ctx, &LogSource::thread(ctx, name), n).await
}

/// Prints the last `n` lines of a thread's or job's log.
pub async fn print_source(ctx: &Context, src: &LogSource, n: usize) -> CliResult<()> {
    check_exists(ctx, src).await?;
    let lines = last(ctx, src, n).await?;
    if ctx.format == Format::Json {
        return output::json(&lines);
    }
    if lines.is_empty() {
        let mut kind = src.kind.to_string();
        kind[..1].make_ascii_uppercase();
        println!("{kind} `{}` has logged nothing yet.", src.name);
    }
    for l in &lines {
        print_line(ctx.format, l)?;
    }
    Ok(())
}

/// Follows thread `name`'s log; see [`follow_source`].
pub async fn follow(ctx: &Context, name: &str, n: usize) -> CliResult<()> {
    follow_source(ctx, &LogSource::thread(ctx, name), n).await
}

/// Prints the last `n` lines, then new ones as they come, until Ctrl-C.
pub async fn follow_source(ctx: &Context, src: &LogSource, n: usize) -> CliResult<()> {
    check_exists(ctx, src).await?;
    let key = src.log_key.clone();
    let mut last_id = "$".to_string();
    for l in last(ctx, src, n).await? {
        print_line(ctx.format, &l)?;
        last_id = l.id;
    }
    let mut conn = ctx.store.connection();
    let opts = StreamReadOptions::default().block(1000).count(100);
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        let keys = [&key];
        let ids = [&last_id];
        let read = conn.xread_options::<_, _, Option<StreamReadReply>>(&keys, &ids, &opts);
        let reply = tokio::select! {
            _ = &mut stop => return Ok(()),
            r = read => r.map_err(|e| CliError::from(shared::Error::redis(src.ops.1, e)))?,
        };
        for stream in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in stream.ids {
                last_id = entry.id.clone();
                print_line(ctx.format, &line_of(entry.id, &entry.map))?;
            }
        }
    }
}
