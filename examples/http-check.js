// http-check.js: http.Get and http.Post, with the {error} a script gets
// instead of an exception when a call fails.
//
// Checks $EXAMPLE_URL (by default the worker's own /health, on its default
// --health-port 8787) once a second, logs the status and time, and keeps
// the last result in the hash example:http. When $EXAMPLE_REPORT_URL is
// set, it also posts each result there as JSON.
//
//   target/debug/worker --scripts examples/http-check.js --run-now
//   EXAMPLE_URL=http://127.0.0.1:9000/ target/debug/worker --scripts examples/http-check.js --run-now

var url = env.Get("EXAMPLE_URL") || "http://127.0.0.1:8787/health";
var reportUrl = env.Get("EXAMPLE_REPORT_URL");

function main() {
  var started = Date.now();
  var r = http.Get(url);
  var ms = Date.now() - started;

  // A refused connection, a time-out (--http-timeout, 30 s by default), too
  // many redirects or a body over --http-max-body: {error: "..."} and
  // nothing else. A 404 or a 500 is an answer, with a status.
  if (r.error) {
    console.warn("no answer from " + url + ": " + r.error);
    redis.Do("HSET", "example:http", "url", url, "up", "false", "error", r.error, "at", Date.now());
    return;
  }

  // Header names come in their canonical form, each with a list of values.
  var type = r.headers["Content-Type"] ? r.headers["Content-Type"][0] : "no content type";
  console.log(url + ": " + r.status + " in " + ms + " ms (" + type + ", " + r.body.length + " characters)");
  redis.Do("HSET", "example:http", "url", url, "up", String(r.status < 400), "status", r.status,
           "ms", ms, "error", "", "at", Date.now());

  if (reportUrl) {
    // An object body is sent as JSON, a string as text/plain.
    var sent = http.Post(reportUrl, {url: url, status: r.status, ms: ms, worker: worker.Name});
    if (sent.error) {
      console.warn("could not report to " + reportUrl + ": " + sent.error);
    }
  }
}
