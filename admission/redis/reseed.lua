-- Reseed: KEYS[1] room; ARGV issued, admitted, rate, paused ('0' or '1'),
-- epoch, as a gateway remembers them. A missing room is created from them;
-- an existing one only has its counters raised to them, admitted never
-- beyond issued. Returns the state after.
local t = now()
local issued, admitted = tonumber(ARGV[1]), tonumber(ARGV[2])
local r = load(KEYS[1])
if not r then
  r = {issued = issued, admitted = math.min(admitted, issued), credit = 0,
    rate = tonumber(ARGV[3]), paused = ARGV[4] == '1', epoch = ARGV[5], last = t}
  create(KEYS[1], r)
  return reply(r, t)
end
r.issued = math.max(r.issued, issued)
r.admitted = math.min(math.max(r.admitted, admitted), r.issued)
if r.admitted == r.issued then
  -- Nobody is waiting: capacity is not banked (admission.Release).
  r.credit = 0
end
redis.call('HSET', KEYS[1], 'issued', int(r.issued), 'admitted', int(r.admitted), 'credit', int(r.credit))
return reply(r, t)
