-- job_claim: take one tick of a cron job, or an operator's run request, for
-- one worker. Every live worker calls it for every tick; exactly one gets
-- "claimed" and runs the job.
--
-- KEYS[1]  hats:{C}:job:NAME          HASH, the job record
-- KEYS[2]  hats:{C}:job-history:NAME  LIST, the run history (JSON, newest first)
--
-- ARGV[1]  the claiming worker
-- ARGV[2]  the job version the worker computed the tick from
-- ARGV[3]  "tick", or "manual" for a `hatter jobs run` request
-- ARGV[4]  tick: the tick's fire time, Unix ms; manual: the request token
-- ARGV[5]  the fire time before the tick, Unix ms, or "" when there is none
-- ARGV[6]  the fire time after the tick, Unix ms, or "" (shown as next run)
-- ARGV[7]  the value of the record's "tick" field the worker counted missed
--          fire times from, or "" when it counted none
-- ARGV[8]  how many fire times lie strictly between that value and the tick
-- ARGV[9]  the first of those fire times, Unix ms, or ""
-- ARGV[10] lease of the run marker in ms: how long the run counts as running
--          without a renewal from its worker
-- ARGV[11] how many history entries to keep
--
-- Returns one of:
--   {"claimed", CLAIM, NOW, SOURCE, TICK}  run it now; CLAIM fences the
--                   renewals and the finish of this run
--   {"taken"}       this tick (or request) was already handled by a claim
--   {"early", MS}   the tick is MS ms ahead by Redis's clock: try again then
--   {"count", LAST} fire times after LAST were never handled: count those
--                   strictly between LAST and the tick, and call again with
--                   ARGV[7..9] set
--   {"late"}        the tick is a whole period old: recorded as missed, not run
--   {"skipped"}     the previous run still runs: recorded as skipped
--   {"disabled"}    the job is disabled (tick mode only)
--   {"stale", V}    the job is at version V now: reload it
--   {"gone"}        the job does not exist
--
-- Note: the record's "tick" field is the last tick handled (claimed, skipped
-- or missed); a tick at or before it is never claimed again, which is what
-- makes a tick run once however many workers ask, and what keeps the claim
-- state one field per job rather than a key per tick. Time comes from Redis
-- (TIME) alone. A claim whose reply the worker never saw stays claimed: that
-- worker does not run it, and since nobody renews its marker, the next claim
-- after the lease records it as lost.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local worker = ARGV[1]
local mode = ARGV[3]
local cap = tonumber(ARGV[11])

if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'gone'}
end
local f = redis.call('HMGET', KEYS[1], 'status', 'version', 'tick', 'run_claim',
  'run_until', 'run_worker', 'run_tick', 'run_started', 'run_request', 'source')
local status, version, last_text = f[1], f[2], f[3] or '0'
local last = tonumber(last_text) or 0

local function push(entry)
  redis.call('LPUSH', KEYS[2], cjson.encode(entry))
  redis.call('LTRIM', KEYS[2], 0, cap - 1)
end

-- Missed fire times join the newest history entry when that is a missed one
-- too, so an outage is one entry with a count, however long it lasted.
local function missed(count, first, last_missed)
  local head = redis.call('LINDEX', KEYS[2], 0)
  if head then
    local ok, e = pcall(cjson.decode, head)
    if ok and type(e) == 'table' and e.outcome == 'missed' then
      e.count = (tonumber(e.count) or 0) + count
      e.last = last_missed
      redis.call('LSET', KEYS[2], 0, cjson.encode(e))
      return
    end
  end
  push({outcome = 'missed', tick = first, last = last_missed, count = count,
    start = now, duration_ms = 0, worker = worker})
end

if version ~= ARGV[2] then
  return {'stale', version}
end

local tick
if mode == 'manual' then
  if f[9] ~= ARGV[4] then
    return {'taken'}
  end
  redis.call('HDEL', KEYS[1], 'run_request')
  tick = now
else
  if status ~= 'enabled' then
    return {'disabled'}
  end
  tick = tonumber(ARGV[4])
  if tick <= last then
    return {'taken'}
  end
  if now < tick then
    return {'early', tick - now}
  end
  local prev = tonumber(ARGV[5])
  local late = prev and now - tick >= tick - prev
  local owed = prev and prev > last
  local count = 0
  if owed then
    if ARGV[7] ~= last_text then
      return {'count', last_text}
    end
    count = tonumber(ARGV[8]) or 0
  end
  if late then
    redis.call('HSET', KEYS[1], 'tick', tick, 'next_run', ARGV[6])
    if count > 0 then
      missed(count + 1, tonumber(ARGV[9]) or tick, tick)
    else
      missed(1, tick, tick)
    end
    return {'late'}
  end
  if count > 0 then
    missed(count, tonumber(ARGV[9]) or prev, prev)
  end
end

-- The previous run: still running (skip this tick), or lost (record it).
local marker = f[4] or ''
if marker ~= '' then
  if (tonumber(f[5]) or 0) > now then
    redis.call('HSET', KEYS[1], 'tick', math.max(last, tick), 'next_run', ARGV[6])
    push({outcome = 'skipped', tick = tick, start = now, duration_ms = 0,
      worker = worker, running = f[6], manual = (mode == 'manual')})
    return {'skipped'}
  end
  local why = 'lost: worker ' .. (f[6] or '?') ..
    ' stopped renewing this run (it died, or lost Redis); its outcome is unknown'
  local started = tonumber(f[8]) or 0
  push({outcome = 'error', error = why, tick = tonumber(f[7]) or 0, start = started,
    duration_ms = math.max(0, (tonumber(f[5]) or now) - started), worker = f[6]})
  redis.call('HSET', KEYS[1], 'error', why, 'error_at', now, 'last_outcome', 'error')
end

local claim = redis.call('HINCRBY', KEYS[1], 'claims', 1)
redis.call('HSET', KEYS[1], 'tick', math.max(last, tick), 'run_claim', claim,
  'run_worker', worker, 'run_tick', tick, 'run_started', now,
  'run_until', now + tonumber(ARGV[10]), 'run_manual', mode == 'manual' and 1 or 0,
  'state', 'running', 'owner', worker)
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'next_run', ARGV[6])
end
return {'claimed', claim, now, f[10] or '', tick}
