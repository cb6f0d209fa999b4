--[[
  Records or refreshes one connection of a user and says whether the user
  thereby comes online. "Online" is membership of the online set, so the
  transitions a caller announces strictly alternate per user, whichever
  instance runs them: only the call that adds the user returns 1.

  KEYS[1] the user's connections (sorted set: connection id -> expiry ms)
  KEYS[2] online users (sorted set: user id -> latest connection expiry ms)
  KEYS[3] online user ids (sorted set, all scores 0, for paging by id)
  ARGV[1] user id
  ARGV[2] connection id
  ARGV[3] TTL of the connection, ms

  Output: 1 the user came online, 0 the user was already online
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
local latest = tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
redis.call('PEXPIREAT', KEYS[1], latest)
local added = redis.call('ZADD', KEYS[2], latest, ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
return added
