//! The harness of the HATS end-to-end tests.
//!
//! Every test drives the real binaries: it starts its own `redis-server` on a
//! free port of 127.0.0.1 ([`RedisServer`]), real `worker` processes
//! ([`Worker`]) and runs `hatter` as a child process ([`TestCluster::hatter`]).
//! Nothing here talks to any other address, and nothing uses the Redis that
//! may run on 6379.
//!
//! # The pieces
//!
//! - [`TestCluster`]: one test's world: a temp dir, a Redis server, a fresh
//!   cluster name, and helpers to write scripts, start workers, run hatter
//!   and read the cluster's keys.
//! - [`RedisServer`]: a `redis-server` child, optionally with an append-only
//!   file so that it can be killed and restarted on the same port with its
//!   data.
//! - [`Worker`]: a `worker` child whose stderr and stdout go to files (its
//!   log); real signals (`SIGTERM`, `SIGINT`, `SIGKILL`, `SIGSTOP`,
//!   `SIGCONT`).
//! - [`eventually`] and [`always`]: polling with a deadline, for checks of
//!   things that happen asynchronously.
//! - [`TRACER_JS`] and [`check_one_owner`]: a script that records every
//!   `main()` call as `WORKER:EPOCH`, and the check that no two claims of a
//!   thread ever ran interleaved.
//!
//! # Never leaving processes behind
//!
//! Dropping a [`Worker`] or a [`RedisServer`] kills its process with
//! `SIGKILL` and reaps it. Children are also started with
//! `PR_SET_PDEATHSIG = SIGKILL`, so even a test process killed from outside
//! takes them along. The death signal fires when the *thread* that spawned
//! the child exits, so children must be spawned from the test's own thread
//! (which outlives every handle the test holds).
//!
//! # Diagnosing failures
//!
//! When a test panics, every [`Worker`] and [`RedisServer`] dropped during
//! the unwinding prints the tail of its log to stderr, which the test runner
//! shows next to the failure.
//!
//! # Timing
//!
//! Tests run in parallel on small, loaded machines. Deadlines given to
//! [`eventually`] are generous bounds for functional checks, never speed
//! targets; workers are started with `--cpu-threshold 100 --mem-threshold
//! 100` so that the load of the test run itself never makes them critical.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use redis;
pub use serde_json;

/// Signal numbers of Linux, for [`Worker::signal`].
pub mod sig {
    /// Interrupt (Ctrl-C).
    pub const SIGINT: i32 = 2;
    /// Kill; cannot be caught.
    pub const SIGKILL: i32 = 9;
    /// Terminate.
    pub const SIGTERM: i32 = 15;
    /// Continue a stopped process.
    pub const SIGCONT: i32 = 18;
    /// Stop (pause) a process; cannot be caught.
    pub const SIGSTOP: i32 = 19;
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
    fn prctl(option: i32, ...) -> i32;
}

/// `prctl` option: the signal a child gets when its parent thread exits.
const PR_SET_PDEATHSIG: i32 = 1;

/// Sends `signal` to process `pid`; `false` when it no longer exists.
pub fn send_signal(pid: u32, signal: i32) -> bool {
    // SAFETY: kill(2) only takes integers; a stale pid is reported as an
    // error return, never as memory unsafety.
    unsafe { kill(pid as i32, signal) == 0 }
}

/// Makes `cmd`'s child receive SIGKILL when the spawning thread exits.
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs between fork and exec and only makes one
    // async-signal-safe system call.
    unsafe {
        cmd.pre_exec(|| {
            prctl(PR_SET_PDEATHSIG, sig::SIGKILL as std::ffi::c_ulong);
            Ok(())
        });
    }
}

// ---------------------------------------------------------------------------
// Binaries, names, ports
// ---------------------------------------------------------------------------

