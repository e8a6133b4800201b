//! `hatter`: the HATS admin command line.
//!
//! # Layout
//!
//! - `cli`: the command line (clap).
//! - `context`: settings and the Redis connection every command uses.
//! - `threads`, `jobs`, `workers`, `logs`, `purge`: one module per command
//!   group.
//! - `output`: tables, JSON and formatting of times.
//! - `error`: the one error type, its rendering and exit codes (0 done,
//!   1 failed, 2 bad usage, 3 not found).

mod cli;
mod context;
mod error;
mod jobs;
mod logs;
mod output;
mod purge;
mod threads;
mod workers;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::CliResult;

fn main() {
    // Output piped into `head` and the like ends hatter quietly when the
    // reader goes away, as with other command-line tools, instead of a panic
    // on the failed write.
    // SAFETY: restoring the default action of one signal before any other
    // thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let result = match runtime {
        Ok(rt) => rt.block_on(run(cli)),
        Err(e) => Err(error::CliError::Failed {
            message: format!("cannot start the async runtime: {e}"),
            hint: None,
        }),
    };
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(e.exit_code());
    }
}

async fn run(cli: Cli) -> CliResult<()> {
    let ctx = context::Context::new(&cli.global).await?;
    match cli.command {
        Command::Threads(cmd) => threads::run(&ctx, cmd).await,
        Command::Jobs(cmd) => jobs::run(&ctx, cmd).await,
        Command::Workers(cmd) => workers::run(&ctx, cmd).await,
        Command::Purge { yes } => purge::run(&ctx, yes).await,
    }
}
