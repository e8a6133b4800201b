//! End-to-end tests of threads on one or two workers, of `hatter`, and of
//! the worker's settings: each test starts its own `redis-server`, real
//! `worker` processes and real `hatter` runs.

use std::collections::BTreeSet;
use std::time::Instant;

use hats_tests::*;

/// Top-level code, `init()`, `main()` every hang and `cleanup()` run in
/// that order, on SIGTERM the worker runs `cleanup()` and exits 0, and
/// `main()` is called about every `hang`.
#[test]
fn lifecycle_runs_in_order_and_ends_with_cleanup() {
    let tc = TestCluster::new("lifecycle");
    let file = tc.script(
        "life.js",
        r#"
redis.Do("RPUSH", "life", "top");
function init() { redis.Do("RPUSH", "life", "init"); }
function main() {
  var at = Date.now();
  redis.Do("RPUSH", "life", "main");
  redis.Do("RPUSH", "main-at", String(at));
}
function cleanup() { redis.Do("RPUSH", "life", "cleanup"); }
"#,
    );
    tc.add_thread(&file, &["--hang", "200ms"]);
    let mut w = tc.worker("w1");
    eventually("the first main()", secs(10), ms(20), || {
        if tc.list("life").iter().any(|s| s == "main") {
            Ok(())
        } else {
            Err(format!("{:?}", tc.list("life")))
        }
    });
    std::thread::sleep(ms(1500));
    w.sigterm();
    assert_eq!(w.exit_code(secs(15)), 0, "worker exit status after SIGTERM");

    let life = tc.list("life");
    let count = |what: &str| life.iter().filter(|s| *s == what).count();
    assert_eq!(count("top"), 1, "top-level code runs once: {life:?}");
    assert_eq!(count("init"), 1, "init() runs once: {life:?}");
    assert_eq!(count("cleanup"), 1, "cleanup() runs once: {life:?}");
    let mains = count("main");
    assert!(
        mains >= 3,
        "main() ran {mains} times in ~1.5 s with hang 200ms: {life:?}"
    );
    let mut want = vec!["top".to_string(), "init".to_string()];
    want.extend(std::iter::repeat_n("main".to_string(), mains));
    want.push("cleanup".to_string());
    assert_eq!(life, want, "lifecycle order");

    let at: Vec<u64> = tc
        .list("main-at")
        .iter()
        .map(|s| s.parse().expect("a time"))
        .collect();
    let mut gaps: Vec<u64> = at.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    println!("main() gaps with hang 200ms: {gaps:?}");
    assert!(
        gaps[0] >= 190,
        "main() was called again sooner than hang 200ms: gaps {gaps:?}"
    );
    assert!(
        median <= 600,
        "main() cadence is far from hang 200ms: gaps {gaps:?}"
    );
}

/// A syntax error and throws from top-level code, `init()` and `main()`
/// each crash their thread (state crashed, status disabled, the error and
/// its time recorded) without disturbing a healthy thread on the same
/// worker; a crashed thread stays down until enabled.
#[test]
fn crashes_are_recorded_and_contained() {
    let tc = TestCluster::new("crash");
    let files = [
        tc.script("syntax.js", "function main( {\n  oops\n"),
        tc.script("throwtop.js", "throw new Error(\"boom-at-top-3\");\n"),
        tc.script(
            "throwinit.js",
            "function init() { throw new Error(\"boom-in-init-7\"); }\nfunction main() {}\n",
        ),
        tc.script(
            "throwmain.js",
            r#"
function init() { redis.Do("INCR", "inits:throwmain"); }
function main() {
  redis.Do("INCR", "mains:throwmain");
  throw new Error("boom-in-main-42");
}
"#,
        ),
        tc.script(
            "healthy.js",
            "function main() { redis.Do(\"INCR\", \"count:healthy\"); }\n",
        ),
    ];
    for f in &files {
        tc.add_thread(f, &["--hang", "100ms"]);
    }
    let _w = tc.worker("w1");

    let crashed = [
        ("syntax", "SyntaxError"),
        ("throwtop", "boom-at-top-3"),
        ("throwinit", "boom-in-init-7"),
        ("throwmain", "boom-in-main-42"),
    ];
    for (name, text) in crashed {
        let t = eventually(&format!("thread {name} to crash"), secs(10), ms(50), || {
            let t = tc.thread(name);
            if t.get("state").map(String::as_str) == Some("crashed") {
                Ok(t)
            } else {
                Err(format!("{t:?}"))
            }
        });
        assert_eq!(
            t["status"], "disabled",
            "a crashed thread is disabled: {t:?}"
        );
        assert!(
            t["error"].contains(text),
            "thread {name}: the error should contain `{text}`: {t:?}"
        );
        let at: u64 = t["error_at"].parse().unwrap_or(0);
        let now = tc.redis_now_ms();
        assert!(
            at > now - 60_000 && at <= now + 1000,
            "thread {name}: error_at {at} is not a recent time (now {now}): {t:?}"
        );
        assert!(
            t["owner"].is_empty(),
            "a crashed thread has no owner: {t:?}"
        );
    }

    // The healthy thread keeps running on the same worker.
    let before = tc.counter("count:healthy");
    eventually(
        "the healthy thread to keep counting",
        secs(5),
        ms(50),
        || {
            let now = tc.counter("count:healthy");
            if now >= before + 5 {
                Ok(())
            } else {
                Err(format!("count went from {before} to {now}"))
            }
        },
    );
    assert_eq!(tc.thread_field("healthy", "state"), "running");

    // Crashed threads are not restarted on their own.
    always("the crashed thread staying down", ms(1500), ms(100), || {
        let inits = tc.counter("inits:throwmain");
        let mains = tc.counter("mains:throwmain");
        if inits == 1 && mains == 1 {
            Ok(())
        } else {
            Err(format!("inits {inits}, mains {mains}"))
        }
    });

    // Listings show them crashed.
    let list = tc.hatter(&["-o", "json", "threads", "list"]).ok().json();
    let listed: Vec<(String, String)> = list
        .as_array()
        .expect("an array")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or("").to_string(),
                t["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for (name, _) in crashed {
        assert!(
            listed.contains(&(name.to_string(), "crashed".to_string())),
            "hatter threads list shows {name} crashed: {listed:?}"
        );
    }

    // Enabling runs it again (and it crashes again, with a new time).
    let first_at = tc.thread_field("throwmain", "error_at");
    tc.hatter(&["threads", "enable", "throwmain"]).ok();
    eventually("the enabled thread to run again", secs(10), ms(50), || {
        let inits = tc.counter("inits:throwmain");
        let t = tc.thread("throwmain");
        if inits == 2 && t["state"] == "crashed" && t["error_at"] != first_at {
            Ok(())
        } else {
            Err(format!("inits {inits}, {t:?}"))
        }
    });
}