/// The directory holding the `worker` and `hatter` binaries: the target
/// profile directory this test executable was built into
/// (`target/debug/deps/TEST` gives `target/debug`), else
/// `$CARGO_TARGET_DIR/debug`.
pub fn bin_dir() -> PathBuf {
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(deps) = exe.parent() {
            if let Some(profile) = deps.parent() {
                candidates.push(profile.to_path_buf());
            }
        }
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join("debug"));
    }
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug"));
    for dir in &candidates {
        if dir.join("worker").is_file() && dir.join("hatter").is_file() {
            return dir.clone();
        }
    }
    panic!(
        "the `worker` and `hatter` binaries were not found in any of {candidates:?}: \
         run `cargo build --workspace` first"
    );
}

/// The path of binary `name` (`worker` or `hatter`).
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// A random number, without a random-number crate: the standard library
/// seeds each `RandomState` from the OS.
pub fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// A name unique to this run: `prefix` and a random suffix. Only letters,
/// digits, `-` and `_` are kept from `prefix`, so the result is a valid
/// cluster, worker or thread name.
pub fn unique(prefix: &str) -> String {
    let clean: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(60)
        .collect();
    format!("{clean}-{:06x}", random_u64() & 0xff_ffff)
}

/// A TCP port of 127.0.0.1 that nothing listens on now, for a server.
///
/// Taken from 20000..30000, below Linux's ephemeral range, so that the
/// outgoing connections of parallel tests do not take it meanwhile; checked
/// by binding it.
pub fn free_port() -> u16 {
    port_in(20000, 10000)
}

/// A port of 127.0.0.1 where connections are refused: from 30000..32000,
/// a range [`free_port`] never hands out, so no test server takes it.
pub fn closed_port() -> u16 {
    port_in(30000, 2000)
}

fn port_in(first: u16, count: u16) -> u16 {
    for _ in 0..500 {
        let port = first + (random_u64() % count as u64) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port of 127.0.0.1 in {first}..{}", first + count);
}

/// The last `n` lines of `text`.
pub fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}

fn read_lossy(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Removes every variable a HATS binary reads from `cmd`'s environment, so
/// that the environment of whoever runs the tests never leaks in.
fn scrub_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("HATS_") || k.starts_with("HATTER_") {
            cmd.env_remove(&key);
        }
    }
}

// ---------------------------------------------------------------------------
// Polling
// ---------------------------------------------------------------------------

/// Calls `f` every `poll` until it returns `Ok`, and returns that value.
/// Panics after `timeout` with `what` and the last error `f` returned.
pub fn eventually<T>(
    what: &str,
    timeout: Duration,
    poll: Duration,
    mut f: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) => {
                if start.elapsed() >= timeout {
                    panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
                }
            }
        }
        std::thread::sleep(poll);
    }
}

/// Calls `f` every `poll` for `duration`; panics with `what` at the first
/// error. For things that must never happen during a window.
pub fn always(
    what: &str,
    duration: Duration,
    poll: Duration,
    mut f: impl FnMut() -> Result<(), String>,
) {
    let start = Instant::now();
    loop {
        if let Err(e) = f() {
            panic!("{what} stopped holding after {:?}: {e}", start.elapsed());
        }
        if start.elapsed() >= duration {
            return;
        }
        std::thread::sleep(poll);
    }
}

/// Shorthand for a [`Duration`] in milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Shorthand for a [`Duration`] in seconds.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

// ---------------------------------------------------------------------------
// redis-server
// ---------------------------------------------------------------------------

