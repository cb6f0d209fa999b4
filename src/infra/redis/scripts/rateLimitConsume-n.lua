--[[
  Adds points to fixed-window counters, one per key, in one call: the API
  budgets of every request an instance handles in one event-loop turn.
  A counter is a plain integer whose expiry is set when its window opens
  (two commands per counter in the usual case: INCRBY and PTTL).
  A refund (negative points) never takes a counter below zero: a window that
  expired between the consume and its refund must not start in credit.

  KEYS[i]      the counter of one (policy, subject)
  ARGV[2i-1]   points to add (negative to refund)
  ARGV[2i]     window length, ms

  Output: { consumed_1, pttl_1, consumed_2, pttl_2, ... } (pttl in ms)
]]
local out = {}
for i, key in ipairs(KEYS) do
  local consumed = redis.call('INCRBY', key, ARGV[2 * i - 1])
  if consumed < 0 then
    redis.call('SET', key, 0, 'KEEPTTL')
    consumed = 0
  end
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    -- The first points of a window (INCRBY created the counter): the window opens now.
    redis.call('PEXPIRE', key, ARGV[2 * i])
    ttl = tonumber(ARGV[2 * i])
  end
  out[2 * i - 1] = consumed
  out[2 * i] = ttl
end
return out
