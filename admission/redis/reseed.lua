-- Reseed: KEYS[1] room; ARGV issued, admitted, rate, paused ('0' or '1'),
-- epoch, opens, closes, prequeued, drawn ('0' or '1'), commitment, seed,
-- rejoined, rejoin_admitted and skipped, as a gateway remembers them. A missing room
-- is created from them; an existing one only has its counters (issued,
-- prequeued, rejoined) raised to them, admitted never beyond issued nor
-- rejoin_admitted beyond rejoined. Returns the state after.
local t = now()
local issued, admitted, prequeued = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[8])
local rejoined, rejoin_admitted, skipped = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
local r = load(KEYS[1])
if not r then
  r = {issued = issued, admitted = math.min(admitted, issued), credit = 0,
    rate = tonumber(ARGV[3]), paused = ARGV[4] == '1', epoch = ARGV[5], last = t,
    opens = tonumber(ARGV[6]), closes = tonumber(ARGV[7]), prequeued = prequeued, drawn = ARGV[9] == '1',
    commitment = ARGV[10], seed = ARGV[11], skipped = math.min(skipped, admitted, issued),
    rejoined = rejoined, rejoin_admitted = math.min(rejoin_admitted, rejoined), calm = 0}
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
r.rejoined = math.max(r.rejoined, rejoined)
r.rejoin_admitted = math.min(math.max(r.rejoin_admitted, rejoin_admitted), r.rejoined)
if r.admitted == r.issued and r.rejoin_admitted == r.rejoined then
  -- Nobody is waiting: capacity is not banked (admission.Release).
  r.credit = 0
end
redis.call('HSET', KEYS[1], 'issued', int(r.issued), 'admitted', int(r.admitted), 'credit', int(r.credit),
  'prequeued', int(r.prequeued), 'rejoined', int(r.rejoined), 'rejoin_admitted', int(r.rejoin_admitted))
return reply(r, t)