/// `hatter threads disable` ends a running thread (cleanup runs, state
/// stopped) and `enable` brings it back; `stop` ends the run and leaves it
/// enabled, so it starts again; `rm` ends it for good.
#[test]
fn disable_enable_and_stop_from_hatter() {
    let tc = TestCluster::new("disable");
    let file = tc.script(
        "ticker.js",
        r#"
function init() { redis.Do("RPUSH", "ev", "init"); }
function main() { redis.Do("INCR", "count"); }
function cleanup() { redis.Do("RPUSH", "ev", "cleanup"); }
"#,
    );
    tc.add_thread(&file, &["--hang", "100ms"]);
    let _w = tc.worker("w1");
    eventually("the thread to count", secs(10), ms(50), || {
        let c = tc.counter("count");
        if c >= 3 {
            Ok(())
        } else {
            Err(format!("count {c}"))
        }
    });

    let out = tc.hatter(&["threads", "disable", "ticker"]).ok();
    assert!(out.stdout.contains("ticker"), "{out:?}");
    eventually("the disabled thread to stop", secs(5), ms(50), || {
        let t = tc.thread("ticker");
        let ev = tc.list("ev");
        if t["state"] == "stopped" && t["status"] == "disabled" && ev == ["init", "cleanup"] {
            Ok(())
        } else {
            Err(format!("{t:?}, events {ev:?}"))
        }
    });
    let stopped_at = tc.counter("count");
    always(
        "the disabled thread not counting",
        ms(1500),
        ms(100),
        || {
            let c = tc.counter("count");
            if c == stopped_at {
                Ok(())
            } else {
                Err(format!("count went from {stopped_at} to {c}"))
            }
        },
    );

    tc.hatter(&["threads", "enable", "ticker"]).ok();
    eventually("the enabled thread to count again", secs(5), ms(50), || {
        let c = tc.counter("count");
        let ev = tc.list("ev");
        if c >= stopped_at + 3 && ev == ["init", "cleanup", "init"] {
            Ok(())
        } else {
            Err(format!("count {c} (was {stopped_at}), events {ev:?}"))
        }
    });
    assert_eq!(tc.thread_field("ticker", "state"), "running");

    tc.hatter(&["threads", "stop", "ticker"]).ok();
    eventually("the stopped thread to start again", secs(5), ms(50), || {
        let ev = tc.list("ev");
        if ev == ["init", "cleanup", "init", "cleanup", "init"] {
            Ok(())
        } else {
            Err(format!("events {ev:?}"))
        }
    });
    assert_eq!(tc.thread_field("ticker", "status"), "enabled");

    // rm of a running thread ends it for good.
    tc.hatter(&["threads", "rm", "ticker"]).ok();
    eventually(
        "the removed thread to stop counting",
        secs(5),
        ms(100),
        || {
            let a = tc.counter("count");
            std::thread::sleep(ms(400));
            let b = tc.counter("count");
            if a == b {
                Ok(())
            } else {
                Err(format!("still counting: {a} -> {b}"))
            }
        },
    );
    assert!(tc.thread("ticker").is_empty(), "{:?}", tc.thread("ticker"));
    assert_eq!(tc.hatter(&["threads", "show", "ticker"]).code, 3);
}

/// With two workers in one cluster, each of six threads runs on exactly one
/// worker, and its record names that worker as owner.
#[test]
fn two_workers_run_each_thread_once() {
    let tc = TestCluster::new("two-workers");
    let _a = tc.worker("wa");
    let _b = tc.worker("wb");
    tc.wait_live_workers(&["wa", "wb"], secs(10));
    let names: Vec<String> = (1..=6).map(|i| format!("t{i}")).collect();
    for n in &names {
        tc.add_thread(&tc.tracer(n), &["--hang", "100ms"]);
    }
    tc.wait_running(&names, secs(10));
    eventually("every thread to record runs", secs(10), ms(50), || {
        for n in &names {
            let len = tc.llen(&runs_key(n));
            if len < 5 {
                return Err(format!("{n} ran {len} times"));
            }
        }
        Ok(())
    });
    let owners = tc.owners();
    let mut used = BTreeSet::new();
    for n in &names {
        let runs = tc.list(&runs_key(n));
        let workers: BTreeSet<String> = runs
            .iter()
            .map(|t| parse_tag(t).expect("a tag").0)
            .collect();
        assert_eq!(workers.len(), 1, "thread {n} ran on {workers:?}: {runs:?}");
        let w = workers.into_iter().next().unwrap();
        assert_eq!(tc.thread_field(n, "owner"), w, "owner field of {n}");
        let holder = owners.get(n).cloned().unwrap_or_default();
        assert!(
            holder.starts_with(&format!("{w} ")),
            "owners entry of {n} is `{holder}`, runs are from {w}"
        );
        used.insert(w);
    }
    assert_eq!(
        used.len(),
        2,
        "six threads on two workers should use both: {:?}",
        tc.owner_counts()
    );
}

