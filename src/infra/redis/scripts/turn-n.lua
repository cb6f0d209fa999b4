--[[
  The request path's speed-layer work of one event-loop turn, in one call
  (infra/redis/turn.ts): cache entry reads, then rate-limit counter
  increments, of any number of keys.

  A read returns an entry's payload and generation, claiming a fresh
  generation for an entry that has none: a reader always holds a concrete
  token, so if the entry is lost while it loads (flush, restart without
  persistence, eviction), its later cacheWrite finds no token and stores
  nothing.

  A counter is a fixed window: a plain integer whose expiry is set when its
  window opens (INCRBY and PTTL in the usual case). Negative points (a
  refund) never take a counter below zero: a window that expired between a
  consume and its refund must not start in credit.

  KEYS[1..R]       entry hashes { v = payload, g = generation }
  KEYS[R+1..]      counters, one per (policy, subject)
  ARGV[1]          R, the number of entry reads
  ARGV[2]          retention of a newly claimed generation, ms
  ARGV[3]          a token unique to this call; a claim for KEYS[i] stores ARGV[3]:i
  ARGV[2+2j]       points to add to the j-th counter (negative to refund)
  ARGV[3+2j]       the j-th counter's window, ms

  Output: { payload_1 or false, generation_1, ..., payload_R or false, generation_R,
            consumed_1, pttl_1, consumed_2, pttl_2, ... } (pttl in ms)
]]
local reads = tonumber(ARGV[1])
local out = {}
for i = 1, reads do
  local key = KEYS[i]
  local entry = redis.call('HMGET', key, 'v', 'g')
  local generation = entry[2]
  if not generation then
    -- No generation (a lost or never-read entry): claim one.
    generation = ARGV[3] .. ':' .. i
    redis.call('HSET', key, 'g', generation)
    redis.call('PEXPIRE', key, ARGV[2])
  end
  out[2 * i - 1] = entry[1]
  out[2 * i] = generation
end
for j = 1, #KEYS - reads do
  local key = KEYS[reads + j]
  local consumed = redis.call('INCRBY', key, ARGV[2 + 2 * j])
  if consumed < 0 then
    redis.call('SET', key, 0, 'KEEPTTL')
    consumed = 0
  end
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    -- The first points of a window (INCRBY created the counter): the window opens now.
    redis.call('PEXPIRE', key, ARGV[3 + 2 * j])
    ttl = tonumber(ARGV[3 + 2 * j])
  end
  out[2 * reads + 2 * j - 1] = consumed
  out[2 * reads + 2 * j] = ttl
end
return out