/// A `redis-server` child on 127.0.0.1.
///
/// Started with `--save ""` (no snapshots) and, unless persistent, without
/// an append-only file. A persistent server keeps an append-only file synced
/// on every write in its own directory, so [`RedisServer::kill`] followed by
/// [`RedisServer::restart`] brings it back on the same port with all its
/// data. `DEBUG` is enabled for local connections (tests use `DEBUG SLEEP`).
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    persistent: bool,
    password: Option<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server without persistence.
    pub fn start() -> RedisServer {
        RedisServer::launch(false, None)
    }

    /// Starts a server with an append-only file, for tests that kill and
    /// restart it.
    pub fn start_persistent() -> RedisServer {
        RedisServer::launch(true, None)
    }

    /// Starts a server that requires `password` (`--requirepass`).
    pub fn start_with_password(password: &str) -> RedisServer {
        RedisServer::launch(false, Some(password.to_string()))
    }

    fn launch(persistent: bool, password: Option<String>) -> RedisServer {
        let dir = tempfile::Builder::new()
            .prefix("hats-redis-")
            .tempdir()
            .expect("temp dir for redis-server");
        let mut server = RedisServer {
            port: 0,
            dir,
            persistent,
            password,
            child: None,
        };
        let mut last = String::new();
        for _ in 0..5 {
            server.port = free_port();
            match server.spawn_and_wait(secs(10)) {
                Ok(()) => return server,
                // Most likely another process took the port meanwhile.
                Err(e) => last = e,
            }
        }
        panic!("cannot start redis-server: {last}");
    }

    fn spawn_and_wait(&mut self, timeout: Duration) -> Result<(), String> {
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--save")
            .arg("")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log_path())
            .arg("--enable-debug-command")
            .arg("local")
            .arg("--daemonize")
            .arg("no");
        if let Some(pw) = &self.password {
            cmd.arg("--requirepass").arg(pw);
        }
        if self.persistent {
            cmd.arg("--appendonly")
                .arg("yes")
                .arg("--appendfsync")
                .arg("always");
        } else {
            cmd.arg("--appendonly").arg("no");
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        die_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(|e| {
            format!("cannot run `redis-server` (is it installed and on PATH?): {e}")
        })?;
        self.child = Some(child);
        let start = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!(
                    "redis-server on port {} exited at start ({status}); log:\n{}",
                    self.port,
                    tail_lines(&self.log(), 20)
                ));
            }
            if let Ok(mut conn) = self.try_conn() {
                if let Ok(pong) = redis::cmd("PING").query::<String>(&mut conn) {
                    if pong == "PONG" {
                        return Ok(());
                    }
                }
            }
            if start.elapsed() > timeout {
                return Err(format!(
                    "redis-server on port {} does not answer PING",
                    self.port
                ));
            }
            std::thread::sleep(ms(20));
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The password it requires, if any.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// A client for it.
    pub fn client(&self) -> redis::Client {
        let auth = match &self.password {
            Some(pw) => format!(":{pw}@"),
            None => String::new(),
        };
        redis::Client::open(format!("redis://{auth}127.0.0.1:{}/", self.port))
            .expect("redis client")
    }

    /// A new connection, or the error.
    pub fn try_conn(&self) -> redis::RedisResult<redis::Connection> {
        let conn = self.client().get_connection_with_timeout(secs(2))?;
        conn.set_read_timeout(Some(secs(10)))?;
        conn.set_write_timeout(Some(secs(10)))?;
        Ok(conn)
    }

    /// A new connection; panics when the server cannot be reached.
    pub fn conn(&self) -> redis::Connection {
        self.try_conn().unwrap_or_else(|e| {
            panic!(
                "cannot connect to the test redis-server at {}: {e}",
                self.addr()
            )
        })
    }

    /// Whether the process runs.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the server with SIGKILL and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, with the same directory
    /// (so a persistent server comes back with its data). Waits until it
    /// answers PING.
    pub fn restart(&mut self) {
        self.kill();
        let start = Instant::now();
        loop {
            match self.spawn_and_wait(secs(10)) {
                Ok(()) => return,
                Err(e) if start.elapsed() > secs(10) => {
                    panic!("cannot restart redis-server on port {}: {e}", self.port)
                }
                Err(_) => std::thread::sleep(ms(200)),
            }
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// Its log file so far.
    pub fn log(&self) -> String {
        read_lossy(&self.log_path())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- redis-server 127.0.0.1:{} log (last 20 lines) -----\n{}",
                self.port,
                tail_lines(&self.log(), 20)
            );
        }
        self.kill();
    }
}

