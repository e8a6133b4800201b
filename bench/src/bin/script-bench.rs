//! `make bench`: how fast scripts run in the worker.
//!
//! Measured side by side in one process, so the ratios hold whatever the
//! machine is doing:
//!
//! 1. top-level `var` state used from `main()`, against the same code with
//!    the state inside `main()` (target: at least 0.7x its speed), and, for
//!    reference, the same top-level code evaluated as a plain global script,
//!    which is what the worker avoids;
//! 2. the worker's overhead per `main()` call (target: under 5 µs beyond the
//!    script's own time): the worker's own call loop with an empty `main()`,
//!    against the same number of calls made from JavaScript itself.
//!
//! No Redis is needed: the scripts use no API that reaches it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hats_worker::run::{self, RunControl, StopReason};
use hats_worker::runtime::{Kind, Limits, Script, ScriptHost, WorkerShared};
use shared::config::RedisSettings;
use shared::Keyspace;

const LIMITS: Limits = Limits {
    loop_iterations: u64::MAX,
    recursion: 2_000,
};

fn host(shared: &Arc<WorkerShared>, name: &str) -> (Arc<RunControl>, std::rc::Rc<ScriptHost>) {
    let control = Arc::new(RunControl::new(
        name,
        1,
        Instant::now() + Duration::from_secs(3600),
    ));
    let host = ScriptHost::new(shared.clone(), control.clone(), Kind::Thread, name);
    (control, host)
}

/// Seconds for `calls` calls of `main()` of `source`, best of three rounds.
fn time_main(shared: &Arc<WorkerShared>, source: &str, calls: usize) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let (_, h) = host(shared, "bench");
        let mut script = Script::load(h, source, &LIMITS).expect("bench script loads");
        let main = script.function("main").expect("bench script has main()");
        let start = Instant::now();
        for _ in 0..calls {
            script.call(&main).expect("main() runs");
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    best
}

/// Seconds to load (evaluate) `source`, best of three.
fn time_load(shared: &Arc<WorkerShared>, source: &str) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let (_, h) = host(shared, "load");
        let start = Instant::now();
        Script::load(h, source, &LIMITS).expect("bench script loads");
        best = best.min(start.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let shared = Arc::new(WorkerShared::new(
        "bench",
        Keyspace::new("bench"),
        RedisSettings::default(),
        rt.handle().clone(),
    ));

    // 1. Top-level state. "The same code written inside a function" is the
    // script's whole source placed in a function by hand, its top-level
    // variables becoming that function's locals and main() a closure over
    // them; the state kept inside main() itself is shown for reference.
    let body = "for (var i = 0; i < 20000; i++) { n = n + 1; }";
    let top_level = format!("var n = 0;\nfunction main() {{ {body} }}");
    let hand_wrapped =
        format!("var main;\n(function () {{ var n = 0; main = function () {{ {body} }}; }})();");
    let in_main = format!("function main() {{ var n = 0; {body} }}");
    // Mentioning globalThis makes the worker evaluate the script as a plain
    // global script: the slow form, shown for reference.
    let plain_global =
        format!("var unused = globalThis;\nvar n = 0;\nfunction main() {{ {body} }}");
    let calls = 50;
    let t_top = time_main(&shared, &top_level, calls);
    let t_wrapped = time_main(&shared, &hand_wrapped, calls);
    let t_main = time_main(&shared, &in_main, calls);
    let t_plain = time_main(&shared, &plain_global, calls);
    let per = |t: f64| t / (calls as f64 * 20000.0) * 1e9;
    println!("top-level var state used from main() (20,000 increments x {calls} calls, best of 3)");
    println!(
        "  same code inside a function:    {:8.1} ns/increment",
        per(t_wrapped)
    );
    println!(
        "  top-level state (worker):       {:8.1} ns/increment  speed {:.2}x of the function form (target >= 0.70x)",
        per(t_top),
        t_wrapped / t_top
    );
    println!(
        "  top-level state, plain global:  {:8.1} ns/increment  speed {:.2}x (the evaluation the worker avoids)",
        per(t_plain),
        t_wrapped / t_plain
    );
    println!(
        "  state local to main():          {:8.1} ns/increment  (reference: no state kept between calls)",
        per(t_main)
    );

    // A loop in the top-level code itself, run once at load.
    let loop_src = "var total = 0; for (var k = 0; k < 2000000; k++) { total = total + k; }";
    let t_loop_worker = time_load(&shared, loop_src);
    let t_loop_plain = time_load(&shared, &format!("var unused = globalThis; {loop_src}"));
    let t_loop_fn = time_load(&shared, &format!("(function () {{ {loop_src} }})();"));
    println!("top-level loop of 2,000,000 iterations, evaluated at load (best of 3)");
    println!(
        "  inside a function:              {:8.1} ms",
        t_loop_fn * 1e3
    );
    println!(
        "  top level (worker):             {:8.1} ms  speed {:.2}x",
        t_loop_worker * 1e3,
        t_loop_fn / t_loop_worker
    );
    println!(
        "  top level, plain global:        {:8.1} ms  speed {:.2}x",
        t_loop_plain * 1e3,
        t_loop_fn / t_loop_plain
    );

    // 2. Worker overhead per main() call.
    let n: u32 = 200_000;
    let source = format!(
        "var calls = 0;\nfunction main() {{ calls++; if (calls === {n}) {{ thread.Stop(); }} }}"
    );
    let mut loop_best = f64::MAX;
    for _ in 0..3 {
        let (control, h) = host(&shared, "overhead");
        let mut script = Script::load(h, &source, &LIMITS).expect("loads");
        let main = script.function("main").expect("has main");
        let start = Instant::now();
        run::main_loop(&mut script, &main, &control, Duration::ZERO).expect("runs");
        loop_best = loop_best.min(start.elapsed().as_secs_f64());
        assert_eq!(control.reason(), StopReason::Stop);
    }
    // The same calls made by JavaScript itself: the script's own time.
    let js_loop = format!(
        "var calls = 0;\nfunction step() {{ calls++; }}\nfunction main() {{ for (var i = 0; i < {n}; i++) {{ step(); }} }}"
    );
    let js_best = time_main(&shared, &js_loop, 1);
    let per_loop = loop_best / n as f64 * 1e6;
    let per_js = js_best / n as f64 * 1e6;
    println!("worker overhead per main() call ({n} calls, hang 0, best of 3)");
    println!("  worker loop, per call:          {per_loop:8.3} µs");
    println!("  same calls from JavaScript:     {per_js:8.3} µs");
    println!(
        "  overhead beyond the script:     {:8.3} µs (target < 5 µs)",
        (per_loop - per_js).max(0.0)
    );
}