/// SIGTERM: the worker runs `cleanup()` (with `worker.ShuttingDown` true),
/// leaves its threads stopped with no owner and free to claim, signs off
/// and exits 0; a worker started afterwards runs them at once, long before
/// their `dead_seconds` of 10 could pass.
#[test]
fn sigterm_cleans_up_and_frees_the_threads() {
    let tc = TestCluster::new("sigterm");
    let src = r#"
function main() { redis.Do("INCR", "count:" + thread.Key); }
function cleanup() {
  redis.Do("RPUSH", "cleanup:" + thread.Key, "shutting=" + worker.ShuttingDown);
}
"#;
    let names = ["s1", "s2", "s3"];
    for n in names {
        let f = tc.script(&format!("{n}.js"), src);
        tc.add_thread(&f, &["--hang", "100ms", "--dead-seconds", "10"]);
    }
    let mut w1 = tc.worker("w1");
    tc.wait_running(&names, secs(10));
    eventually("every thread to count", secs(5), ms(50), || {
        match names.iter().find(|n| tc.counter(&format!("count:{n}")) < 2) {
            None => Ok(()),
            Some(n) => Err(format!("{n} has not counted")),
        }
    });

    w1.sigterm();
    assert_eq!(w1.exit_code(secs(15)), 0, "exit status after SIGTERM");
    for n in names {
        assert_eq!(
            tc.list(&format!("cleanup:{n}")),
            ["shutting=true"],
            "cleanup() of {n} runs once, with worker.ShuttingDown true"
        );
        let t = tc.thread(n);
        assert_eq!(t["state"], "stopped", "{n}: {t:?}");
        assert_eq!(t["owner"], "", "{n}: {t:?}");
        assert_eq!(t["status"], "enabled", "{n}: {t:?}");
        let score: Option<f64> = tc.query(redis::cmd("ZSCORE").arg(tc.key("leases")).arg(n));
        assert_eq!(score, Some(0.0), "{n}'s lease is released at once");
    }
    assert!(tc.owners().is_empty(), "owners left: {:?}", tc.owners());
    let beat: Option<f64> = tc.query(redis::cmd("ZSCORE").arg(tc.key("workers")).arg("w1"));
    assert_eq!(
        beat, None,
        "a worker that exited signs off from the live workers"
    );
    assert_eq!(
        tc.query::<String>(redis::cmd("HGET").arg(tc.key("worker:w1")).arg("state")),
        "stopped"
    );

    let start = Instant::now();
    let _w2 = tc.worker("w2");
    let owners = tc.wait_running(&names, secs(5));
    let took = start.elapsed();
    println!("a new worker ran the released threads {took:?} after it started");
    assert!(owners.values().all(|o| o == "w2"), "{owners:?}");
    let counts: Vec<i64> = names
        .iter()
        .map(|n| tc.counter(&format!("count:{n}")))
        .collect();
    eventually("w2 to run the threads", secs(5), ms(50), || {
        for (n, c) in names.iter().zip(&counts) {
            if tc.counter(&format!("count:{n}")) <= *c {
                return Err(format!("{n} has not counted on w2"));
            }
        }
        Ok(())
    });
}

/// SIGTERM while a `main()` is running: the worker lets that `main()`
/// finish (its API calls still work), then runs `cleanup()`, and exits 0.
#[test]
fn sigterm_during_main_lets_it_finish_then_cleans_up() {
    let tc = TestCluster::new("sigterm-mid-main");
    let file = tc.script(
        "slow.js",
        r#"
function main() {
  redis.Do("RPUSH", "slow", "start");
  var end = Date.now() + 1500;
  while (Date.now() < end) {}
  redis.Do("RPUSH", "slow", "end");
}
function cleanup() { redis.Do("RPUSH", "slow", "cleanup"); }
"#,
    );
    tc.add_thread(&file, &["--hang", "100ms"]);
    let mut w = tc.worker("w1");
    eventually("main() to start", secs(10), ms(20), || {
        if tc.list("slow").is_empty() {
            Err("nothing yet".into())
        } else {
            Ok(())
        }
    });
    std::thread::sleep(ms(300));
    w.sigterm();
    assert_eq!(w.exit_code(secs(15)), 0, "exit status after SIGTERM");
    let slow = tc.list("slow");
    assert_eq!(
        slow,
        ["start", "end", "cleanup"],
        "the main() running at SIGTERM finishes, then cleanup() runs"
    );
}

/// `hatter threads disable` while `main()` is running still runs the
/// thread's `cleanup()` once `main()` is over.
#[test]
fn disable_during_main_still_runs_cleanup() {
    let tc = TestCluster::new("disable-mid-main");
    let file = tc.script(
        "slowd.js",
        r#"
function main() {
  redis.Do("RPUSH", "slowd", "start");
  var end = Date.now() + 1500;
  while (Date.now() < end) {}
  try { redis.Do("RPUSH", "slowd", "end"); } catch (e) {}
}
function cleanup() { redis.Do("RPUSH", "slowd", "cleanup"); }
"#,
    );
    tc.add_thread(&file, &["--hang", "100ms"]);
    let _w = tc.worker("w1");
    eventually("main() to start", secs(10), ms(20), || {
        if tc.list("slowd").is_empty() {
            Err("nothing yet".into())
        } else {
            Ok(())
        }
    });
    std::thread::sleep(ms(200));
    tc.hatter(&["threads", "disable", "slowd"]).ok();
    eventually("the run to end", secs(8), ms(50), || {
        let t = tc.thread("slowd");
        let ev = tc.list("slowd");
        if ev.last().map(String::as_str) == Some("cleanup") {
            Ok(())
        } else {
            Err(format!("events {ev:?}, {t:?}"))
        }
    });
    let ev = tc.list("slowd");
    assert_eq!(
        ev.iter().filter(|e| *e == "cleanup").count(),
        1,
        "cleanup() runs once: {ev:?}"
    );
    assert_eq!(ev.iter().filter(|e| *e == "start").count(), 1, "{ev:?}");
}

