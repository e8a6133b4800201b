//! End-to-end tests of the script API: every member of `console`, `env`,
//! `worker`, `thread`, `redis`, `http` and `sql`, each outcome a script can
//! meet, and the containment rules (stopped runs cannot act, runaway loops
//! and recursion crash only their own thread).
//!
//! Each test starts its own `redis-server`, real `worker` processes and, for
//! `http`, a real HTTP server on 127.0.0.1. A script records what it saw as
//! JSON in a Redis key, through [`PRELUDE`]'s `show()`, which keeps apart
//! what JSON alone would blur: `undefined` becomes the text `<undefined>`,
//! `null` stays `null`, numbers stay numbers and strings strings. The test
//! then compares each field exactly. Many checks share one script, since
//! every worker start costs, but each field is asserted on its own, and
//! [`Checks`] reports every mismatch of a script at once.
//!
//! The `sql` test needs a MySQL or MariaDB server named by
//! `HATS_TEST_MYSQL_URL` (`mysql://root@127.0.0.1:3306/test` in CI) and is
//! skipped, saying so, when the variable is not set.

use std::io::{BufRead, Read, Write};
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hats_tests::*;
use serde_json::{json, Value};

/// Put at the top of every test script: `show(v)` turns what a script sees
/// into JSON without losing the difference between `undefined` and `null`
/// or between a number and a string; `threw(f)` gives `Name: message` of
/// what `f` throws, or `<no throw>`.
const PRELUDE: &str = r#"
function show(v) {
  if (v === undefined) return "<undefined>";
  if (v === null) return null;
  if (typeof v === "function") return "<function>";
  if (Array.isArray(v)) return v.map(show);
  if (typeof v === "object") {
    var o = {};
    Object.keys(v).forEach(function (k) { o[k] = show(v[k]); });
    return o;
  }
  return v;
}
function threw(f) {
  try { f(); return "<no throw>"; }
  catch (e) { return String(e && e.name) + ": " + String(e && e.message); }
}
"#;

/// A script file made of [`PRELUDE`] and `body`.
fn script(tc: &TestCluster, file: &str, body: &str) -> std::path::PathBuf {
    tc.script(file, &format!("{PRELUDE}\n{body}"))
}

/// Starts worker `name` of `tc` with extra flags and extra environment
/// variables (which scripts read with `env.Get`).
fn worker_env(tc: &TestCluster, name: &str, extra: &[&str], envs: &[(&str, &str)]) -> Worker {
    let mut args = tc.worker_args(name);
    args.extend(extra.iter().map(|s| s.to_string()));
    Worker::spawn(name, &args, envs, tc.dir(), tc.dir())
}

/// Waits for a script to store JSON at `key` and parses it.
fn observed(tc: &TestCluster, key: &str, timeout: Duration) -> Value {
    let text: String = eventually(
        &format!("a script to record `{key}`"),
        timeout,
        ms(50),
        || {
            let v: Option<String> = tc
                .try_query(redis::cmd("GET").arg(key))
                .map_err(|e| e.to_string())?;
            v.ok_or_else(|| "not yet".to_string())
        },
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("`{key}` is not JSON ({e}): {text}"))
}

/// Field-by-field comparison of what one script observed, reporting every
/// mismatch together with the whole observation.
struct Checks<'a> {
    what: &'a str,
    obs: &'a Value,
    failures: Vec<String>,
}

impl<'a> Checks<'a> {
    fn new(what: &'a str, obs: &'a Value) -> Checks<'a> {
        Checks {
            what,
            obs,
            failures: Vec::new(),
        }
    }

    /// The observed value at a `/`-separated path (`get/headers/X-Echo`).
    fn at(&self, path: &str) -> &'a Value {
        let pointer = format!("/{path}");
        self.obs.pointer(&pointer).unwrap_or(&Value::Null)
    }

    /// The value at `path` is exactly `want`.
    fn eq(&mut self, path: &str, want: Value) {
        let got = self.at(path);
        if *got != want {
            self.failures
                .push(format!("{path}: got {got}, want {want}"));
        }
    }

    /// The value at `path` is a string containing every one of `parts`.
    fn contains(&mut self, path: &str, parts: &[&str]) {
        match self.at(path).as_str() {
            Some(s) if parts.iter().all(|p| s.contains(p)) => {}
            _ => self.failures.push(format!(
                "{path}: got {}, want a string containing {parts:?}",
                self.at(path)
            )),
        }
    }

    /// The value at `path` is an object with exactly these keys.
    fn keys(&mut self, path: &str, want: &[&str]) {
        let mut got: Vec<String> = match self.at(path).as_object() {
            Some(o) => o.keys().cloned().collect(),
            None => {
                self.failures
                    .push(format!("{path}: got {}, want an object", self.at(path)));
                return;
            }
        };
        got.sort();
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        if got != want {
            self.failures
                .push(format!("{path}: keys {got:?}, want {want:?}"));
        }
    }

    /// Records a failure found by the test itself.
    fn fail(&mut self, message: String) {
        self.failures.push(message);
    }

    /// Panics with every mismatch, if there is any.
    fn done(self) {
        if !self.failures.is_empty() {
            panic!(
                "{}: {} mismatches:\n  {}\nwhole observation: {}",
                self.what,
                self.failures.len(),
                self.failures.join("\n  "),
                serde_json::to_string_pretty(self.obs).unwrap_or_default()
            );
        }
    }
}

