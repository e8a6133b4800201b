-- claim: take threads that nobody holds, or whose holder stopped renewing.
--
-- KEYS[1]  hats:{C}:leases    ZSET of enabled threads by lease expiry (ms)
-- KEYS[2]  hats:{C}:owners    HASH name -> "WORKER EPOCH VERSION"
-- KEYS[3]  hats:{C}:eligible  ZSET of workers taking work, by heartbeat expiry (ms)
-- KEYS[4]  hats:{C}:epoch     STRING, the cluster's fencing counter
--
-- ARGV[1]  the claiming worker
-- ARGV[2]  how many threads it holds now
-- ARGV[3]  the thread key prefix, "hats:{C}:thread:"
-- ARGV[4]  "share": claim up to the worker's fair share, skipping the names
--          that follow; "named": claim exactly the names that follow, when
--          they are free, whatever the share
-- ARGV[5]  the most threads to claim in this call
-- ARGV[6..] names (see ARGV[4])
--
-- Returns {NOW, NAME, EPOCH, VERSION, DEAD_SECONDS, HANG_MS, SOURCE, ...}:
-- Redis's time in ms, then six fields for each thread claimed.
--
-- Fair share: share = ceil(enabled threads / eligible workers). A worker below
-- its share claims up to it. A worker at its share claims more only when the
-- other eligible workers have no room left either, so that no thread stays
-- unclaimed while some worker could run it.
--
-- Note: the thread record is built from ARGV[3]; those keys share the
-- cluster's hash tag, so the script stays on one Redis Cluster slot.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local worker = ARGV[1]
local held = tonumber(ARGV[2])
local prefix = ARGV[3]
local mode = ARGV[4]
local most = tonumber(ARGV[5])
local result = {now}
local candidates = {}

if mode == 'named' then
  for i = 6, #ARGV do
    local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
    if score and tonumber(score) <= now and #candidates < most then
      table.insert(candidates, ARGV[i])
    end
  end
else
  local skip = {}
  for i = 6, #ARGV do
    skip[ARGV[i]] = true
  end
  local free = redis.call('ZCOUNT', KEYS[1], '-inf', now)
  if free == 0 then
    return result
  end
  local total = redis.call('ZCARD', KEYS[1])
  local live = redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf')
  if live < 1 then
    live = 1
  end
  local share = math.ceil(total / live)
  local room = share - held
  if room <= 0 then
    local others_held = total - free - held
    local others_room = share * (live - 1) - others_held
    if others_room > 0 then
      return result
    end
    room = most
  end
  room = math.min(room, most)
  local found = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, room + (#ARGV - 5))
  for _, name in ipairs(found) do
    if not skip[name] and #candidates < room then
      table.insert(candidates, name)
    end
  end
end

for _, name in ipairs(candidates) do
  local key = prefix .. name
  local f = redis.call('HMGET', key, 'status', 'version', 'dead_seconds', 'hang_ms', 'source')
  if f[1] ~= 'enabled' then
    -- A lease entry without an enabled record behind it: a leftover of a
    -- record deleted by hand. Drop it.
    redis.call('ZREM', KEYS[1], name)
    redis.call('HDEL', KEYS[2], name)
  else
    local epoch = redis.call('INCR', KEYS[4])
    local version = f[2] or '0'
    local dead = f[3] or '2'
    local dead_ms = (tonumber(dead) or 2) * 1000
    redis.call('ZADD', KEYS[1], now + dead_ms, name)
    redis.call('HSET', KEYS[2], name, worker .. ' ' .. epoch .. ' ' .. version)
    redis.call('HSET', key, 'state', 'running', 'owner', worker, 'epoch', epoch, 'started_at', now)
    for _, v in ipairs({name, epoch, version, dead, f[4] or '1000', f[5] or ''}) do
      table.insert(result, v)
    end
  end
end
return result
