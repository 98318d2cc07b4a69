-- Enter: KEYS[1] room; ARGV position, which the cursor has passed, and the
-- instant its holder is let in (unix seconds, 1 .. 2^32-1). Returns the
-- first instant recorded for the position (admission.Entries.Enter): a
-- big-endian u32 per position in <room>:in, 0 for none, so a million
-- people admitted cost 4 MB.
local pos, err = passed(KEYS[1], ARGV[1])
if not pos then
  return err
end
local key, at = KEYS[1] .. ':in', '#' .. ARGV[1]
local first = redis.call('BITFIELD', key, 'GET', 'u32', at)[1]
if first == 0 then
  first = tonumber(ARGV[2])
  redis.call('BITFIELD', key, 'SET', 'u32', at, ARGV[2])
end
return first