/// hatter round trips: add, list, show, stop, disable, enable, rm, in table
/// and JSON form; empty listings; exit codes for unknown threads, missing
/// files and bad usage; purge.
#[test]
fn hatter_round_trips() {
    let tc = TestCluster::new("hatter");

    // Empty listings print a sentence; JSON listings are empty arrays.
    let out = tc.hatter(&["threads", "list"]).ok();
    assert!(
        out.stdout.contains("No threads") && out.stdout.contains(&tc.cluster),
        "empty listing: {out:?}"
    );
    assert_eq!(
        tc.hatter(&["-o", "json", "threads", "list"]).ok().json(),
        serde_json::json!([])
    );
    let out = tc.hatter(&["workers", "list"]).ok();
    assert!(
        out.stdout.contains("No workers"),
        "empty worker listing: {out:?}"
    );

    let alpha_src = "function main() { }\n";
    let alpha = tc.script("alpha.js", alpha_src);
    let out = tc.hatter(&["threads", "add", "alpha.js"]).ok();
    assert!(
        out.stdout.contains("`alpha` added") && out.stdout.contains("version 1"),
        "add, table form: {out:?}"
    );
    let out = tc.hatter(&["threads", "add", alpha.to_str().unwrap()]).ok();
    assert!(
        out.stdout.contains("unchanged"),
        "the same file again: {out:?}"
    );

    let v = tc
        .hatter(&[
            "-o",
            "json",
            "thread",
            "add",
            "alpha.js",
            "--name",
            "beta",
            "--hang",
            "250ms",
            "--dead-seconds",
            "5",
            "--disabled",
        ])
        .ok()
        .json();
    assert_eq!(v["name"], "beta", "{v}");
    assert_eq!(v["outcome"], "created", "{v}");
    assert_eq!(v["version"], 1, "{v}");

    let out = tc.hatter(&["threads", "list"]).ok();
    for word in ["alpha", "beta", "enabled", "disabled", "250ms"] {
        assert!(
            out.stdout.contains(word),
            "list shows `{word}`: {}",
            out.stdout
        );
    }
    let list = tc.hatter(&["-o", "json", "threads", "list"]).ok().json();
    let list = list.as_array().expect("a JSON array");
    assert_eq!(list.len(), 2, "{list:?}");
    let find = |list: &[serde_json::Value], n: &str| -> serde_json::Value {
        list.iter()
            .find(|t| t["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("no {n} in {list:?}"))
    };
    let a = find(list, "alpha");
    assert_eq!(a["status"], "enabled", "{a}");
    assert_eq!(a["state"], "stopped", "{a}");
    assert_eq!(a["dead_seconds"], 2, "{a}");
    assert_eq!(a["hang"], "1s", "{a}");
    let b = find(list, "beta");
    assert_eq!(b["status"], "disabled", "{b}");
    assert_eq!(b["hang"], "250ms", "{b}");
    assert_eq!(b["dead_seconds"], 5, "{b}");

    let out = tc.hatter(&["threads", "show", "alpha"]).ok();
    assert!(
        out.stdout.contains("alpha") && out.stdout.contains("enabled"),
        "{out:?}"
    );
    let shown = tc
        .hatter(&["-o", "json", "threads", "show", "alpha"])
        .ok()
        .json();
    assert_eq!(shown["name"], "alpha", "{shown}");
    assert_eq!(shown["source"], alpha_src, "{shown}");

    tc.hatter(&["threads", "stop", "alpha"]).ok();
    assert_eq!(
        tc.thread_field("alpha", "status"),
        "enabled",
        "stop keeps it enabled"
    );
    let out = tc.hatter(&["threads", "disable", "alpha"]).ok();
    assert!(out.stdout.contains("alpha"), "{out:?}");
    assert_eq!(tc.thread_field("alpha", "status"), "disabled");
    let shown = tc
        .hatter(&["-o", "json", "threads", "show", "alpha"])
        .ok()
        .json();
    assert_eq!(shown["status"], "disabled", "{shown}");
    tc.hatter(&["threads", "enable", "alpha"]).ok();
    assert_eq!(tc.thread_field("alpha", "status"), "enabled");

    let out = tc.hatter(&["threads", "rm", "beta"]).ok();
    assert!(out.stdout.contains("beta"), "{out:?}");
    assert!(
        tc.thread("beta").is_empty(),
        "the record of a removed thread is gone"
    );
    let members: Vec<String> = tc.query(redis::cmd("SMEMBERS").arg(tc.key("threads")));
    assert_eq!(members, ["alpha"]);
    let list = tc.hatter(&["-o", "json", "threads", "list"]).ok().json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");

    // Not found: exit 3, naming the thread or the file.
    for cmd in ["show", "stop", "disable", "enable", "rm", "logs"] {
        let out = tc.hatter(&["threads", cmd, "nosuchthread"]);
        assert_eq!(out.code, 3, "threads {cmd} of an unknown thread: {out:?}");
        assert!(
            out.stderr.contains("nosuchthread"),
            "threads {cmd}: {out:?}"
        );
    }
    let out = tc.hatter(&["threads", "add", "missing-file.js"]);
    assert_eq!(out.code, 3, "add of a missing file: {out:?}");
    assert!(out.stderr.contains("missing-file.js"), "{out:?}");

    // Bad usage: exit 2.
    let out = tc.hatter(&["threads", "add", "alpha.js", "--hang", "500"]);
    assert_eq!(out.code, 2, "--hang without a unit: {out:?}");
    assert!(out.stderr.contains("500"), "{out:?}");
    let out = tc.hatter(&["threads", "frobnicate"]);
    assert_eq!(out.code, 2, "an unknown subcommand: {out:?}");

    // Purge: refused without --yes and without a terminal; with --yes it
    // removes this cluster's keys and no other cluster's.
    let other = unique("other");
    tc.hatter_env(&["threads", "add", "alpha.js"], &[("HATS_CLUSTER", &other)])
        .ok();
    let before = tc.cluster_keys();
    assert!(!before.is_empty());
    let out = tc.hatter(&["purge"]);
    assert_ne!(
        out.code, 0,
        "purge without --yes and without a terminal: {out:?}"
    );
    assert_eq!(tc.cluster_keys(), before, "a refused purge keeps every key");
    let out = tc.hatter(&["purge", "--yes"]).ok();
    assert!(out.stdout.contains(&tc.cluster), "{out:?}");
    assert_eq!(
        tc.cluster_keys(),
        Vec::<String>::new(),
        "purge --yes removes every key"
    );
    let others = keys_matching(&mut tc.conn(), &format!("hats:{{{other}}}:*"));
    assert!(
        others.contains(&format!("hats:{{{other}}}:thread:alpha")),
        "another cluster's keys stay: {others:?}"
    );
    let out = tc.hatter(&["threads", "list"]).ok();
    assert!(out.stdout.contains("No threads"), "{out:?}");
}

/// Settings precedence: a flag wins over its `HATS_*` variable, which wins
/// over `--config FILE`; the JSON file of the original HATS reads as it is.
/// Observed through the names the workers join their cluster with.
///
/// The Redis of this test requires a password that every worker gets from
/// its environment, so a worker that lost its address setting and fell back
/// to the default address could not log in anywhere else.
#[test]
fn settings_precedence_flag_env_file() {
    let tc = TestCluster::new_with_password("settings");
    let pw = tc.redis.password().unwrap().to_string();
    let real = tc.redis.addr();
    let closed = format!("127.0.0.1:{}", closed_port());
    let c = tc.cluster.clone();
    let cfg = |file: &str, text: String| {
        let p = tc.dir().join(file);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };

    // A: flag, variable and file all give a name and a cluster.
    let a_cfg = cfg(
        "a.toml",
        format!(
            "worker-name = \"file-a\"\ncluster-name = \"nope-file\"\nredis-address = \"{closed}\"\n\
             cpu-threshold = 100\nmem-threshold = 100\nhealth-port = 0\n"
        ),
    );
    let _a = tc.worker_raw(
        "a",
        &[
            "--config",
            &a_cfg,
            "--worker-name",
            "flag-a",
            "--cluster-name",
            &c,
        ],
        &[
            ("HATS_WORKER_NAME", "env-a"),
            ("HATS_CLUSTER_NAME", "nope-env"),
            ("HATS_REDIS_ADDRESS", &real),
            ("HATS_REDIS_PASSWORD", &pw),
        ],
    );
    // B: variable and file.
    let b_cfg = cfg(
        "b.toml",
        format!(
            "worker-name = \"file-b\"\ncluster-name = \"{c}\"\nredis-address = \"{closed}\"\n\
             cpu-threshold = 100\nmem-threshold = 100\nhealth-port = 0\n"
        ),
    );
    let _b = tc.worker_raw(
        "b",
        &["--config", &b_cfg],
        &[
            ("HATS_WORKER_NAME", "env-b"),
            ("HATS_REDIS_ADDRESS", &real),
            ("HATS_REDIS_PASSWORD", &pw),
        ],
    );
    // C: the file alone.
    let c_cfg = cfg(
        "c.toml",
        format!(
            "worker-name = \"file-c\"\ncluster-name = \"{c}\"\nredis-address = \"{real}\"\n\
             cpu-threshold = 100\nmem-threshold = 100\nhealth-port = 0\n"
        ),
    );
    let _c = tc.worker_raw("c", &["--config", &c_cfg], &[("HATS_REDIS_PASSWORD", &pw)]);
    // D: the original JSON form, health-interval in nanoseconds.
    let d_cfg = cfg(
        "hats.json",
        format!(
            r#"{{"name": "json-d", "redis-address": "{real}", "redis-password": "{pw}",
                "cluster": "{c}", "cpu-threshold": 100, "mem-threshold": 100,
                "health-interval": 5000000000, "host": false}}"#
        ),
    );
    let _d = tc.worker_raw(
        "d",
        &["--config", &d_cfg, "--health-port", "0"],
        &[("HATS_REDIS_PASSWORD", &pw)],
    );

    let want = ["env-b", "file-c", "flag-a", "json-d"];
    let names = eventually("the four workers to join", secs(10), ms(100), || {
        let out = tc.hatter(&["-o", "json", "workers", "list"]);
        if out.code != 0 {
            return Err(format!("{out:?}"));
        }
        let mut names: Vec<String> = out
            .json()
            .as_array()
            .expect("an array")
            .iter()
            .filter(|w| w["live"] == true)
            .map(|w| w["name"].as_str().unwrap_or("").to_string())
            .collect();
        names.sort();
        if names == want {
            Ok(names)
        } else {
            Err(format!("live workers {names:?}"))
        }
    });
    assert_eq!(names, want);
    let out = tc.hatter(&["workers", "list"]).ok();
    for n in want {
        assert!(
            out.stdout.contains(n),
            "workers list shows {n}: {}",
            out.stdout
        );
    }

    // The JSON-configured worker also runs threads under that name.
    let file = tc.script(
        "whoami.js",
        "function init() { redis.Do(\"SET\", \"whoami\", worker.Name + \"@\" + worker.Cluster); }\n\
         function main() {}\n",
    );
    tc.add_thread(&file, &[]);
    let who = eventually("the thread to run", secs(10), ms(50), || {
        let v: Option<String> = tc.query(redis::cmd("GET").arg("whoami"));
        v.ok_or_else(|| "not yet".to_string())
    });
    let (name, cluster) = who.split_once('@').expect("NAME@CLUSTER");
    assert!(
        want.contains(&name),
        "worker.Name is one of the names: {who}"
    );
    assert_eq!(cluster, c, "worker.Cluster");
}

