-- Tombstones a stream (known or not: a tombstone makes it known).
-- KEYS: 1 stream meta, 2 statistics, 3 streams per category, 4 stream list
-- ARGV: 1 stream id
if redis.call('HGET', KEYS[1], 'deleted') ~= '1' then
  redis.call('HSET', KEYS[1], 'deleted', 1)
  redis.call('HINCRBY', KEYS[2], 'deleted', 1)
end
register(KEYS[4], KEYS[3], ARGV[1])
return 1
