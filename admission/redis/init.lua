-- Init: KEYS[1] room; ARGV rate, paused ('0' or '1'), epoch for a new room.
-- An existing room is returned untouched.
local t = now()
local r = load(KEYS[1])
if not r then
  r = {issued = 0, admitted = 0, credit = 0, rate = tonumber(ARGV[1]), paused = ARGV[2] == '1', epoch = ARGV[3], last = t}
  create(KEYS[1], r)
end
return reply(r, t)
