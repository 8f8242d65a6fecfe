-- What is known about some streams.
-- KEYS: 1 the header column, then per stream: its meta, its index
-- Returns per stream four values: its version (false: never written),
-- deleted, its first event's header | false, its last event's header | false.
local function header(range)
  if #range == 0 then return false end
  return redis.call('HGET', KEYS[1], range[1]) or false
end
local out = {}
for k = 2, #KEYS, 2 do
  local st = redis.call('HMGET', KEYS[k], 'version', 'deleted')
  if not st[1] and not st[2] then
    for _ = 1, 4 do out[#out + 1] = false end
  else
    out[#out + 1] = st[1] or '0'
    out[#out + 1] = st[2] or '0'
    out[#out + 1] = header(redis.call('ZRANGE', KEYS[k + 1], 0, 0))
    out[#out + 1] = header(redis.call('ZRANGE', KEYS[k + 1], -1, -1))
  end
end
return out
