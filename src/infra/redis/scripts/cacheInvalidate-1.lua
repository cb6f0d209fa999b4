--[[
  Invalidates one cache entry: drops the payload and replaces the generation
  with a new random token, so any load that started before this call cannot
  store its (older) result. The generation outlives the payload for at least
  ARGV[2] ms, longer than any load can take.

  KEYS[1] entry hash { v = payload, g = generation }
  ARGV[1] a new random generation token
  ARGV[2] minimum retention of the generation, ms

  Output: 1
]]
redis.call('HSET', KEYS[1], 'g', ARGV[1])
redis.call('HDEL', KEYS[1], 'v')
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
