-- Admit: KEYS[1] room; ARGV position, which the cursor has passed. Returns
-- 0 if the cursor released it to its holder, else the holder's index in the
-- rejoin line (admission.Presence.Admit), handed out on the first call and
-- the same on every later one.
local pos, err = passed(KEYS[1], ARGV[1])
if not pos then
  return err
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
