//! `hatter workers ...`.

use serde_json::json;
use shared::model::Status;

use crate::cli::WorkerCommand;
use crate::context::Context;
use crate::error::{CliError, CliResult};
use crate::output::{self, Format};

/// Runs one `workers` command.
pub async fn run(ctx: &Context, cmd: WorkerCommand) -> CliResult<()> {
    match cmd {
        WorkerCommand::List => list(ctx).await,
        WorkerCommand::Stop { name } => set_status(ctx, &name, Status::Disabled).await,
        WorkerCommand::Enable { name } => set_status(ctx, &name, Status::Enabled).await,
    }
}

async fn list(ctx: &Context) -> CliResult<()> {
    let workers = ctx.store.workers().await?;
    if ctx.format == Format::Json {
        return output::json(&workers);
    }
    if workers.is_empty() {
        println!(
            "No workers in cluster `{}`. Start one with: worker --cluster-name {}",
            ctx.cluster(),
            ctx.cluster()
        );
        return Ok(());
    }
    let mut table = output::table(&[
        "NAME",
        "STATE",
        "STATUS",
        "CPU",
        "MEMORY",
        "THREADS",
        "HEARTBEAT",
        "HOST",
    ]);
    for v in &workers {
        let w = &v.worker;
        table.add_row(vec![
            w.name.clone(),
            w.state.to_string(),
            w.status.to_string(),
            format!("{:.1}%", w.cpu),
            format!("{:.1}%", w.mem),
            w.threads.to_string(),
            format!("{} ago", output::age(v.heartbeat_age_ms)),
            format!("{} (pid {})", w.host, w.pid),
        ]);
    }
    println!("{table}");
    Ok(())
}

async fn set_status(ctx: &Context, name: &str, status: Status) -> CliResult<()> {
    ctx.store
        .set_worker_status(name, status)
        .await
        .map_err(|e| match CliError::from(e) {
            e @ CliError::NotFound { .. } => {
                e.with_hint("list the workers with: hatter workers list")
            }
            e => e,
        })?;
    if ctx.format == Format::Json {
        return output::json(&json!({"name": name, "status": status}));
    }
    match status {
        Status::Disabled => {
            println!("worker `{name}` is draining: it releases its threads and takes no more work")
        }
        Status::Enabled => println!("worker `{name}` takes work again"),
    }
    Ok(())
}
