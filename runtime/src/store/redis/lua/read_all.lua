-- Reads events of all streams after a position, in position order.
-- KEYS: 1 log, 2..4 the event columns (header, metadata, payload)
-- ARGV: 1 after, 2 limit
local positions = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'LIMIT', 0, ARGV[2])
return rows({}, positions, 2)
