-- Init and InitWindow: KEYS[1] room; ARGV rate, paused ('0' or '1'), epoch,
-- opens and closes (store time in microseconds, 0: none), commitment and
-- seed, all for a new room. An existing room is returned untouched.
local t = now()
local r = load(KEYS[1])
if not r then
  r = {issued = 0, admitted = 0, credit = 0, rate = tonumber(ARGV[1]), paused = ARGV[2] == '1', epoch = ARGV[3], last = t,
    opens = tonumber(ARGV[4]), closes = tonumber(ARGV[5]), prequeued = 0, drawn = false,
    commitment = ARGV[6], seed = ARGV[7], skipped = 0, rejoined = 0, rejoin_admitted = 0, calm = 0}
  create(KEYS[1], r)
end
return reply(r, t)
