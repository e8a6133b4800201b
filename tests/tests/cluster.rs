//! End-to-end tests of the cluster protocol: fair share, takeover after a
//! crash, self-fencing of a paused worker, graceful hand-over, Redis
//! outages, long `main()` calls and source changes, each with several real
//! worker processes and a real `redis-server`.

use std::collections::BTreeMap;
use std::time::Instant;

use hats_tests::*;

/// Names `prefix1` to `prefixN`.
fn names(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}{i}")).collect()
}

/// Registers a [`TRACER_JS`] thread for each name.
fn add_tracers(tc: &TestCluster, names: &[String], extra: &[&str]) {
    for n in names {
        tc.add_thread(&tc.tracer(n), extra);
    }
}

/// Checks every thread's `runs:` list with [`check_one_owner`].
fn assert_one_owner(tc: &TestCluster, names: &[String]) {
    for n in names {
        let runs = tc.list(&runs_key(n));
        if let Err(e) = check_one_owner(&runs) {
            panic!("thread {n}: {e}");
        }
    }
}

/// Waits until each thread's `runs:` list grows while we watch, which
/// shows the thread running now.
fn wait_all_growing(tc: &TestCluster, names: &[String], timeout: std::time::Duration) {
    eventually("every thread to run", timeout, ms(100), || {
        let before: Vec<Result<usize, String>> = names
            .iter()
            .map(|n| tc.try_list(&runs_key(n)).map(|l| l.len()))
            .collect();
        std::thread::sleep(ms(600));
        for (n, b) in names.iter().zip(before) {
            let b = b?;
            let now = tc.try_list(&runs_key(n))?.len();
            if now < b + 2 {
                return Err(format!("thread {n} went from {b} to {now} runs"));
            }
            let t = tc.try_thread(n)?;
            if t.get("state").map(String::as_str) != Some("running") {
                return Err(format!("thread {n}: {t:?}"));
            }
        }
        Ok(())
    });
}

/// Asserts that no thread is crashed or disabled.
fn assert_none_crashed(tc: &TestCluster, names: &[String]) {
    for n in names {
        let t = tc.thread(n);
        assert_ne!(t["state"], "crashed", "thread {n}: {t:?}");
        assert_eq!(t["status"], "enabled", "thread {n}: {t:?}");
        assert_eq!(t["error"], "", "thread {n}: {t:?}");
    }
}

/// Three workers, then thirty threads added one by one: each worker ends up
/// holding ten, and every thread runs.
#[test]
fn fair_share_spreads_thirty_threads_over_three_workers() {
    let tc = TestCluster::new("fair-share");
    let _w: Vec<Worker> = ["fa", "fb", "fc"].iter().map(|n| tc.worker(n)).collect();
    tc.wait_live_workers(&["fa", "fb", "fc"], secs(10));
    let all = names("f", 30);
    add_tracers(&tc, &all, &["--hang", "200ms"]);

    let want: BTreeMap<String, usize> = [("fa", 10), ("fb", 10), ("fc", 10)]
        .iter()
        .map(|(w, n)| (w.to_string(), *n))
        .collect();
    eventually("ten threads on each worker", secs(15), ms(100), || {
        let counts = tc.owner_counts();
        if counts == want {
            Ok(())
        } else {
            Err(format!("{counts:?}"))
        }
    });
    always("the share to stay put", secs(1), ms(100), || {
        let counts = tc.owner_counts();
        if counts == want {
            Ok(())
        } else {
            Err(format!("{counts:?}"))
        }
    });
    tc.wait_running(&all, secs(5));
    wait_all_growing(&tc, &all, secs(10));

    // hatter agrees.
    let list = tc.hatter(&["-o", "json", "workers", "list"]).ok().json();
    for w in list.as_array().expect("an array") {
        assert_eq!(w["threads"], 10, "hatter workers list: {w}");
    }
    assert_one_owner(&tc, &all);
}

