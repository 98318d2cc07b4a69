-- Join: KEYS[1] room. Returns the new position.
if redis.call('HEXISTS', KEYS[1], 'rate') == 0 then
  return redis.error_reply(NOTINIT)
end
return redis.call('HINCRBY', KEYS[1], 'issued', 1)
