-- renew: one worker's heartbeat and the renewal of every lease it holds, in
-- one round trip.
--
-- KEYS[1]  hats:{C}:leases        ZSET of enabled threads by lease expiry (ms)
-- KEYS[2]  hats:{C}:owners        HASH name -> "WORKER EPOCH VERSION"
-- KEYS[3]  hats:{C}:workers       ZSET of live workers by heartbeat expiry (ms)
-- KEYS[4]  hats:{C}:eligible      ZSET of workers taking work, by heartbeat expiry (ms)
-- KEYS[5]  hats:{C}:worker:NAME   HASH, the worker record
-- KEYS[6]  hats:{C}:worker-names  SET of every worker seen
-- KEYS[7]  hats:{C}:threads       SET of thread names
-- KEYS[8]  hats:{C}:disabled      SET of disabled thread names
--
-- ARGV[1]  worker name
-- ARGV[2]  heartbeat lifetime in ms: the worker counts as gone after it
-- ARGV[3]  "1" when the worker takes work, "0" when it does not
-- ARGV[4]  worker state word ("running", "critical", "draining")
-- ARGV[5]  machine CPU percent
-- ARGV[6]  machine memory percent
-- ARGV[7]  the thread key prefix, "hats:{C}:thread:"
-- ARGV[8]  host name
-- ARGV[9]  process id
-- ARGV[10] start time, Unix ms
-- ARGV[11] HATS version
-- ARGV[12..] for each held lease, three values: NAME EPOCH DEAD_MS
--
-- Returns {NOW, WORKER_STATUS, INDEX_OK, CODE...}: Redis's time in ms; the
-- worker's status as an operator set it ("enabled" or "disabled"); 1 when the
-- thread index adds up (every thread is either in the lease index or in the
-- disabled set), 0 when the worker should run the repair script; then one
-- code per lease, in order:
--   "held:V"      renewed; the record is at version V (a version other than
--                 the one running means the source changed: restart)
--   "released"    end the run: an operator stopped it (the lease is kept
--                 until the release), or disabled or removed it
--   "taken"       another claim holds it now: stop at once
--   "gone"        the record was deleted
--
-- Commands spent do not depend on the number of leases (one HMGET, one ZADD
-- and one EXISTS, each in chunks of 1000), so a cluster at rest costs the
-- same with 10 threads as with 1,000.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local worker = ARGV[1]
local ttl = tonumber(ARGV[2])
local prefix = ARGV[7]
local CHUNK = 1000

local count = (#ARGV - 11) / 3

-- The heartbeat.
redis.call('ZADD', KEYS[3], now + ttl, worker)
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[4], now + ttl, worker)
else
  redis.call('ZREM', KEYS[4], worker)
end
redis.call('SADD', KEYS[6], worker)
local status = redis.call('HGET', KEYS[5], 'status') or 'enabled'
redis.call('HSET', KEYS[5], 'state', ARGV[4], 'status', status, 'cpu', ARGV[5], 'mem', ARGV[6],
  'threads', count, 'heartbeat_at', now, 'host', ARGV[8], 'pid', ARGV[9],
  'started_at', ARGV[10], 'version', ARGV[11])
-- A worker that vanished leaves its record for a day, for `hatter workers list`.
redis.call('PEXPIRE', KEYS[5], 86400000)

local index_ok = 0
if redis.call('SCARD', KEYS[7]) == redis.call('ZCARD', KEYS[1]) + redis.call('SCARD', KEYS[8]) then
  index_ok = 1
end

local result = {now, status, index_ok}
if count == 0 then
  return result
end

local names = {}
for i = 1, count do
  names[i] = ARGV[12 + (i - 1) * 3]
end

local holders = {}
for i = 1, count, CHUNK do
  local part = redis.call('HMGET', KEYS[2], unpack(names, i, math.min(i + CHUNK - 1, count)))
  for _, h in ipairs(part) do
    table.insert(holders, h)
  end
end

local codes = {}
local expiry = {}
local renewed = {}
for i = 1, count do
  local base = 12 + (i - 1) * 3
  local epoch, dead_ms = ARGV[base + 1], tonumber(ARGV[base + 2])
  local h = holders[i]
  if not h then
    codes[i] = 'released'
  else
    local hw, he, hv, mark = string.match(h, '^(%S+) (%S+) (%S+)(.*)$')
    if hw ~= worker or he ~= epoch then
      codes[i] = 'taken'
    else
      -- Still held: extended even when an operator asked for a stop, since
      -- the holder keeps the thread until it has ended the run.
      table.insert(renewed, i)
      expiry[i] = now + dead_ms
      if mark == ' stop' then
        codes[i] = 'released'
      else
        codes[i] = 'held:' .. hv
      end
    end
  end
end

-- Extend the leases still held, and check that their records exist.
for c = 1, #renewed, CHUNK do
  local zargs = {}
  local keys = {}
  for j = c, math.min(c + CHUNK - 1, #renewed) do
    local i = renewed[j]
    table.insert(zargs, expiry[i])
    table.insert(zargs, names[i])
    table.insert(keys, prefix .. names[i])
  end
  redis.call('ZADD', KEYS[1], unpack(zargs))
  if redis.call('EXISTS', unpack(keys)) < #keys then
    for j = c, math.min(c + CHUNK - 1, #renewed) do
      local i = renewed[j]
      if redis.call('EXISTS', prefix .. names[i]) == 0 then
        codes[i] = 'gone'
        redis.call('ZREM', KEYS[1], names[i])
        redis.call('HDEL', KEYS[2], names[i])
      end
    end
  end
end

for i = 1, count do
  table.insert(result, codes[i])
end
return result