/// The `line` fields of thread `name`'s log stream, oldest first.
fn log_lines(tc: &TestCluster, name: &str) -> Vec<(String, String)> {
    let key = tc.key(&format!("log:thread:{name}"));
    let entries: Vec<(String, Vec<(String, String)>)> =
        tc.query(redis::cmd("XRANGE").arg(&key).arg("-").arg("+"));
    entries
        .into_iter()
        .map(|(_, fields)| {
            let get = |k: &str| {
                fields
                    .iter()
                    .find(|(f, _)| f == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            (get("level"), get("line"))
        })
        .collect()
}

/// Waits until thread `name` has `state`, and returns its record.
fn wait_state(
    tc: &TestCluster,
    name: &str,
    state: &str,
    timeout: Duration,
) -> std::collections::HashMap<String, String> {
    eventually(
        &format!("thread {name} to be {state}"),
        timeout,
        ms(50),
        || {
            let t = tc.try_thread(name)?;
            if t.get("state").map(String::as_str) == Some(state) {
                Ok(t)
            } else {
                Err(format!("{t:?}"))
            }
        },
    )
}

// ---------------------------------------------------------------------------
// console, env, worker, thread
// ---------------------------------------------------------------------------

/// The members of `console`, `env`, `worker` and `thread` return what
/// DESIGN gives, with the exact types: `console.*` returns `undefined`;
/// `env.Get` a string or `undefined`, `env.Set`/`env.Unset` `null` or an
/// error string, over a worker-wide overlay that a second thread sees and
/// that hides or replaces the process environment; `worker.Name` and
/// `worker.Cluster` strings; `thread.State()`/`Status()` the record's words;
/// `thread.Stopped` and `worker.ShuttingDown` live booleans (false while
/// running, true in `cleanup()` after `hatter threads stop` and after
/// SIGTERM); `thread.Stop()` ends the run and leaves the thread enabled,
/// `thread.Disable()` ends it and disables it.
#[test]
fn globals_console_env_worker_thread() {
    let tc = TestCluster::new("api-globals");
    let globals = script(
        &tc,
        "globals.js",
        r#"
var R = {};
R.typeofs = [typeof console, typeof env, typeof worker, typeof thread,
             typeof redis, typeof http, typeof sql, typeof job];
R.console = [console.log("from globals", 1.5, null, undefined, {a: 1, b: {c: "x"}}, [1, 2], true, new Error("boom")),
             console.info("i"), console.warn("w"), console.error("e"),
             console.debug("d")].map(show);
R.console_no_args = show(console.log());
R.env_preset = show(env.Get("SCRIPT_API_PRESET"));
R.env_missing = show(env.Get("SCRIPT_API_NEVER_SET"));
R.env_set = show(env.Set("SCRIPT_API_K", "v1"));
R.env_get_after_set = show(env.Get("SCRIPT_API_K"));
R.env_set_number = show(env.Set("SCRIPT_API_N", 5));
R.env_get_number = show(env.Get("SCRIPT_API_N"));
R.env_set_empty = show(env.Set("SCRIPT_API_E", ""));
R.env_get_empty = show(env.Get("SCRIPT_API_E"));
R.env_override = show(env.Set("SCRIPT_API_PRESET", "overlaid"));
R.env_get_override = show(env.Get("SCRIPT_API_PRESET"));
R.env_unset = show(env.Unset("SCRIPT_API_PRESET"));
R.env_get_unset = show(env.Get("SCRIPT_API_PRESET"));
R.env_unset_never_set = show(env.Unset("SCRIPT_API_NEVER_SET"));
R.env_set_empty_name = show(env.Set("", "x"));
R.env_set_bad_name = show(env.Set("A=B", "x"));
R.env_set_nul_value = show(env.Set("SCRIPT_API_Z", "a\u0000b"));
R.env_unset_bad_name = show(env.Unset("A=B"));
R.env_get_bad_name = show(env.Get("A=B"));
R.env_get_no_arg = threw(function () { env.Get(); });
R.env_set_no_value = threw(function () { env.Set("SCRIPT_API_X"); });
R.worker_name = show(worker.Name);
R.worker_cluster = show(worker.Cluster);
R.shutting_down = show(worker.ShuttingDown);
R.thread_key = show(thread.Key);
R.state = show(thread.State());
R.status = show(thread.Status());
R.stopped = show(thread.Stopped);
worker.Name = "renamed";
thread.Key = "renamed";
R.after_writes = [show(worker.Name), show(thread.Key)];
redis.Do("SET", "observed:globals", JSON.stringify(R));

var mains = 0;
function main() { mains++; }
function cleanup() {
  redis.Do("SET", "observed:globals:cleanup", JSON.stringify({
    mains_ran: mains > 0,
    stopped: show(thread.Stopped),
    shutting_down: show(worker.ShuttingDown),
    state: show(thread.State())
  }));
}
"#,
    );
    // Reads the overlay that `globals` changed: it is worker-wide.
    let reader = script(
        &tc,
        "reader.js",
        r#"
var done = false;
function main() {
  if (done || redis.Do("EXISTS", "observed:globals")[0] !== 1) return;
  done = true;
  redis.Do("SET", "observed:reader", JSON.stringify({
    k: show(env.Get("SCRIPT_API_K")),
    preset: show(env.Get("SCRIPT_API_PRESET")),
    home: typeof env.Get("HOME")
  }));
}
"#,
    );
    // Stopped by hatter; records in cleanup() what it sees then, once per
    // run.
    let stoppee = script(
        &tc,
        "stoppee.js",
        r#"
var stoppedInMain = [];
function main() {
  if (stoppedInMain.length < 3) stoppedInMain.push(thread.Stopped);
  redis.Do("INCR", "stoppee:mains");
}
function cleanup() {
  redis.Do("RPUSH", "observed:stoppee", JSON.stringify({
    stopped_in_main: show(stoppedInMain),
    stopped: show(thread.Stopped),
    shutting_down: show(worker.ShuttingDown)
  }));
}
"#,
    );
    // thread.Stop() and thread.Disable() from the script itself, on the
    // second main() call; what they return and what thread.Stopped says
    // right after is kept for cleanup() to record.
    let self_stop = |file: &str, call: &str| {
        script(
            &tc,
            file,
            &format!(
                r#"
var calls = 0, result = "<not called>", stoppedAfter = null;
function main() {{
  calls++;
  redis.Do("RPUSH", "runs:" + thread.Key, String(calls));
  if (calls === 2) {{
    result = show(thread.{call}());
    stoppedAfter = thread.Stopped;
  }}
}}
function cleanup() {{
  redis.Do("RPUSH", "observed:" + thread.Key, JSON.stringify({{
    result: result, stopped_after: stoppedAfter, calls: calls
  }}));
}}
"#
            ),
        )
    };
    let selfstop = self_stop("selfstop.js", "Stop");
    let selfdisable = self_stop("selfdisable.js", "Disable");
    for f in [&globals, &reader, &stoppee, &selfstop, &selfdisable] {
        tc.add_thread(f, &["--hang", "100ms"]);
    }
    let mut w = worker_env(&tc, "w1", &[], &[("SCRIPT_API_PRESET", "from-process")]);

    let obs = observed(&tc, "observed:globals", secs(15));
    let mut c = Checks::new("globals.js", &obs);
    c.eq(
        "typeofs",
        json!([
            "object",
            "object",
            "object",
            "object",
            "object",
            "object",
            "object",
            "undefined"
        ]),
    );
    c.eq(
        "console",
        json!([
            "<undefined>",
            "<undefined>",
            "<undefined>",
            "<undefined>",
            "<undefined>"
        ]),
    );
    c.eq("console_no_args", json!("<undefined>"));
    c.eq("env_preset", json!("from-process"));
    c.eq("env_missing", json!("<undefined>"));
    c.eq("env_set", Value::Null);
    c.eq("env_get_after_set", json!("v1"));
    c.eq("env_set_number", Value::Null);
    c.eq("env_get_number", json!("5"));
    c.eq("env_set_empty", Value::Null);
    c.eq("env_get_empty", json!(""));
    c.eq("env_override", Value::Null);
    c.eq("env_get_override", json!("overlaid"));
    c.eq("env_unset", Value::Null);
    c.eq("env_get_unset", json!("<undefined>"));
    c.eq("env_unset_never_set", Value::Null);
    c.contains("env_set_empty_name", &["env:", "empty"]);
    c.contains("env_set_bad_name", &["`A=B`", "not a valid variable name"]);
    c.contains("env_set_nul_value", &["`SCRIPT_API_Z`", "NUL"]);
    c.contains(
        "env_unset_bad_name",
        &["`A=B`", "not a valid variable name"],
    );
    c.eq("env_get_bad_name", json!("<undefined>"));
    c.eq(
        "env_get_no_arg",
        json!("TypeError: env.Get: argument 1 is missing"),
    );
    c.eq(
        "env_set_no_value",
        json!("TypeError: env.Set: argument 2 is missing"),
    );
    c.eq("worker_name", json!("w1"));
    c.eq("worker_cluster", json!(tc.cluster));
    c.eq("shutting_down", json!(false));
    c.eq("thread_key", json!("globals"));
    c.eq("state", json!("running"));
    c.eq("status", json!("enabled"));
    c.eq("stopped", json!(false));
    c.eq("after_writes", json!(["w1", "globals"]));
    c.done();

    let obs = observed(&tc, "observed:reader", secs(10));
    let mut c = Checks::new("reader.js (a second thread of the same worker)", &obs);
    c.eq("k", json!("v1"));
    c.eq("preset", json!("<undefined>"));
    c.eq("home", json!("string"));
    c.done();

    // console.* lines reach the thread's log stream with their levels and
    // the display form of each argument.
    let lines = eventually("the console lines of globals", secs(10), ms(50), || {
        let lines = log_lines(&tc, "globals");
        if lines.len() >= 6 {
            Ok(lines)
        } else {
            Err(format!("{lines:?}"))
        }
    });
    let want: Vec<(String, String)> = [
        (
            "info",
            "from globals 1.5 null undefined { a: 1, b: { c: \"x\" } } [ 1, 2 ] true Error: boom",
        ),
        ("info", "i"),
        ("warn", "w"),
        ("error", "e"),
        ("debug", "d"),
        ("info", ""),
    ]
    .iter()
    .map(|(l, t)| (l.to_string(), t.to_string()))
    .collect();
    assert_eq!(
        lines, want,
        "console lines of globals.js in its log stream (level, line)"
    );

    // A stop from hatter: cleanup() sees thread.Stopped true, and the
    // thread runs again.
    eventually(
        "stoppee to run main() three times",
        secs(10),
        ms(50),
        || {
            let n = tc.counter("stoppee:mains");
            if n >= 3 {
                Ok(())
            } else {
                Err(format!("{n} calls"))
            }
        },
    );
    tc.hatter(&["threads", "stop", "stoppee"]).ok();
    eventually(
        "stoppee's cleanup() after the stop",
        secs(10),
        ms(50),
        || {
            if tc.llen("observed:stoppee") >= 1 {
                Ok(())
            } else {
                Err("no cleanup yet".into())
            }
        },
    );
    let first: Value = serde_json::from_str(&tc.list("observed:stoppee")[0]).expect("JSON");
    let mut c = Checks::new("stoppee.js cleanup() after `hatter threads stop`", &first);
    c.eq("stopped_in_main", json!([false, false, false]));
    c.eq("stopped", json!(true));
    c.eq("shutting_down", json!(false));
    c.done();
    let t = wait_state(&tc, "stoppee", "running", secs(10));
    assert_eq!(
        t["status"], "enabled",
        "a stopped thread stays enabled: {t:?}"
    );

    // thread.Stop() from the script: returns undefined, Stopped reads true
    // at once, cleanup() runs, and the thread, still enabled, runs again.
    let obs = observed_list_item(&tc, "observed:selfstop", 0);
    let mut c = Checks::new("selfstop.js (thread.Stop())", &obs);
    c.eq("result", json!("<undefined>"));
    c.eq("stopped_after", json!(true));
    c.eq("calls", json!(2));
    c.done();
    eventually(
        "selfstop to run again after its Stop()",
        secs(10),
        ms(50),
        || {
            let runs = tc.list("runs:selfstop");
            if runs.len() >= 3 && runs[..3] == ["1", "2", "1"] {
                Ok(())
            } else {
                Err(format!("runs {runs:?}"))
            }
        },
    );
    assert_eq!(tc.thread_field("selfstop", "status"), "enabled");

    // thread.Disable(): the same, but the thread ends disabled and stays down.
    let obs = observed_list_item(&tc, "observed:selfdisable", 0);
    let mut c = Checks::new("selfdisable.js (thread.Disable())", &obs);
    c.eq("result", json!("<undefined>"));
    c.eq("stopped_after", json!(true));
    c.eq("calls", json!(2));
    c.done();
    let t = wait_state(&tc, "selfdisable", "stopped", secs(10));
    assert_eq!(
        t["status"], "disabled",
        "thread.Disable() disables the thread: {t:?}"
    );
    std::thread::sleep(ms(600));
    assert_eq!(
        tc.list("runs:selfdisable"),
        ["1", "2"],
        "a disabled thread does not run again"
    );

    // SIGTERM: cleanup() of the running threads sees worker.ShuttingDown
    // and thread.Stopped turn true.
    w.sigterm();
    assert_eq!(w.exit_code(secs(15)), 0, "worker exit status after SIGTERM");
    let obs = observed(&tc, "observed:globals:cleanup", secs(1));
    let mut c = Checks::new("globals.js cleanup() after SIGTERM", &obs);
    c.eq("mains_ran", json!(true));
    c.eq("stopped", json!(true));
    c.eq("shutting_down", json!(true));
    c.eq("state", json!("running"));
    c.done();
    let all = tc.list("observed:stoppee");
    let last: Value = serde_json::from_str(all.last().expect("an entry")).expect("JSON");
    let mut c = Checks::new("stoppee.js cleanup() after SIGTERM", &last);
    c.eq("stopped", json!(true));
    c.eq("shutting_down", json!(true));
    c.done();
}

/// Waits for item `i` of list `key` and parses it as JSON.
fn observed_list_item(tc: &TestCluster, key: &str, i: usize) -> Value {
    let text = eventually(&format!("item {i} of `{key}`"), secs(10), ms(50), || {
        tc.try_list(key)?
            .get(i)
            .cloned()
            .ok_or_else(|| "not yet".to_string())
    });
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("item {i} of `{key}` is not JSON ({e}): {text}"))
}

// ---------------------------------------------------------------------------
// console log streams, hatter logs and tail
// ---------------------------------------------------------------------------

/// A thread's console lines go to a capped stream: of 1,500 lines about the
/// last 1,000 are kept, oldest dropped first, in the order logged, with
/// their levels; `hatter threads logs NAME -n 3` prints the last three;
/// `hatter threads tail NAME` prints a line logged after it started and
/// exits 0 on SIGINT.
#[test]
fn console_log_stream_is_capped_and_tailed() {
    let tc = TestCluster::new("api-logs");
    let chatter = script(
        &tc,
        "chatter.js",
        r#"
function init() {
  for (var i = 1; i <= 1500; i++) console.log("line " + i);
  console.info("last info");
  console.warn("last warn");
  console.error("last error");
  console.debug("last debug");
}
var said = null;
function main() {
  var v = redis.Do("GET", "say")[0];
  if (v !== null && v !== said) { said = v; console.log("said " + v); }
}
"#,
    );
    tc.add_thread(&chatter, &["--hang", "100ms"]);
    let _w = tc.worker("w1");

    let lines = eventually("the 1,504 lines of init()", secs(15), ms(100), || {
        let lines = log_lines(&tc, "chatter");
        match lines.last() {
            Some((_, l)) if l == "last debug" => Ok(lines),
            _ => Err(format!("{} lines so far", lines.len())),
        }
    });
    let kept = lines.len();
    assert!(
        (1000..=1150).contains(&kept),
        "the stream keeps about 1,000 lines (Redis trims approximately): it holds {kept}"
    );
    let numbers: Vec<u64> = lines[..kept - 4]
        .iter()
        .map(|(_, l)| {
            l.strip_prefix("line ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not a numbered line: {l:?}"))
        })
        .collect();
    assert_eq!(
        *numbers.last().unwrap(),
        1500,
        "the newest numbered line is kept"
    );
    let first = numbers[0];
    assert!(first > 1, "the oldest lines are the ones dropped");
    let want: Vec<u64> = (first..=1500).collect();
    assert_eq!(
        numbers, want,
        "the kept lines are the newest, in the order logged, none missing"
    );
    let levels: Vec<&str> = lines[kept - 5..].iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        levels,
        ["info", "info", "warn", "error", "debug"],
        "levels of the last lines"
    );

    // hatter threads logs -n 3: the last three, oldest first.
    let out = tc.hatter(&["threads", "logs", "chatter", "-n", "3"]).ok();
    let printed: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(printed.len(), 3, "three lines: {}", out.stdout);
    for (line, (level, text)) in printed.iter().zip([
        ("warn", "last warn"),
        ("error", "last error"),
        ("debug", "last debug"),
    ]) {
        assert!(
            line.contains(level) && line.ends_with(text) && line.contains("[w1]"),
            "`{line}` should show level {level}, worker w1 and `{text}`: {}",
            out.stdout
        );
    }

    // hatter threads tail: the history, then a line logged after it started.
    let mut tail = tc
        .hatter_command(&["threads", "tail", "chatter", "-n", "1"], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hatter threads tail");
    let stdout = tail.stdout.take().expect("tail's stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let history = rx
        .recv_timeout(secs(10))
        .expect("tail prints the last line first");
    assert!(history.ends_with("last debug"), "history line: {history}");
    tc.query::<()>(redis::cmd("SET").arg("say").arg("after-tail-started"));
    let new_line = rx
        .recv_timeout(secs(10))
        .expect("tail prints a line logged after it started");
    assert!(
        new_line.ends_with("said after-tail-started") && new_line.contains("info"),
        "new line: {new_line}"
    );
    send_signal(tail.id(), sig::SIGINT);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = tail.try_wait().expect("wait for tail") {
            break Some(s);
        }
        if start.elapsed() > secs(5) {
            let _ = tail.kill();
            let _ = tail.wait();
            break None;
        }
        std::thread::sleep(ms(20));
    };
    let _ = reader.join();
    let mut stderr = String::new();
    if let Some(mut e) = tail.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "hatter threads tail exits 0 on SIGINT (stderr: {stderr})"
    );
}

