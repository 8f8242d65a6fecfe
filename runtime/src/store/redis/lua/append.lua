-- Appends a batch to one stream: checks and write in one atomic step.
-- (Numbers go back to Redis through int(): tostring() rounds to 14 digits.)
-- KEYS: 1 head, 2 log, 3 ids, 4 stream meta, 5 stream index,
--       6 the header column, 7 the metadata column, 8 the payload column,
--       9 statistics, 10 events per type, 11 streams per category, 12 stream list
-- ARGV: 1 stream id, 2 expectation kind (any | no_stream | exists | exact),
--       3 expected version (decimal, for exact), 4 notification channel,
--       then 5 per event: id, type, schema version, metadata ('' = none), payload.
-- An event's header is `<version> <schema> <at> <id> <stream id>\31<type>`
-- (stream ids hold no control character; the type is the rest).
-- Returns one of:
--   {'deleted'}                              the stream is tombstoned
--   {'found', pos|'', stream, version, ...}  some ids are stored: nothing written
--   {'expected', current}                    the expectation failed
--   {'ok', first version, last version, last position}
local function int(x) return string.format('%d', x) end
local stream = ARGV[1]
local n = (#ARGV - 4) / 5
local st = redis.call('HMGET', KEYS[4], 'version', 'deleted')
if st[2] == '1' then return {'deleted'} end
local current = tonumber(st[1] or '0')

-- Where each id is stored, if anywhere (HMGET in chunks: unpack() has a
-- stack limit).
local stored = {}
local any = false
for s = 1, n, 1000 do
  local chunk = {}
  for i = s, math.min(s + 999, n) do chunk[#chunk + 1] = ARGV[4 + (i - 1) * 5 + 1] end
  local got = redis.call('HMGET', KEYS[3], unpack(chunk))
  for j = 1, #chunk do
    stored[s + j - 1] = got[j]
    if got[j] then any = true end
  end
end
local found = {'found'}
if any then
  for i = 1, n do
    local pos = stored[i]
    local version, owner = '', ''
    if pos then
      local header = redis.call('HGET', KEYS[6], pos) or ''
      version, owner = string.match(header, '^(%d+) %S+ %S+ %S+ ([^\31]*)\31')
    end
    found[#found + 1] = pos or ''
    found[#found + 1] = owner or ''
    found[#found + 1] = version or ''
  end
end
if any then return found end

local kind = ARGV[2]
local ok
if kind == 'any' then ok = true
elseif kind == 'no_stream' then ok = (current == 0)
elseif kind == 'exists' then ok = (current > 0)
else ok = (int(current) == ARGV[3]) end
if not ok then return {'expected', int(current)} end
if n == 0 then return {'ok', int(current), int(current), '0'} end

local last = redis.call('INCRBY', KEYS[1], n)
local t = redis.call('TIME')
local at = t[1] .. string.format('%06d', tonumber(t[2]))
-- One command per key for up to 1000 events (unpack() has a stack limit).
local headers, metas, datas, log, index, ids = {}, {}, {}, {}, {}, {}
local function flush()
  if #headers == 0 then return end
  redis.call('HSET', KEYS[6], unpack(headers))
  if #metas > 0 then redis.call('HSET', KEYS[7], unpack(metas)) end
  redis.call('HSET', KEYS[8], unpack(datas))
  redis.call('ZADD', KEYS[2], unpack(log))
  redis.call('ZADD', KEYS[5], unpack(index))
  redis.call('HSET', KEYS[3], unpack(ids))
  headers, metas, datas, log, index, ids = {}, {}, {}, {}, {}, {}
end
for i = 1, n do
  local b = 4 + (i - 1) * 5
  local pos = int(last - n + i)
  local ver = int(current + i)
  local id = ARGV[b + 1]
  headers[#headers + 1] = pos
  headers[#headers + 1] =
    ver .. ' ' .. ARGV[b + 3] .. ' ' .. at .. ' ' .. id .. ' ' .. stream .. '\31' .. ARGV[b + 2]
  if ARGV[b + 4] ~= '' then
    metas[#metas + 1] = pos
    metas[#metas + 1] = ARGV[b + 4]
  end
  datas[#datas + 1] = pos
  datas[#datas + 1] = ARGV[b + 5]
  log[#log + 1] = pos
  log[#log + 1] = pos
  index[#index + 1] = ver
  index[#index + 1] = pos
  ids[#ids + 1] = id
  ids[#ids + 1] = pos
  if i % 1000 == 0 then flush() end
end
flush()
redis.call('HSET', KEYS[4], 'version', int(current + n))
register(KEYS[12], KEYS[11], stream)
local counts = {}
for i = 1, n do
  local ty = ARGV[4 + (i - 1) * 5 + 2]
  counts[ty] = (counts[ty] or 0) + 1
end
count_events(KEYS[9], KEYS[10], counts, n)
redis.call('PUBLISH', ARGV[4], int(last))
return {'ok', int(current + 1), int(current + n), int(last), at}
