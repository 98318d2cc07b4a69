-- State: KEYS[1] room. Returns the state without releasing.
local r = load(KEYS[1])
if not r then
  return redis.error_reply(NOTINIT)
end
return reply(r, now())
