-- Join: KEYS[1] room. Returns the new position. A windowed room refuses
-- joins before it opens (its first positions belong to the pre-queue's
-- draw) and after it closes; at or after the opening it freezes the
-- pre-queue first, so the position comes after the pre-queue's.
local r = load(KEYS[1])
if not r then
  return redis.error_reply(NOTINIT)
end
if r.opens > 0 or r.closes > 0 then
  local t = now()
  if closed(r, t) then
    return redis.error_reply(CLOSED)
  end
  if t < r.opens then
    return redis.error_reply(NOTOPEN)
  end
  freeze(KEYS[1], r, t)
end
return redis.call('HINCRBY', KEYS[1], 'issued', 1)