/// A bad start: an unreachable Redis, a bad setting or a missing script
/// file gives one line on stderr that names the problem, and exit 2; hatter
/// against an unreachable Redis exits 1 naming the address.
#[test]
fn startup_errors_are_one_line_and_exit_2() {
    let tc = TestCluster::new("startup");
    let closed = format!("127.0.0.1:{}", closed_port());

    let one_line_error = |label: &str, args: &[&str], needle: &str| {
        let mut w = tc.worker_raw(label, args, &[]);
        let code = w.exit_code(secs(15));
        let log = w.stderr();
        assert_eq!(code, 2, "{label}: exit status; stderr:\n{log}");
        let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{label}: one line on stderr, got:\n{log}");
        assert!(
            lines[0].starts_with("worker: error:") && lines[0].contains(needle),
            "{label}: the line names `{needle}`: {log}"
        );
    };
    let base = ["--cluster-name", &tc.cluster, "--health-port", "0"];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };

    let args = with(&["--redis-address", &closed]);
    one_line_error(
        "unreachable",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &closed,
    );

    let real = tc.redis.addr();
    let args = with(&["--redis-address", &real, "--cpu-threshold", "150"]);
    one_line_error(
        "bad-threshold",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "cpu-threshold",
    );

    let missing = tc.dir().join("no-such-script.js");
    let args = with(&[
        "--redis-address",
        &real,
        "--scripts",
        missing.to_str().unwrap(),
    ]);
    one_line_error(
        "missing-script",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "no-such-script.js",
    );

    let bad_cfg = tc.dir().join("bad.toml");
    std::fs::write(&bad_cfg, "clustr-name = \"x\"\n").unwrap();
    let args = with(&[
        "--redis-address",
        &real,
        "--config",
        bad_cfg.to_str().unwrap(),
    ]);
    one_line_error(
        "bad-config",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "clustr-name",
    );

    let out = tc.hatter(&["--redis-address", &closed, "threads", "list"]);
    assert_eq!(out.code, 1, "hatter against a closed port: {out:?}");
    assert!(
        out.stderr.contains(&closed),
        "hatter names the address: {out:?}"
    );
}

