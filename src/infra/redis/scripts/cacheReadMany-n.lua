--[[
  Reads cache entries and their generations in one call (the reads of one
  event-loop turn), claiming a fresh generation for an entry that has none. A
  reader therefore always holds a concrete token: if the entry is lost while
  it loads (flush, restart without persistence, eviction), its later
  cacheWrite finds no token and stores nothing.

  KEYS[i]  entry hash { v = payload, g = generation }
  ARGV[1]  retention of a newly claimed generation, ms
  ARGV[2]  a token unique to this call; a claim for KEYS[i] stores ARGV[2]:i

  Output: { payload_1 or false, generation_1, payload_2 or false, generation_2, ... }
]]
local out = {}
for i, key in ipairs(KEYS) do
  local entry = redis.call('HMGET', key, 'v', 'g')
  local generation = entry[2]
  if not generation then
    -- No generation (a lost or never-read entry): claim one.
    generation = ARGV[2] .. ':' .. i
    redis.call('HSET', key, 'g', generation)
    redis.call('PEXPIRE', key, ARGV[1])
  end
  out[2 * i - 1] = entry[1]
  out[2 * i] = generation
end
return out
