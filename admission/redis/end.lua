-- EndSession: KEYS[1] the room's stream of ended sessions; ARGV jti, until
-- (Unix milliseconds), the stream's length to keep about. Appends the jti
-- and lets the stream expire once every session in it is past its until.
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'j', ARGV[1])
local at = redis.call('PEXPIRETIME', KEYS[1])
if at == -1 or at < tonumber(ARGV[2]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 0