/// The worker logs to stderr (its stdout stays empty), as the tracing
/// output of a daemon should.
#[test]
fn worker_logs_go_to_stderr() {
    let tc = TestCluster::new("stderr");
    let mut w = tc.worker("w1");
    tc.wait_live_workers(&["w1"], secs(10));
    w.sigterm();
    assert_eq!(w.exit_code(secs(15)), 0);
    assert!(
        w.stderr().contains("worker started"),
        "log lines go to stderr; stderr:\n{}\nstdout:\n{}",
        w.stderr(),
        w.stdout()
    );
    assert_eq!(w.stdout(), "", "nothing goes to stdout");
}

/// `console.*` lines land in the thread's log stream: `hatter threads logs
/// NAME -n 5` prints the last five, oldest first, with level and worker;
/// `tail` prints history and then new lines until interrupted. A worker
/// stops cleanly on SIGINT too.
#[test]
fn console_lines_reach_hatter_logs_and_tail() {
    let tc = TestCluster::new("logs");
    let file = tc.script(
        "talker.js",
        r#"
function init() {
  for (var i = 1; i <= 7; i++) { console.log("line-" + i); }
  console.warn("line-8", 42);
}
"#,
    );
    tc.add_thread(&file, &["--hang", "100ms"]);
    let quiet = tc.script("quiet.js", "function main() {}\n");
    tc.add_thread(&quiet, &[]);
    let mut w = tc.worker("w1");
    let log_key = tc.key("log:thread:talker");
    eventually("eight log lines", secs(10), ms(50), || {
        let n: usize = tc.query(redis::cmd("XLEN").arg(&log_key));
        if n >= 8 {
            Ok(())
        } else {
            Err(format!("{n} lines"))
        }
    });

    let out = tc.hatter(&["threads", "logs", "talker", "-n", "5"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "five lines: {}", out.stdout);
    for (i, l) in lines.iter().enumerate() {
        assert!(l.contains("[w1]"), "line names the worker: {l}");
        let want = format!("line-{}", i + 4);
        assert!(
            l.contains(&want),
            "line {i} should be {want}: {}",
            out.stdout
        );
    }
    assert!(
        lines[4].contains("warn") && lines[4].contains("line-8 42"),
        "{}",
        lines[4]
    );
    assert!(lines[0].contains("info"), "{}", lines[0]);

    let json = tc
        .hatter(&["-o", "json", "threads", "logs", "talker", "-n", "2"])
        .ok()
        .json();
    let arr = json.as_array().expect("an array");
    assert_eq!(arr.len(), 2, "{json}");
    assert_eq!(arr[0]["line"], "line-7", "{json}");
    assert_eq!(arr[1]["line"], "line-8 42", "{json}");
    assert_eq!(arr[1]["level"], "warn", "{json}");
    assert_eq!(arr[1]["worker"], "w1", "{json}");

    let out = tc.hatter(&["threads", "logs", "quiet"]).ok();
    assert!(
        !out.stdout.trim().is_empty(),
        "an empty log prints a sentence: {out:?}"
    );
    assert!(!out.stdout.contains("line-"), "{out:?}");

    // tail: the history, then new lines, until SIGINT.
    let chatty = tc.script(
        "chatty.js",
        "var n = 0;\nfunction main() { n++; console.log(\"tick-\" + n); }\n",
    );
    tc.add_thread(&chatty, &["--hang", "200ms"]);
    eventually("chatty to log", secs(10), ms(50), || {
        let n: usize = tc.query(redis::cmd("XLEN").arg(tc.key("log:thread:chatty")));
        if n >= 1 {
            Ok(())
        } else {
            Err("no lines".into())
        }
    });
    let mut tail = tc
        .hatter_command(&["threads", "tail", "chatty", "-n", "1"], &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("hatter tail");
    let stdout = tail.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + secs(10);
    while seen.len() < 4 && Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(ms(200)) {
            seen.push(l);
        }
    }
    send_signal(tail.id(), sig::SIGINT);
    let status = {
        let start = Instant::now();
        loop {
            if let Some(s) = tail.try_wait().unwrap() {
                break Some(s);
            }
            if start.elapsed() > secs(5) {
                let _ = tail.kill();
                let _ = tail.wait();
                break None;
            }
            std::thread::sleep(ms(20));
        }
    };
    let _ = reader.join();
    assert_eq!(
        seen.len(),
        4,
        "tail printed history and new lines: {seen:?}"
    );
    let ticks: Vec<u64> = seen
        .iter()
        .map(|l| {
            l.rsplit("tick-")
                .next()
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("not a tick line: {l}"))
        })
        .collect();
    assert!(
        ticks.windows(2).all(|w| w[1] == w[0] + 1),
        "tail prints consecutive lines in order: {seen:?}"
    );
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "hatter tail ends with status 0 on SIGINT"
    );

    w.sigint();
    assert_eq!(w.exit_code(secs(15)), 0, "worker exit status after SIGINT");
}

