-- Reseed: KEYS[1] room; ARGV issued, admitted, rate, paused ('0' or '1'),
-- epoch, opens, closes, prequeued, drawn ('0' or '1'), commitment and seed,
-- as a gateway remembers them. A missing room is created from them; an
-- existing one only has its counters (issued, prequeued) raised to them,
-- admitted never beyond issued. Returns the state after.
local t = now()
local issued, admitted, prequeued = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[8])
local r = load(KEYS[1])
if not r then
  r = {issued = issued, admitted = math.min(admitted, issued), credit = 0,
    rate = tonumber(ARGV[3]), paused = ARGV[4] == '1', epoch = ARGV[5], last = t,
    opens = tonumber(ARGV[6]), closes = tonumber(ARGV[7]), prequeued = prequeued, drawn = ARGV[9] == '1',
    commitment = ARGV[10], seed = ARGV[11], skipped = 0}
  if r.drawn then
    r.issued = math.max(r.issued, r.prequeued)
  end
  create(KEYS[1], r)
  return reply(r, t)
end
r.issued = math.max(r.issued, issued)
r.prequeued = math.max(r.prequeued, prequeued)
if r.drawn then
  r.issued = math.max(r.issued, r.prequeued)
end
r.admitted = math.min(math.max(r.admitted, admitted), r.issued)
if r.admitted == r.issued then
  -- Nobody is waiting: capacity is not banked (admission.Release).
  r.credit = 0
end
redis.call('HSET', KEYS[1], 'issued', int(r.issued), 'admitted', int(r.admitted), 'credit', int(r.credit),
  'prequeued', int(r.prequeued))
return reply(r, t)