// ---------------------------------------------------------------------------
// worker processes
// ---------------------------------------------------------------------------

/// A running `worker` process. Its stderr and its stdout go to two files;
/// [`Worker::log`] reads both.
pub struct Worker {
    name: String,
    child: Child,
    err_path: PathBuf,
    out_path: PathBuf,
    status: Option<ExitStatus>,
}

impl Worker {
    /// Starts `bin("worker")` with exactly `args` and the extra environment
    /// `envs` (on top of a scrubbed environment with `HOME=home`,
    /// `HATS_LOG=info` and `NO_COLOR=1`). `label` names the log file and the
    /// log dump on failure; it is also the name [`Worker::name`] returns.
    pub fn spawn(
        label: &str,
        args: &[String],
        envs: &[(&str, &str)],
        home: &Path,
        log_dir: &Path,
    ) -> Worker {
        let stem = format!("worker-{label}-{:04x}", random_u64() & 0xffff);
        let err_path = log_dir.join(format!("{stem}.stderr"));
        let out_path = log_dir.join(format!("{stem}.stdout"));
        let stderr = File::create(&err_path).expect("worker stderr file");
        let stdout = File::create(&out_path).expect("worker stdout file");
        let mut cmd = Command::new(bin("worker"));
        scrub_env(&mut cmd);
        cmd.args(args)
            .env("HOME", home)
            .env("HATS_LOG", "info")
            .env("NO_COLOR", "1")
            .current_dir(home)
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin("worker").display()));
        Worker {
            name: label.to_string(),
            child,
            err_path,
            out_path,
            status: None,
        }
    }

    /// The worker's name (its label).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        read_lossy(&self.err_path)
    }

    /// What it wrote to stdout so far.
    pub fn stdout(&self) -> String {
        read_lossy(&self.out_path)
    }

    /// Its whole output so far, for people: stderr, then stdout when there
    /// is any (log lines carry their own times).
    pub fn log(&self) -> String {
        let err = self.stderr();
        let out = self.stdout();
        if out.is_empty() {
            err
        } else {
            format!("{err}\n[stdout]\n{out}")
        }
    }

    /// Sends `signal`, unless the process was already reaped.
    pub fn signal(&mut self, signal: i32) {
        if self.try_status().is_none() {
            send_signal(self.pid(), signal);
        }
    }

    /// Sends SIGTERM.
    pub fn sigterm(&mut self) {
        self.signal(sig::SIGTERM)
    }

    /// Sends SIGINT.
    pub fn sigint(&mut self) {
        self.signal(sig::SIGINT)
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill9(&mut self) {
        self.signal(sig::SIGKILL);
        let _ = self.wait_exit(secs(10));
    }

    /// Sends SIGSTOP: the process freezes until [`Worker::sigcont`].
    pub fn sigstop(&mut self) {
        self.signal(sig::SIGSTOP)
    }

    /// Sends SIGCONT.
    pub fn sigcont(&mut self) {
        self.signal(sig::SIGCONT)
    }

    fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Ok(Some(s)) = self.child.try_wait() {
                self.status = Some(s);
            }
        }
        self.status
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }

    /// Waits up to `timeout` for the process to exit; `None` when it still
    /// runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(s) = self.try_status() {
                return Some(s);
            }
            if start.elapsed() >= timeout {
                return None;
            }
            std::thread::sleep(ms(20));
        }
    }

    /// Waits up to `timeout` for the exit and returns the exit code (128 +
    /// signal when killed by a signal); panics with the log when it does not
    /// exit in time.
    pub fn exit_code(&mut self, timeout: Duration) -> i32 {
        match self.wait_exit(timeout) {
            Some(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
            None => panic!(
                "worker {} did not exit within {timeout:?}; log:\n{}",
                self.name,
                tail_lines(&self.log(), 60)
            ),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- worker {} (pid {}) log (last 150 lines) -----\n{}",
                self.name,
                self.child.id(),
                tail_lines(&self.log(), 150)
            );
        }
        if self.try_status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// hatter
// ---------------------------------------------------------------------------

/// What a `hatter` run printed and returned.
#[derive(Clone, Debug)]
pub struct Output {
    /// The exit code (128 + signal when killed by one).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Panics unless the exit code is 0.
    pub fn ok(self) -> Output {
        assert_eq!(self.code, 0, "hatter failed: {self:?}");
        self
    }

    /// Stdout parsed as JSON; panics when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("hatter printed no JSON ({e}): {self:?}"))
    }
}

