//! `hatter threads logs` and `tail`: the thread's capped log stream.

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

async fn check_exists(ctx: &Context, name: &str) -> CliResult<()> {
    let exists: bool = ctx
        .store
        .connection()
        .exists(ctx.store.keys().thread(name))
        .await
        .map_err(|e| CliError::from(shared::Error::redis("thread.logs", e)))?;
    if !exists {
        return Err(CliError::NotFound {
            message: format!("no thread `{name}` in cluster `{}`", ctx.cluster()),
            hint: Some("list the threads with: hatter threads list".into()),
        });
    }
    Ok(())
}

/// The last `n` lines, oldest first.
async fn last(ctx: &Context, name: &str, n: usize) -> CliResult<Vec<Line>> {
    let key = ctx.store.keys().thread_log(name);
    let reply: StreamRangeReply = ctx
        .store
        .connection()
        .xrevrange_count(&key, "+", "-", n)
        .await
        .map_err(|e| CliError::from(shared::Error::redis("thread.logs", e)))?;
    let mut lines: Vec<Line> = reply
        .ids
        .into_iter()
        .map(|e| line_of(e.id, &e.map))
        .collect();
    lines.reverse();
    Ok(lines)
}

/// Prints the last `n` lines.
pub async fn print(ctx: &Context, name: &str, n: usize) -> CliResult<()> {
    check_exists(ctx, name).await?;
    let lines = last(ctx, name, n).await?;
    if ctx.format == Format::Json {
        return output::json(&lines);
    }
    if lines.is_empty() {
        println!("Thread `{name}` has logged nothing yet.");
    }
    for l in &lines {
        print_line(ctx.format, l)?;
    }
    Ok(())
}

/// Prints the last `n` lines, then new ones as they come, until Ctrl-C.
pub async fn follow(ctx: &Context, name: &str, n: usize) -> CliResult<()> {
    check_exists(ctx, name).await?;
    let key = ctx.store.keys().thread_log(name);
    let mut last_id = "$".to_string();
    for l in last(ctx, name, n).await? {
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
            r = read => r.map_err(|e| CliError::from(shared::Error::redis("thread.tail", e)))?,
        };
        for stream in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in stream.ids {
                last_id = entry.id.clone();
                print_line(ctx.format, &line_of(entry.id, &entry.map))?;
            }
        }
    }
}
