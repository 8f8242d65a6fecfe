-- The newest snapshot at or below a version of one aggregate type and
-- schema version.
-- KEYS: 1 the stream's snapshot versions, 2 the stream's snapshot fields
-- ARGV: 1 max version, 2 aggregate type, 3 schema version
-- Returns {} or {version, taken at, payload}.
local versions = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '-inf')
for i = 1, #versions do
  local v = versions[i]
  local f = redis.call('HMGET', KEYS[2], v .. ':type', v .. ':schema')
  if f[1] == ARGV[2] and f[2] == ARGV[3] then
    local d = redis.call('HMGET', KEYS[2], v .. ':at', v .. ':data')
    return {v, d[1] or false, d[2] or false}
  end
end
return {}
