-- Shared by the read scripts: the stored columns of the events at
-- `positions`, as one flat reply of 9 values per event (position, stream,
-- version, id, type, schema, at, meta, data), after `head`.
-- `first` is the index of the first column key in KEYS.
local function rows(head, positions, first)
  local out = head
  local cols = {}
  for c = 0, 7 do
    local key = KEYS[first + c]
    local values = {}
    -- HMGET in chunks: unpack() has a stack limit.
    for s = 1, #positions, 1000 do
      local chunk = redis.call('HMGET', key, unpack(positions, s, math.min(s + 999, #positions)))
      for j = 1, #chunk do values[s + j - 1] = chunk[j] end
    end
    cols[c] = values
  end
  for i = 1, #positions do
    out[#out + 1] = positions[i]
    for c = 0, 7 do
      local v = cols[c][i]
      if v then out[#out + 1] = v else out[#out + 1] = false end
    end
  end
  return out
end
