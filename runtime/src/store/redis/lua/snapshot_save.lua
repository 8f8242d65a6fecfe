-- Saves (or replaces) one snapshot.
-- KEYS: 1 the stream's snapshot versions, 2 the stream's snapshot fields, 3 statistics
-- ARGV: 1 version, 2 aggregate type, 3 schema version, 4 taken at (micros), 5 payload
if redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[3], 'snapshots', 1)
end
redis.call('HSET', KEYS[2], ARGV[1] .. ':type', ARGV[2], ARGV[1] .. ':schema', ARGV[3],
  ARGV[1] .. ':at', ARGV[4], ARGV[1] .. ':data', ARGV[5])
return 1
