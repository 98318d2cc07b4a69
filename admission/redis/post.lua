-- Post: KEYS[1] the site's board (a hash); ARGV key and value ('' deletes).
-- Returns the value before ('' for none).
local before = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return before
