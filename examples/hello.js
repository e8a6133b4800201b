// hello.js: the smallest thread. Top-level code runs once, init() once,
// main() every `hang` (1 s by default), cleanup() once when the thread stops.
var count = 0;

function init() {
  console.log("hello from " + thread.Key + " on worker " + worker.Name);
}

function main() {
  count++;
  console.log("tick " + count);
  redis.Do("SET", "hello:last-tick", count);
}

function cleanup() {
  console.log("goodbye after " + count + " ticks");
}
