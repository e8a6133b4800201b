-- release: a worker's report that its run of a thread has ended.
--
-- KEYS[1]  hats:{C}:leases       ZSET of enabled threads by lease expiry (ms)
-- KEYS[2]  hats:{C}:owners       HASH name -> "WORKER EPOCH VERSION"
-- KEYS[3]  hats:{C}:thread:NAME  HASH, the thread record
-- KEYS[4]  hats:{C}:disabled     SET of disabled thread names
--
-- ARGV[1]  thread name
-- ARGV[2]  worker name
-- ARGV[3]  the epoch of the run that ended
-- ARGV[4]  how it ended:
--            "stopped"  it ended (stop, shutdown, source change, lost
--                       health): free it for any worker at once
--            "disable"  the script called thread.Disable()
--            "crashed"  an uncaught error: disable it and record the error
-- ARGV[5]  the error text ("crashed" only)
--
-- Returns 1 when applied, 0 when refused because the epoch is stale: another
-- claim happened since, and this worker's view no longer counts.

local name = ARGV[1]
local worker = ARGV[2]
local epoch = ARGV[3]
local how = ARGV[4]

if redis.call('HGET', KEYS[3], 'epoch') ~= epoch then
  return 0
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local holder = redis.call('HGET', KEYS[2], name)
local mine = false
if holder then
  local hw, he = string.match(holder, '^(%S+) (%S+)')
  mine = hw == worker and he == epoch
end
if mine then
  redis.call('HDEL', KEYS[2], name)
end

if how == 'crashed' then
  redis.call('HSET', KEYS[3], 'status', 'disabled', 'state', 'crashed', 'owner', '',
    'error', ARGV[5], 'error_at', now)
  redis.call('ZREM', KEYS[1], name)
  redis.call('SADD', KEYS[4], name)
elseif how == 'disable' then
  redis.call('HSET', KEYS[3], 'status', 'disabled', 'state', 'stopped', 'owner', '')
  redis.call('ZREM', KEYS[1], name)
  redis.call('SADD', KEYS[4], name)
else
  redis.call('HSET', KEYS[3], 'state', 'stopped', 'owner', '')
  if mine and redis.call('HGET', KEYS[3], 'status') == 'enabled' then
    redis.call('ZADD', KEYS[1], 0, name)
  end
end
return 1
