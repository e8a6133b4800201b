//! `hatter purge`: remove every key of the cluster.

use std::io::IsTerminal;

use redis::AsyncCommands;

use crate::context::Context;
use crate::error::{CliError, CliResult};

/// Removes every key of the cluster after a confirmation (`--yes` skips it;
/// without a terminal and without `--yes` it refuses).
pub async fn run(ctx: &Context, yes: bool) -> CliResult<()> {
    let cluster = ctx.cluster().to_string();
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::usage(format!(
                "refusing to purge cluster `{cluster}` without confirmation: there is no terminal to ask on"
            ))
            .with_hint(format!("to purge anyway, run: hatter --cluster {cluster} purge --yes")));
        }
        let confirmed = dialoguer::Confirm::new()
            .with_prompt(format!(
                "Remove every key of cluster `{cluster}` (threads, workers, logs)?"
            ))
            .default(false)
            .interact()
            .map_err(|e| CliError::Failed {
                message: format!("cannot ask for confirmation: {e}"),
                hint: None,
            })?;
        if !confirmed {
            return Err(CliError::Declined);
        }
    }

    let mut conn = ctx.store.connection();
    let pattern = format!("{}*", ctx.store.keys().prefix());
    let mut cursor: u64 = 0;
    let mut removed = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .map_err(|e| CliError::from(shared::Error::redis("cluster.purge", e)))?;
        if !keys.is_empty() {
            let n: u64 = conn
                .unlink(&keys)
                .await
                .map_err(|e| CliError::from(shared::Error::redis("cluster.purge", e)))?;
            removed += n;
            if removed >= 1000 {
                eprint!("\rremoved {removed} keys...");
            }
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    if removed >= 1000 {
        eprintln!();
    }
    println!("cluster `{cluster}` purged: {removed} keys removed");
    Ok(())
}