// ---------------------------------------------------------------------------
// redis.Do
// ---------------------------------------------------------------------------

/// `redis.Do` returns `[result, error]` for every kind of reply, sends every
/// kind of argument as the string DESIGN gives (checked byte for byte from
/// outside), turns bytes that are not UTF-8 and lone surrogates into U+FFFD
/// without failing, throws a `TypeError` for an `undefined` argument, and
/// refuses connection-state commands with an error in the pair.
#[test]
fn redis_do_replies_and_arguments() {
    let tc = TestCluster::new("api-redis");
    tc.query::<()>(redis::cmd("SET").arg("bin").arg(&b"\xff\xfeA"[..]));
    let replies = script(
        &tc,
        "replies.js",
        r#"
var R = {};
R.set = show(redis.Do("SET", "s", "abc"));
R.get = show(redis.Do("GET", "s"));
R.get_missing = show(redis.Do("GET", "no-such-key"));
R.incr = show(redis.Do("INCR", "n"));
R.incrby_negative = show(redis.Do("INCRBY", "n", -3));
R.zero = show(redis.Do("EXISTS", "no-such-key"));
R.ping = show(redis.Do("PING"));
R.type = show(redis.Do("TYPE", "s"));
R.status_reply = show(redis.Do("EVAL", "return redis.status_reply('FINE')", 0));
redis.Do("RPUSH", "l", "a", "b", "c");
R.lrange = show(redis.Do("LRANGE", "l", 0, -1));
R.empty_array = show(redis.Do("LRANGE", "no-such-key", 0, -1));
R.nested = show(redis.Do("EVAL", "return {1, {2, {'x', {}}}, 'y'}", 0));
R.nil_in_array = show(redis.Do("MGET", "s", "no-such-key"));
R.hgetall = show((redis.Do("HSET", "h", "f", "v"), redis.Do("HGETALL", "h")));
R.error_reply = show(redis.Do("EVAL", "return redis.error_reply('MY failure')", 0));
R.wrongtype = show(redis.Do("LPUSH", "s", "x"));
R.unknown = show(redis.Do("NOSUCHCOMMAND", "a"));
R.wrong_arity = show(redis.Do("GET"));
redis.Do("SET", "t", "text");
R.multi = show(redis.Do("MULTI"));
R.queued = show(redis.Do("SET", "t2", "v"));
R.queued_bad = show(redis.Do("INCR", "t"));
R.exec = show(redis.Do("EXEC"));

// Arguments of every JS type, read back from outside by the test.
R.args = [
  redis.Do("SET", "arg:int", 5), redis.Do("SET", "arg:float", 5.5),
  redis.Do("SET", "arg:negzero", -0), redis.Do("SET", "arg:big", 1e21),
  redis.Do("SET", "arg:small", 0.000001), redis.Do("SET", "arg:true", true),
  redis.Do("SET", "arg:false", false), redis.Do("SET", "arg:object", {a: 1, b: [2, "c"]}),
  redis.Do("SET", "arg:array", [1, "two", null]), redis.Do("SET", "arg:empty", ""),
  redis.Do("SET", "arg:unicode", "é😀"), redis.Do("SET", "arg:surrogate", "a\uD800b"),
  redis.Do("SET", "arg:bigint", 12345678901234567890n)
].map(show);
R.get_int = show(redis.Do("GET", "arg:int"));
R.incr_after_int = show(redis.Do("INCR", "arg:int"));
R.unicode_back = show(redis.Do("GET", "arg:unicode"));
R.surrogate_back = show(redis.Do("GET", "arg:surrogate"));
var bin = redis.Do("GET", "bin")[0];
R.binary = [bin.length, bin.charCodeAt(0), bin.charCodeAt(1), bin.charAt(2)];
R.huge_integer = show(redis.Do("EVAL", "return 9007199254740993", 0));

// Mistakes in the call itself throw a TypeError, which can be caught.
R.undefined_arg = threw(function () { redis.Do("SET", "arg:undef", undefined); });
R.null_arg = threw(function () { redis.Do("SET", "arg:null", null); });
R.function_arg = threw(function () { redis.Do("SET", "arg:fn", function () {}); });
R.no_command = threw(function () { redis.Do(); });
R.number_command = threw(function () { redis.Do(5); });
R.empty_command = threw(function () { redis.Do(""); });
R.undefined_not_sent = show(redis.Do("EXISTS", "arg:undef", "arg:null", "arg:fn"));

// Commands that would change the connection itself are refused.
R.refused = ["SELECT", "select", "SUBSCRIBE", "PSUBSCRIBE", "MONITOR", "CLIENT",
             "HELLO", "AUTH", "RESET", "QUIT", "SWAPDB"].map(function (c) {
  return show(redis.Do(c, "1"));
});
R.still_db0 = show(redis.Do("GET", "s"));
redis.Do("SET", "observed:replies", JSON.stringify(R));
"#,
    );
    tc.add_thread(&replies, &[]);
    let _w = tc.worker("w1");
    let obs = observed(&tc, "observed:replies", secs(15));
    let mut c = Checks::new("replies.js", &obs);
    c.eq("set", json!(["OK", null]));
    c.eq("get", json!(["abc", null]));
    c.eq("get_missing", json!([null, null]));
    c.eq("incr", json!([1, null]));
    c.eq("incrby_negative", json!([-2, null]));
    c.eq("zero", json!([0, null]));
    c.eq("ping", json!(["PONG", null]));
    c.eq("type", json!(["string", null]));
    c.eq("status_reply", json!(["FINE", null]));
    c.eq("lrange", json!([["a", "b", "c"], null]));
    c.eq("empty_array", json!([[], null]));
    c.eq("nested", json!([[1, [2, ["x", []]], "y"], null]));
    c.eq("nil_in_array", json!([["abc", null], null]));
    c.eq("hgetall", json!([["f", "v"], null]));
    c.eq("error_reply", json!([null, "MY failure"]));
    c.eq(
        "wrongtype",
        json!([
            null,
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        ]),
    );
    c.contains("unknown/1", &["ERR unknown command", "NOSUCHCOMMAND"]);
    c.eq("unknown/0", Value::Null);
    c.contains("wrong_arity/1", &["ERR wrong number of arguments", "get"]);
    c.eq("multi", json!(["OK", null]));
    c.eq("queued", json!(["QUEUED", null]));
    c.eq("queued_bad", json!(["QUEUED", null]));
    c.eq(
        "exec",
        json!([["OK", "ERR value is not an integer or out of range"], null]),
    );
    c.eq("args", json!(vec![json!(["OK", null]); 13]));
    c.eq("get_int", json!(["5", null]));
    c.eq("incr_after_int", json!([6, null]));
    c.eq("unicode_back", json!(["é😀", null]));
    c.eq("surrogate_back", json!(["a\u{FFFD}b", null]));
    c.eq("binary", json!([3, 0xFFFD, 0xFFFD, "A"]));
    c.eq("huge_integer", json!([9007199254740992u64, null]));
    c.contains(
        "undefined_arg",
        &["TypeError: redis.Do: argument 3 of SET is undefined"],
    );
    c.contains(
        "null_arg",
        &["TypeError: redis.Do: argument 3 of SET is null"],
    );
    c.contains(
        "function_arg",
        &["TypeError: redis.Do: argument 3 of SET is a function"],
    );
    c.contains("no_command", &["TypeError: redis.Do:", "missing"]);
    c.contains(
        "number_command",
        &["TypeError: redis.Do:", "must be a string"],
    );
    c.contains("empty_command", &["TypeError: redis.Do:", "empty"]);
    c.eq("undefined_not_sent", json!([0, null]));
    let refused = c.at("refused").as_array().cloned().unwrap_or_default();
    if refused.len() != 11 {
        c.fail(format!("refused: {} entries, want 11", refused.len()));
    }
    for (i, name) in [
        "SELECT",
        "SELECT",
        "SUBSCRIBE",
        "PSUBSCRIBE",
        "MONITOR",
        "CLIENT",
        "HELLO",
        "AUTH",
        "RESET",
        "QUIT",
        "SWAPDB",
    ]
    .iter()
    .enumerate()
    {
        c.eq(&format!("refused/{i}/0"), Value::Null);
        c.contains(
            &format!("refused/{i}/1"),
            &[&format!("redis.Do: {name} is not allowed in scripts")],
        );
    }
    c.eq("still_db0", json!(["abc", null]));

    // What reached Redis, byte for byte.
    let want: &[(&str, &[u8])] = &[
        ("arg:int", b"6"),
        ("arg:float", b"5.5"),
        ("arg:negzero", b"0"),
        ("arg:big", b"1e+21"),
        ("arg:small", b"0.000001"),
        ("arg:true", b"true"),
        ("arg:false", b"false"),
        ("arg:object", br#"{"a":1,"b":[2,"c"]}"#),
        ("arg:array", br#"[1,"two",null]"#),
        ("arg:empty", b""),
        ("arg:unicode", "é😀".as_bytes()),
        ("arg:surrogate", b"a\xEF\xBF\xBDb"),
        ("arg:bigint", b"12345678901234567890"),
    ];
    for (key, bytes) in want {
        let got: Option<Vec<u8>> = tc.query(redis::cmd("GET").arg(*key));
        if got.as_deref() != Some(*bytes) {
            c.fail(format!(
                "stored {key}: got {:?}, want {:?}",
                got.map(|b| String::from_utf8_lossy(&b).into_owned()),
                String::from_utf8_lossy(bytes)
            ));
        }
    }
    c.done();
    assert_eq!(
        tc.thread_field("replies", "state"),
        "running",
        "the script ran to its end without crashing"
    );
}

/// The `CLIENT LIST` line of the connection named `name`, if there is one.
fn client_line(tc: &TestCluster, name: &str) -> Option<String> {
    let list: String = tc.query(redis::cmd("CLIENT").arg("LIST"));
    list.lines()
        .find(|l| l.split(' ').any(|f| f == format!("name={name}")))
        .map(str::to_string)
}

/// The heartbeat score of worker `name` in the `workers` ZSET.
fn heartbeat(tc: &TestCluster, name: &str) -> f64 {
    let score: Option<f64> = tc.query(redis::cmd("ZSCORE").arg(tc.key("workers")).arg(name));
    score.unwrap_or(0.0)
}

/// Scripts' Redis traffic is kept apart from the worker's own and from each
/// other's: while one script waits in `BLPOP` and another in `XREAD BLOCK`,
/// a third keeps ticking and the worker keeps its heartbeat; a `MULTI` left
/// open queues only its own script's commands; a command whose connection
/// is killed reports an error to the script and is not sent again; and
/// `hatter threads stop` ends the run waiting in `BLPOP` within about a
/// second, after which `cleanup()` runs.
#[test]
fn redis_do_blocking_and_connection_state_stay_private() {
    let tc = TestCluster::new("api-redis-conn");
    let blocker = script(
        &tc,
        "blocker.js",
        r#"
function main() {
  redis.Do("RPUSH", "blocker:calls", String(Date.now()));
  redis.Do("BLPOP", "never", 0);
}
function cleanup() { redis.Do("RPUSH", "blocker:cleanup", String(Date.now())); }
"#,
    );
    let xreader = script(
        &tc,
        "xreader.js",
        r#"
function main() {
  redis.Do("INCR", "xreader:calls");
  redis.Do("XREAD", "BLOCK", 0, "STREAMS", "no-such-stream", "$");
}
"#,
    );
    let ticker = script(
        &tc,
        "ticker.js",
        r#"
var R = null;
function main() {
  redis.Do("INCR", "ticks");
  if (R === null && redis.Do("GET", "multi:open")[0] === "yes") {
    R = {
      multi_key: show(redis.Do("GET", "multi:k")),
      own_set: show(redis.Do("SET", "ticker:k", "1")),
      own_get: show(redis.Do("GET", "ticker:k"))
    };
    redis.Do("SET", "observed:ticker", JSON.stringify(R));
  }
}
"#,
    );
    // Leaves a MULTI open: its own later commands are queued, and it says
    // so on its log, since its Redis connection can no longer write.
    let multi = script(
        &tc,
        "multi.js",
        r#"
function init() {
  var R = {};
  R.multi = show(redis.Do("MULTI"));
  R.set = show(redis.Do("SET", "multi:k", "from the open transaction"));
  R.get = show(redis.Do("GET", "multi:k"));
  env.Set("MULTI_SEEN", JSON.stringify(R));
  console.log(JSON.stringify(R));
}
function main() {}
"#,
    );
    // Reports the multi thread's view (through the worker-wide env overlay)
    // and flags the ticker to look.
    let relay = script(
        &tc,
        "relay.js",
        r#"
var done = false;
function main() {
  var seen = env.Get("MULTI_SEEN");
  if (done || seen === undefined) return;
  done = true;
  redis.Do("SET", "observed:multi", seen);
  redis.Do("SET", "multi:open", "yes");
}
"#,
    );
    // One BLPOP whose connection the test kills.
    let broken = script(
        &tc,
        "broken.js",
        r#"
var done = false;
function main() {
  if (done) return;
  done = true;
  var t0 = Date.now();
  var r = redis.Do("BLPOP", "wake", 0);
  var after = redis.Do("PING");
  redis.Do("SET", "observed:broken", JSON.stringify({
    blpop: show(r), next_call: show(after), waited_ms: Date.now() - t0
  }));
}
"#,
    );
    for f in [&blocker, &xreader, &ticker, &multi, &relay, &broken] {
        tc.add_thread(f, &["--hang", "100ms"]);
    }
    let _w = tc.worker("w1");

    // Both blocking commands are pending on connections of their own.
    eventually("BLPOP and XREAD to be pending", secs(15), ms(50), || {
        let b = client_line(&tc, "hats-worker:w1:script:blocker").unwrap_or_default();
        let x = client_line(&tc, "hats-worker:w1:script:xreader").unwrap_or_default();
        if b.contains("cmd=blpop") && x.contains("cmd=xread") {
            Ok(())
        } else {
            Err(format!("blocker: `{b}`, xreader: `{x}`"))
        }
    });

    // Meanwhile the ticker ticks and the heartbeat moves.
    let (ticks0, beat0) = (tc.counter("ticks"), heartbeat(&tc, "w1"));
    std::thread::sleep(ms(1200));
    let (ticks1, beat1) = (tc.counter("ticks"), heartbeat(&tc, "w1"));
    assert!(
        ticks1 - ticks0 >= 4,
        "ticker ran {} times in 1.2 s with hang 100ms while two scripts were blocked",
        ticks1 - ticks0
    );
    assert!(
        beat1 > beat0,
        "the worker's heartbeat moves while scripts block: {beat0} then {beat1}"
    );
    assert_eq!(tc.list("blocker:calls").len(), 1, "BLPOP is still pending");
    assert_eq!(
        tc.counter("xreader:calls"),
        1,
        "XREAD BLOCK is still pending"
    );

    // MULTI left open affects only its own script.
    let obs = observed(&tc, "observed:multi", secs(10));
    let mut c = Checks::new("multi.js (MULTI left open)", &obs);
    c.eq("multi", json!(["OK", null]));
    c.eq("set", json!(["QUEUED", null]));
    c.eq("get", json!(["QUEUED", null]));
    c.done();
    let obs = observed(&tc, "observed:ticker", secs(10));
    let mut c = Checks::new("ticker.js (while multi.js holds a MULTI open)", &obs);
    c.eq("multi_key", json!([null, null]));
    c.eq("own_set", json!(["OK", null]));
    c.eq("own_get", json!(["1", null]));
    c.done();

    // A killed connection: the pending BLPOP reports an error, the next
    // call works on a new connection, and the BLPOP is not sent again.
    let line = eventually("broken.js to wait in BLPOP", secs(10), ms(50), || {
        client_line(&tc, "hats-worker:w1:script:broken")
            .filter(|l| l.contains("cmd=blpop"))
            .ok_or_else(|| "not yet".to_string())
    });
    let id = line
        .split(' ')
        .find_map(|f| f.strip_prefix("id="))
        .expect("a client id")
        .to_string();
    std::thread::sleep(ms(300));
    let killed: i64 = tc.query(redis::cmd("CLIENT").arg("KILL").arg("ID").arg(&id));
    assert_eq!(killed, 1, "killed the script's connection");
    let obs = observed(&tc, "observed:broken", secs(10));
    let mut c = Checks::new("broken.js (its connection killed during BLPOP)", &obs);
    c.eq("blpop/0", Value::Null);
    if !c.at("blpop/1").is_string() {
        c.fail(format!(
            "blpop/1: got {}, want an error string",
            c.at("blpop/1")
        ));
    }
    c.eq("next_call", json!(["PONG", null]));
    c.done();
    tc.query::<()>(redis::cmd("RPUSH").arg("wake").arg("x"));
    std::thread::sleep(ms(700));
    assert_eq!(
        tc.list("wake"),
        ["x"],
        "the BLPOP whose connection broke was not sent again"
    );
    let again = client_line(&tc, "hats-worker:w1:script:broken").unwrap_or_default();
    assert!(
        !again.contains("cmd=blpop"),
        "no BLPOP pending for broken.js: {again}"
    );

    // A stop ends the run pending in BLPOP: its cleanup() runs, and the
    // thread, still enabled, is claimed again and its main() called anew.
    let epoch0 = tc.thread_field("blocker", "epoch");
    let start = Instant::now();
    tc.hatter(&["threads", "stop", "blocker"]).ok();
    eventually(
        "cleanup() of the blocker stopped in BLPOP",
        secs(4),
        ms(20),
        || {
            if tc.llen("blocker:cleanup") >= 1 {
                Ok(())
            } else {
                Err(format!("{:?}", tc.thread("blocker")))
            }
        },
    );
    let took = start.elapsed();
    println!(
        "stop of a thread waiting in BLPOP: cleanup() ran {took:?} after `hatter threads stop`"
    );
    assert!(took < secs(4), "stop took effect after {took:?}");
    eventually("the stopped blocker to run again", secs(5), ms(20), || {
        if tc.list("blocker:calls").len() >= 2 {
            Ok(())
        } else {
            Err(format!("{:?}", tc.thread("blocker")))
        }
    });
    assert_ne!(tc.thread_field("blocker", "epoch"), epoch0, "a new claim");
    assert_eq!(tc.list("blocker:cleanup").len(), 1, "cleanup() ran once");
    assert_eq!(tc.thread_field("ticker", "state"), "running");
}

// ---------------------------------------------------------------------------
// http
// ---------------------------------------------------------------------------

/// A real HTTP server on 127.0.0.1 for the `http` tests, on a runtime of
/// its own; dropping it stops the server.
struct HttpServer {
    addr: SocketAddr,
    _rt: tokio::runtime::Runtime,
}

/// Starts the test HTTP server. Its routes:
///
/// - `/echo`: 200, JSON of the method, query, `Content-Type` and body it got,
///   with `X-Echo: yes`;
/// - `/cookies`: 201 with two `Set-Cookie` headers;
/// - `/missing`: 404 with a body;
/// - `/redirect`: 302 to `/echo?from=redirect`; `/loop`: 302 to itself;
///   `/hops/N`: N redirects, then 200 `arrived`;
/// - `/slow`: 200 after 3 s;
/// - `/exact`: 1,000 bytes, `/big`: 1,001 bytes, both with a length;
///   `/streamed`: 2,000 bytes in chunks, without one;
/// - `/latin1`: a body that is not UTF-8.
fn start_http_server() -> HttpServer {
    use warp::Filter;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime for the test HTTP server");
    let routes = warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .then(answer);
    let (addr, server) =
        rt.block_on(async { warp::serve(routes).bind_ephemeral(([127, 0, 0, 1], 0)) });
    rt.spawn(server);
    HttpServer { addr, _rt: rt }
}

async fn answer(
    method: warp::http::Method,
    path: warp::path::FullPath,
    query: String,
    headers: warp::http::HeaderMap,
    body: warp::hyper::body::Bytes,
) -> warp::http::Response<warp::hyper::Body> {
    use warp::http::Response;
    use warp::hyper::Body;
    let text = |status: u16, body: &str| {
        Response::builder()
            .status(status)
            .body(Body::from(body.to_string()))
            .expect("a response")
    };
    let redirect = |to: String| {
        Response::builder()
            .status(302)
            .header("Location", to)
            .body(Body::empty())
            .expect("a response")
    };
    let p = path.as_str();
    match p {
        "/echo" => {
            let echo = json!({
                "method": method.as_str(),
                "query": query,
                "content_type": headers.get("content-type").map(|v| v.to_str().unwrap_or("?")),
                "body": String::from_utf8_lossy(&body),
            });
            Response::builder()
                .status(200)
                .header("Content-Type", "application/json")
                .header("X-Echo", "yes")
                .body(Body::from(echo.to_string()))
                .expect("a response")
        }
        "/cookies" => Response::builder()
            .status(201)
            .header("Set-Cookie", "a=1; Path=/")
            .header("Set-Cookie", "b=2; Path=/")
            .body(Body::from("two cookies"))
            .expect("a response"),
        "/missing" => text(404, "not here"),
        "/redirect" => redirect("/echo?from=redirect".into()),
        "/loop" => redirect("/loop".into()),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            text(200, "late")
        }
        "/exact" => text(200, &"x".repeat(1000)),
        "/big" => text(200, &"x".repeat(1001)),
        "/streamed" => {
            let (mut tx, body) = Body::channel();
            tokio::spawn(async move {
                for _ in 0..10 {
                    if tx.send_data(vec![b'y'; 200].into()).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            });
            Response::builder()
                .status(200)
                .body(body)
                .expect("a response")
        }
        "/latin1" => Response::builder()
            .status(200)
            .body(Body::from(vec![b'a', 0xff, b'b']))
            .expect("a response"),
        _ => match p.strip_prefix("/hops/").and_then(|n| n.parse::<u32>().ok()) {
            Some(0) => text(200, "arrived"),
            Some(n) => redirect(format!("/hops/{}", n - 1)),
            None => text(500, "no such route in the test server"),
        },
    }
}

/// Every `http` member against a real server: the reply shape
/// `{body, headers, status}` (`Head` without `body`), methods and request
/// bodies (text, JSON, form encoding with repeated keys), repeated response
/// headers, a 404 as an answer, redirects followed up to ten and a loop
/// ended with `{error}`, `--http-timeout 1s` against a 3 s handler, a
/// refused connection, an invalid URL, and `--http-max-body 1000` against
/// longer bodies with and without a length: each failure is `{error}` and
/// nothing else, never a throw and never a truncated success.
#[test]
fn http_methods_replies_and_failures() {
    let server = start_http_server();
    let base = format!("http://{}", server.addr);
    let closed = format!("http://127.0.0.1:{}/", closed_port());
    let tc = TestCluster::new("api-http");
    let web = script(
        &tc,
        "web.js",
        r#"
var base = env.Get("TEST_HTTP_BASE"), closed = env.Get("TEST_HTTP_CLOSED");
var R = {};
R.get = show(http.Get(base + "/echo?x=1&y=two"));
R.post_text = show(http.Post(base + "/echo", "hello"));
R.post_json = show(http.Post(base + "/echo", {a: 1, b: [true, null]}));
R.post_nothing = show(http.Post(base + "/echo"));
R.post_form = show(http.PostForm(base + "/echo", {a: "x y", b: ["1", "2"], "c&d": "é", n: 5}));
R.put = show(http.Put(base + "/echo", "put body"));
R.delete = show(http.Delete(base + "/echo"));
R.head = show(http.Head(base + "/echo"));
R.cookies = show(http.Get(base + "/cookies"));
R.missing = show(http.Get(base + "/missing"));
R.redirect = show(http.Get(base + "/redirect"));
R.ten_hops = show(http.Get(base + "/hops/10"));
R.eleven_hops = show(http.Get(base + "/hops/11"));
R.loop = show(http.Get(base + "/loop"));
var t0 = Date.now();
R.slow = show(http.Get(base + "/slow"));
R.slow_ms = Date.now() - t0;
R.refused = show(http.Get(closed));
R.refused_post = show(http.Post(closed, "x"));
R.invalid = show(http.Get("not a url"));
R.exact = show(http.Get(base + "/exact"));
R.big = show(http.Get(base + "/big"));
R.streamed = show(http.Get(base + "/streamed"));
R.latin1 = show(http.Get(base + "/latin1"));
R.no_url = threw(function () { http.Get(); });
R.bad_form = threw(function () { http.PostForm(base + "/echo", "a=b"); });
redis.Do("SET", "observed:web", JSON.stringify(R));
"#,
    );
    tc.add_thread(&web, &[]);
    let _w = worker_env(
        &tc,
        "w1",
        &["--http-timeout", "1s", "--http-max-body", "1000"],
        &[("TEST_HTTP_BASE", &base), ("TEST_HTTP_CLOSED", &closed)],
    );
    let obs = observed(&tc, "observed:web", secs(30));
    let mut c = Checks::new("web.js", &obs);

    // What the server got, from the JSON it echoed.
    let echoed = |c: &mut Checks, field: &str| -> Value {
        match c
            .at(&format!("{field}/body"))
            .as_str()
            .map(serde_json::from_str::<Value>)
        {
            Some(Ok(v)) => v,
            _ => {
                c.fail(format!("{field}/body: not the echo JSON: {}", c.at(field)));
                Value::Null
            }
        }
    };

    c.keys("get", &["body", "headers", "status"]);
    c.eq("get/status", json!(200));
    c.eq("get/headers/X-Echo", json!(["yes"]));
    c.eq("get/headers/Content-Type", json!(["application/json"]));
    let e = echoed(&mut c, "get");
    if e != json!({"method": "GET", "query": "x=1&y=two", "content_type": null, "body": ""}) {
        c.fail(format!("get: the server saw {e}"));
    }
    for (field, method, content_type, body) in [
        (
            "post_text",
            "POST",
            json!("text/plain; charset=utf-8"),
            "hello",
        ),
        (
            "post_json",
            "POST",
            json!("application/json"),
            r#"{"a":1,"b":[true,null]}"#,
        ),
        ("post_nothing", "POST", Value::Null, ""),
        (
            "post_form",
            "POST",
            json!("application/x-www-form-urlencoded"),
            "a=x+y&b=1&b=2&c%26d=%C3%A9&n=5",
        ),
        ("put", "PUT", json!("text/plain; charset=utf-8"), "put body"),
        ("delete", "DELETE", Value::Null, ""),
    ] {
        c.eq(&format!("{field}/status"), json!(200));
        let e = echoed(&mut c, field);
        let want =
            json!({"method": method, "query": "", "content_type": content_type, "body": body});
        if e != want {
            c.fail(format!("{field}: the server saw {e}, want {want}"));
        }
    }
    c.keys("head", &["headers", "status"]);
    c.eq("head/status", json!(200));
    c.eq("head/headers/X-Echo", json!(["yes"]));
    c.eq("cookies/status", json!(201));
    c.eq(
        "cookies/headers/Set-Cookie",
        json!(["a=1; Path=/", "b=2; Path=/"]),
    );
    c.eq("cookies/body", json!("two cookies"));
    c.keys("missing", &["body", "headers", "status"]);
    c.eq("missing/status", json!(404));
    c.eq("missing/body", json!("not here"));
    c.eq("redirect/status", json!(200));
    let e = echoed(&mut c, "redirect");
    if e["method"] != "GET" || e["query"] != "from=redirect" {
        c.fail(format!("redirect: the server saw {e} at the end"));
    }
    c.eq("ten_hops/status", json!(200));
    c.eq("ten_hops/body", json!("arrived"));
    c.keys("eleven_hops", &["error"]);
    c.contains("eleven_hops/error", &["/hops/11", "more than 10 redirects"]);
    c.keys("loop", &["error"]);
    c.contains("loop/error", &["/loop", "more than 10 redirects"]);
    c.keys("slow", &["error"]);
    c.contains("slow/error", &["/slow", "timed out"]);
    match c.at("slow_ms").as_u64() {
        Some(t) if (900..2500).contains(&t) => {}
        other => c.fail(format!(
            "slow_ms: {other:?}; with --http-timeout 1s the call should end after about 1 s"
        )),
    }
    c.keys("refused", &["error"]);
    c.contains("refused/error", &[closed.as_str(), "could not connect"]);
    c.keys("refused_post", &["error"]);
    c.keys("invalid", &["error"]);
    c.contains("invalid/error", &["not a url", "is not a valid URL"]);
    c.eq("exact/status", json!(200));
    c.eq("exact/body", json!("x".repeat(1000)));
    c.keys("big", &["error"]);
    c.contains("big/error", &["/big", "over the 1000 byte limit"]);
    c.keys("streamed", &["error"]);
    c.contains("streamed/error", &["/streamed", "over the 1000 byte limit"]);
    c.eq("latin1/body", json!("a\u{FFFD}b"));
    c.eq(
        "no_url",
        json!("TypeError: http.Get: argument 1 is missing"),
    );
    c.contains(
        "bad_form",
        &["TypeError: http.PostForm:", "must be an object"],
    );
    c.done();
}

// ---------------------------------------------------------------------------
// sql
// ---------------------------------------------------------------------------

/// `mysql://user[:pass]@host[:port]/db` as the Go driver's
/// `user[:pass]@tcp(host:port)/db`.
fn go_dsn(url: &str) -> String {
    let rest = url.strip_prefix("mysql://").unwrap_or(url);
    let (auth, rest) = rest.rsplit_once('@').unwrap_or(("", rest));
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, ""));
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:3306")
    };
    format!("{auth}@tcp({hostport})/{db}")
}

