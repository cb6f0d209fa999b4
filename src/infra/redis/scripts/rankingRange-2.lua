--[[
  Reads a ranking from the highest score down, if it is built.

  KEYS[1] mark: 'ready', or a rebuild token while building; absent if never built or lost
  KEYS[2] sorted set id -> score
  ARGV[1] start position
  ARGV[2] stop position (inclusive)

  Output: { 'ready', id1, score1, id2, score2, ... } or { 'absent' } or { 'building' }
]]
local mark = redis.call('GET', KEYS[1])
if not mark then return { 'absent' } end
if mark ~= 'ready' then return { 'building' } end
local result = redis.call('ZREVRANGE', KEYS[2], ARGV[1], ARGV[2], 'WITHSCORES')
table.insert(result, 1, 'ready')
return result
