//! hatter's command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;

/// The HATS admin command line.
#[derive(Debug, Parser)]
#[command(
    name = "hatter",
    version,
    about = "Registers, lists, stops and tails the work of a HATS cluster",
    long_about = "Registers, lists, stops and tails the work of a HATS cluster.\n\n\
        Connection settings come from flags, then HATS_* variables, then ~/.hatter.toml \
        (keys redis-address, redis-url, redis-password, cluster).",
    after_help = "Examples:\n  hatter threads add examples/hello.js\n  hatter threads list\n  \
        hatter threads logs hello -n 20\n  hatter --cluster prod workers list --output json"
)]
pub struct Cli {
    /// Connection and output settings.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Settings every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Redis address as HOST:PORT [default: 127.0.0.1:6379]
    #[arg(
        long,
        global = true,
        env = "HATS_REDIS_ADDRESS",
        value_name = "HOST:PORT"
    )]
    pub redis_address: Option<String>,
    /// Redis URL (redis://, rediss://); wins over --redis-address
    #[arg(
        long,
        global = true,
        env = "HATS_REDIS_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub redis_url: Option<String>,
    /// Redis password
    #[arg(
        long,
        global = true,
        env = "HATS_REDIS_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub redis_password: Option<String>,
    /// Cluster to work on [default: default]
    #[arg(long, global = true, env = "HATS_CLUSTER", value_name = "NAME")]
    pub cluster: Option<String>,
    /// Output format
    #[arg(long, short = 'o', global = true, value_enum, default_value = "table")]
    pub output: Format,
    /// Settings file [default: ~/.hatter.toml]
    #[arg(long, global = true, env = "HATTER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// hatter's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Long-running scripts, each run by one worker at a time
    #[command(subcommand, visible_alias = "thread")]
    Threads(ThreadCommand),
    /// The workers of the cluster
    #[command(subcommand, visible_alias = "worker")]
    Workers(WorkerCommand),
    /// Remove every key of the cluster
    Purge {
        /// Do not ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// `hatter threads ...`.
#[derive(Debug, Subcommand)]
pub enum ThreadCommand {
    /// Register a script file as a thread, or update the thread of that name
    #[command(after_help = "Examples:\n  hatter threads add examples/hello.js\n  \
        hatter threads add poller.js --name poll-eu --hang 500ms --dead-seconds 5")]
    Add {
        /// The script file
        file: PathBuf,
        /// Thread name [default: the file name without extension]
        #[arg(long)]
        name: Option<String>,
        /// Pause between two main() calls, such as 100ms or 2s [default: 1s]
        #[arg(long, value_name = "DURATION")]
        hang: Option<String>,
        /// Seconds without a heartbeat before another worker takes over [default: 2]
        #[arg(long, value_name = "SECONDS")]
        dead_seconds: Option<u64>,
        /// Register it disabled: it will not run until enabled
        #[arg(long)]
        disabled: bool,
    },
    /// List the threads
    #[command(visible_alias = "ls")]
    List,
    /// Show one thread
    Show {
        /// Thread name
        name: String,
        /// Also print its source
        #[arg(long)]
        source: bool,
    },
    /// End the thread's current run; any worker may start it again
    Stop {
        /// Thread name
        name: String,
    },
    /// Stop the thread everywhere until it is enabled
    Disable {
        /// Thread name
        name: String,
    },
    /// Let a disabled or crashed thread run again
    Enable {
        /// Thread name
        name: String,
    },
    /// Remove the thread and its log
    #[command(visible_alias = "remove")]
    Rm {
        /// Thread name
        name: String,
    },
    /// Print the thread's recent log lines
    Logs {
        /// Thread name
        name: String,
        /// How many lines
        #[arg(short = 'n', long, default_value_t = 100)]
        lines: usize,
    },
    /// Follow the thread's log until interrupted
    Tail {
        /// Thread name
        name: String,
        /// Lines of history to print first
        #[arg(short = 'n', long, default_value_t = 10)]
        lines: usize,
    },
}

/// `hatter workers ...`.
#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// List the workers: state, status, CPU, memory, threads, heartbeat age
    #[command(visible_alias = "ls")]
    List,
    /// Drain a worker: it releases its threads and takes no more work
    Stop {
        /// Worker name
        name: String,
    },
    /// Let a drained worker take work again
    Enable {
        /// Worker name
        name: String,
    },
}
