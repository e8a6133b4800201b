-- job_admin: an operator's change to one job (hatter jobs disable, enable,
-- rm, run).
--
-- KEYS[1]  hats:{C}:jobs              SET of job names
-- KEYS[2]  hats:{C}:job:NAME          HASH, the job record
-- KEYS[3]  hats:{C}:job-history:NAME  LIST, the run history
-- KEYS[4]  hats:{C}:log:job:NAME      STREAM, the job's log
-- KEYS[5]  hats:{C}:jobs-generation   STRING, raised on every change
--
-- ARGV[1]  job name
-- ARGV[2]  "disable", "enable", "rm", "run" or "withdraw"
-- ARGV[3]  for "run" and "withdraw": the request token
--
-- Returns 0 when the job does not exist. Otherwise 1 when the change did
-- something, 2 when the job already was that way (disable of a disabled job,
-- enable of an enabled one, withdraw of a request a worker already took).
--
-- Note: "run" only leaves a request in the record; a worker's scheduler
-- takes it with job_claim.lua, through the same checks as a tick, so a
-- requested run never overlaps a running one. A run in progress is not
-- interrupted by disable or rm: it finishes, and its fenced finish is
-- refused after rm.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op = ARGV[2]
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
local f = redis.call('HMGET', KEYS[2], 'status', 'tick', 'run_request')
local status = f[1]

local result = 1
if op == 'rm' then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
  redis.call('SREM', KEYS[1], ARGV[1])
elseif op == 'disable' then
  if status == 'disabled' then
    result = 2
  else
    redis.call('HSET', KEYS[2], 'status', 'disabled', 'updated_at', now)
  end
elseif op == 'enable' then
  if status == 'enabled' then
    result = 2
  else
    -- Ticks that fell while it was disabled are not owed.
    local tick = tonumber(f[2]) or 0
    redis.call('HSET', KEYS[2], 'status', 'enabled', 'updated_at', now,
      'tick', math.max(tick, now))
  end
elseif op == 'run' then
  redis.call('HSET', KEYS[2], 'run_request', ARGV[3])
elseif op == 'withdraw' then
  if f[3] == ARGV[3] then
    redis.call('HDEL', KEYS[2], 'run_request')
  else
    result = 2
  end
else
  return redis.error_reply('ERR unknown job operation ' .. op)
end

if result == 1 then
  redis.call('INCR', KEYS[5])
end
return result