// ---------------------------------------------------------------------------
// One test's cluster
// ---------------------------------------------------------------------------

/// Everything one test works with: a temp dir (scripts, logs, `HOME`), its
/// own Redis server, and a cluster name of its own.
pub struct TestCluster {
    /// The cluster name, unique to this test run.
    pub cluster: String,
    /// The Redis server. Declared before `dir` so it is dropped first.
    pub redis: RedisServer,
    dir: tempfile::TempDir,
}

impl TestCluster {
    /// A cluster named after `label`, on a new Redis without persistence.
    pub fn new(label: &str) -> TestCluster {
        TestCluster::with_redis(label, RedisServer::start())
    }

    /// A cluster on a new Redis with an append-only file (see
    /// [`RedisServer::start_persistent`]).
    pub fn new_persistent(label: &str) -> TestCluster {
        TestCluster::with_redis(label, RedisServer::start_persistent())
    }

    /// A cluster on a new Redis that requires a random password. Workers
    /// started by [`TestCluster::worker`] and hatter runs get it.
    pub fn new_with_password(label: &str) -> TestCluster {
        let password = format!("pw{:016x}", random_u64());
        TestCluster::with_redis(label, RedisServer::start_with_password(&password))
    }

    fn with_redis(label: &str, redis: RedisServer) -> TestCluster {
        let dir = tempfile::Builder::new()
            .prefix("hats-e2e-")
            .tempdir()
            .expect("temp dir");
        TestCluster {
            cluster: unique(label),
            redis,
            dir,
        }
    }

    /// The temp dir: scripts, worker logs, and `HOME` of every child.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The full name of one of the cluster's keys: `hats:{CLUSTER}:suffix`.
    pub fn key(&self, suffix: &str) -> String {
        format!("hats:{{{}}}:{suffix}", self.cluster)
    }

    /// Writes a script file into the temp dir and returns its path.
    pub fn script(&self, file: &str, source: &str) -> PathBuf {
        let path = self.dir().join(file);
        std::fs::write(&path, source).expect("write script");
        path
    }

    /// Writes [`TRACER_JS`] as `NAME.js` and returns its path.
    pub fn tracer(&self, name: &str) -> PathBuf {
        self.script(&format!("{name}.js"), TRACER_JS)
    }

