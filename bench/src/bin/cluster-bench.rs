//! `make bench-cluster`: real workers against a real redis-server.
//!
//! Reports, all measured in one run:
//!
//! 1. bookkeeping: Redis commands per second spent by 3 idle workers with 10
//!    threads and with 1,000 threads, from `INFO commandstats` deltas (which
//!    count the commands that Lua scripts run too), and their ratio (target:
//!    within 1.5x);
//! 2. memory: RSS of one worker running 1,000 idle threads (target: under
//!    512 MiB);
//! 3. `hatter threads list` with 1,000 threads (target: under 200 ms);
//! 4. takeover: time from `kill -9` of a thread's owner until another worker
//!    holds and runs it, over 20 kills, against `dead_seconds` (target: p95
//!    within `dead_seconds` + 0.5 s).
//!
//! It uses the release binaries (`cargo build --release --workspace`) and a
//! `redis-server` from PATH on a free port, and stops everything it started.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hats_bench::percentile;
use redis::Commands;

/// A process that is killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn bin(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.parent().context("exe dir")?.join(name);
    if !path.exists() {
        bail!(
            "{} is missing: run `cargo build --release --workspace` first",
            path.display()
        );
    }
    Ok(path)
}

struct Bench {
    dir: tempdir::Dir,
    addr: String,
    client: redis::Client,
    worker: PathBuf,
    hatter: PathBuf,
    _redis: Proc,
}

