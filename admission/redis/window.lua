-- SetWindow: KEYS[1] room; ARGV opens and closes (store time in
-- microseconds, 0: none). Settles what is due under the old window, checks
-- the change as admission.CheckWindowChange does, then sets the window;
-- returns the state before the change.
local r = load(KEYS[1])
if not r then
  return redis.error_reply(NOTINIT)
end
local t = now()
settle(KEYS[1], r, t)
local opens, closes = tonumber(ARGV[1]), tonumber(ARGV[2])
local opened = r.opens == 0 or r.drawn
if opened and opens ~= r.opens then
  return redis.error_reply('BADWINDOW the room has opened, so its opening can no longer change')
end
if not opened and opens == 0 then
  return redis.error_reply('BADWINDOW the room has not opened yet and needs an opening, when its pre-queue is drawn')
end
if closes ~= 0 and closes <= opens then
  return redis.error_reply('BADWINDOW the closing must come after the opening')
end
redis.call('HSET', KEYS[1], 'opens', int(opens), 'closes', int(closes))
return reply(r, t)
