// A weekday report at 09:30 Berlin time:
//
//   hatter jobs add examples/nightly-report.js --cron '0 30 9 * * MON-FRI' --tz Europe/Berlin
//
// An uncaught error is recorded on the job and in its history (`hatter jobs
// show nightly-report`), and the job keeps its schedule. Calling
// job.Disable() stops further ticks until `hatter jobs enable`.
var counter = "reports:" + worker.Cluster;
var reply = redis.Do("INCR", counter);
if (reply[1] !== null) {
  throw new Error("cannot count reports: " + reply[1]);
}
console.info("report", reply[0], "for", new Date(job.Tick).toISOString());
if (env.Get("REPORTS_OFF") === "1") {
  console.warn("REPORTS_OFF is set: disabling the job");
  job.Disable();
}
