-- Keeps the newest ARGV[1] snapshots of a stream (0: deletes them all);
-- returns how many were deleted.
-- KEYS: 1 the stream's snapshot versions, 2 the stream's snapshot fields, 3 statistics
local keep = tonumber(ARGV[1])
local old = redis.call('ZRANGE', KEYS[1], 0, string.format('%d', -(keep + 1)))
for i = 1, #old do
  local v = old[i]
  redis.call('HDEL', KEYS[2], v .. ':type', v .. ':schema', v .. ':at', v .. ':data')
  redis.call('ZREM', KEYS[1], v)
end
if #old > 0 then redis.call('HINCRBY', KEYS[3], 'snapshots', -#old) end
return #old