    /// The flags every test worker gets: this cluster, the name, this
    /// Redis (and its password, if any), no HTTP server, and health
    /// thresholds it cannot reach.
    pub fn worker_args(&self, name: &str) -> Vec<String> {
        let mut args: Vec<String> = [
            "--cluster-name",
            &self.cluster,
            "--worker-name",
            name,
            "--redis-address",
            &self.redis.addr(),
            "--health-port",
            "0",
            "--cpu-threshold",
            "100",
            "--mem-threshold",
            "100",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(pw) = self.redis.password() {
            args.push("--redis-password".into());
            args.push(pw.into());
        }
        args
    }

    /// Starts worker `name` of this cluster.
    pub fn worker(&self, name: &str) -> Worker {
        self.worker_with(name, &[])
    }

    /// Starts worker `name` of this cluster with extra flags.
    pub fn worker_with(&self, name: &str, extra: &[&str]) -> Worker {
        let mut args = self.worker_args(name);
        args.extend(extra.iter().map(|s| s.to_string()));
        Worker::spawn(name, &args, &[], self.dir(), self.dir())
    }

    /// Starts a worker with exactly `args` and `envs`, for tests of the
    /// settings themselves. `label` names its log.
    pub fn worker_raw(&self, label: &str, args: &[&str], envs: &[(&str, &str)]) -> Worker {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Worker::spawn(label, &args, envs, self.dir(), self.dir())
    }

    /// Runs hatter against this cluster (`HATS_REDIS_ADDRESS`,
    /// `HATS_CLUSTER`, `HOME` and, when the server has one,
    /// `HATS_REDIS_PASSWORD` set), in the temp dir.
    pub fn hatter(&self, args: &[&str]) -> Output {
        self.hatter_env(args, &[])
    }

    /// Like [`TestCluster::hatter`] with more variables, which win over the
    /// defaults.
    pub fn hatter_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let out = self
            .hatter_command(args, envs)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin("hatter").display()));
        Output {
            code: out
                .status
                .code()
                .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0)),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The command [`TestCluster::hatter_env`] runs, for a test that needs
    /// the child itself (`hatter threads tail`). Stdin is closed; stdout and
    /// stderr are left for the caller to set.
    pub fn hatter_command(&self, args: &[&str], envs: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(bin("hatter"));
        scrub_env(&mut cmd);
        cmd.args(args)
            .current_dir(self.dir())
            .stdin(Stdio::null())
            .env("HATS_REDIS_ADDRESS", self.redis.addr())
            .env("HATS_CLUSTER", &self.cluster)
            .env("HOME", self.dir());
        if let Some(pw) = self.redis.password() {
            cmd.env("HATS_REDIS_PASSWORD", pw);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd
    }

    /// `hatter threads add FILE EXTRA...`; panics unless it succeeds.
    pub fn add_thread(&self, file: &Path, extra: &[&str]) -> Output {
        let file = file.to_str().expect("utf-8 path");
        let mut args = vec!["threads", "add", file];
        args.extend_from_slice(extra);
        self.hatter(&args).ok()
    }

    /// A new connection to the test Redis.
    pub fn conn(&self) -> redis::Connection {
        self.redis.conn()
    }

    /// Runs one command on a new connection.
    pub fn try_query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        let mut conn = self.redis.try_conn()?;
        cmd.query(&mut conn)
    }

    /// Runs one command; panics on an error.
    pub fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> T {
        self.try_query(cmd)
            .unwrap_or_else(|e| panic!("redis command failed: {e}"))
    }

    /// The items of list `key`.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.query(redis::cmd("LRANGE").arg(key).arg(0).arg(-1))
    }

    /// The items of list `key`, or the error (for use while Redis may be
    /// down).
    pub fn try_list(&self, key: &str) -> Result<Vec<String>, String> {
        self.try_query(redis::cmd("LRANGE").arg(key).arg(0).arg(-1))
            .map_err(|e| e.to_string())
    }

    /// The length of list `key`.
    pub fn llen(&self, key: &str) -> usize {
        self.query(redis::cmd("LLEN").arg(key))
    }

    /// The integer at `key` (0 when missing).
    pub fn counter(&self, key: &str) -> i64 {
        let v: Option<i64> = self.query(redis::cmd("GET").arg(key));
        v.unwrap_or(0)
    }

    /// Thread `name`'s record (`hats:{C}:thread:NAME`), empty when missing.
    pub fn thread(&self, name: &str) -> HashMap<String, String> {
        self.query(redis::cmd("HGETALL").arg(self.key(&format!("thread:{name}"))))
    }

    /// Like [`TestCluster::thread`], or the error.
    pub fn try_thread(&self, name: &str) -> Result<HashMap<String, String>, String> {
        self.try_query(redis::cmd("HGETALL").arg(self.key(&format!("thread:{name}"))))
            .map_err(|e| e.to_string())
    }

    /// One field of thread `name`'s record, empty when missing.
    pub fn thread_field(&self, name: &str, field: &str) -> String {
        self.thread(name).get(field).cloned().unwrap_or_default()
    }

    /// The `owners` hash: thread name to `WORKER EPOCH VERSION`.
    pub fn owners(&self) -> HashMap<String, String> {
        self.query(redis::cmd("HGETALL").arg(self.key("owners")))
    }

    /// How many threads each worker holds, from the `owners` hash.
    pub fn owner_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for v in self.owners().values() {
            let w = v.split(' ').next().unwrap_or("").to_string();
            *counts.entry(w).or_insert(0) += 1;
        }
        counts
    }

    /// Redis's clock in milliseconds.
    pub fn redis_now_ms(&self) -> u64 {
        let (s, us): (u64, u64) = self.query(&redis::cmd("TIME"));
        s * 1000 + us / 1000
    }

    /// Names in the `workers` ZSET whose heartbeat is current.
    pub fn live_workers(&self) -> Vec<String> {
        let now = self.redis_now_ms();
        let mut v: Vec<String> = self.query(
            redis::cmd("ZRANGEBYSCORE")
                .arg(self.key("workers"))
                .arg(format!("({now}"))
                .arg("+inf"),
        );
        v.sort();
        v
    }

    /// Waits until exactly `names` are the live workers.
    pub fn wait_live_workers(&self, names: &[&str], timeout: Duration) {
        let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        want.sort();
        eventually("the live workers", timeout, ms(50), || {
            let live = self.live_workers();
            if live == want {
                Ok(())
            } else {
                Err(format!("live {live:?}, want {want:?}"))
            }
        });
    }

    /// Waits until every thread of `names` is `running` with an owner, and
    /// returns thread name to owner.
    pub fn wait_running<S: AsRef<str>>(
        &self,
        names: &[S],
        timeout: Duration,
    ) -> BTreeMap<String, String> {
        eventually("every thread to run", timeout, ms(50), || {
            let mut owners = BTreeMap::new();
            for name in names {
                let name = name.as_ref();
                let t = self.try_thread(name)?;
                let state = t.get("state").map(String::as_str).unwrap_or("");
                let owner = t.get("owner").cloned().unwrap_or_default();
                if state != "running" || owner.is_empty() {
                    return Err(format!(
                        "thread {name}: state `{state}`, owner `{owner}`: {t:?}"
                    ));
                }
                owners.insert(name.to_string(), owner);
            }
            Ok(owners)
        })
    }

    /// Every key of the cluster (`SCAN` for its prefix).
    pub fn cluster_keys(&self) -> Vec<String> {
        keys_matching(&mut self.conn(), &format!("hats:{{{}}}:*", self.cluster))
    }
}

