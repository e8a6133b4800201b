-- admin: an operator's change to one thread (hatter stop, disable, enable, rm).
--
-- KEYS[1]  hats:{C}:threads         SET of thread names
-- KEYS[2]  hats:{C}:thread:NAME     HASH, the thread record
-- KEYS[3]  hats:{C}:leases          ZSET of enabled threads by lease expiry (ms)
-- KEYS[4]  hats:{C}:owners          HASH name -> "WORKER EPOCH VERSION"
-- KEYS[5]  hats:{C}:disabled        SET of disabled thread names
-- KEYS[6]  hats:{C}:log:thread:NAME STREAM, the thread's log
--
-- ARGV[1]  thread name
-- ARGV[2]  "stop", "disable", "enable" or "rm"
--
-- Returns 0 when the thread does not exist. Otherwise 1 when the change did
-- something, 2 when the thread already was that way (stop of a thread nobody
-- runs, disable of a disabled one, enable of an enabled one).
--
-- Note: stop marks the holder's owners entry ("... stop"); the holder learns
-- it at its next renewal, ends the run, runs cleanup() and releases the
-- thread, which only then becomes claimable (or when the lease runs out, if
-- the holder died). Disable drops the entry and the lease at once: a disabled
-- thread cannot be claimed, so nobody can start it meanwhile. The holder's
-- own write of the end is fenced by epoch either way.

local name = ARGV[1]
local op = ARGV[2]
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
local f = redis.call('HMGET', KEYS[2], 'status', 'state')
local status, state = f[1], f[2]

if op == 'rm' then
  redis.call('DEL', KEYS[2], KEYS[6])
  redis.call('SREM', KEYS[1], name)
  redis.call('SREM', KEYS[5], name)
  redis.call('ZREM', KEYS[3], name)
  redis.call('HDEL', KEYS[4], name)
  return 1
end

if op == 'stop' then
  local holder = redis.call('HGET', KEYS[4], name)
  if holder then
    -- The holder keeps its lease until it has ended the run and released
    -- the thread: making it claimable now would let another worker start it
    -- while the holder's main() still runs.
    if not string.find(holder, ' stop$') then
      redis.call('HSET', KEYS[4], name, holder .. ' stop')
    end
    return 1
  end
  if status == 'enabled' then
    redis.call('ZADD', KEYS[3], 0, name)
  end
  if state == 'running' then
    redis.call('HSET', KEYS[2], 'state', 'stopped', 'owner', '')
    return 1
  end
  return 2
end

if op == 'disable' then
  redis.call('ZREM', KEYS[3], name)
  redis.call('HDEL', KEYS[4], name)
  redis.call('SADD', KEYS[5], name)
  if status == 'disabled' then
    return 2
  end
  redis.call('HSET', KEYS[2], 'status', 'disabled')
  if state == 'running' then
    redis.call('HSET', KEYS[2], 'state', 'stopped', 'owner', '')
  end
  return 1
end

if op == 'enable' then
  redis.call('SREM', KEYS[5], name)
  redis.call('ZADD', KEYS[3], 'NX', 0, name)
  if status == 'enabled' then
    return 2
  end
  redis.call('HSET', KEYS[2], 'status', 'enabled')
  if state == 'crashed' then
    redis.call('HSET', KEYS[2], 'state', 'stopped')
  end
  return 1
end

return redis.error_reply('ERR unknown admin operation ' .. op)
