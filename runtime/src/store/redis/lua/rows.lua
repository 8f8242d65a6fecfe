-- Shared by the read scripts: the stored columns of the events at
-- `positions`, as one flat reply of 4 values per event (position, header,
-- metadata, payload), after `head`. `first` is the index of the header
-- column's key in KEYS (the metadata and payload columns follow).
local function rows(head, positions, first)
  local out = head
  local cols = {}
  for c = 0, 2 do
    local values = {}
    -- HMGET in chunks: unpack() has a stack limit.
    for s = 1, #positions, 1000 do
      local chunk = redis.call('HMGET', KEYS[first + c], unpack(positions, s, math.min(s + 999, #positions)))
      for j = 1, #chunk do values[s + j - 1] = chunk[j] end
    end
    cols[c] = values
  end
  local k = #out
  for i = 1, #positions do
    out[k + 1] = positions[i]
    out[k + 2] = cols[0][i] or false
    out[k + 3] = cols[1][i] or false
    out[k + 4] = cols[2][i] or false
    k = k + 4
  end
  return out
end
