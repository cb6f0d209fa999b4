--[[
  Starts a rebuild: empties the ranking and marks it building with a token.

  KEYS[1] mark
  KEYS[2] sorted set id -> score
  KEYS[3] hash id -> revision
  ARGV[1] the rebuild token
  ARGV[2] how long the building mark lives, ms

  Output: 1
]]
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