/// kill -9 of one of three workers: every thread it held runs on another
/// worker within dead_seconds (2) and a scan, asserted with a generous
/// bound; the measured time is printed.
#[test]
fn kill_9_threads_are_taken_over() {
    let tc = TestCluster::new("kill9");
    let mut ws: Vec<Worker> = ["ka", "kb", "kc"].iter().map(|n| tc.worker(n)).collect();
    tc.wait_live_workers(&["ka", "kb", "kc"], secs(10));
    let all = names("k", 9);
    add_tracers(&tc, &all, &["--hang", "100ms"]);
    eventually("three threads on each worker", secs(10), ms(100), || {
        let counts = tc.owner_counts();
        if counts.len() == 3 && counts.values().all(|&c| c == 3) {
            Ok(())
        } else {
            Err(format!("{counts:?}"))
        }
    });
    let owners_before = tc.wait_running(&all, secs(5));
    wait_all_growing(&tc, &all, secs(5));

    let victim = ws[0].name().to_string();
    let orphans: Vec<String> = owners_before
        .iter()
        .filter(|(_, o)| **o == victim)
        .map(|(n, _)| n.clone())
        .collect();
    assert_eq!(orphans.len(), 3, "{owners_before:?}");
    let start = Instant::now();
    ws[0].kill9();
    let mut taken: BTreeMap<String, f64> = BTreeMap::new();
    eventually("the orphans to run elsewhere", secs(10), ms(25), || {
        for n in &orphans {
            if taken.contains_key(n) {
                continue;
            }
            let runs = tc.list(&runs_key(n));
            if let Some((w, _)) = runs.last().and_then(|t| parse_tag(t)) {
                if w != victim {
                    taken.insert(n.clone(), start.elapsed().as_secs_f64());
                }
            }
        }
        if taken.len() == orphans.len() {
            Ok(())
        } else {
            Err(format!("taken over so far: {taken:?}"))
        }
    });
    let worst = taken.values().cloned().fold(0.0, f64::max);
    println!("takeover after kill -9 (dead_seconds 2), first main() elsewhere: {taken:?}; worst {worst:.2}s");
    assert!(
        worst <= 6.0,
        "takeover took {worst:.2}s, more than dead_seconds 2 + a generous margin: {taken:?}"
    );
    wait_all_growing(&tc, &all, secs(5));
    let owners = tc.wait_running(&all, secs(5));
    assert!(owners.values().all(|o| *o != victim), "{owners:?}");
    assert_one_owner(&tc, &all);
    // The threads of the surviving workers did not move.
    for (n, o) in &owners_before {
        if *o != victim {
            let runs = tc.list(&runs_key(n));
            assert_eq!(worker_runs(&runs), [o.as_str()], "thread {n} stays on {o}");
        }
    }
    drop(ws);
}

/// SIGSTOP a worker for longer than dead_seconds, then SIGCONT: another
/// worker has taken its threads over, and the paused worker never calls
/// `main()` of those threads again (it fenced itself), nor `cleanup()`.
#[test]
fn paused_worker_fences_itself() {
    let tc = TestCluster::new("sigstop");
    let mut pa = tc.worker("pa");
    let _pb = tc.worker("pb");
    tc.wait_live_workers(&["pa", "pb"], secs(10));
    let all = names("p", 4);
    add_tracers(&tc, &all, &["--hang", "100ms"]);
    eventually("two threads on each worker", secs(10), ms(100), || {
        let counts = tc.owner_counts();
        if counts.get("pa") == Some(&2) && counts.get("pb") == Some(&2) {
            Ok(())
        } else {
            Err(format!("{counts:?}"))
        }
    });
    let owners = tc.wait_running(&all, secs(5));
    wait_all_growing(&tc, &all, secs(5));
    let paused: Vec<String> = owners
        .iter()
        .filter(|(_, o)| *o == "pa")
        .map(|(n, _)| n.clone())
        .collect();

    let start = Instant::now();
    pa.sigstop();
    eventually(
        "pb to take the paused worker's threads",
        secs(10),
        ms(50),
        || {
            for n in &paused {
                let runs = tc.list(&runs_key(n));
                match runs.last().and_then(|t| parse_tag(t)) {
                    Some((w, _)) if w == "pb" => {}
                    other => return Err(format!("{n}: last run {other:?}")),
                }
            }
            Ok(())
        },
    );
    println!(
        "threads of the paused worker ran on pb after {:?}",
        start.elapsed()
    );
    // Paused for well over dead_seconds (2).
    let paused_for = secs(4);
    if let Some(rest) = paused_for.checked_sub(start.elapsed()) {
        std::thread::sleep(rest);
    }
    pa.sigcont();
    std::thread::sleep(secs(3));
    assert!(pa.is_running(), "the resumed worker keeps running");
    wait_all_growing(&tc, &all, secs(5));

    for n in &all {
        let runs = tc.list(&runs_key(n));
        if let Err(e) = check_one_owner(&runs) {
            panic!("thread {n}: {e}");
        }
        let seq = worker_runs(&runs);
        if paused.contains(n) {
            assert_eq!(
                seq,
                ["pa", "pb"],
                "thread {n}: pa's runs end where pb's begin"
            );
        } else {
            assert_eq!(seq, ["pb"], "thread {n} stays on pb");
        }
        let ev = tc.list(&events_key(n));
        assert!(
            !ev.iter().any(|e| e.starts_with("cleanup:")),
            "no cleanup() after a lost lease: {n}: {ev:?}"
        );
    }
    // The resumed worker is a live member again and notices the loss.
    eventually("pa to be live again", secs(5), ms(100), || {
        let live = tc.live_workers();
        if live.contains(&"pa".to_string()) {
            Ok(())
        } else {
            Err(format!("{live:?}"))
        }
    });
}

