// Package admission is the waiting room's domain: a room's arrival counter
// and admitted cursor, the release rule that moves the cursor at an hourly
// rate, and the Store contract every backend implements.
//
// A person's place is a position handed out by Store.Join. Everyone whose
// position is at or below the admitted cursor may enter. The cursor only
// moves through Store.Advance, which releases rate x elapsed people using the
// store's own clock, so any number of gateways calling it release exactly the
// configured rate in total.
package admission

import (
	"context"
	"errors"
	"time"
)

// MaxRatePerHour is the highest release rate a room accepts: fifty times the
// 2 M/hour the 2021 booking system reached, and low enough that the release
// arithmetic stays exact in a Lua double (rate x MaxAdvanceStep in µs < 2^53).
const MaxRatePerHour = 100_000_000

// MaxAdvanceStep caps the time one Advance accounts for. If no gateway advanced
// the cursor for longer (all of them stopped, or the store was unreachable),
// the missed time is not released in one burst when they come back.
const MaxAdvanceStep = 10 * time.Second

// Errors returned by Store implementations. Adapters translate their
// dependency's failures into these, wrapped with context.
var (
	// ErrUnavailable means the store cannot be reached or did not answer in
	// time. Callers must fail closed: admit nobody new, lose no place.
	ErrUnavailable = errors.New("admission store unavailable")
	// ErrInvalidRate means a rate outside (0, MaxRatePerHour].
	ErrInvalidRate = errors.New("rate per hour out of range")
	// ErrNotInitialized means the room has not been created with Init.
	ErrNotInitialized = errors.New("room not initialized")
)

// State is a room's shared state as read from the store.
type State struct {
	// Issued is the highest position handed out; 0 before anybody joined.
	Issued int64
	// Admitted is the cursor: positions 1..Admitted may enter.
	// Admitted <= Issued always holds.
	Admitted int64
	// RatePerHour is the configured release rate.
	RatePerHour int64
	// Paused stops all release while true.
	Paused bool
	// Epoch names this queue's lifetime. It changes only when a room is
	// created afresh, so tickets from a queue that no longer exists are void.
	Epoch string
	// Now is the store's clock when the state was read.
	Now time.Time
	// Skipped counts the positions the cursor passed over because their
	// holders had left (see Presence); they cost no release capacity.
	// Skipped <= Admitted.
	Skipped int64
	// Window and Draw are zero for rooms made by Init; see People.
	Window Window
	Draw   Draw
}

// Waiting is the number of people who hold a position and are not admitted.
func (s State) Waiting() int64 { return s.Issued - s.Admitted }

// Settings are a room's initial operator settings.
type Settings struct {
	RatePerHour int64
	Paused      bool
}

// Store holds rooms' counters. Every method is one round trip to the
// backing store and safe for concurrent use by many gateways.
type Store interface {
	// Init creates room with settings unless it exists; an existing room
	// keeps its counters, rate and pause (operators' live changes outlive a
	// gateway restart). It returns the room's state.
	// Errors: ErrInvalidRate, ErrUnavailable.
	Init(ctx context.Context, room string, s Settings) (State, error)

	// Join hands out the next position in room: 1, 2, 3, ... in arrival
	// order, never the same one twice. Errors: ErrNotInitialized, ErrUnavailable.
	Join(ctx context.Context, room string) (int64, error)

	// Advance releases RatePerHour x (elapsed store time since the previous
	// Advance of room, at most MaxAdvanceStep), carrying fractions of a
	// person to the next call, never beyond Issued (unused capacity is not
	// banked) and nothing while paused. It returns the state after advancing.
	// Errors: ErrNotInitialized, ErrUnavailable.
	Advance(ctx context.Context, room string) (State, error)

	// State reads room without advancing. Errors: ErrNotInitialized, ErrUnavailable.
	State(ctx context.Context, room string) (State, error)

	// SetRate releases what is due at the old rate up to now, then sets the
	// new rate, so a change takes effect from this instant. It returns the
	// state before the change. Errors: ErrInvalidRate, ErrNotInitialized,
	// ErrUnavailable.
	SetRate(ctx context.Context, room string, perHour int64) (State, error)

	// SetPaused releases what is due up to now, then pauses or resumes. It
	// returns the state before the change. Errors: ErrNotInitialized, ErrUnavailable.
	SetPaused(ctx context.Context, room string, paused bool) (State, error)

	// Close releases the store's resources.
	Close() error
}

// ValidRate reports whether perHour is a rate a room accepts.
func ValidRate(perHour int64) bool { return perHour > 0 && perHour <= MaxRatePerHour }

