-- Migrates the keys of layout 1 to layout 2: computes the statistics
-- counters from the stored data, then writes the new layout version; in
-- one script, so that no append runs between the count and the version.
-- It reads every event's header and finds the stream and snapshot keys
-- with SCAN (keys it cannot declare): it runs once, on the first open by
-- code of layout 2, and holds the server for a time that grows with the
-- store.
-- KEYS: 1 meta, 2 log, 3 the header column, 4 statistics,
--       5 events per type, 6 streams per category, 7 stream list
-- ARGV: 1 the layout migrated from, 2 the layout migrated to,
--       3 the pattern of stream meta keys, 4 their common start,
--       5 the pattern of snapshot version keys
-- Returns the layout stored afterwards.
local layout = redis.call('HGET', KEYS[1], 'layout')
if layout ~= ARGV[1] then return layout end
redis.call('DEL', KEYS[4], KEYS[5], KEYS[6], KEYS[7])
local function scan(pattern, each)
  local cursor = '0'
  repeat
    local r = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = r[1]
    for _, key in ipairs(r[2]) do each(key) end
  until cursor == '0'
end
-- SCAN may return a key twice: the stream list and `seen` tell.
local deleted = 0
scan(ARGV[3], function(key)
  local stream = string.sub(key, #ARGV[4] + 1)
  if register(KEYS[7], KEYS[6], stream) and redis.call('HGET', key, 'deleted') == '1' then
    deleted = deleted + 1
  end
end)
local snapshots, seen = 0, {}
scan(ARGV[5], function(key)
  if not seen[key] then
    seen[key] = true
    snapshots = snapshots + redis.call('ZCARD', key)
  end
end)
-- Every event once: the log in chunks, their headers for the types.
local counts, total = {}, 0
local n = redis.call('ZCARD', KEYS[2])
for s = 0, n - 1, 1000 do
  local chunk = redis.call('ZRANGE', KEYS[2], s, s + 999)
  if #chunk > 0 then
    local headers = redis.call('HMGET', KEYS[3], unpack(chunk))
    for j = 1, #headers do
      local ty = headers[j] and header_type(headers[j])
      if ty then
        counts[ty] = (counts[ty] or 0) + 1
        total = total + 1
      end
    end
  end
end
count_events(KEYS[4], KEYS[5], counts, total)
if deleted > 0 then redis.call('HSET', KEYS[4], 'deleted', deleted) end
if snapshots > 0 then redis.call('HSET', KEYS[4], 'snapshots', snapshots) end
redis.call('HSET', KEYS[1], 'layout', ARGV[2])
return ARGV[2]
