// A cron job: add it with
//
//   hatter jobs add examples/every-second.js --cron '* * * * * *'
//
// At every tick exactly one worker of the cluster evaluates this whole file
// in a fresh context. `job.Tick` is the tick's scheduled time in Unix
// milliseconds, the same whichever worker runs it, so it makes a good key.
var key = "every-second:" + worker.Cluster;
redis.Do("RPUSH", key, String(job.Tick / 1000));
redis.Do("LTRIM", key, -3600, -1);
console.log("tick", new Date(job.Tick).toISOString(), "on", worker.Name);
