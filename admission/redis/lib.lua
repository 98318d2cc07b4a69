-- Shared functions, loaded in front of every script of this package, after
-- a line the Go side writes: local SCALE, ORIGIN, MAX_STEP, GRACE = <scale>,
-- <origin in microseconds>, <max step>, <outage grace>: the store's
-- admission.Clock (1, 0 for real time) and its admission.ReleaseOptions in
-- store microseconds.
--
-- A room is one hash: issued, admitted, credit, rate, paused ('0' or '1'),
-- epoch, last (store time of the previous release, in microseconds),
-- skipped (positions passed over because their holders left), rejoined and
-- rejoin_admitted (the rejoin line of those who came back) and calm (store
-- time until which nobody is passed over, after an outage);
-- rooms made by InitWindow add opens and closes (store time in
-- microseconds, 0: none), prequeued, drawn ('0' or '1'), commitment and
-- seed. A room without the window fields (made by Init, or before they
-- existed) reads as always open.
--
-- Lua numbers are doubles. Every value here is an integer below 2^53, where
-- doubles are exact: TIME in microseconds is about 1.8e15, and the release
-- credit stays below rate x MAX_STEP + MICROS_PER_HOUR <= 1e8 x 1e7 + 3.6e9
-- (admission.MaxRatePerHour and MaxAdvanceStep, which bounds MAX_STEP).
-- Numbers are written back with int(), since tostring() would turn 1e15
-- into '1e+15'.
--
-- Beside the room: <room>:hb, the promises of people to poll again (see
-- release_live); <room>:gone, a bitmap of the positions passed over; and
-- <room>:rejoin, a hash of those of them whose holders came back, to their
-- index in the rejoin line (admit.lua); and <room>:in, when each admitted
-- place's holder was first let in (enter.lua).

local MICROS_PER_HOUR = 3600000000
local NOTINIT = 'NOTINIT room not initialized'
local CLOSED = 'CLOSED window closed'
local NOTOPEN = 'NOTOPEN window not open yet'
local NOTREACHED = 'NOTREACHED position not reached by the cursor'

local function int(x)
  return string.format('%d', x)
end

-- now is the store's clock in microseconds: every gateway shares it. A
-- simulated clock runs SCALE times faster from ORIGIN.
local function now()
  local t = redis.call('TIME')
  local us = tonumber(t[1]) * 1000000 + tonumber(t[2])
  if SCALE ~= 1 then
    us = ORIGIN + (us - ORIGIN) * SCALE
  end
  return us
end

-- load returns the room in key, or nil if it was never initialized.
local function load(key)
  local f = redis.call('HMGET', key, 'issued', 'admitted', 'credit', 'rate', 'paused', 'epoch', 'last',
    'opens', 'closes', 'prequeued', 'drawn', 'commitment', 'seed', 'skipped', 'rejoined', 'rejoin_admitted', 'calm')
  if not f[4] then
    return nil
  end
  return {
    issued = tonumber(f[1]), admitted = tonumber(f[2]), credit = tonumber(f[3]),
    rate = tonumber(f[4]), paused = f[5] == '1', epoch = f[6], last = tonumber(f[7]),
    opens = tonumber(f[8]) or 0, closes = tonumber(f[9]) or 0, prequeued = tonumber(f[10]) or 0,
    drawn = f[11] == '1', commitment = f[12] or '', seed = f[13] or '', skipped = tonumber(f[14]) or 0,
    rejoined = tonumber(f[15]) or 0, rejoin_admitted = tonumber(f[16]) or 0, calm = tonumber(f[17]) or 0,
  }
end

-- passed returns the position arg (a string) if the cursor of the room in
-- key has passed it; else nil and the error reply to return (NOTINIT,
-- NOTREACHED).
local function passed(key, arg)
  local r = load(key)
  if not r then
    return nil, redis.error_reply(NOTINIT)
  end
  local pos = tonumber(arg)
  if pos < 1 or pos > r.admitted then
    return nil, redis.error_reply(NOTREACHED)
  end
  return pos
end

-- create writes every field of a new room.
local function create(key, r)
  redis.call('HSET', key, 'issued', int(r.issued), 'admitted', int(r.admitted), 'credit', int(r.credit),
    'rate', int(r.rate), 'paused', r.paused and '1' or '0', 'epoch', r.epoch, 'last', int(r.last),
    'opens', int(r.opens), 'closes', int(r.closes), 'prequeued', int(r.prequeued),
    'drawn', r.drawn and '1' or '0', 'commitment', r.commitment, 'seed', r.seed, 'skipped', int(r.skipped or 0),
    'rejoined', int(r.rejoined or 0), 'rejoin_admitted', int(r.rejoin_admitted or 0), 'calm', int(r.calm or 0))
