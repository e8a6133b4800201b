-- repair: make the thread index agree with the thread records again.
--
-- Run when a renewal reports that the counts disagree (every thread must be
-- either in the lease index or in the disabled set), which happens only after
-- keys were deleted or edited by hand. It walks every thread once, so it costs
-- time in proportion to the number of threads; it is not part of the steady
-- state.
--
-- KEYS[1]  hats:{C}:threads   SET of thread names
-- KEYS[2]  hats:{C}:leases    ZSET of enabled threads by lease expiry (ms)
-- KEYS[3]  hats:{C}:owners    HASH name -> "WORKER EPOCH VERSION"
-- KEYS[4]  hats:{C}:disabled  SET of disabled thread names
--
-- ARGV[1]  the thread key prefix, "hats:{C}:thread:"
--
-- Returns the number of entries fixed.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix = ARGV[1]
local fixed = 0
local known = {}

for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local f = redis.call('HMGET', prefix .. name, 'status', 'state')
  if not f[1] then
    -- The record is gone: drop the name everywhere.
    redis.call('SREM', KEYS[1], name)
    redis.call('SREM', KEYS[4], name)
    redis.call('ZREM', KEYS[2], name)
    redis.call('HDEL', KEYS[3], name)
    fixed = fixed + 1
  elseif f[1] == 'enabled' then
    known[name] = true
    fixed = fixed + redis.call('SREM', KEYS[4], name)
    local held = redis.call('HEXISTS', KEYS[3], name) == 1
    if not redis.call('ZSCORE', KEYS[2], name) then
      if held then
        -- Give the holder one lease period: a live holder renews it, a dead
        -- one lets it expire and be taken over.
        local dead = tonumber(redis.call('HGET', prefix .. name, 'dead_seconds')) or 2
        redis.call('ZADD', KEYS[2], now + dead * 1000, name)
      else
        redis.call('ZADD', KEYS[2], 0, name)
      end
      fixed = fixed + 1
    end
    if not held and f[2] == 'running' then
      redis.call('HSET', prefix .. name, 'state', 'stopped', 'owner', '')
      fixed = fixed + 1
    end
  else
    known[name] = true
    fixed = fixed + redis.call('SADD', KEYS[4], name)
    fixed = fixed + redis.call('ZREM', KEYS[2], name)
    fixed = fixed + redis.call('HDEL', KEYS[3], name)
  end
end

for _, name in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if not known[name] then
    redis.call('ZREM', KEYS[2], name)
    redis.call('HDEL', KEYS[3], name)
    fixed = fixed + 1
  end
end
for _, name in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  if not known[name] then
    redis.call('SREM', KEYS[4], name)
    fixed = fixed + 1
  end
end
return fixed
