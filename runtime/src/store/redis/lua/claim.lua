-- Projection claims, by the server's clock (key expiry).
-- KEYS: 1 the claim, 2 the checkpoints hash
-- ARGV: 1 op (claim | save | release), 2 owner, 3 ttl ms (claim) or position (save),
--       4 projection (save)
local holder = redis.call('GET', KEYS[1])
if ARGV[1] == 'claim' then
  if holder and holder ~= ARGV[2] then return 0 end
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
elseif ARGV[1] == 'save' then
  if holder ~= ARGV[2] then return 0 end
  redis.call('HSET', KEYS[2], ARGV[4], ARGV[3])
  return 1
else
  if holder == ARGV[2] then redis.call('DEL', KEYS[1]) end
  return 1
end