/// The script API's return shapes: `redis.Do` gives `[result, error]` with
/// replies converted to JS values and numbers sent without a trailing
/// `.0`; `thread`, `worker` and `env` members give what the contract says.
#[test]
fn script_api_returns_the_documented_shapes() {
    let tc = TestCluster::new("api");
    let file = tc.script(
        "api.js",
        r#"
function init() {
  var out = {};
  out.set = redis.Do("SET", "k", "v");
  out.get = redis.Do("GET", "k");
  out.missing = redis.Do("GET", "nope");
  out.incr = redis.Do("INCR", "n");
  out.wrong = redis.Do("LPUSH", "k", "x");
  redis.Do("RPUSH", "l", "a", "b");
  out.lrange = redis.Do("LRANGE", "l", 0, -1);
  redis.Do("SET", "int", 5);
  redis.Do("SET", "float", 2.5);
  out.ping = redis.Do("PING");
  out.key = thread.Key;
  out.state = thread.State();
  out.status = thread.Status();
  out.stopped = thread.Stopped;
  out.name = worker.Name;
  out.cluster = worker.Cluster;
  out.shutting = worker.ShuttingDown;
  out.envMissing = typeof env.Get("HATS_E2E_SURELY_UNSET");
  out.envSet = env.Set("HATS_E2E_X", "1");
  out.envGet = env.Get("HATS_E2E_X");
  out.envUnset = env.Unset("HATS_E2E_X");
  out.envAfter = typeof env.Get("HATS_E2E_X");
  out.home = env.Get("HOME");
  redis.Do("SET", "api", JSON.stringify(out));
}
function main() {}
"#,
    );
    tc.add_thread(&file, &[]);
    let _w = tc.worker("w1");
    let text = eventually("the script to report", secs(10), ms(50), || {
        let v: Option<String> = tc.query(redis::cmd("GET").arg("api"));
        v.ok_or_else(|| format!("not yet; thread {:?}", tc.thread("api")))
    });
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    use serde_json::json;
    assert_eq!(v["set"], json!(["OK", null]), "{v}");
    assert_eq!(v["get"], json!(["v", null]), "{v}");
    assert_eq!(v["missing"], json!([null, null]), "{v}");
    assert_eq!(v["incr"], json!([1, null]), "{v}");
    assert_eq!(v["wrong"][0], json!(null), "{v}");
    assert!(
        v["wrong"][1]
            .as_str()
            .is_some_and(|e| e.contains("WRONGTYPE")),
        "an error reply is [null, message]: {v}"
    );
    assert_eq!(v["lrange"], json!([["a", "b"], null]), "{v}");
    assert_eq!(v["ping"], json!(["PONG", null]), "{v}");
    let int: String = tc.query(redis::cmd("GET").arg("int"));
    let float: String = tc.query(redis::cmd("GET").arg("float"));
    assert_eq!(
        (int.as_str(), float.as_str()),
        ("5", "2.5"),
        "numbers as sent"
    );
    assert_eq!(v["key"], "api", "{v}");
    assert_eq!(v["state"], "running", "{v}");
    assert_eq!(v["status"], "enabled", "{v}");
    assert_eq!(v["stopped"], false, "{v}");
    assert_eq!(v["name"], "w1", "{v}");
    assert_eq!(v["cluster"], tc.cluster.as_str(), "{v}");
    assert_eq!(v["shutting"], false, "{v}");
    assert_eq!(v["envMissing"], "undefined", "{v}");
    assert_eq!(v["envSet"], json!(null), "{v}");
    assert_eq!(v["envGet"], "1", "{v}");
    assert_eq!(v["envUnset"], json!(null), "{v}");
    assert_eq!(v["envAfter"], "undefined", "{v}");
    assert_eq!(v["home"], tc.dir().to_str().unwrap(), "{v}");
}

/// `thread.Stop()` ends the run and leaves the thread enabled, so it starts
/// again; `thread.Disable()` ends it until it is enabled. Both run
/// `cleanup()`.
#[test]
fn script_stop_and_disable() {
    let tc = TestCluster::new("script-stop");
    let src = r#"
var n = 0;
function init() { redis.Do("RPUSH", "ev:" + thread.Key, "init"); }
function main() {
  n++;
  redis.Do("INCR", "c:" + thread.Key);
  if (n == 3) {
    if (thread.Key == "stopper") { thread.Stop(); } else { thread.Disable(); }
  }
}
function cleanup() { redis.Do("RPUSH", "ev:" + thread.Key, "cleanup"); }
"#;
    for n in ["stopper", "disabler"] {
        let f = tc.script(&format!("{n}.js"), src);
        tc.add_thread(&f, &["--hang", "100ms"]);
    }
    let _w = tc.worker("w1");
    eventually("stopper to start again", secs(10), ms(50), || {
        let ev = tc.list("ev:stopper");
        if ev.len() >= 3 {
            Ok(())
        } else {
            Err(format!("{ev:?}"))
        }
    });
    let ev = tc.list("ev:stopper");
    assert_eq!(ev[..3], ["init", "cleanup", "init"], "{ev:?}");
    assert_eq!(tc.thread_field("stopper", "status"), "enabled");

    eventually("disabler to end", secs(10), ms(50), || {
        let t = tc.thread("disabler");
        let ev = tc.list("ev:disabler");
        if t["status"] == "disabled" && t["state"] == "stopped" && ev == ["init", "cleanup"] {
            Ok(())
        } else {
            Err(format!("{t:?} {ev:?}"))
        }
    });
    always("disabler to stay down", ms(1000), ms(100), || {
        let c = tc.counter("c:disabler");
        let ev = tc.list("ev:disabler");
        if c == 3 && ev == ["init", "cleanup"] {
            Ok(())
        } else {
            Err(format!("count {c}, events {ev:?}"))
        }
    });
}

