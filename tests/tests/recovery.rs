//! The lease state cannot get stuck: keys deleted by hand, a `FLUSHALL`
//! followed by registering again, and what operators see of the workers'
//! connections.

use hats_tests::{check_one_owner, eventually, ms, runs_key, secs, TestCluster};

/// Every one of `names` is held by exactly one owner, and its record says
/// `running` with that owner.
fn each_runs_once(tc: &TestCluster, names: &[&str]) -> Result<(), String> {
    let owners = tc.owners();
    for name in names {
        let holder = owners
            .get(*name)
            .ok_or(format!("{name} has no owner; owners {owners:?}"))?;
        let t = tc.try_thread(name)?;
        let worker = holder.split(' ').next().unwrap_or_default();
        if t.get("state").map(String::as_str) != Some("running")
            || t.get("owner").map(String::as_str) != Some(worker)
        {
            return Err(format!("{name}: record {t:?}, holder {holder}"));
        }
    }
    Ok(())
}

/// The number of `main()` calls recorded for `name` grows.
fn keeps_running(tc: &TestCluster, name: &str) {
    let before = tc.llen(&runs_key(name));
    eventually(&format!("{name} to keep running"), secs(8), ms(50), || {
        let now = tc.llen(&runs_key(name));
        if now > before + 2 {
            Ok(())
        } else {
            Err(format!("{before} -> {now} calls"))
        }
    });
}

#[test]
fn a_deleted_lease_index_is_rebuilt() {
    let tc = TestCluster::new("lost-index");
    let names = ["ia", "ib", "ic", "id"];
    for n in names {
        tc.add_thread(&tc.tracer(n), &["--hang", "50ms"]);
    }
    let _a = tc.worker("wa");
    let _b = tc.worker("wb");
    eventually("all threads to run", secs(10), ms(50), || {
        each_runs_once(&tc, &names)
    });

    // The lease index vanishes (a hand edit, a bad migration script).
    tc.query::<()>(redis::cmd("DEL").arg(tc.key("leases")));

    // The workers notice the counts disagree and rebuild it; every thread
    // keeps exactly one owner throughout.
    eventually("the index to be rebuilt", secs(10), ms(50), || {
        let n: usize = tc
            .try_query(redis::cmd("ZCARD").arg(tc.key("leases")))
            .map_err(|e| e.to_string())?;
        if n == names.len() {
            Ok(())
        } else {
            Err(format!("{n} lease entries"))
        }
    });
    for n in names {
        keeps_running(&tc, n);
        check_one_owner(&tc.list(&runs_key(n))).unwrap_or_else(|e| panic!("{n}: {e}"));
    }
    each_runs_once(&tc, &names).unwrap();

    // With the index rebuilt, a takeover still works: the lease entries are
    // real leases again, not placeholders.
    let holders = tc.owners();
    let victim_is_a = holders.values().any(|h| h.starts_with("wa "));
    drop(if victim_is_a { _a } else { _b });
    eventually("threads to move to the survivor", secs(10), ms(50), || {
        let owners = tc.owners();
        let survivor = if victim_is_a { "wb " } else { "wa " };
        if names
            .iter()
            .all(|n| owners.get(*n).is_some_and(|h| h.starts_with(survivor)))
        {
            Ok(())
        } else {
            Err(format!("owners {owners:?}"))
        }
    });
}

