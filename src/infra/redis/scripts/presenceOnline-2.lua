--[[
  One page of online users in id order, and how many are online.

  KEYS[1] online users (sorted set: user id -> latest connection expiry ms)
  KEYS[2] online user ids (sorted set, all scores 0)
  ARGV[1] the last id of the previous page, or '' for the first page
  ARGV[2] page size

  Output: { count, ids of the page that are still live, last id scanned or false when the end was reached }
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local count = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
local from = '-'
if ARGV[1] ~= '' then from = '(' .. ARGV[1] end
local limit = tonumber(ARGV[2])
local scanned = redis.call('ZRANGE', KEYS[2], from, '+', 'BYLEX', 'LIMIT', 0, limit)
local live = {}
for _, id in ipairs(scanned) do
  local expiry = redis.call('ZSCORE', KEYS[1], id)
  if expiry and tonumber(expiry) > now then live[#live + 1] = id end
end
local last = false
if #scanned == limit then last = scanned[#scanned] end
return { count, live, last }