/// Graceful hand-over: SIGTERM of a worker whose threads have dead_seconds
/// 10: it runs their `cleanup()`, releases them, exits 0, and the other
/// worker runs them well before 10 s, after that cleanup.
#[test]
fn sigterm_hands_threads_over_at_once() {
    let tc = TestCluster::new("handover");
    let mut ha = tc.worker("ha");
    let _hb = tc.worker("hb");
    tc.wait_live_workers(&["ha", "hb"], secs(10));
    let all = names("h", 4);
    add_tracers(&tc, &all, &["--hang", "100ms", "--dead-seconds", "10"]);
    eventually("two threads on each worker", secs(10), ms(100), || {
        let counts = tc.owner_counts();
        if counts.get("ha") == Some(&2) && counts.get("hb") == Some(&2) {
            Ok(())
        } else {
            Err(format!("{counts:?}"))
        }
    });
    let owners = tc.wait_running(&all, secs(5));
    wait_all_growing(&tc, &all, secs(5));
    let moving: Vec<String> = owners
        .iter()
        .filter(|(_, o)| *o == "ha")
        .map(|(n, _)| n.clone())
        .collect();

    let start = Instant::now();
    ha.sigterm();
    let took = eventually("hb to run ha's threads", secs(9), ms(25), || {
        for n in &moving {
            match tc.list(&runs_key(n)).last().and_then(|t| parse_tag(t)) {
                Some((w, _)) if w == "hb" => {}
                other => return Err(format!("{n}: last run {other:?}")),
            }
        }
        Ok(start.elapsed())
    });
    println!("hand-over on SIGTERM with dead_seconds 10 took {took:?}");
    assert!(
        took < secs(5),
        "hand-over took {took:?}, not much faster than dead_seconds 10"
    );
    assert_eq!(ha.exit_code(secs(15)), 0, "exit status after SIGTERM");

    for n in &moving {
        let ev = tc.list(&events_key(n));
        let cleanup = ev.iter().position(|e| e.starts_with("cleanup:ha:"));
        let init_b = ev.iter().position(|e| e.starts_with("init:hb:"));
        match (cleanup, init_b) {
            (Some(c), Some(i)) => {
                assert!(c < i, "{n}: ha's cleanup comes before hb's init: {ev:?}")
            }
            _ => panic!("{n}: expected ha's cleanup and hb's init: {ev:?}"),
        }
    }
    let owners = tc.wait_running(&all, secs(5));
    assert!(owners.values().all(|o| o == "hb"), "{owners:?}");
    assert_one_owner(&tc, &all);
}