/// Every key matching `pattern`, by `SCAN`.
pub fn keys_matching(conn: &mut redis::Connection, pattern: &str) -> Vec<String> {
    let mut cursor: u64 = 0;
    let mut out = Vec::new();
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query(conn)
            .expect("SCAN");
        out.extend(keys);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------
// The tracer script and the one-owner check
// ---------------------------------------------------------------------------

/// A thread script that records who ran it.
///
/// `init()` reads the epoch of the claim from the thread's record and builds
/// the tag `WORKER:EPOCH`; it pushes `init:TAG` to the list `events:NAME`.
/// Every `main()` pushes `TAG` to `runs:NAME`; `cleanup()` pushes
/// `cleanup:TAG` to `events:NAME`. `NAME` is `thread.Key`.
pub const TRACER_JS: &str = r#"
var tag = "";
function init() {
  var r = redis.Do("HGET", "hats:{" + worker.Cluster + "}:thread:" + thread.Key, "epoch");
  tag = worker.Name + ":" + r[0];
  redis.Do("RPUSH", "events:" + thread.Key, "init:" + tag);
}
function main() {
  redis.Do("RPUSH", "runs:" + thread.Key, tag);
}
function cleanup() {
  redis.Do("RPUSH", "events:" + thread.Key, "cleanup:" + tag);
}
"#;

/// The list [`TRACER_JS`] pushes each `main()` call of thread `name` to.
pub fn runs_key(name: &str) -> String {
    format!("runs:{name}")
}

/// The list [`TRACER_JS`] pushes `init:TAG` and `cleanup:TAG` of thread
/// `name` to.
pub fn events_key(name: &str) -> String {
    format!("events:{name}")
}

/// A `WORKER:EPOCH` tag split into its parts.
pub fn parse_tag(tag: &str) -> Option<(String, u64)> {
    let (w, e) = tag.rsplit_once(':')?;
    Some((w.to_string(), e.parse().ok()?))
}

/// Checks a list of `WORKER:EPOCH` entries, in the order Redis received
/// them, for the one-owner property: epochs never go back (no entry of an
/// older claim after an entry of a newer one, so two claims never ran
/// interleaved), and each epoch belongs to one worker.
pub fn check_one_owner(entries: &[String]) -> Result<(), String> {
    let mut max: Option<(u64, usize)> = None;
    let mut by_epoch: HashMap<u64, String> = HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let (w, e) =
            parse_tag(entry).ok_or_else(|| format!("entry {i} `{entry}` is not WORKER:EPOCH"))?;
        if let Some(other) = by_epoch.get(&e) {
            if *other != w {
                return Err(format!("epoch {e} was run by both {other} and {w}"));
            }
        }
        by_epoch.insert(e, w);
        if let Some((m, at)) = max {
            if e < m {
                let from = i.saturating_sub(3);
                return Err(format!(
                    "entry {i} `{entry}` comes after entry {at} of the newer epoch {m}: \
                     two claims ran at once (around: {:?})",
                    &entries[from..(i + 3).min(entries.len())]
                ));
            }
        }
        if max.is_none_or(|(m, _)| e > m) {
            max = Some((e, i));
        }
    }
    Ok(())
}

