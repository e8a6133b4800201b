//! Health gating: a worker over a threshold runs nothing and claims nothing.

use hats_tests::{eventually, ms, secs, TestCluster};

#[test]
fn a_critical_worker_claims_nothing_and_says_so() {
    let tc = TestCluster::new("health");
    for n in ["ha", "hb", "hc", "hd"] {
        tc.add_thread(&tc.tracer(n), &["--hang", "50ms"]);
    }
    // Any machine uses more than 0.1% of its memory: this worker is critical
    // from its first reading on.
    let mut args = tc.worker_args("sick");
    let at = args.iter().position(|a| a == "--mem-threshold").unwrap();
    args[at + 1] = "0.1".into();
    args.extend(["--health-interval".to_string(), "200ms".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let _sick = tc.worker_raw("sick", &args, &[]);
    let mut well = tc.worker("well");

    eventually(
        "every thread on the healthy worker",
        secs(10),
        ms(50),
        || {
            let counts = tc.owner_counts();
            if counts.get("well") == Some(&4) && !counts.contains_key("sick") {
                Ok(())
            } else {
                Err(format!("owners {counts:?}"))
            }
        },
    );
    eventually(
        "the sick worker to report itself critical",
        secs(10),
        ms(100),
        || {
            let out = tc.hatter(&["workers", "list", "-o", "json"]).ok();
            let sick = out
                .json()
                .as_array()
                .unwrap()
                .iter()
                .find(|w| w["name"] == "sick")
                .cloned();
            match sick {
                Some(w) if w["state"] == "critical" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    );

    // With the healthy worker gone, the threads wait: a critical worker does
    // not take them even though it is the only one left.
    well.sigterm();
    assert_eq!(well.exit_code(secs(15)), 0, "{}", well.log());
    std::thread::sleep(secs(3));
    assert!(
        tc.owners().is_empty(),
        "a critical worker claims nothing: {:?}",
        tc.owners()
    );
    for n in ["ha", "hb", "hc", "hd"] {
        assert_eq!(tc.thread_field(n, "state"), "stopped", "{n}");
    }
}
