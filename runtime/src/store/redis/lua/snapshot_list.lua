-- The snapshots of one stream, by version, without their payloads.
-- KEYS: 1 the stream's snapshot versions, 2 the stream's snapshot fields
-- Returns {version, type, schema, taken at, payload size, ...}.
local out = {}
for _, v in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local f = redis.call('HMGET', KEYS[2], v .. ':type', v .. ':schema', v .. ':at')
  out[#out + 1] = v
  out[#out + 1] = f[1] or false
  out[#out + 1] = f[2] or false
  out[#out + 1] = f[3] or false
  out[#out + 1] = redis.call('HSTRLEN', KEYS[2], v .. ':data')
end
return out
