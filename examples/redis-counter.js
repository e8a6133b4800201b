// redis-counter.js: redis.Do, its [result, error] pairs, a work queue and a
// transaction.
//
// Each main() call counts in example:counter, takes at most one job from
// the list example:jobs (waiting up to a second for one), and records who
// counted last in the hash example:last, in a MULTI/EXEC transaction.
//
//   make run                                          (one terminal)
//   target/debug/hatter threads add examples/redis-counter.js
//   redis-cli -p PORT RPUSH example:jobs hello world  (PORT: as make run says)
//   target/debug/hatter threads logs redis-counter

var shownErrorReply = false;

function main() {
  // Every reply comes as [result, error]: an integer reply is a number.
  var counted = redis.Do("INCR", "example:counter");
  if (counted[1] !== null) {
    console.error("INCR failed: " + counted[1]);
    return;
  }
  var n = counted[0];

  // A blocking command holds up this script only (each run has a Redis
  // connection of its own), yet a timeout keeps a stop or a shutdown from
  // waiting on it: BLPOP's reply is [list, value], or null after the time.
  var job = redis.Do("BLPOP", "example:jobs", 1);
  if (job[1] !== null) {
    console.error("BLPOP failed: " + job[1]);
  } else if (job[0] !== null) {
    console.log("call " + n + ": took job `" + job[0][1] + "` from " + job[0][0]);
  }

  // A transaction: commands after MULTI answer "QUEUED"; EXEC answers with
  // the list of their results.
  redis.Do("MULTI");
  redis.Do("HSET", "example:last", "count", n, "worker", worker.Name, "at", Date.now());
  redis.Do("EXPIRE", "example:last", 3600);
  var exec = redis.Do("EXEC");
  if (exec[1] !== null) {
    console.error("EXEC failed: " + exec[1]);
  }

  // An error reply is a value, not an exception.
  if (!shownErrorReply) {
    shownErrorReply = true;
    var wrong = redis.Do("LPUSH", "example:counter", "x");
    console.log("an error reply looks like this: [" + wrong[0] + ", \"" + wrong[1] + "\"]");
  }
  if (n % 10 === 0) {
    console.log("the counter is at " + n);
  }
}
