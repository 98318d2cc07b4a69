-- Admit: KEYS[1] room; ARGV position, which the cursor has passed. Returns
-- 0 if the cursor released it to its holder, else the holder's index in the
-- rejoin line (admission.Presence.Admit), handed out on the first call and
-- the same on every later one.
local r = load(KEYS[1])
if not r then
  return redis.error_reply(NOTINIT)
end
local pos = tonumber(ARGV[1])
if pos < 1 or pos > r.admitted then
  return redis.error_reply('NOTREACHED position not reached by the cursor')
end
if redis.call('GETBIT', KEYS[1] .. ':gone', pos) == 0 then
  return 0
end
local rejoins = KEYS[1] .. ':rejoin'
local index = redis.call('HGET', rejoins, ARGV[1])
if index then
  return tonumber(index)
end
index = redis.call('HINCRBY', KEYS[1], 'rejoined', 1)
redis.call('HSET', rejoins, ARGV[1], index)
return index