/// A disabled thread whose `main()` loops on API calls inside `try` cannot
/// swallow the refusal: its loop ends and it stops.
#[test]
fn a_stopped_thread_cannot_swallow_the_refusal() {
    let tc = TestCluster::new("uncatchable");
    let file = tc.script(
        "stubborn.js",
        r#"
function main() {
  while (true) {
    try { redis.Do("INCR", "spin"); } catch (e) {
      try { redis.Do("RPUSH", "caught", String(e)); } catch (e2) {}
    }
  }
}
"#,
    );
    tc.add_thread(&file, &[]);
    let _w = tc.worker("w1");
    eventually("the loop to spin", secs(10), ms(50), || {
        let c = tc.counter("spin");
        if c > 100 {
            Ok(())
        } else {
            Err(format!("spin {c}"))
        }
    });
    tc.hatter(&["threads", "disable", "stubborn"]).ok();
    eventually("the loop to end", secs(5), ms(100), || {
        let a = tc.counter("spin");
        std::thread::sleep(ms(300));
        let b = tc.counter("spin");
        if a == b {
            Ok(())
        } else {
            Err(format!("still spinning: {a} -> {b}"))
        }
    });
    assert_eq!(
        tc.list("caught"),
        Vec::<String>::new(),
        "no refusal was caught"
    );
    let t = tc.thread("stubborn");
    assert_eq!(
        (t["status"].as_str(), t["state"].as_str()),
        ("disabled", "stopped"),
        "{t:?}"
    );
}

/// A `main()` stuck in a pure loop holds up nothing else: the other thread
/// of its worker keeps running, the worker keeps its heartbeat and the
/// loop's lease (no other worker takes it), and the loop ends at the
/// worker's `--loop-limit` as a crash.
#[test]
fn a_pure_loop_does_not_block_the_worker() {
    let tc = TestCluster::new("pure-loop");
    let spin = tc.script(
        "spin.js",
        "function main() { var i = 0; while (true) { i++; } }\n",
    );
    let healthy = tc.script(
        "healthy.js",
        "function main() { redis.Do(\"INCR\", \"count\"); }\n",
    );
    tc.add_thread(&spin, &["--dead-seconds", "1"]);
    tc.add_thread(&healthy, &["--hang", "100ms"]);
    let _a = tc.worker_with("la", &["--loop-limit", "60000000"]);
    tc.wait_running(&["spin", "healthy"], secs(10));
    let _b = tc.worker_with("lb", &["--loop-limit", "60000000"]);
    tc.wait_live_workers(&["la", "lb"], secs(10));
    let spin_epoch = tc.thread_field("spin", "epoch");
    let mut count = tc.counter("count");
    let start = Instant::now();
    let mut rounds = 0;
    let t = loop {
        std::thread::sleep(ms(500));
        let t = tc.thread("spin");
        if t["state"] == "crashed" {
            break t;
        }
        assert!(
            start.elapsed() < secs(60),
            "the loop never reached --loop-limit: {t:?}"
        );
        rounds += 1;
        assert!(
            t["epoch"] == spin_epoch && t["owner"] == "la",
            "the looping thread was taken over: {t:?}"
        );
        let now = tc.counter("count");
        assert!(
            now > count,
            "the healthy thread stopped while the loop ran: count {count} -> {now}"
        );
        count = now;
        assert!(
            tc.live_workers().contains(&"la".to_string()),
            "the looping worker lost its heartbeat: {:?}",
            tc.live_workers()
        );
    };
    println!("the loop ran for about {} s before it crashed", rounds / 2);
    assert!(
        rounds >= 2,
        "the loop should have run for a while: {rounds} checks"
    );
    assert!(t["error"].contains("loop"), "{t:?}");
    assert_eq!(tc.thread_field("healthy", "owner"), "la");
}

/// `worker --scripts a.js,b.js --run-now` registers the files as threads and
/// runs them on that worker at once; the same file registered again under
/// another spelling of its path is the same thread.
#[test]
fn scripts_flag_registers_and_runs_now() {
    let tc = TestCluster::new("run-now");
    let src = "function main() { redis.Do(\"RPUSH\", \"who:\" + thread.Key, worker.Name); }\n";
    tc.script("one.js", src);
    tc.script("two.js", src);
    std::fs::create_dir(tc.dir().join("sub")).unwrap();
    let _w = tc.worker_with("rn", &["--scripts", "./one.js,two.js", "--run-now"]);
    let owners = tc.wait_running(&["one", "two"], secs(10));
    assert!(owners.values().all(|o| o == "rn"), "{owners:?}");
    eventually("both to run", secs(5), ms(50), || {
        if tc.llen("who:one") >= 1 && tc.llen("who:two") >= 1 {
            Ok(())
        } else {
            Err("not yet".into())
        }
    });
    let out = tc.hatter(&["threads", "add", "sub/../one.js"]).ok();
    assert!(out.stdout.contains("`one` unchanged"), "{out:?}");
    let members: Vec<String> = tc.query(redis::cmd("SMEMBERS").arg(tc.key("threads")));
    let mut members = members;
    members.sort();
    assert_eq!(members, ["one", "two"]);
}
