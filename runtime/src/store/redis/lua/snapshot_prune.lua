-- Keeps the newest ARGV[1] snapshots of a stream; returns how many were deleted.
-- KEYS: 1 the stream's snapshot versions, 2 the stream's snapshot fields
local keep = tonumber(ARGV[1])
local old = redis.call('ZRANGE', KEYS[1], 0, string.format('%d', -(keep + 1)))
for i = 1, #old do
  local v = old[i]
  redis.call('HDEL', KEYS[2], v .. ':type', v .. ':schema', v .. ':at', v .. ':data')
  redis.call('ZREM', KEYS[1], v)
end
return #old
