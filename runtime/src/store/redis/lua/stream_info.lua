-- What is known about one stream.
-- KEYS: 1 stream meta, 2 stream index, 3 the header column
-- Returns {} (never written) or
-- {version, deleted, first event's header | false, last event's header | false}.
local st = redis.call('HMGET', KEYS[1], 'version', 'deleted')
if not st[1] and not st[2] then return {} end
local function header(range)
  if #range == 0 then return false end
  return redis.call('HGET', KEYS[3], range[1]) or false
end
return {st[1] or '0', st[2] or '0',
  header(redis.call('ZRANGE', KEYS[2], 0, 0)), header(redis.call('ZRANGE', KEYS[2], -1, -1))}
