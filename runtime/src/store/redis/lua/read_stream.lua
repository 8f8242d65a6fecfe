-- Reads a window of one stream's versions.
-- KEYS: 1 stream meta, 2 stream index, 3..5 the event columns (header, metadata, payload)
-- ARGV: 1 from, 2 to, 3 limit (-1: none), 4 direction (f | b)
-- Returns {'none'} (never written), {'deleted'}, or {'ok', version, rows...}.
-- Numbers go back to Redis as integers: tostring() would round them to 14 digits.
local function int(x) return string.format('%d', x) end
local st = redis.call('HMGET', KEYS[1], 'version', 'deleted')
if not st[1] and not st[2] then return {'none'} end
if st[2] == '1' then return {'deleted'} end
local current = tonumber(st[1] or '0')
local lo = math.max(tonumber(ARGV[1]), 1)
local hi = math.min(tonumber(ARGV[2]), current)
local limit = tonumber(ARGV[3])
if lo > hi or limit == 0 then return {'ok', int(current)} end
local positions
if ARGV[4] == 'f' then
  if limit > 0 then hi = math.min(hi, lo + limit - 1) end
  positions = redis.call('ZRANGEBYSCORE', KEYS[2], int(lo), int(hi))
else
  if limit > 0 then lo = math.max(lo, hi - limit + 1) end
  positions = redis.call('ZREVRANGEBYSCORE', KEYS[2], int(hi), int(lo))
end
return rows({'ok', int(current)}, positions, 3)
