//! `hatter threads ...`.

use std::path::Path;

use serde_json::json;
use shared::model::{
    format_duration, name_from_path, parse_duration, validate_name, State, Status,
};
use shared::store::{AdminOp, AdminOutcome, NewThread, Registered, ThreadView};

use crate::cli::ThreadCommand;
use crate::context::Context;
use crate::error::{CliError, CliResult};
use crate::output::{self, Format};

/// Runs one `threads` command.
pub async fn run(ctx: &Context, cmd: ThreadCommand) -> CliResult<()> {
    match cmd {
        ThreadCommand::Add {
            file,
            name,
            hang,
            dead_seconds,
            disabled,
        } => add(ctx, &file, name, hang, dead_seconds, disabled).await,
        ThreadCommand::List => list(ctx).await,
        ThreadCommand::Show { name, source } => show(ctx, &name, source).await,
        ThreadCommand::Stop { name } => admin(ctx, &name, AdminOp::Stop).await,
        ThreadCommand::Disable { name } => admin(ctx, &name, AdminOp::Disable).await,
        ThreadCommand::Enable { name } => admin(ctx, &name, AdminOp::Enable).await,
        ThreadCommand::Rm { name } => admin(ctx, &name, AdminOp::Remove).await,
        ThreadCommand::Logs { name, lines } => crate::logs::print(ctx, &name, lines).await,
        ThreadCommand::Tail { name, lines } => crate::logs::follow(ctx, &name, lines).await,
    }
}

/// Reads a script file, with errors that name it.
pub fn read_source(file: &Path) -> CliResult<String> {
    std::fs::read_to_string(file).map_err(|e| {
        let message = format!("cannot read script `{}`: {e}", file.display());
        if e.kind() == std::io::ErrorKind::NotFound {
            CliError::NotFound {
                message,
                hint: Some("check the path; it is relative to the current directory".into()),
            }
        } else {
            CliError::Usage {
                message,
                hint: None,
            }
        }
    })
}

async fn add(
    ctx: &Context,
    file: &Path,
    name: Option<String>,
    hang: Option<String>,
    dead_seconds: Option<u64>,
    disabled: bool,
) -> CliResult<()> {
    let name = match name {
        Some(n) => {
            validate_name("thread", &n)?;
            n
        }
        None => name_from_path(file)?,
    };
    let hang = hang.map(|h| parse_duration("--hang", &h)).transpose()?;
    if dead_seconds == Some(0) {
        return Err(CliError::usage("--dead-seconds must be at least 1"));
    }
    let source = read_source(file)?;
    let path = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let (outcome, version) = ctx
        .store
        .register_thread(&NewThread {
            name: name.clone(),
            source,
            hang,
            dead_seconds,
            status: if disabled {
                Status::Disabled
            } else {
                Status::Enabled
            },
            path: path.display().to_string(),
        })
        .await?;
    match ctx.format {
        Format::Json => {
            output::json(&json!({"name": name, "outcome": outcome, "version": version}))
        }
        Format::Table => {
            let what = match outcome {
                Registered::Created => "added",
                Registered::Updated => "updated",
                Registered::Unchanged => "unchanged",
            };
            let status = if disabled { " (disabled)" } else { "" };
            println!(
                "thread `{name}` {what}{status}, version {version}, in cluster `{}`",
                ctx.cluster()
            );
            Ok(())
        }
    }
}

async fn list(ctx: &Context) -> CliResult<()> {
    let threads = ctx.store.threads().await?;
    if ctx.format == Format::Json {
        return output::json(&threads);
    }
    if threads.is_empty() {
        println!(
            "No threads in cluster `{}`. Add one with: hatter threads add FILE",
            ctx.cluster()
        );
        return Ok(());
    }
    let mut table = output::table(&[
        "NAME",
        "STATUS",
        "STATE",
        "OWNER",
        "EPOCH",
        "HANG",
        "HEARTBEAT",
        "ERROR",
    ]);
    for v in &threads {
        let t = &v.thread;
        table.add_row(vec![
            t.name.clone(),
            t.status.to_string(),
            t.state.to_string(),
            if t.owner.is_empty() {
                "-".into()
            } else {
                t.owner.clone()
            },
            t.epoch.to_string(),
            format_duration(t.hang),
            v.heartbeat_age_ms
                .map(|a| format!("{} ago", output::age(a)))
                .unwrap_or_else(|| "-".into()),
            // The last error stays in `show`; the listing shows it while it
            // is the reason the thread does not run.
            if t.state == State::Crashed {
                output::short(&t.error, 50)
            } else {
                String::new()
            },
        ]);
    }
    println!("{table}");
    Ok(())
}

