--[[
  Applies ranking entries whose revision is newer than the recorded one, so
  updates that arrive out of order cannot replace a newer score by an older.

  KEYS[1] sorted set id -> score
  KEYS[2] hash id -> revision
  ARGV[1] retention of both keys, ms
  ARGV[2..] triples: id, revision, score (empty string: remove the id)

  Output: number of entries applied
]]
local applied = 0
for i = 2, #ARGV, 3 do
  local id, revision, score = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local recorded = tonumber(redis.call('HGET', KEYS[2], id))
  if recorded == nil or recorded < revision then
    redis.call('HSET', KEYS[2], id, revision)
    if score == '' then
      redis.call('ZREM', KEYS[1], id)
    else
      redis.call('ZADD', KEYS[1], score, id)
    end
    applied = applied + 1
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return applied