// microsPerHour is the unit of release credit: a room earns RatePerHour
// credit per elapsed microsecond, and one person per microsPerHour credit.
const microsPerHour = int64(time.Hour / time.Microsecond)

// Release is the release rule shared by every Store. Given the cursor, the
// carried credit and the elapsed store time, it returns the new cursor and
// credit. Stores that run it elsewhere (a Lua script) must match it; the
// conformance suite checks they do.
func Release(admitted, issued, credit, ratePerHour int64, elapsed time.Duration) (newAdmitted, newCredit int64) {
	newAdmitted, newCredit, _ = ReleaseLive(admitted, issued, credit, ratePerHour, elapsed, nil)
	return newAdmitted, newCredit
}

// MaxSkipPerAdvance bounds the positions one Advance passes over as gone,
// so that a long run of people who left costs a few bounded steps, not one
// unbounded one. At ten ticks a second per gateway it still skips more
// than a hundred thousand people a second.
const MaxSkipPerAdvance = 16384

// ReleaseLive is Release for a queue whose people may have left: gone
// reports whether the holder of a position left (missed their heartbeat,
// see Presence), and such positions are passed over without using
// capacity, so release is spent on people who are still there. It returns
// the new cursor and credit and how many positions were skipped. After
// MaxSkipPerAdvance skips it stops and carries the people it did not
// release in the credit. A nil gone skips nobody.
func ReleaseLive(admitted, issued, credit, ratePerHour int64, elapsed time.Duration, gone func(position int64) bool) (newAdmitted, newCredit, skipped int64) {
	if elapsed > MaxAdvanceStep {
		elapsed = MaxAdvanceStep
	}
	if elapsed <= 0 {
		return admitted, credit, 0
	}
	credit += ratePerHour * int64(elapsed/time.Microsecond)
	people := credit / microsPerHour
	credit %= microsPerHour
	if gone == nil {
		admitted += people
		people = 0
	}
	for people > 0 && admitted < issued {
		if gone(admitted + 1) {
			if skipped == MaxSkipPerAdvance {
				break
			}
			skipped++
		} else {
			people--
		}
		admitted++
	}
	if admitted >= issued {
		return issued, 0, skipped
	}
	return admitted, credit + people*microsPerHour, skipped
}

// Presence is implemented by stores that skip people who left. Every
// status answer tells a waiting person when to ask again; the gateway
// records, per position, the store time by which they promised to be back
// (their next poll plus a grace). Release then passes over a position
// whose promise has expired (ReleaseLive): its holder closed the tab or
// lost interest, and capacity is not spent on them. A skipped person who
// comes back is behind the cursor and enters at once, so being skipped
// never costs anyone their place; it only stops the queue from waiting
// for them. Positions with no recorded promise count as present.
type Presence interface {
	// Beat records promises; a later promise for a position replaces an
	// earlier one. Errors: ErrNotInitialized, ErrUnavailable.
	Beat(ctx context.Context, room string, beats []Beat) error
}

// Beat is one person's promise to poll again: the holder of Position is
// present until Until (store time).
type Beat struct {
	Position int64
	Until    time.Time
}

// BeatSecond is a Beat's Until as stores keep it: whole seconds, rounded
// up, so that a promise never expires early. Zero means "no promise".
func BeatSecond(until time.Time) uint32 {
	s := until.Unix()
	if until.Nanosecond() > 0 {
		s++
	}
	return uint32(min(max(s, 1), 1<<32-1))
}

// GoneBy reports whether a promise kept as BeatSecond expired by now.
func GoneBy(promise uint32, now time.Time) bool {
	return promise != 0 && int64(promise) < now.Unix()
}

// Clock maps real time onto a simulated clock that runs Scale times faster
// from Origin: sim = Origin + Scale x (real - Origin). Load simulations use
// it to run a night in minutes (see config's simulation section); the zero
// Clock, or Scale 1, is real time. Every gateway and store of a fleet must
// share one Clock.
type Clock struct {
	Scale  int64
	Origin time.Time
}

// Simulated reports whether c runs faster than real time.
func (c Clock) Simulated() bool { return c.Scale > 1 }

// At returns the simulated time at real time t.
func (c Clock) At(t time.Time) time.Time {
	if !c.Simulated() {
		return t
	}
	return c.Origin.Add(time.Duration(c.Scale) * t.Sub(c.Origin))
}

// Now returns the simulated time now.
func (c Clock) Now() time.Time { return c.At(time.Now()) }

// Real converts a simulated duration to the real time it takes.
func (c Clock) Real(d time.Duration) time.Duration {
	if !c.Simulated() {
		return d
	}
	return d / time.Duration(c.Scale)
}
