--[[
  Reads a cache entry and its generation, claiming a fresh generation when the
  entry has none. A reader therefore always holds a concrete token: if the
  entry is lost while it loads (flush, restart without persistence, eviction),
  its later cacheWrite finds no token and stores nothing.

  KEYS[1] entry hash { v = payload, g = generation }
  ARGV[1] a new random token, used only if the entry has no generation
  ARGV[2] retention of a newly claimed generation, ms

  Output: { payload or false, generation }
]]
if redis.call('HSETNX', KEYS[1], 'g', ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return redis.call('HMGET', KEYS[1], 'v', 'g')