end

-- closed reports whether r's window has closed at t.
local function closed(r, t)
  return r.closes > 0 and t >= r.closes
end

-- freeze ends the pre-queue of a windowed room at or after its opening:
-- positions 1..prequeued become the pre-queue's, later arrivals queue
-- behind them.
local function freeze(key, r, t)
  if r.opens > 0 and not r.drawn and t >= r.opens then
    r.drawn = true
    r.issued = math.max(r.issued, r.prequeued)
    redis.call('HSET', key, 'drawn', '1', 'issued', int(r.issued))
  end
end

-- release_live moves r.admitted over people positions (admission.Release's
-- main line), passing over those whose holders left: their promise to poll
-- again, a big-endian u32 of whole seconds per position in <room>:hb
-- (admission.BeatSecond; BITFIELD u32 #position), expired before t. Each
-- position passed over is set in <room>:gone. Within the grace after an
-- outage (r.calm) nobody is passed over. It stops after MAX_SKIP passes and
-- returns the people it did not release.
local MAX_SKIP = 16384 -- admission.MaxSkipPerAdvance
local function release_live(key, r, people, t)
  local sec = math.floor(t / 1000000)
  local hb, gone = key .. ':hb', key .. ':gone'
  local skipped = 0
  while people > 0 and r.admitted < r.issued and skipped < MAX_SKIP do
    local n = math.min(256, r.issued - r.admitted)
    local from = r.admitted + 1
    local s = ''
    if t >= r.calm then
      s = redis.call('GETRANGE', hb, from * 4, (from + n) * 4 - 1)
    end
    if #s == 0 then
      -- No promise recorded this far, or the grace after an outage:
      -- everyone is present.
      local k = math.min(people, r.issued - r.admitted)
      r.admitted, people = r.admitted + k, people - k
      break
    end
    for i = 0, math.floor(#s / 4) - 1 do
      if people == 0 or skipped == MAX_SKIP then
        break
      end
      local b1, b2, b3, b4 = string.byte(s, i * 4 + 1, i * 4 + 4)
      local promise = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
      if promise ~= 0 and promise < sec then
        skipped = skipped + 1
        redis.call('SETBIT', gone, r.admitted + 1, 1)
      else
        people = people - 1
      end
      r.admitted = r.admitted + 1
    end
  end
  r.skipped = r.skipped + skipped
  return people
end

-- settle freezes the pre-queue if due, releases what is due from r.last to
-- t by admission.Release and saves it. Only the part of that interval
-- inside the room's window counts, so nothing is banked before the opening
-- or released after the closing, and at most MAX_STEP of it: release
-- missed while no gateway reached the store is lost, not released in one
-- burst, and the grace after such a gap begins. Like inmem, time that ran
-- backwards changes nothing (last stays, so the lost time is not released
-- twice), and paused time passes unreleased.
local function settle(key, r, t)
  freeze(key, r, t)
  if t <= r.last then
    return
  end
  if t - r.last > MAX_STEP then
    r.calm = t + GRACE
  end
  local from, to = math.max(r.last, r.opens), t
  if r.closes > 0 and r.closes < to then
    to = r.closes
  end
  r.last = t
  if not r.paused and to > from then
    local elapsed = math.min(to - from, MAX_STEP)
    local credit = r.credit + r.rate * elapsed
    -- credit / MICROS_PER_HOUR is at least 2.8e-10 away from the next
    -- integer and exact to about 3e-11 here, so floor is the integer quotient.
    local people = math.floor(credit / MICROS_PER_HOUR)
    r.credit = credit - people * MICROS_PER_HOUR
    local back = math.min(people, r.rejoined - r.rejoin_admitted)
    r.rejoin_admitted, people = r.rejoin_admitted + back, people - back
    people = release_live(key, r, people, t)
    if r.admitted >= r.issued and r.rejoin_admitted >= r.rejoined then
      r.admitted, r.credit = r.issued, 0
    else
      r.credit = r.credit + people * MICROS_PER_HOUR
    end
  end
  redis.call('HSET', key, 'admitted', int(r.admitted), 'credit', int(r.credit), 'last', int(r.last),
    'skipped', int(r.skipped), 'rejoin_admitted', int(r.rejoin_admitted), 'calm', int(r.calm))
end

-- reply is the state decoded by parseState in Go. The seed stays secret
-- until the draw.
local function reply(r, t)
  return {r.issued, r.admitted, r.rate, r.paused and 1 or 0, r.epoch, t,
    r.opens, r.closes, r.prequeued, r.drawn and 1 or 0, r.commitment, r.drawn and r.seed or '', r.skipped,
    r.rejoined, r.rejoin_admitted, r.calm}
end