async fn show(ctx: &Context, name: &str, with_source: bool) -> CliResult<()> {
    let v = ctx
        .store
        .thread(name)
        .await
        .map_err(|e| not_found_hint(e.into()))?;
    if ctx.format == Format::Json {
        let mut value = serde_json::to_value(&v).map_err(|e| CliError::Failed {
            message: e.to_string(),
            hint: None,
        })?;
        value["source"] = json!(v.thread.source);
        return output::json(&value);
    }
    print_thread(&v);
    if with_source {
        println!("\n{}", v.thread.source);
    }
    Ok(())
}

fn print_thread(v: &ThreadView) {
    let t = &v.thread;
    let mut table = output::table(&["FIELD", "VALUE"]);
    let rows: Vec<(&str, String)> = vec![
        ("name", t.name.clone()),
        ("status", t.status.to_string()),
        ("state", t.state.to_string()),
        (
            "owner",
            if t.owner.is_empty() {
                "-".into()
            } else {
                t.owner.clone()
            },
        ),
        ("epoch", t.epoch.to_string()),
        ("version", t.version.to_string()),
        ("hang", format_duration(t.hang)),
        ("dead seconds", t.dead_seconds.to_string()),
        (
            "heartbeat",
            v.heartbeat_age_ms
                .map(|a| format!("{} ago", output::age(a)))
                .unwrap_or_else(|| "-".into()),
        ),
        ("started", output::time(t.started_at_ms)),
        ("updated", output::time(t.updated_at_ms)),
        (
            "file",
            if t.path.is_empty() {
                "-".into()
            } else {
                t.path.clone()
            },
        ),
        (
            "source",
            format!("{} lines (--source prints it)", t.source.lines().count()),
        ),
        (
            "error",
            if t.error.is_empty() {
                "-".into()
            } else {
                t.error.clone()
            },
        ),
        ("error at", output::time(t.error_at_ms)),
    ];
    for (k, v) in rows {
        table.add_row(vec![k.to_string(), v]);
    }
    println!("{table}");
}

fn not_found_hint(e: CliError) -> CliError {
    match e {
        CliError::NotFound { .. } => e.with_hint("list the threads with: hatter threads list"),
        other => other,
    }
}

async fn admin(ctx: &Context, name: &str, op: AdminOp) -> CliResult<()> {
    let outcome = ctx
        .store
        .admin(name, op)
        .await
        .map_err(|e| not_found_hint(e.into()))?;
    let done = outcome == AdminOutcome::Done;
    if ctx.format == Format::Json {
        let word = match op {
            AdminOp::Stop => "stop",
            AdminOp::Disable => "disable",
            AdminOp::Enable => "enable",
            AdminOp::Remove => "rm",
        };
        return output::json(&json!({"name": name, "action": word, "changed": done}));
    }
    let text = match (op, done) {
        (AdminOp::Stop, true) => {
            format!("thread `{name}` stopped; it stays enabled, so a worker will start it again")
        }
        (AdminOp::Stop, false) => format!("thread `{name}` was not running; nothing to stop"),
        (AdminOp::Disable, true) => {
            format!("thread `{name}` disabled; it stops within about a second")
        }
        (AdminOp::Disable, false) => format!("thread `{name}` was already disabled"),
        (AdminOp::Enable, true) => {
            format!("thread `{name}` enabled; a worker will start it shortly")
        }
        (AdminOp::Enable, false) => format!("thread `{name}` was already enabled"),
        (AdminOp::Remove, _) => format!("thread `{name}` removed"),
    };
    println!("{text}");
    Ok(())
}
