--[[
  Stores a freshly loaded cache payload, but only if the entry still carries
  the generation the reader saw (compare-and-set). An invalidation replaces
  the generation, and a lost entry has none, so "read miss -> load old row ->
  writer commits and invalidates (or Redis is flushed) -> reader stores old
  row" leaves nothing stale behind.

  KEYS[1] entry hash { v = payload, g = generation }
  ARGV[1] generation the reader saw (from the turn call, turn-n.lua)
  ARGV[2] payload
  ARGV[3] time to live, ms

  Output: 1 stored, 0 refused (the generation changed or is gone)
]]
if redis.call('HGET', KEYS[1], 'g') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
