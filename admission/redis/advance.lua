-- Advance: KEYS[1] room. Returns the state after releasing what is due.
local r = load(KEYS[1])
if not r then
  return redis.error_reply(NOTINIT)
end
local t = now()
settle(KEYS[1], r, t)
return reply(r, t)
