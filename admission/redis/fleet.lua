-- Gateways: KEYS[1] the site's hash of gateways. Returns the store's clock
-- (µs) and the hash's fields and values, for Go to filter by age.
local t = now()
return {t, redis.call('HGETALL', KEYS[1])}