/// The workers of a list of `WORKER:EPOCH` entries, in order of first
/// appearance, with consecutive repeats merged: `[a, a, b, b]` gives
/// `[a, b]`, `[a, b, a]` gives `[a, b, a]`.
pub fn worker_runs(entries: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in entries {
        let w = parse_tag(e).map(|(w, _)| w).unwrap_or_else(|| e.clone());
        if out.last() != Some(&w) {
            out.push(w);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn one_owner_accepts_hand_overs_and_refuses_interleaving() {
        assert!(check_one_owner(&v(&["a:1", "a:1", "b:2", "b:2", "a:5"])).is_ok());
        assert!(check_one_owner(&[]).is_ok());
        let err = check_one_owner(&v(&["a:1", "b:2", "a:1"])).unwrap_err();
        assert!(err.contains("two claims ran at once"), "{err}");
        let err = check_one_owner(&v(&["a:1", "b:1"])).unwrap_err();
        assert!(err.contains("both"), "{err}");
        assert!(check_one_owner(&v(&["nonsense"])).is_err());
    }

    #[test]
    fn worker_runs_merge_repeats_only() {
        assert_eq!(worker_runs(&v(&["a:1", "a:1", "b:2"])), ["a", "b"]);
        assert_eq!(worker_runs(&v(&["a:1", "b:2", "a:3"])), ["a", "b", "a"]);
        assert_eq!(parse_tag("host-1:42"), Some(("host-1".to_string(), 42)));
    }

    #[test]
    fn unique_names_are_valid_and_differ() {
        let a = unique("some test::name");
        let b = unique("some test::name");
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert!(free_port() < 30000 && closed_port() >= 30000);
    }
}