/// `sql.New` and the handle against a real MariaDB or MySQL: both DSN
/// forms; `Ping`/`Close` giving `null`; `Exec` giving affected rows and
/// `Query` rows of `{column: value}`; arguments bound, so quotes,
/// backslashes and SQL in a value are stored as they are; every column
/// type mapped as documented (numbers, strings for DECIMAL and integers
/// past 2^53, `null`, ISO-8601 dates and times); and the failures: bad SQL
/// and an unknown table give `null`/`undefined` and a log line, a closed
/// handle, an unreachable server, an unknown driver and a bad DSN give
/// error strings, never a crash.
#[test]
fn sql_round_trip_against_mysql() {
    let Ok(url) = std::env::var("HATS_TEST_MYSQL_URL") else {
        println!("skipped: HATS_TEST_MYSQL_URL is not set");
        return;
    };
    let tc = TestCluster::new("api-sql");
    let table = format!("hats_api_{:08x}", random_u64() & 0xffff_ffff);
    let closed_dsn = format!("root@tcp(127.0.0.1:{})/test", closed_port());
    let db = script(
        &tc,
        "db.js",
        r#"
var url = env.Get("DSN_URL"), go = env.Get("DSN_GO"), table = env.Get("TABLE");
var quoted = "it's a \"quote\", a \\ backslash and '); DROP TABLE " + table + "; --";
var R = {};
var db = sql.New(url, "mysql");
R.new_type = typeof db;
try {
  R.ping = show(db.Ping());
  R.create = show(db.Exec(
    "CREATE TABLE " + table + " (id INT PRIMARY KEY, big BIGINT, neg BIGINT, dbl DOUBLE, " +
    "flt FLOAT, dec4 DECIMAL(10,4), txt VARCHAR(200), blb BLOB, nul VARCHAR(10), d DATE, " +
    "dt DATETIME(6), dt0 DATETIME, tm TIME, tmneg TIME, flag BOOLEAN, js TEXT)"));
  R.insert = show(db.Exec(
    "INSERT INTO " + table + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    1, "9007199254740993", -5, 1.5, 1.1, "12.34", quoted, "blob bytes", null,
    "2024-05-06", "2024-05-06 07:08:09.123456", "2024-05-06 07:08:09", "26:03:04",
    "-01:02:03", true, {a: [1, 2]}));
  R.insert_undefined = show(db.Exec("INSERT INTO " + table + " (id, txt) VALUES (?, ?)", 2, undefined));
  R.row = show(db.Query("SELECT * FROM " + table + " WHERE id = ?", 1));
  R.bound = show(db.Query("SELECT id FROM " + table + " WHERE txt = ?", quoted));
  R.null_row = show(db.Query("SELECT id, txt FROM " + table + " WHERE id = ?", 2));
  R.no_rows = show(db.Query("SELECT id FROM " + table + " WHERE id = ?", 99));
  R.count = show(db.Query("SELECT COUNT(*) AS n FROM " + table));
  R.update = show(db.Exec("UPDATE " + table + " SET flag = ? WHERE id >= ?", false, 1));
  R.update_none = show(db.Exec("UPDATE " + table + " SET flag = ? WHERE id = ?", false, 99));
  R.bad_sql = show(db.Query("SELEC nonsense"));
  R.bad_exec = show(db.Exec("INSERT INTO hats_no_such_table_x VALUES (1)"));
  R.unknown_table = show(db.Query("SELECT * FROM hats_no_such_table_x"));
  R.still_works = show(db.Query("SELECT 1 AS one"));

  var g = sql.New(go, "mysql");
  R.go_type = typeof g;
  R.go_ping = show(g.Ping());
  R.go_query = show(g.Query("SELECT ? + 1 AS two, ? AS s", 1, "x"));
  R.go_close = show(g.Close());
  R.after_close = [show(g.Ping()), show(g.Query("SELECT 1")), show(g.Exec("SELECT 1")),
                   show(g.Close())];

  var far = sql.New(env.Get("DSN_CLOSED"), "mysql");
  R.far_type = typeof far;
  R.far = [show(far.Ping()), show(far.Query("SELECT 1")), show(far.Exec("SELECT 1"))];
  R.unknown_driver = show(sql.New(url, "postgres"));
  R.no_driver = show(sql.New(url));
  R.bad_dsn = show(sql.New("not a dsn", "mysql"));
  R.bad_dsn_password = show(sql.New("root:sekrit@somewhere/db", "mysql"));
  R.percent_dsn = typeof sql.New("mysql://root:%a\u00e9@127.0.0.1:1/test", "mysql");
  R.dsn_not_string = threw(function () { sql.New(5, "mysql"); });
  R.query_not_string = threw(function () { db.Query(5); });
  R.drop = show(db.Exec("DROP TABLE " + table));
  R.after_drop = show(db.Query("SELECT * FROM " + table));
  R.close = show(db.Close());
} finally {
  var cleanup = sql.New(url, "mysql");
  cleanup.Exec("DROP TABLE IF EXISTS " + table);
  cleanup.Close();
  redis.Do("SET", "observed:db", JSON.stringify(R));
}
"#,
    );
    tc.add_thread(&db, &[]);
    let go = go_dsn(&url);
    let _w = worker_env(
        &tc,
        "w1",
        &[],
        &[
            ("DSN_URL", &url),
            ("DSN_GO", &go),
            ("TABLE", &table),
            ("DSN_CLOSED", &closed_dsn),
        ],
    );
    let obs = observed(&tc, "observed:db", secs(40));
    let quoted = format!("it's a \"quote\", a \\ backslash and '); DROP TABLE {table}; --");
    let mut c = Checks::new("db.js", &obs);
    c.eq("new_type", json!("object"));
    c.eq("ping", Value::Null);
    c.eq("create", json!(0));
    c.eq("insert", json!(1));
    c.eq("insert_undefined", json!(1));
    c.eq(
        "row",
        json!([{
            "id": 1, "big": "9007199254740993", "neg": -5, "dbl": 1.5, "flt": 1.1,
            "dec4": "12.3400", "txt": quoted, "blb": "blob bytes", "nul": null,
            "d": "2024-05-06", "dt": "2024-05-06T07:08:09.123456", "dt0": "2024-05-06T07:08:09",
            "tm": "26:03:04", "tmneg": "-01:02:03", "flag": 1, "js": r#"{"a":[1,2]}"#
        }]),
    );
    c.eq("bound", json!([{"id": 1}]));
    c.eq("null_row", json!([{"id": 2, "txt": null}]));
    c.eq("no_rows", json!([]));
    c.eq("count", json!([{"n": 2}]));
    c.eq("update", json!(2));
    c.eq("update_none", json!(0));
    c.eq("bad_sql", Value::Null);
    c.eq("bad_exec", json!("<undefined>"));
    c.eq("unknown_table", Value::Null);
    c.eq("still_works", json!([{"one": 1}]));
    c.eq("go_type", json!("object"));
    c.eq("go_ping", Value::Null);
    c.eq("go_query", json!([{"two": 2, "s": "x"}]));
    c.eq("go_close", Value::Null);
    c.contains("after_close/0", &["db.Ping", "closed"]);
    c.eq("after_close/1", Value::Null);
    c.eq("after_close/2", json!("<undefined>"));
    c.eq("after_close/3", Value::Null);
    c.eq("far_type", json!("object"));
    c.contains("far/0", &["db.Ping: cannot connect"]);
    c.eq("far/1", Value::Null);
    c.eq("far/2", json!("<undefined>"));
    c.contains("unknown_driver", &["sql.New: unknown driver `postgres`"]);
    c.contains("no_driver", &["sql.New: unknown driver ``"]);
    c.contains("bad_dsn", &["sql.New:", "`not a dsn` is not a MySQL DSN"]);
    c.contains("bad_dsn_password", &["not a MySQL DSN", "root:***@"]);
    if c.at("bad_dsn_password")
        .as_str()
        .unwrap_or("")
        .contains("sekrit")
    {
        c.fail("bad_dsn_password: the error shows the password".into());
    }
    c.eq("percent_dsn", json!("object"));
    c.contains("dsn_not_string", &["TypeError: sql.New:"]);
    c.contains("query_not_string", &["TypeError: db.Query:"]);
    c.eq("drop", json!(0));
    c.eq("after_drop", Value::Null);
    c.eq("close", Value::Null);

    // Each failure left a line on the thread's log.
    let lines: Vec<String> = log_lines(&tc, "db").into_iter().map(|(_, l)| l).collect();
    for want in [
        "db.Query: ERROR 1064",
        "db.Exec: ERROR 1146",
        "db.Query: ERROR 1146",
        "db.Ping: cannot connect",
        "sql.New: unknown driver `postgres`",
        "is not a MySQL DSN",
    ] {
        if !lines.iter().any(|l| l.contains(want)) {
            c.fail(format!("no log line with `{want}`: {lines:?}"));
        }
    }
    c.done();
    assert_eq!(
        tc.thread_field("db", "state"),
        "running",
        "the script did not crash"
    );
}

