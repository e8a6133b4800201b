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
        hatter threads logs hello -n 20\n  \
        hatter jobs add examples/every-second.js --cron '* * * * * *'\n  \
        hatter --cluster prod workers list --output json"
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
    /// Cron jobs: scripts run once per tick, each tick by one worker
    #[command(subcommand, visible_alias = "job")]
    Jobs(JobCommand),
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

/// `hatter jobs ...`.
#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Register a script file as a cron job, or update the job of that name
    #[command(
        long_about = "Register a script file as a cron job, or update the job of that name.\n\n\
            At each tick of the schedule exactly one worker of the cluster evaluates the \
            whole source in a fresh context. A schedule is six fields with seconds first \
            (second minute hour day-of-month month day-of-week), five crontab fields \
            (minute first, at second 0), @yearly/@annually/@monthly/@weekly/@daily/\
            @midnight/@hourly, or @every DURATION. Days of the week are 0-7 (0 and 7 are \
            Sunday) or SUN..SAT. Adding the same name again replaces the schedule from the \
            next tick.",
        after_help = "Examples:\n  hatter jobs add examples/every-second.js --cron '* * * * * *'\n  \
            hatter jobs add report.js --cron '0 30 9 * * MON-FRI' --tz Europe/Berlin\n  \
            hatter jobs add cleanup.js --cron @daily --name nightly-cleanup"
    )]
    Add {
        /// The script file
        file: PathBuf,
        /// The schedule, such as '*/10 * * * * *', '0 9 * * 1-5' or @hourly
        #[arg(long, value_name = "SPEC")]
        cron: String,
        /// Job name [default: the file name without extension]
        #[arg(long)]
        name: Option<String>,
        /// IANA time zone the schedule is read in, such as Europe/Berlin [default: UTC]
        #[arg(long, value_name = "ZONE")]
        tz: Option<String>,
        /// Register it disabled: it does not fire until enabled
        #[arg(long)]
        disabled: bool,
    },
    /// List the jobs: status, state, last run and its outcome, next run
    #[command(visible_alias = "ls")]
    List,
    /// Show one job with its history and its next five fire times
    Show {
        /// Job name
        name: String,
        /// History entries to print
        #[arg(short = 'n', long, default_value_t = 10)]
        history: usize,
        /// Also print its source
        #[arg(long)]
        source: bool,
    },
    /// Run the job once, now, on one worker, and wait for its outcome
    #[command(
        long_about = "Run the job once, now, on one worker, and wait for its outcome.\n\n\
            The run goes through the same claim as a tick: it is skipped (and recorded so) \
            when a run of the job is still going, and a tick due at the same moment is not \
            run a second time. A disabled job can be run this way too."
    )]
    Run {
        /// Job name
        name: String,
        /// Return once a worker has taken the run, without waiting for its end
        #[arg(long)]
        no_wait: bool,
    },
    /// Stop the job's ticks until it is enabled (a run in progress finishes)
    Disable {
        /// Job name
        name: String,
    },
    /// Let a disabled job fire again, from its next tick
    Enable {
        /// Job name
        name: String,
    },
    /// Remove the job, its history and its log
    #[command(visible_alias = "remove")]
    Rm {
        /// Job name
        name: String,
    },
    /// Print the job's recent log lines
    Logs {
        /// Job name
        name: String,
        /// How many lines
        #[arg(short = 'n', long, default_value_t = 100)]
        lines: usize,
    },
    /// Follow the job's log until interrupted
    Tail {
        /// Job name
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
