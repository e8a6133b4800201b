//! `worker`: parses the command line, sets up logging and runs the worker.

use clap::Parser;
use hats_worker::settings::{Args, Settings};
use tracing_subscriber::EnvFilter;

fn main() {
    let args = Args::parse();
    let filter = EnvFilter::try_from_env("HATS_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let settings = match Settings::resolve(args) {
        Ok(s) => s,
        Err(e) => fail(&e.message),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => fail(&format!("cannot start the async runtime: {e}")),
    };
    if let Err(e) = runtime.block_on(hats_worker::start(settings)) {
        fail(&e.message);
    }
}

/// Prints a one-line error and exits with status 2.
fn fail(message: &str) -> ! {
    eprintln!("worker: error: {message}");
    std::process::exit(2);
}