#[test]
fn a_thread_record_deleted_by_hand_stops_and_leaves_no_trace() {
    let tc = TestCluster::new("lost-record");
    for n in ["keep", "gone"] {
        tc.add_thread(&tc.tracer(n), &["--hang", "50ms"]);
    }
    let _w = tc.worker("w1");
    eventually("both to run", secs(10), ms(50), || {
        each_runs_once(&tc, &["keep", "gone"])
    });

    tc.query::<()>(redis::cmd("DEL").arg(tc.key("thread:gone")));

    // Its run stops, and the indexes forget it: nothing lists it, nothing
    // holds it.
    eventually("the deleted thread to stop", secs(10), ms(50), || {
        let before = tc.llen(&runs_key("gone"));
        std::thread::sleep(ms(300));
        let after = tc.llen(&runs_key("gone"));
        let owners = tc.owners();
        let members: Vec<String> = tc
            .try_query(redis::cmd("SMEMBERS").arg(tc.key("threads")))
            .map_err(|e| e.to_string())?;
        let lease: Option<f64> = tc
            .try_query(redis::cmd("ZSCORE").arg(tc.key("leases")).arg("gone"))
            .map_err(|e| e.to_string())?;
        if after == before
            && !owners.contains_key("gone")
            && !members.contains(&"gone".to_string())
            && lease.is_none()
        {
            Ok(())
        } else {
            Err(format!("calls {before} -> {after}, owners {owners:?}, members {members:?}, lease {lease:?}"))
        }
    });
    keeps_running(&tc, "keep");
    let out = tc.hatter(&["threads", "list", "-o", "json"]).ok();
    let names: Vec<String> = out
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        vec!["keep".to_string()],
        "hatter lists only the surviving thread"
    );
}

#[test]
fn flushall_then_registering_again_settles_on_one_owner_each() {
    let tc = TestCluster::new("flushall");
    let names = ["fa", "fb", "fc"];
    let files: Vec<_> = names.iter().map(|n| tc.tracer(n)).collect();
    for f in &files {
        tc.add_thread(f, &["--hang", "50ms"]);
    }
    let _a = tc.worker("wa");
    let _b = tc.worker("wb");
    eventually("all threads to run", secs(10), ms(50), || {
        each_runs_once(&tc, &names)
    });

    tc.query::<()>(&redis::cmd("FLUSHALL"));
    // Nothing is registered now: every run ends, and nobody recreates the
    // threads on a guess.
    std::thread::sleep(secs(2));
    let threads: Vec<String> = tc.query(redis::cmd("SMEMBERS").arg(tc.key("threads")));
    assert!(
        threads.is_empty(),
        "no thread comes back by itself: {threads:?}"
    );
    assert!(
        tc.owners().is_empty(),
        "no lease survives a FLUSHALL: {:?}",
        tc.owners()
    );

    // The runs from before the flush have ended; what they recorded in the
    // moments before their workers learnt of it is not part of the check
    // (FLUSHALL also reset the epoch counter, so their epochs are not
    // comparable with the new claims').
    for n in names {
        tc.query::<()>(redis::cmd("DEL").arg(runs_key(n)));
    }
    for f in &files {
        tc.add_thread(f, &["--hang", "50ms"]);
    }
    eventually("all threads to run again", secs(10), ms(50), || {
        each_runs_once(&tc, &names)
    });
    for n in names {
        keeps_running(&tc, n);
        check_one_owner(&tc.list(&runs_key(n))).unwrap_or_else(|e| panic!("{n}: {e}"));
    }
    // Both workers are back in the cluster's records and share the work.
    let live = tc.live_workers();
    assert_eq!(live.len(), 2, "both workers heartbeat again: {live:?}");
}

#[test]
fn connections_are_named_and_nothing_uses_keys() {
    let tc = TestCluster::new("client-names");
    let file = tc.script(
        "chatty.js",
        "function main() { console.log('hi'); redis.Do('INCR', 'chatty'); }\n",
    );
    tc.add_thread(&file, &["--hang", "50ms"]);
    let _w = tc.worker("named");
    eventually("the thread to run", secs(10), ms(50), || {
        if tc.counter("chatty") > 3 {
            Ok(())
        } else {
            Err("not yet".into())
        }
    });
    tc.hatter(&["threads", "list"]).ok();
    tc.hatter(&["workers", "list"]).ok();

    let list: String = tc.query(redis::cmd("CLIENT").arg("LIST"));
    for expected in [
        "hats-worker:named:control",
        "hats-worker:named:api",
        "hats-worker:named:script:chatty",
    ] {
        assert!(
            list.contains(&format!("name={expected} ")),
            "CLIENT LIST names {expected}:\n{list}"
        );
    }
    let stats: String = tc.query(redis::cmd("INFO").arg("commandstats"));
    assert!(
        stats.contains("cmdstat_evalsha"),
        "the stats are real:\n{stats}"
    );
    assert!(
        !stats.contains("cmdstat_keys:"),
        "nothing ran KEYS:\n{stats}"
    );
}