/// Redis outages: the server killed for ~5 s and restarted with its data,
/// every client connection killed, and the server stalled by `DEBUG SLEEP
/// 3`. After each, every thread runs again, none is crashed, and no two
/// claims of a thread ever ran at once.
#[test]
fn threads_survive_redis_outages() {
    let mut tc = TestCluster::new_persistent("outage");
    let _oa = tc.worker("oa");
    let _ob = tc.worker("ob");
    tc.wait_live_workers(&["oa", "ob"], secs(10));
    let all = names("o", 4);
    add_tracers(&tc, &all, &["--hang", "100ms"]);
    tc.wait_running(&all, secs(10));
    wait_all_growing(&tc, &all, secs(5));

    let epochs = |tc: &TestCluster| -> Vec<u64> {
        all.iter()
            .map(|n| tc.thread_field(n, "epoch").parse().unwrap_or(0))
            .collect()
    };
    // A worker that cannot renew for longer than its fencing margin ends its
    // runs; the threads then run under new claims.
    let assert_reclaimed = |tc: &TestCluster, before: &[u64], what: &str| {
        let after = epochs(tc);
        for ((n, b), a) in all.iter().zip(before).zip(&after) {
            assert!(
                a > b,
                "{n} should run under a new claim after {what}: epoch {b} -> {a}"
            );
        }
    };

    // The server dies and comes back on the same port with its data.
    let before = epochs(&tc);
    tc.redis.kill();
    std::thread::sleep(secs(5));
    tc.redis.restart();
    let start = Instant::now();
    wait_all_growing(&tc, &all, secs(20));
    println!(
        "threads ran again {:?} after Redis came back",
        start.elapsed()
    );
    assert_none_crashed(&tc, &all);
    assert_reclaimed(&tc, &before, "Redis was down for 5 s");

    // Every normal client connection is cut.
    let killed: i64 = tc.query(redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal"));
    assert!(killed >= 2, "CLIENT KILL cut {killed} connections");
    wait_all_growing(&tc, &all, secs(15));
    assert_none_crashed(&tc, &all);

    // The server stalls for longer than the leases' fencing margin.
    let before = epochs(&tc);
    let _: String = tc.query(redis::cmd("DEBUG").arg("SLEEP").arg(3));
    wait_all_growing(&tc, &all, secs(15));
    assert_none_crashed(&tc, &all);
    assert_reclaimed(&tc, &before, "Redis stalled for 3 s");

    assert_one_owner(&tc, &all);
    let owners = tc.owners();
    for n in &all {
        let holder = owners.get(n).cloned().unwrap_or_default();
        let owner = tc.thread_field(n, "owner");
        assert!(
            !owner.is_empty() && holder.starts_with(&format!("{owner} ")),
            "{n}: owner `{owner}`, owners entry `{holder}`"
        );
    }
}

/// A `main()` that computes for three times dead_seconds (1 s) keeps its
/// lease: no second worker ever starts the thread.
#[test]
fn long_main_keeps_its_lease() {
    let tc = TestCluster::new("long-main");
    let _la = tc.worker("la");
    let _lb = tc.worker("lb");
    tc.wait_live_workers(&["la", "lb"], secs(10));
    let file = tc.script(
        "busy.js",
        r#"
var tag = "";
function init() {
  var r = redis.Do("HGET", "hats:{" + worker.Cluster + "}:thread:" + thread.Key, "epoch");
  tag = worker.Name + ":" + r[0];
  redis.Do("RPUSH", "events:" + thread.Key, "init:" + tag);
}
function main() {
  redis.Do("RPUSH", "runs:" + thread.Key, tag);
  var end = Date.now() + 3000;
  while (Date.now() < end) {}
  redis.Do("RPUSH", "ends:" + thread.Key, tag);
}
"#,
    );
    tc.add_thread(&file, &["--hang", "100ms", "--dead-seconds", "1"]);
    let owner = tc.wait_running(&["busy"], secs(10))["busy"].clone();
    eventually("two long main() calls to finish", secs(15), ms(100), || {
        let ends = tc.llen("ends:busy");
        if ends >= 2 {
            Ok(())
        } else {
            Err(format!(
                "{ends} finished; events {:?}",
                tc.list("events:busy")
            ))
        }
    });
    let events = tc.list("events:busy");
    assert_eq!(events.len(), 1, "the thread started once: {events:?}");
    let runs = tc.list("runs:busy");
    let ends = tc.list("ends:busy");
    let seq = worker_runs(&runs);
    assert_eq!(
        seq,
        [owner.as_str()],
        "every main() ran on {owner}: {runs:?}"
    );
    assert_eq!(worker_runs(&ends), [owner.as_str()], "{ends:?}");
    let t = tc.thread("busy");
    assert_eq!(t["owner"], owner, "{t:?}");
    assert_eq!(t["state"], "running", "{t:?}");
    assert_eq!(
        format!("init:{}", runs[0]),
        events[0],
        "one claim, one epoch: {events:?} {runs:?}"
    );
}

/// `hatter threads add` of a new source under the same name restarts the
/// thread on the same owner within a couple of seconds: the old run's
/// `cleanup()` first, then the new source.
#[test]
fn source_change_restarts_on_the_same_owner() {
    let tc = TestCluster::new("source-change");
    let _sa = tc.worker("sa");
    let _sb = tc.worker("sb");
    tc.wait_live_workers(&["sa", "sb"], secs(10));
    let version = |v: &str| {
        format!(
            r#"
var V = "{v}";
function init() {{ redis.Do("RPUSH", "ev", "init:" + V + ":" + worker.Name); }}
function main() {{ redis.Do("RPUSH", "marks", V); }}
function cleanup() {{ redis.Do("RPUSH", "ev", "cleanup:" + V + ":" + worker.Name); }}
"#
        )
    };
    let file = tc.script("changing.js", &version("v1"));
    tc.add_thread(&file, &["--hang", "100ms"]);
    let owner = tc.wait_running(&["changing"], secs(10))["changing"].clone();
    eventually("v1 to run", secs(5), ms(50), || {
        if tc.llen("marks") >= 3 {
            Ok(())
        } else {
            Err(format!("{:?}", tc.list("marks")))
        }
    });

    std::fs::write(&file, version("v2")).unwrap();
    let out = tc.add_thread(&file, &[]);
    assert!(
        out.stdout.contains("updated") && out.stdout.contains("version 2"),
        "{out:?}"
    );
    let start = Instant::now();
    let took = eventually("v2 to run", secs(5), ms(25), || {
        if tc.list("marks").last().map(String::as_str) == Some("v2") {
            Ok(start.elapsed())
        } else {
            Err(format!("{:?}", tc.list("ev")))
        }
    });
    println!("source change took effect after {took:?}");

    let ev = tc.list("ev");
    assert_eq!(
        ev,
        [
            format!("init:v1:{owner}"),
            format!("cleanup:v1:{owner}"),
            format!("init:v2:{owner}")
        ],
        "cleanup of the old run, then the new run, on the same worker"
    );
    let marks = tc.list("marks");
    let first_v2 = marks.iter().position(|m| m == "v2").unwrap();
    assert!(
        marks[first_v2..].iter().all(|m| m == "v2"),
        "no v1 main() after v2 began: {marks:?}"
    );
    let t = tc.thread("changing");
    assert_eq!(t["owner"], owner, "{t:?}");
    assert_eq!(t["version"], "2", "{t:?}");
    let holder = tc.owners().get("changing").cloned().unwrap_or_default();
    assert!(
        holder.starts_with(&format!("{owner} ")),
        "owners entry `{holder}`"
    );
}

/// `hatter threads stop` with two workers: the run ends on its worker
/// (with its `cleanup()`), and whichever worker claims the thread next never
/// runs `main()` while the stopped run still does.
#[test]
fn operator_stop_never_runs_a_thread_twice() {
    let tc = TestCluster::new("stop-race");
    let _ra = tc.worker("ra");
    // Offset the second worker's ticks from the first one's.
    std::thread::sleep(ms(125));
    let _rb = tc.worker("rb");
    tc.wait_live_workers(&["ra", "rb"], secs(10));
    add_tracers(&tc, &["r".to_string()], &["--hang", "20ms"]);
    tc.wait_running(&["r"], secs(10));

    let stops = 6;
    for i in 0..stops {
        let inits_before = tc
            .list(&events_key("r"))
            .iter()
            .filter(|e| e.starts_with("init:"))
            .count();
        tc.hatter(&["threads", "stop", "r"]).ok();
        eventually(&format!("the run after stop {i}"), secs(5), ms(25), || {
            let inits = tc
                .list(&events_key("r"))
                .iter()
                .filter(|e| e.starts_with("init:"))
                .count();
            if inits > inits_before {
                Ok(())
            } else {
                Err(format!("{:?}", tc.list(&events_key("r"))))
            }
        });
        std::thread::sleep(ms(300));
    }

    let runs = tc.list(&runs_key("r"));
    if let Err(e) = check_one_owner(&runs) {
        panic!("after `hatter threads stop`: {e}");
    }
    let ev = tc.list(&events_key("r"));
    let inits: Vec<&str> = ev.iter().filter_map(|e| e.strip_prefix("init:")).collect();
    for tag in &inits[..inits.len() - 1] {
        assert!(
            ev.contains(&format!("cleanup:{tag}")),
            "the run {tag} was stopped by an operator and should have run cleanup(): {ev:?}"
        );
    }
}

/// `hatter workers stop` drains a worker: it runs `cleanup()` of its
/// threads and releases them for the other worker, and claims nothing;
/// `workers enable` lets it take work again.
#[test]
fn workers_stop_drains_a_worker() {
    let tc = TestCluster::new("drain");
    let _da = tc.worker("da");
    let _db = tc.worker("db");
    tc.wait_live_workers(&["da", "db"], secs(10));
    let first = names("d", 4);
    add_tracers(&tc, &first, &["--hang", "100ms"]);
    eventually("two threads on each worker", secs(10), ms(100), || {
        let counts = tc.owner_counts();
        if counts.get("da") == Some(&2) && counts.get("db") == Some(&2) {
            Ok(())
        } else {
            Err(format!("{counts:?}"))
        }
    });
    let owners = tc.wait_running(&first, secs(5));
    let drained: Vec<String> = owners
        .iter()
        .filter(|(_, o)| *o == "da")
        .map(|(n, _)| n.clone())
        .collect();

    tc.hatter(&["workers", "stop", "da"]).ok();
    eventually("db to run every thread", secs(10), ms(100), || {
        let counts = tc.owner_counts();
        if counts.get("db") == Some(&4) && counts.len() == 1 {
            Ok(())
        } else {
            Err(format!("{counts:?}"))
        }
    });
    wait_all_growing(&tc, &first, secs(5));
    for n in &drained {
        let ev = tc.list(&events_key(n));
        assert!(
            ev.iter().any(|e| e.starts_with("cleanup:da:")),
            "{n}: a drained worker runs cleanup(): {ev:?}"
        );
    }
    let list = tc.hatter(&["-o", "json", "workers", "list"]).ok().json();
    let da = list
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "da")
        .cloned()
        .expect("da listed");
    assert_eq!(da["status"], "disabled", "{da}");
    assert_eq!(da["state"], "draining", "{da}");
    assert_eq!(da["live"], true, "a draining worker stays live: {da}");

    // Drained: new threads all go to db.
    let more = names("e", 2);
    add_tracers(&tc, &more, &["--hang", "100ms"]);
    let owners = tc.wait_running(&more, secs(10));
    assert!(owners.values().all(|o| o == "db"), "{owners:?}");

    // Enabled again: it takes its share of new threads.
    tc.hatter(&["workers", "enable", "da"]).ok();
    eventually("da to be eligible again", secs(5), ms(100), || {
        let e: Option<f64> = tc.query(redis::cmd("ZSCORE").arg(tc.key("eligible")).arg("da"));
        e.map(|_| ()).ok_or_else(|| "not eligible".to_string())
    });
    let last = names("g", 6);
    add_tracers(&tc, &last, &["--hang", "100ms"]);
    eventually("six threads on each worker", secs(10), ms(100), || {
        let counts = tc.owner_counts();
        if counts.get("da") == Some(&6) && counts.get("db") == Some(&6) {
            Ok(())
        } else {
            Err(format!("{counts:?}"))
        }
    });

    let out = tc.hatter(&["workers", "stop", "nosuchworker"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("nosuchworker"), "{out:?}");
    let mut all = first.clone();
    all.extend(more);
    all.extend(last);
    assert_one_owner(&tc, &all);
}
