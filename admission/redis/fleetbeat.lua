-- GatewayBeat: KEYS[1] the site's hash of gateways (id -> '<TIME in µs> <room>');
-- ARGV id, room, how long to remember a silent gateway (µs). Records the
-- gateway at the store's clock and forgets the ones silent for longer; the
-- hash itself expires when every gateway stopped.
local t = now()
local kept = tonumber(ARGV[3])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local at = tonumber(string.match(all[i + 1], '^%d+'))
  if not at or t - at > kept then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
redis.call('HSET', KEYS[1], ARGV[1], int(t) .. ' ' .. ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(kept / 1000))
return 0
