--[[
  Removes one connection of a user (or none, to only drop expired ones, as the
  sweep of a crashed instance's connections does) and says whether the user
  thereby goes offline: when no live connection is left, the user leaves the
  online sets, and only the call that removes them returns 1.

  KEYS[1] the user's connections (sorted set: connection id -> expiry ms)
  KEYS[2] online users (sorted set: user id -> latest connection expiry ms)
  KEYS[3] online user ids (sorted set, all scores 0)
  ARGV[1] user id
  ARGV[2] connection id to remove, or '' for none

  Output: 1 the user went offline, 0 otherwise
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] ~= '' then redis.call('ZREM', KEYS[1], ARGV[2]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] then
  if redis.call('ZSCORE', KEYS[2], ARGV[1]) then redis.call('ZADD', KEYS[2], tonumber(top[2]), ARGV[1]) end
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return redis.call('ZREM', KEYS[2], ARGV[1])
