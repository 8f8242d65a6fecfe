-- Removes events of one stream: all of them (hard delete) or those below
-- a version. The stream's version and tombstone stay.
-- KEYS: 1 stream meta, 2 stream index, 3 log, 4 ids,
--       5..7 the event columns (header, metadata, payload),
--       8 statistics, 9 events per type
-- ARGV: 1 mode (hard | before), 2 the version (for before)
-- Returns {'deleted'} (before, on a tombstoned stream) or {'ok', count}.
local st = redis.call('HMGET', KEYS[1], 'version', 'deleted')
if ARGV[1] == 'before' and st[2] == '1' then return {'deleted'} end
local positions
if ARGV[1] == 'hard' then
  positions = redis.call('ZRANGE', KEYS[2], 0, -1)
else
  positions = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2])
end
local counts, removed = {}, 0
for s = 1, #positions, 1000 do
  local chunk = {unpack(positions, s, math.min(s + 999, #positions))}
  local headers = redis.call('HMGET', KEYS[5], unpack(chunk))
  local ids = {}
  for j = 1, #headers do
    local id = headers[j] and string.match(headers[j], '^%S+ %S+ %S+ (%S+) ')
    if id then ids[#ids + 1] = id end
    local ty = headers[j] and header_type(headers[j])
    if ty then
      counts[ty] = (counts[ty] or 0) - 1
      removed = removed - 1
    end
  end
  if #ids > 0 then redis.call('HDEL', KEYS[4], unpack(ids)) end
  redis.call('ZREM', KEYS[3], unpack(chunk))
  redis.call('ZREM', KEYS[2], unpack(chunk))
  for c = 5, 7 do redis.call('HDEL', KEYS[c], unpack(chunk)) end
end
count_events(KEYS[8], KEYS[9], counts, removed)
return {'ok', #positions}
