-- job_add: create a cron job, or update the one registered under that name.
--
-- KEYS[1]  hats:{C}:jobs             SET of job names
-- KEYS[2]  hats:{C}:job:NAME         HASH, the job record
-- KEYS[3]  hats:{C}:jobs-generation  STRING, raised on every change
--
-- ARGV[1]  job name
-- ARGV[2]  source text
-- ARGV[3]  cron spec, already checked by the caller
-- ARGV[4]  time zone name, "" for UTC
-- ARGV[5]  wanted status: "enabled" or "disabled"
-- ARGV[6]  the file it came from, for people
--
-- Returns {OUTCOME, VERSION}: OUTCOME is "created", "updated" or "unchanged".
--
-- Note: a job is one record per name, so adding it again never makes a
-- second schedule. A change of source, spec or zone raises the version; a
-- claim made from an older version is refused, so the old schedule stops at
-- once, and the "tick" field moves to now so that the ticks of the old
-- schedule are not counted as missed by the new one. Enabling moves it too:
-- ticks that fell while the job was disabled are not owed.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local name = ARGV[1]

if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2],
    'source', ARGV[2], 'version', 1, 'cron', ARGV[3], 'tz', ARGV[4],
    'status', ARGV[5], 'state', 'stopped', 'owner', '', 'path', ARGV[6],
    'created_at', now, 'updated_at', now, 'tick', now, 'claims', 0,
    'run_claim', '', 'run_worker', '', 'run_tick', 0, 'run_started', 0,
    'run_until', 0, 'run_manual', 0, 'last_run', 0, 'last_outcome', '',
    'last_duration', 0, 'error', '', 'error_at', 0)
  redis.call('SADD', KEYS[1], name)
  redis.call('INCR', KEYS[3])
  return {'created', 1}
end

local cur = redis.call('HMGET', KEYS[2], 'source', 'cron', 'tz', 'status', 'version', 'tick')
local version = tonumber(cur[5]) or 0
local tick = tonumber(cur[6]) or 0
local outcome = 'unchanged'
redis.call('SADD', KEYS[1], name)

if cur[1] ~= ARGV[2] or cur[2] ~= ARGV[3] or (cur[3] or '') ~= ARGV[4] then
  version = version + 1
  redis.call('HSET', KEYS[2], 'source', ARGV[2], 'cron', ARGV[3], 'tz', ARGV[4],
    'version', version, 'path', ARGV[6], 'updated_at', now, 'tick', math.max(tick, now))
  outcome = 'updated'
end

if cur[4] ~= ARGV[5] then
  redis.call('HSET', KEYS[2], 'status', ARGV[5], 'updated_at', now)
  if ARGV[5] == 'enabled' then
    redis.call('HSET', KEYS[2], 'tick', math.max(tick, now))
  end
  outcome = 'updated'
end

if outcome ~= 'unchanged' then
  redis.call('INCR', KEYS[3])
end
return {outcome, version}
