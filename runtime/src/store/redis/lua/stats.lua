-- Shared by the scripts that keep the statistics counters (prepended to
-- them; see the key layout in mod.rs).
-- Makes a stream known: adds it to the stream list and counts it in its
-- category (the text before its first '-', or the whole id). Returns
-- whether it was new.
local function register(streams, categories, stream)
  if redis.call('ZADD', streams, 0, stream) == 0 then return false end
  redis.call('HINCRBY', categories, string.match(stream, '^([^-]*)%-') or stream, 1)
  return true
end
-- Adds `counts` (event type -> count, negative to remove) to the per-type
-- counts and `total` to the event count; a type that reaches zero goes.
local function count_events(stats, types, counts, total)
  if total ~= 0 then redis.call('HINCRBY', stats, 'events', total) end
  for t, c in pairs(counts) do
    if redis.call('HINCRBY', types, t, c) <= 0 then redis.call('HDEL', types, t) end
  end
end
-- The event type of a stored header (`... <stream id>\31<type>`).
local function header_type(header)
  return string.match(header, '\31(.*)$')
end
