-- job_finish: a worker's report that its run of a job has ended.
--
-- KEYS[1]  hats:{C}:job:NAME          HASH, the job record
-- KEYS[2]  hats:{C}:job-history:NAME  LIST, the run history (JSON, newest first)
-- KEYS[3]  hats:{C}:jobs-generation   STRING, raised when the run disabled the job
--
-- ARGV[1]  the claim of the run (from job_claim.lua)
-- ARGV[2]  the worker
-- ARGV[3]  "ok" or "error"
-- ARGV[4]  the error text ("error" only)
-- ARGV[5]  how long the script ran, in ms
-- ARGV[6]  "1" when the script called job.Disable()
-- ARGV[7]  how many history entries to keep
--
-- Returns 1 when recorded, 0 when refused: the marker is no longer this
-- run's (the job was removed, or the lease ran out and a later claim took
-- over). A refused finish changes nothing.
--
-- Note: an error is recorded on the job and in its history, and the job keeps
-- its schedule; only job.Disable() stops further ticks.

if redis.call('HGET', KEYS[1], 'run_claim') ~= ARGV[1] then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local f = redis.call('HMGET', KEYS[1], 'run_tick', 'run_started', 'run_manual')
local started = tonumber(f[2]) or now
local entry = {outcome = ARGV[3], tick = tonumber(f[1]) or 0, start = started,
  duration_ms = tonumber(ARGV[5]) or 0, worker = ARGV[2], manual = f[3] == '1'}

redis.call('HSET', KEYS[1], 'run_claim', '', 'run_until', 0, 'state', 'stopped', 'owner', '',
  'last_run', started, 'last_outcome', ARGV[3], 'last_duration', entry.duration_ms)
if ARGV[3] == 'error' then
  entry.error = ARGV[4]
  redis.call('HSET', KEYS[1], 'error', ARGV[4], 'error_at', now)
end
redis.call('LPUSH', KEYS[2], cjson.encode(entry))
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[7]) - 1)
if ARGV[6] == '1' then
  redis.call('HSET', KEYS[1], 'status', 'disabled', 'updated_at', now)
  redis.call('INCR', KEYS[3])
end
return 1
