--[[
  Finishes a rebuild: merges the SQL snapshot under the newer-revision rule
  (an update applied since rankingBegin is newer and stays) and marks the
  ranking ready, unless another rebuild took over.

  KEYS[1] mark
  KEYS[2] sorted set id -> score
  KEYS[3] hash id -> revision
  ARGV[1] the token rankingBegin set
  ARGV[2] how long the ready mark lives, ms
  ARGV[3] retention of the set and revisions, ms
  ARGV[4..] triples: id, revision, score (empty string: absent)

  Output: 1 if finished, 0 if the token no longer matches
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 4, #ARGV, 3 do
  local id, revision, score = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local recorded = tonumber(redis.call('HGET', KEYS[3], id))
  if recorded == nil or recorded < revision then
    redis.call('HSET', KEYS[3], id, revision)
    if score == '' then
      redis.call('ZREM', KEYS[2], id)
    else
      redis.call('ZADD', KEYS[2], score, id)
    end
  end
end
redis.call('SET', KEYS[1], 'ready', 'PX', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return 1
