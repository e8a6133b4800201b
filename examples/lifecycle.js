// lifecycle.js: a thread's own life, with console, env, worker and thread.
//
// It greets with $GREETING (or "hello"), logs a line per main() call with
// the state and status it reads from Redis, and after $STOP_AFTER calls
// (10 unless set) stops itself. A stop leaves the thread enabled, so a
// worker starts it again from the top: watch init() greet once more.
//
//   target/debug/worker --scripts examples/lifecycle.js --run-now
//   target/debug/hatter threads logs lifecycle       (in another terminal)

// env.Get gives undefined for a variable that is not set.
var greeting = env.Get("GREETING") || "hello";
var stopAfter = Number(env.Get("STOP_AFTER") || "10");
var calls = 0;

function init() {
  console.log(greeting + " from " + thread.Key + " on worker " + worker.Name +
              " of cluster " + worker.Cluster);

  // env.Set changes an overlay that every script of this worker sees; the
  // worker's real environment stays as it was. It returns null, or an
  // error string for a name that cannot be a variable.
  var err = env.Set("LIFECYCLE_STARTED_AT", new Date().toISOString());
  if (err !== null) {
    console.warn("env.Set failed: " + err);
  }
}

function main() {
  calls++;
  // State() and Status() read the thread's record in Redis at each call.
  console.info("call " + calls + ": state " + thread.State() + ", status " + thread.Status() +
               ", started at " + env.Get("LIFECYCLE_STARTED_AT"));

  // worker.ShuttingDown is read afresh at each access: after SIGTERM the
  // current main() may finish, and no other starts.
  if (worker.ShuttingDown) {
    console.log("the worker is shutting down; this was the last call");
    return;
  }
  if (calls >= stopAfter) {
    console.warn("stopping after " + calls + " calls; a worker will start me again");
    thread.Stop();
    // From here on this run may not act: any API call would throw an error
    // that no try/catch can catch. Returning is all that is left to do.
  }
}

function cleanup() {
  // cleanup() runs once when the run ends (a stop, a disable, a source
  // change, a shutdown), and may still use the API.
  console.log("cleanup after " + calls + " calls (Stopped: " + thread.Stopped +
              ", ShuttingDown: " + worker.ShuttingDown + ")");
}
