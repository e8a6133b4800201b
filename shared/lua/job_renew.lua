-- job_renew: extend the markers of every job run one worker has in progress,
-- in one round trip.
--
-- KEYS[1..n]  hats:{C}:job:NAME  HASH, the record of each running job
--
-- ARGV[1]     lease in ms: each marker still held counts until now + this
-- ARGV[1+i]   the claim of the run of KEYS[i]
--
-- Returns {NOW, CODE...}: Redis's time in ms, then per key "held" (extended)
-- or "lost" (the marker is another claim's now, or the job was removed): that
-- run must stop acting at once.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
local result = {now}
for i, key in ipairs(KEYS) do
  if redis.call('HGET', key, 'run_claim') == ARGV[1 + i] then
    redis.call('HSET', key, 'run_until', now + lease)
    table.insert(result, 'held')
  else
    table.insert(result, 'lost')
  end
end
return result
