--[[
  Releases a single-flight lock only if the caller still owns it (its token),
  so a holder whose lock already expired cannot delete the next holder's.

  KEYS[1] lock key
  ARGV[1] owner token

  Output: 1 released, 0 not the owner (or already gone)
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
