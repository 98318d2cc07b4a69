-- Claim: KEYS[1] room, KEYS[2] the identity's record (a hash: pos, pre,
-- dev, verified); ARGV device, block in microseconds. Returns {status,
-- position, pre-queue index, held until}: status 0 a new place, 1 the place
-- the identity held (now on this device), 2 held by another device until
-- the time given.
local r = load(KEYS[1])
if not r then
  return redis.error_reply(NOTINIT)
end
local t = now()
if closed(r, t) then
  return redis.error_reply(CLOSED)
end
freeze(KEYS[1], r, t)
local h = redis.call('HMGET', KEYS[2], 'pos', 'pre', 'dev', 'verified')
if h[3] then
  local pos, pre = tonumber(h[1]), tonumber(h[2])
  if h[3] == ARGV[1] then
    -- Same device: the block runs from the last verification on a new
    -- device, so re-claiming does not extend it.
    return {1, pos, pre, 0}
  end
  local held = tonumber(h[4]) + tonumber(ARGV[2])
  if t < held then
    return {2, 0, 0, held}
  end
  redis.call('HSET', KEYS[2], 'dev', ARGV[1], 'verified', int(t))
  return {1, pos, pre, 0}
end
local pos, pre = 0, 0
if t < r.opens then
  pre = redis.call('HINCRBY', KEYS[1], 'prequeued', 1)
else
  pos = redis.call('HINCRBY', KEYS[1], 'issued', 1)
end
redis.call('HSET', KEYS[2], 'pos', int(pos), 'pre', int(pre), 'dev', ARGV[1], 'verified', int(t))
if r.closes > 0 then
  -- Forgotten a day after the closing; claims stop at the closing.
  redis.call('EXPIREAT', KEYS[2], math.floor(r.closes / 1000000) + 86400)
end
return {0, pos, pre, 0}