/// A throwaway directory, removed on drop.
mod tempdir {
    use std::path::{Path, PathBuf};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> std::io::Result<Dir> {
            let path = std::env::temp_dir().join(format!("hats-bench-{}", std::process::id()));
            std::fs::create_dir_all(&path)?;
            Ok(Dir(path))
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Bench {
    fn start() -> Result<Bench> {
        let dir = tempdir::Dir::new()?;
        let port = free_port()?;
        let redis = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .context("start redis-server (is it installed?)")?;
        let addr = format!("127.0.0.1:{port}");
        let client = redis::Client::open(format!("redis://{addr}"))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while client
            .get_connection()
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_err()
        {
            if Instant::now() > deadline {
                bail!("redis-server did not start on {addr}");
            }
            sleep(Duration::from_millis(50));
        }
        Ok(Bench {
            dir,
            addr,
            client,
            worker: bin("worker")?,
            hatter: bin("hatter")?,
            _redis: Proc(redis),
        })
    }

    fn conn(&self) -> Result<redis::Connection> {
        Ok(self.client.get_connection()?)
    }

    fn worker(&self, cluster: &str, name: &str) -> Result<Proc> {
        let log = std::fs::File::create(self.dir.path().join(format!("{cluster}-{name}.log")))?;
        let child = Command::new(&self.worker)
            .args([
                "--redis-address",
                &self.addr,
                "--cluster-name",
                cluster,
                "--worker-name",
                name,
            ])
            .args(["--health-port", "0"])
            // The benchmark loads the machine itself; health gating would
            // make workers drop their threads and measure that instead.
            .args(["--cpu-threshold", "100", "--mem-threshold", "100"])
            .env("HATS_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        Ok(Proc(child))
    }

    fn hatter(&self, cluster: &str, args: &[&str]) -> Result<Duration> {
        let start = Instant::now();
        let out = Command::new(&self.hatter)
            .args(["--redis-address", &self.addr, "--cluster", cluster])
            .args(args)
            .env("HOME", self.dir.path())
            .output()?;
        let took = start.elapsed();
        if !out.status.success() {
            bail!(
                "hatter {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(took)
    }

    fn script(&self, name: &str, source: &str) -> Result<PathBuf> {
        let path = self.dir.path().join(format!("{name}.js"));
        std::fs::write(&path, source)?;
        Ok(path)
    }

    /// Registers `count` idle threads in one pipeline, as `hatter threads
    /// add` would one by one.
    fn idle_threads(&self, cluster: &str, count: usize, dead_seconds: u64) -> Result<()> {
        let path = self.script("idle", "function main() {}\n")?;
        // The first through hatter, so the path is the real one; the rest
        // the same way in a loop would take a process start each, so they are
        // registered through the library directly.
        self.hatter(
            cluster,
            &["threads", "add", path.to_str().unwrap(), "--name", "idle-0"],
        )?;
        let rt = tokio::runtime::Runtime::new()?;
        rt.block_on(async {
            let settings = shared::config::RedisSettings {
                address: Some(self.addr.clone()),
                ..Default::default()
            };
            let conn = shared::conn::connect(&settings, "bench", None).await?;
            let store = shared::store::Store::new(conn, shared::Keyspace::new(cluster));
            for i in 1..count {
                store
                    .register_thread(&shared::store::NewThread {
                        name: format!("idle-{i}"),
                        source: "function main() {}\n".into(),
                        hang: None,
                        dead_seconds: Some(dead_seconds),
                        status: shared::model::Status::Enabled,
                        path: path.display().to_string(),
                    })
                    .await?;
            }
            Ok::<_, shared::Error>(())
        })?;
        Ok(())
    }

    fn running(&self, cluster: &str) -> Result<usize> {
        let mut c = self.conn()?;
        let n: usize = c.hlen(format!("hats:{{{cluster}}}:owners"))?;
        Ok(n)
    }

    fn wait_running(&self, cluster: &str, count: usize, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while self.running(cluster)? < count {
            if Instant::now() > deadline {
                bail!(
                    "only {} of {count} threads running after {timeout:?}",
                    self.running(cluster)?
                );
            }
            sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    fn total_calls(&self) -> Result<u64> {
        let mut c = self.conn()?;
        let info: String = redis::cmd("INFO").arg("commandstats").query(&mut c)?;
        let mut total = 0;
        for line in info.lines() {
            if let Some(rest) = line.strip_prefix("cmdstat_") {
                if let Some(calls) = rest
                    .split(&[':', ','][..])
                    .find_map(|f| f.strip_prefix("calls="))
                {
                    total += calls.parse::<u64>().unwrap_or(0);
                }
            }
        }
        Ok(total)
    }
}

fn rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS")?;
    Ok(kb / 1024.0)
}

fn sigterm(p: &mut Proc) {
    let _ = Command::new("kill")
        .args(["-TERM", &p.0.id().to_string()])
        .status();
    let _ = p.0.wait();
}

/// Commands per second of 3 idle workers holding `threads` threads.
fn bookkeeping(b: &Bench, threads: usize) -> Result<(f64, Option<f64>)> {
    let cluster = format!("idle-{threads}");
    let mut workers = Vec::new();
    for i in 0..3 {
        workers.push(b.worker(&cluster, &format!("w{i}"))?);
    }
    b.idle_threads(&cluster, threads, 2)?;
    b.wait_running(&cluster, threads, Duration::from_secs(60))?;
    // Let claiming settle, then count.
    sleep(Duration::from_secs(2));
    let window = Duration::from_secs(10);
    let before = b.total_calls()?;
    sleep(window);
    // The INFO call that reads the counters counts itself once.
    let after = b.total_calls()? - 1;
    let per_second = (after - before) as f64 / window.as_secs_f64();
    let rss = if threads >= 1000 {
        let total: f64 = workers
            .iter()
            .map(|w| rss_mib(w.0.id()).unwrap_or(0.0))
            .sum();
        Some(total)
    } else {
        None
    };
    for w in &mut workers {
        sigterm(w);
    }
    Ok((per_second, rss))
}

fn main() -> Result<()> {
    let b = Bench::start()?;
    println!(
        "cluster benchmark: release binaries, redis-server at {}",
        b.addr
    );

    // 1. Bookkeeping at rest.
    let (small, _) = bookkeeping(&b, 10)?;
    let (large, rss3) = bookkeeping(&b, 1000)?;
    println!("bookkeeping, 3 idle workers (INFO commandstats delta over 10 s)");
    println!("  10 threads:     {small:8.1} commands/s");
    println!("  1,000 threads:  {large:8.1} commands/s");
    println!(
        "  ratio:          {:8.2}x (target within 1.5x)",
        large / small
    );
    if let Some(rss) = rss3 {
        println!("  RSS of the 3 workers together at 1,000 threads: {rss:.0} MiB");
    }

    // 2. Memory of one worker with 1,000 idle threads, and 3. the listing.
    let cluster = "memory";
    let mut one = b.worker(cluster, "solo")?;
    b.idle_threads(cluster, 1000, 2)?;
    b.wait_running(cluster, 1000, Duration::from_secs(90))?;
    sleep(Duration::from_secs(3));
    let rss = rss_mib(one.0.id())?;
    println!("memory: one worker running 1,000 idle threads: {rss:.0} MiB RSS (target < 512 MiB)");
    let mut lists: Vec<Duration> = (0..7)
        .map(|_| b.hatter(cluster, &["threads", "list"]))
        .collect::<Result<_>>()?;
    let mut json: Vec<Duration> = (0..7)
        .map(|_| b.hatter(cluster, &["threads", "list", "-o", "json"]))
        .collect::<Result<_>>()?;
    println!(
        "hatter threads list, 1,000 threads (whole process, 7 runs): table p50 {:?}, JSON p50 {:?} (target < 200 ms)",
        percentile(&mut lists, 50.0),
        percentile(&mut json, 50.0)
    );
    sigterm(&mut one);

    // 4. Takeover after kill -9.
    let cluster = "takeover";
    let dead_seconds = 2;
    let path = b.script("takeover", "function main() {}\n")?;
    b.hatter(
        cluster,
        &[
            "threads",
            "add",
            path.to_str().unwrap(),
            "--hang",
            "100ms",
            "--dead-seconds",
            &dead_seconds.to_string(),
        ],
    )?;
    let mut workers: HashMap<String, Proc> = HashMap::new();
    let mut serial = 0;
    for _ in 0..2 {
        serial += 1;
        let name = format!("t{serial}");
        workers.insert(name.clone(), b.worker(cluster, &name)?);
    }
    let mut c = b.conn()?;
    let key = format!("hats:{{{cluster}}}:thread:takeover");
    let owner = |c: &mut redis::Connection| -> Result<(String, String)> {
        let (owner, state): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(&key)
            .arg("owner")
            .arg("state")
            .query(c)?;
        Ok((owner.unwrap_or_default(), state.unwrap_or_default()))
    };
    let mut takeovers = Vec::new();
    let kills = 20;
    for round in 0..kills {
        // Wait for a running owner, and for the other worker to be live.
        let deadline = Instant::now() + Duration::from_secs(20);
        let current = loop {
            let (o, s) = owner(&mut c)?;
            let live: usize = c.zcount(format!("hats:{{{cluster}}}:eligible"), "-inf", "+inf")?;
            if s == "running" && workers.contains_key(&o) && live >= 2 {
                break o;
            }
            if Instant::now() > deadline {
                bail!("round {round}: no running owner");
            }
            sleep(Duration::from_millis(20));
        };
        // Let the other worker's heartbeat be current, then kill the owner.
        sleep(Duration::from_millis(500));
        let mut victim = workers.remove(&current).expect("owner is ours");
        let killed = Instant::now();
        victim.0.kill()?;
        let _ = victim.0.wait();
        let took = loop {
            let (o, s) = owner(&mut c)?;
            if s == "running" && o != current && !o.is_empty() {
                break killed.elapsed();
            }
            if killed.elapsed() > Duration::from_secs(30) {
                bail!("round {round}: no takeover within 30 s");
            }
            sleep(Duration::from_millis(5));
        };
        takeovers.push(took);
        serial += 1;
        let name = format!("t{serial}");
        workers.insert(name.clone(), b.worker(cluster, &name)?);
    }
    let p50 = percentile(&mut takeovers, 50.0);
    let p95 = percentile(&mut takeovers, 95.0);
    let max = takeovers.iter().max().copied().unwrap_or_default();
    println!("takeover after kill -9 of the owner, dead_seconds = {dead_seconds}, {kills} kills");
    println!(
        "  p50 {p50:?}, p95 {p95:?}, max {max:?} (target p95 <= {}.5 s)",
        dead_seconds
    );
    for (_, mut w) in workers {
        sigterm(&mut w);
    }
    Ok(())
}
