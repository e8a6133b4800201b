-- register: create a thread, or update one registered before.
--
-- KEYS[1]  hats:{C}:threads      SET of thread names
-- KEYS[2]  hats:{C}:thread:NAME  HASH, the thread record
-- KEYS[3]  hats:{C}:leases       ZSET of enabled threads by lease expiry (ms)
-- KEYS[4]  hats:{C}:owners       HASH name -> "WORKER EPOCH VERSION"
-- KEYS[5]  hats:{C}:disabled     SET of disabled thread names
--
-- ARGV[1]  thread name
-- ARGV[2]  source text
-- ARGV[3]  hang in milliseconds, or "" to keep the current one (default on create)
-- ARGV[4]  dead seconds, or "" to keep the current one (default on create)
-- ARGV[5]  wanted status: "enabled" or "disabled"
-- ARGV[6]  the file it came from, for people
-- ARGV[7]  default hang in milliseconds
-- ARGV[8]  default dead seconds
--
-- Returns {OUTCOME, VERSION}: OUTCOME is "created", "updated" or "unchanged".
--
-- Note: a change of source, hang or dead seconds raises the version and writes
-- the new version into the holder's owners entry. The holder's next renewal
-- sees its version is old and restarts the run with the new source, keeping
-- the lease: the thread does not move to another worker.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local name = ARGV[1]

local function set_status(status)
  if status == 'enabled' then
    redis.call('HSET', KEYS[2], 'status', 'enabled')
    if redis.call('HGET', KEYS[2], 'state') == 'crashed' then
      redis.call('HSET', KEYS[2], 'state', 'stopped')
    end
    redis.call('SREM', KEYS[5], name)
    redis.call('ZADD', KEYS[3], 'NX', 0, name)
  else
    redis.call('HSET', KEYS[2], 'status', 'disabled', 'state', 'stopped', 'owner', '')
    redis.call('SADD', KEYS[5], name)
    redis.call('ZREM', KEYS[3], name)
    redis.call('HDEL', KEYS[4], name)
  end
end

if redis.call('EXISTS', KEYS[2]) == 0 then
  local hang = ARGV[3] ~= '' and ARGV[3] or ARGV[7]
  local dead = ARGV[4] ~= '' and ARGV[4] or ARGV[8]
  redis.call('HSET', KEYS[2],
    'source', ARGV[2], 'version', 1, 'status', ARGV[5], 'state', 'stopped',
    'owner', '', 'epoch', 0, 'hang_ms', hang, 'dead_seconds', dead,
    'error', '', 'error_at', 0, 'path', ARGV[6],
    'created_at', now, 'updated_at', now, 'started_at', 0)
  redis.call('SADD', KEYS[1], name)
  set_status(ARGV[5])
  return {'created', 1}
end

local cur = redis.call('HMGET', KEYS[2], 'source', 'hang_ms', 'dead_seconds', 'status', 'version')
local hang = ARGV[3] ~= '' and ARGV[3] or (cur[2] or ARGV[7])
local dead = ARGV[4] ~= '' and ARGV[4] or (cur[3] or ARGV[8])
local version = tonumber(cur[5]) or 0
local outcome = 'unchanged'

-- The record may have lost its index entry (a hand edit); registering puts
-- it back.
redis.call('SADD', KEYS[1], name)

if cur[1] ~= ARGV[2] or cur[2] ~= hang or cur[3] ~= dead then
  version = version + 1
  redis.call('HSET', KEYS[2], 'source', ARGV[2], 'hang_ms', hang, 'dead_seconds', dead,
    'version', version, 'path', ARGV[6], 'updated_at', now)
  local holder = redis.call('HGET', KEYS[4], name)
  if holder then
    local w, e, mark = string.match(holder, '^(%S+) (%S+) %S+(.*)$')
    if w then
      redis.call('HSET', KEYS[4], name, w .. ' ' .. e .. ' ' .. version .. mark)
    end
  end
  outcome = 'updated'
end

if cur[4] ~= ARGV[5] then
  set_status(ARGV[5])
  outcome = 'updated'
end

return {outcome, version}
