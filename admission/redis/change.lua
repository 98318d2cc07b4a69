-- SetRate and SetPaused: KEYS[1] room; ARGV field ('rate' or 'paused') and
-- its new value. Settles what is due at the old settings, then changes the
-- field; returns the state before the change.
local r = load(KEYS[1])
if not r then
  return redis.error_reply(NOTINIT)
end
local t = now()
settle(KEYS[1], r, t)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return reply(r, t)