// ---------------------------------------------------------------------------
// Containment
// ---------------------------------------------------------------------------

/// Once a run is stopped or disabled, every API call it makes throws an
/// error that `try`/`catch` cannot swallow. A loop of `redis.Do` inside
/// `try` ends after `hatter threads disable`; and for each API member, a
/// script that disables itself and then loops on that member inside `try`
/// ends at its first call: its `cleanup()` (which may still act) records one
/// iteration of the loop and nothing caught.
#[test]
fn api_calls_after_a_stop_cannot_be_caught() {
    let tc = TestCluster::new("api-contain");
    let spinner = script(
        &tc,
        "spinner.js",
        r#"
var caught = 0;
function main() {
  while (true) {
    try { redis.Do("INCR", "spins"); } catch (e) { caught++; }
  }
}
function cleanup() { redis.Do("SET", "spinner:caught", String(caught)); }
"#,
    );
    tc.add_thread(&spinner, &[]);
    let closed_dsn = format!("root@tcp(127.0.0.1:{})/test", closed_port());
    let closed_url = format!("http://127.0.0.1:{}/", closed_port());
    let members: &[(&str, &str)] = &[
        ("console_log", "console.log('x')"),
        ("console_error", "console.error('x')"),
        ("env_get", "env.Get('HOME')"),
        ("env_set", "env.Set('A', 'b')"),
        ("env_unset", "env.Unset('A')"),
        ("redis_do", "redis.Do('PING')"),
        ("http_get", "http.Get(URL)"),
        ("http_post", "http.Post(URL, 'x')"),
        ("http_postform", "http.PostForm(URL, {a: 1})"),
        ("http_put", "http.Put(URL, 'x')"),
        ("http_delete", "http.Delete(URL)"),
        ("http_head", "http.Head(URL)"),
        ("sql_new", "sql.New(DSN, 'mysql')"),
        ("db_ping", "db.Ping()"),
        ("db_query", "db.Query('SELECT 1')"),
        ("db_exec", "db.Exec('SELECT 1')"),
        ("db_close", "db.Close()"),
        ("thread_state", "thread.State()"),
        ("thread_status", "thread.Status()"),
        ("thread_stop", "thread.Stop()"),
        ("thread_disable", "thread.Disable()"),
    ];
    let mut files = Vec::new();
    for (name, call) in members {
        files.push(script(
            &tc,
            &format!("{name}.js"),
            &format!(
                r#"
var URL = {closed_url:?}, DSN = {closed_dsn:?};
var db = sql.New(DSN, "mysql");
var iterations = 0, caught = 0;
function main() {{
  thread.Disable();
  while (true) {{
    iterations++;
    try {{ {call}; }} catch (e) {{ caught++; }}
  }}
}}
function cleanup() {{
  redis.Do("SET", "contain:" + thread.Key, JSON.stringify({{iterations: iterations, caught: caught}}));
}}
"#
            ),
        ));
    }
    let scripts = files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let _w = tc.worker_with("w1", &["--loop-limit", "5000000", "--scripts", &scripts]);

    eventually("the spinner to spin", secs(15), ms(50), || {
        if tc.counter("spins") >= 20 {
            Ok(())
        } else {
            Err(format!("{} spins", tc.counter("spins")))
        }
    });
    tc.hatter(&["threads", "disable", "spinner"]).ok();
    // The record says `stopped` at once; the run itself has ended once its
    // cleanup() has run.
    let caught = eventually("the spinner's run to end", secs(5), ms(20), || {
        tc.try_query::<Option<String>>(redis::cmd("GET").arg("spinner:caught"))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("still running: {:?}", tc.thread("spinner")))
    });
    assert_eq!(caught, "0", "the catch block never saw the refusal");
    let spins = tc.counter("spins");
    std::thread::sleep(ms(500));
    assert_eq!(
        tc.counter("spins"),
        spins,
        "no redis.Do after the run ended"
    );
    let t = tc.thread("spinner");
    assert_eq!(
        (t["state"].as_str(), t["status"].as_str()),
        ("stopped", "disabled"),
        "{t:?}"
    );
    assert_eq!(
        t.get("error").map(String::as_str).unwrap_or(""),
        "",
        "{t:?}"
    );

    // Each member's loop ran once: its first call threw past the catch.
    let mut failures = Vec::new();
    for (name, call) in members {
        let key = format!("contain:{name}");
        let seen = eventually(&format!("{name}'s cleanup()"), secs(10), ms(50), || {
            tc.try_query::<Option<String>>(redis::cmd("GET").arg(&key))
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{:?}", tc.thread(name)))
        });
        let seen: Value = serde_json::from_str(&seen).expect("JSON");
        if seen != json!({"iterations": 1, "caught": 0}) {
            failures.push(format!(
                "`{call}` after thread.Disable(): {seen} (want one iteration, nothing caught)"
            ));
        }
        let t = tc.thread(name);
        if t["status"] != "disabled" {
            failures.push(format!("{name}: {t:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A pure CPU loop (`while (true) {}`) holds up nothing but its own thread:
/// while it spins, a second thread keeps ticking, the worker's heartbeat
/// keeps moving and `/health` answers; the loop budget then crashes the
/// spinning thread with an error naming `--loop-limit`. Recursion without
/// end, plain or through a getter, crashes only its own thread with an
/// error naming `--recursion-limit`, and a source nested deeper than the
/// parser's stack could take is refused with a `SyntaxError` (the script's
/// own source crashes its thread; `eval` and `Function` throw). The worker
/// lives on.
#[test]
fn runaway_loops_and_recursion_crash_only_their_thread() {
    let tc = TestCluster::new("api-runaway");
    let runaway = script(
        &tc,
        "runaway.js",
        r#"
function main() {
  redis.Do("SET", "runaway:started", String(Date.now()));
  while (true) {}
}
"#,
    );
    let ticker = script(
        &tc,
        "ticker.js",
        "function main() { redis.Do(\"RPUSH\", \"ticks\", String(Date.now())); }\n",
    );
    let recurse = script(
        &tc,
        "recurse.js",
        "function f() { return f(); }\nfunction main() { f(); }\n",
    );
    let getter = script(
        &tc,
        "getter.js",
        "var o = { get x() { return o.x; } };\nfunction main() { return o.x; }\n",
    );
    // Nested deeper than the parser's stack could take: refused before it
    // is parsed, instead of aborting the worker.
    let nested = tc.script(
        "nested.js",
        &format!("var z = {}1{};\n", "(".repeat(500), ")".repeat(500)),
    );
    let nested_eval = script(
        &tc,
        "nested_eval.js",
        r#"
var done = false;
function main() {
  if (done) return;
  done = true;
  var deep = "(".repeat(600) + "1" + ")".repeat(600);
  var fine = "(".repeat(150) + "7" + ")".repeat(150);
  redis.Do("SET", "observed:nested_eval", JSON.stringify({
    eval_deep: threw(function () { eval(deep); }),
    function_deep: threw(function () { new Function("return " + deep); }),
    eval_fine: show(eval(fine))
  }));
}
"#,
    );
    for f in [&runaway, &ticker, &recurse, &getter, &nested, &nested_eval] {
        tc.add_thread(f, &["--hang", "100ms"]);
    }
    let health_port = free_port();
    let mut args = tc.worker_args("w1");
    let at = args
        .iter()
        .position(|a| a == "--health-port")
        .expect("--health-port");
    args[at + 1] = health_port.to_string();
    args.extend(["--loop-limit".to_string(), "100000000".to_string()]);
    let mut w = Worker::spawn("w1", &args, &[], tc.dir(), tc.dir());

    eventually("the runaway loop to start", secs(15), ms(20), || {
        tc.try_query::<Option<String>>(redis::cmd("GET").arg("runaway:started"))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "not yet".to_string())
    });

    // While it spins: a heartbeat sample and /health, as often as the
    // window allows.
    let mut beats = vec![heartbeat(&tc, "w1")];
    let mut health = Vec::new();
    while tc.thread_field("runaway", "state") == "running" && beats.len() < 40 {
        std::thread::sleep(ms(100));
        beats.push(heartbeat(&tc, "w1"));
        if health.len() < 3 {
            health.push(get_health(health_port));
        }
    }
    let t = wait_state(&tc, "runaway", "crashed", secs(30));
    assert!(
        t["error"].contains("--loop-limit") && t["error"].contains("main()"),
        "the runaway thread's error names the loop limit: {t:?}"
    );
    assert_eq!(t["status"], "disabled", "{t:?}");

    // The window between the start of the loop and the crash.
    let started: u64 = tc
        .query::<String>(redis::cmd("GET").arg("runaway:started"))
        .parse()
        .expect("a time");
    let crashed: u64 = t["error_at"].parse().expect("error_at");
    let window = crashed.saturating_sub(started);
    println!("the runaway loop ran {window} ms before --loop-limit ended it");
    let ticks: Vec<u64> = tc
        .list("ticks")
        .iter()
        .map(|s| s.parse().expect("a time"))
        .collect();
    let during = ticks
        .iter()
        .filter(|&&t| t > started && t < crashed)
        .count();
    assert!(
        window >= 500,
        "the loop ended after {window} ms, too soon to judge; raise --loop-limit in this test"
    );
    assert!(
        during as u64 >= window / 400,
        "the ticker ran {during} times during the {window} ms of the runaway loop (hang 100ms)"
    );
    let moved = beats.windows(2).filter(|w| w[1] > w[0]).count();
    assert!(
        moved >= 1 && beats.last() > beats.first(),
        "the heartbeat moves while a script spins: samples {beats:?}"
    );
    assert!(
        !health.is_empty() && health.iter().all(|h| h.starts_with("HTTP/1.1 200")),
        "/health answers while a script spins: {health:?}"
    );

    for name in ["recurse", "getter"] {
        let t = wait_state(&tc, name, "crashed", secs(10));
        assert!(
            t["error"].contains("--recursion-limit") && t["error"].contains("main()"),
            "{name}: the error names the recursion limit: {t:?}"
        );
    }
    let t = wait_state(&tc, "nested", "crashed", secs(10));
    assert!(
        t["error"].contains("SyntaxError") && t["error"].contains("nests brackets 500 levels"),
        "a source nested 500 deep is refused with a clear error: {t:?}"
    );
    let obs = observed(&tc, "observed:nested_eval", secs(10));
    let mut c = Checks::new("nested_eval.js", &obs);
    c.contains(
        "eval_deep",
        &["SyntaxError: the source given to eval() nests brackets 600 levels deep"],
    );
    c.contains("function_deep", &["SyntaxError:", "nests brackets 6"]);
    c.eq("eval_fine", json!(7));
    c.done();

    let before = tc.llen("ticks");
    std::thread::sleep(ms(600));
    assert!(tc.llen("ticks") > before, "the ticker still runs");
    assert_eq!(tc.thread_field("ticker", "state"), "running");
    assert!(w.is_running(), "the worker survived every runaway thread");
}

/// The status line of `GET /health` on 127.0.0.1:`port`, or what failed.
fn get_health(port: u16) -> String {
    let attempt = || -> std::io::Result<String> {
        let mut s = std::net::TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            secs(2),
        )?;
        s.set_read_timeout(Some(secs(2)))?;
        s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
        let mut reply = String::new();
        s.read_to_string(&mut reply)?;
        Ok(reply.lines().next().unwrap_or("").to_string())
    };
    attempt().unwrap_or_else(|e| format!("error: {e}"))
}

// ---------------------------------------------------------------------------
// The examples
// ---------------------------------------------------------------------------

/// The path of `examples/NAME` in the repository.
fn example(name: &str) -> String {
    format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The API examples run as their comments say, on one worker: lifecycle.js
/// greets, stops itself after `STOP_AFTER` calls and starts again;
/// redis-counter.js counts, takes a queued job and shows an error reply;
/// http-check.js gets `EXAMPLE_URL` and posts to `EXAMPLE_REPORT_URL`;
/// sql-report.js (with `HATS_TEST_MYSQL_URL` set) writes and counts rows.
/// None of them crashes.
#[test]
fn api_examples_run() {
    let server = start_http_server();
    let echo = format!("http://{}/echo", server.addr);
    let tc = TestCluster::new("api-examples");
    tc.query::<()>(redis::cmd("RPUSH").arg("example:jobs").arg("from-the-test"));
    let mysql = std::env::var("HATS_TEST_MYSQL_URL").ok();
    let table = format!("hats_example_{:08x}", random_u64() & 0xffff_ffff);
    let mut names = vec!["lifecycle", "redis-counter", "http-check"];
    let mut scripts = vec![
        example("lifecycle.js"),
        example("redis-counter.js"),
        example("http-check.js"),
    ];
    let dropper = script(
        &tc,
        "dropper.js",
        r#"
var done = false;
function main() {
  if (done || redis.Do("GET", "drop-now")[0] === null) return;
  done = true;
  var db = sql.New(env.Get("EXAMPLE_MYSQL_DSN"), "mysql");
  redis.Do("SET", "dropped", show(db.Exec("DROP TABLE IF EXISTS " + env.Get("EXAMPLE_TABLE"))));
  db.Close();
}
"#,
    );
    match &mysql {
        Some(_) => {
            names.push("sql-report");
            scripts.push(example("sql-report.js"));
            scripts.push(dropper.display().to_string());
        }
        None => println!("sql-report.js skipped: HATS_TEST_MYSQL_URL is not set"),
    }
    let scripts = scripts.join(",");
    let mut envs = vec![
        ("STOP_AFTER", "2"),
        ("GREETING", "bonjour"),
        ("EXAMPLE_URL", echo.as_str()),
        ("EXAMPLE_REPORT_URL", echo.as_str()),
        ("EXAMPLE_TABLE", table.as_str()),
    ];
    if let Some(url) = &mysql {
        envs.push(("EXAMPLE_MYSQL_DSN", url.as_str()));
    }
    let mut w = worker_env(&tc, "w1", &["--scripts", &scripts, "--run-now"], &envs);

    let has = |name: &str, text: &str| log_lines(&tc, name).iter().any(|(_, l)| l.contains(text));
    eventually("the examples to do their work", secs(20), ms(100), || {
        let http: std::collections::HashMap<String, String> =
            tc.query(redis::cmd("HGETALL").arg("example:http"));
        let mut missing = Vec::new();
        let greetings = log_lines(&tc, "lifecycle")
            .iter()
            .filter(|(_, l)| l.starts_with("bonjour from lifecycle on worker w1"))
            .count();
        if greetings < 2 {
            missing.push(format!("lifecycle greeted {greetings} times"));
        }
        if !has(
            "lifecycle",
            "cleanup after 2 calls (Stopped: true, ShuttingDown: false)",
        ) {
            missing.push("lifecycle's cleanup line".to_string());
        }
        if !has(
            "redis-counter",
            "took job `from-the-test` from example:jobs",
        ) {
            missing.push("redis-counter's job".to_string());
        }
        if !has(
            "redis-counter",
            "an error reply looks like this: [null, \"WRONGTYPE",
        ) {
            missing.push("redis-counter's error reply".to_string());
        }
        if tc.counter("example:counter") < 2 {
            missing.push("example:counter below 2".to_string());
        }
        if http.get("up").map(String::as_str) != Some("true")
            || http.get("status").map(String::as_str) != Some("200")
        {
            missing.push(format!("example:http is {http:?}"));
        }
        if mysql.is_some() && !has("sql-report", "w1: 2 ticks, the last at ") {
            missing.push("sql-report's count of 2".to_string());
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing.join("; "))
        }
    });
    for name in &names {
        let t = tc.thread(name);
        assert!(
            t.get("error").map(String::as_str).unwrap_or("").is_empty() && t["state"] != "crashed",
            "example {name} must not crash: {t:?}"
        );
    }
    if mysql.is_some() {
        tc.query::<()>(redis::cmd("SET").arg("drop-now").arg("1"));
        let dropped = eventually(
            "the example's table to be dropped",
            secs(10),
            ms(50),
            || {
                tc.try_query::<Option<String>>(redis::cmd("GET").arg("dropped"))
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| "not yet".to_string())
            },
        );
        assert_eq!(dropped, "0", "DROP TABLE of the example's table");
    }
    w.sigterm();
    assert_eq!(w.exit_code(secs(15)), 0, "the worker stops cleanly");
}
