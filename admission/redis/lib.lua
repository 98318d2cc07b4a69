-- Shared functions, loaded in front of every script of this package.
--
-- A room is one hash: issued, admitted, credit, rate, paused ('0' or '1'),
-- epoch, and last (store time of the previous release, in microseconds).
--
-- Lua numbers are doubles. Every value here is an integer below 2^53, where
-- doubles are exact: TIME in microseconds is about 1.8e15, and the release
-- credit stays below rate x MAX_STEP + MICROS_PER_HOUR <= 1e8 x 1e7 + 3.6e9
-- (admission.MaxRatePerHour and MaxAdvanceStep). Numbers are written back
-- with int(), since tostring() would turn 1e15 into '1e+15'.

local MICROS_PER_HOUR = 3600000000
local MAX_STEP = 10000000 -- admission.MaxAdvanceStep in microseconds
local NOTINIT = 'NOTINIT room not initialized'

local function int(x)
  return string.format('%d', x)
end

-- now is the store's clock in microseconds: every gateway shares it.
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- load returns the room in key, or nil if it was never initialized.
local function load(key)
  local f = redis.call('HMGET', key, 'issued', 'admitted', 'credit', 'rate', 'paused', 'epoch', 'last')
  if not f[4] then
    return nil
  end
  return {
    issued = tonumber(f[1]), admitted = tonumber(f[2]), credit = tonumber(f[3]),
    rate = tonumber(f[4]), paused = f[5] == '1', epoch = f[6], last = tonumber(f[7]),
  }
end

-- create writes every field of a new room.
local function create(key, r)
  redis.call('HSET', key, 'issued', int(r.issued), 'admitted', int(r.admitted), 'credit', int(r.credit),
    'rate', int(r.rate), 'paused', r.paused and '1' or '0', 'epoch', r.epoch, 'last', int(r.last))
end

-- settle releases what is due from r.last to t by admission.Release and
-- saves it. Like inmem, time that ran backwards changes nothing (last stays,
-- so the lost time is not released twice), and paused time passes unreleased.
local function settle(key, r, t)
  local elapsed = t - r.last
  if elapsed <= 0 then
    return
  end
  r.last = t
  if not r.paused then
    if elapsed > MAX_STEP then
      elapsed = MAX_STEP
    end
    local credit = r.credit + r.rate * elapsed
    -- credit / MICROS_PER_HOUR is at least 2.8e-10 away from the next
    -- integer and exact to about 3e-11 here, so floor is the integer quotient.
    local people = math.floor(credit / MICROS_PER_HOUR)
    r.admitted = r.admitted + people
    r.credit = credit - people * MICROS_PER_HOUR
    if r.admitted >= r.issued then
      r.admitted, r.credit = r.issued, 0
    end
  end
  redis.call('HSET', key, 'admitted', int(r.admitted), 'credit', int(r.credit), 'last', int(r.last))
end

-- reply is the state decoded by parseState in Go.
local function reply(r, t)
  return {r.issued, r.admitted, r.rate, r.paused and 1 or 0, r.epoch, t}
end
