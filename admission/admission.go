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

// MaxAdvanceStep is the largest ReleaseOptions.MaxStep: it keeps the
// release arithmetic exact in a Lua double (rate x MaxAdvanceStep in µs <
// 2^53).
const MaxAdvanceStep = 10 * time.Second

// Defaults of ReleaseOptions.
const (
	// DefaultMaxStep is one controller tick: a store outage costs the
	// release it missed, never a burst of it.
	DefaultMaxStep = 100 * time.Millisecond
	// DefaultOutageGrace is the gateways' default heartbeat grace.
	DefaultOutageGrace = 15 * time.Second
)

// ReleaseOptions shape how a store moves the cursor. Every store of a fleet
// must be given the same; durations are store time (a simulated clock's).
// The zero value means the defaults.
type ReleaseOptions struct {
	// MaxStep is the most time one release step (Advance, SetRate,
	// SetPaused) accounts for, in (0, MaxAdvanceStep]. Release that could
	// not happen for longer, because no gateway reached the store (an
	// outage, a failover, the whole fleet stopped), is lost, never caught
	// up: a waiting room protects the booking core, so in no second are
	// more than rate x (1 s + MaxStep) people released. Gateways must
	// advance more often than MaxStep, or they lose release on every tick.
	// Default DefaultMaxStep.
	MaxStep time.Duration
	// OutageGrace is how long, after a step that found more than MaxStep
	// since the one before, nobody is passed over as gone: while no gateway
	// reached the store, the promises of the people who kept polling could
	// not reach it either, and only their next ones tell who left. Default
	// DefaultOutageGrace.
	OutageGrace time.Duration
}

// WithDefaults returns o with zero fields set to their defaults and
// MaxStep bounded by MaxAdvanceStep.
func (o ReleaseOptions) WithDefaults() ReleaseOptions {
	if o.MaxStep <= 0 {
		o.MaxStep = DefaultMaxStep
	}
	o.MaxStep = min(o.MaxStep, MaxAdvanceStep)
	if o.OutageGrace <= 0 {
		o.OutageGrace = DefaultOutageGrace
	}
	return o
}

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
	// ErrNotReached means a position the cursor has not reached yet.
	ErrNotReached = errors.New("position not reached by the cursor")
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
	// Rejoined counts the people passed over who came back (Presence.Admit):
	// they wait in the rejoin line, served before the main line and within
	// the rate. RejoinAdmitted is its cursor: rejoin indexes
	// 1..RejoinAdmitted may enter. RejoinAdmitted <= Rejoined.
	Rejoined, RejoinAdmitted int64
	// OutageUntil is the end of the time after an outage during which
	// nobody is passed over as gone (see ReleaseOptions.OutageGrace); zero
	// or past when there is none.
	OutageUntil time.Time
	// Window and Draw are zero for rooms made by Init; see People.
	Window Window
	Draw   Draw
}

// Waiting is the number of people who hold a place and are not admitted:
// the main line behind the cursor and the rejoin line.
func (s State) Waiting() int64 { return s.Issued - s.Admitted + s.Rejoined - s.RejoinAdmitted }

// Released counts the people the room let in, each once: the positions the
// cursor released to their holders and the rejoin line's admissions. It is
// what the rate counts: in any interval with people waiting it grows by
// rate x interval, whoever they are.
func (s State) Released() int64 { return s.Admitted - s.Skipped + s.RejoinAdmitted }

// Cursor is what the release rule moves: both lines' counters and the
// carried credit.
type Cursor struct {
	Issued, Admitted, Skipped int64
	Rejoined, RejoinAdmitted  int64
	// Credit is release carried to the next step, in 1/3,600,000,000 of a
	// person (rate per hour x microseconds).
	Credit int64
}

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

// MaxSkipPerAdvance bounds the positions one release step passes over as
// gone, so that a long run of people who left costs a few bounded steps,
// not one unbounded one. At ten ticks a second per gateway it still skips
// more than a hundred thousand people a second.
const MaxSkipPerAdvance = 16384

// Release is the release rule shared by every Store; stores that run it
// elsewhere (a Lua script) must match it, and the conformance suite checks
// that they do. It releases ratePerHour x elapsed people (elapsed at most
// MaxAdvanceStep; stores cap it at their ReleaseOptions.MaxStep first),
// carrying fractions of a person in the credit: first the rejoin line,
// whose people were ahead of everyone in the main line, then the main
// line. gone reports whether the holder of a position left (missed their
// heartbeat, see Presence); such positions are passed over without using
// capacity, so release is spent on people who are there. gone is called
// once for each position the cursor reaches, in order, and every position
// it reports is passed over: after MaxSkipPerAdvance of them the step stops
// and carries the people it did not release in the credit. A nil gone
// passes over nobody. When both lines are empty the rest of the step's
// release is dropped: unused capacity is not banked.
func Release(c Cursor, ratePerHour int64, elapsed time.Duration, gone func(position int64) bool) Cursor {
	elapsed = min(elapsed, MaxAdvanceStep)
	if elapsed <= 0 {
		return c
	}
	credit := c.Credit + ratePerHour*int64(elapsed/time.Microsecond)
	people := credit / microsPerHour
	c.Credit = credit % microsPerHour
	back := min(people, c.Rejoined-c.RejoinAdmitted)
	c.RejoinAdmitted += back
	people -= back
	skipped := int64(0)
	for people > 0 && c.Admitted < c.Issued && skipped < MaxSkipPerAdvance {
		if gone != nil && gone(c.Admitted+1) {
			skipped++
		} else {
			people--
		}
		c.Admitted++
	}
	c.Skipped += skipped
	if c.Admitted >= c.Issued && c.RejoinAdmitted >= c.Rejoined {
		c.Admitted, c.Credit = c.Issued, 0
		return c
	}
	c.Credit += people * microsPerHour
	return c
}

// Presence is implemented by stores that skip people who left. Every
// status answer tells a waiting person when to ask again; the gateway
// records, per position, the store time by which they promised to be back
// (their next poll plus a grace). Release then passes over a position
// whose promise has expired (Release's gone): its holder closed the tab or
// lost interest, and capacity is not spent on them. Positions with no
// recorded promise count as present, and nobody is passed over for
// ReleaseOptions.OutageGrace after an outage.
//
// Being passed over never costs anyone their place, and never lets anyone
// in beyond the rate: a person passed over who comes back joins the rejoin
// line, ahead of the main line and served within the rate, so a
// gateway asks Admit before it lets in anyone the cursor has passed.
type Presence interface {
	// Beat records promises; a later promise for a position replaces an
	// earlier one. Errors: ErrNotInitialized, ErrUnavailable.
	Beat(ctx context.Context, room string, beats []Beat) error
	// Admit tells how the holder of position, which the cursor has
	// passed, enters. Rejoin 0: the cursor released the position to its
	// holder, who enters now. Rejoin > 0: release passed over the position
	// as gone and its holder came back; they wait at that index of the
	// rejoin line and enter once State.RejoinAdmitted reaches it. Every
	// call for one position gives the same answer. Errors: ErrNotReached,
	// ErrNotInitialized, ErrUnavailable.
	Admit(ctx context.Context, room string, position int64) (rejoin int64, err error)
}

// Entries is implemented by stores that remember when each place's holder
// was first let in, so that an admission lasts a fixed time from that
// instant whichever ticket its holder shows: a copy of their ticket from
// before the admission must not start the time again.
type Entries interface {
	// Enter records at (in whole seconds, rounded down, after 1970) as
	// the instant the holder of position, which the cursor has passed, was
	// first let in, unless an instant is recorded already, and returns
	// the one recorded. Errors: ErrNotReached, ErrNotInitialized,
	// ErrUnavailable.
	Enter(ctx context.Context, room string, position int64, at time.Time) (first time.Time, err error)
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

// Sim converts a real duration to the simulated time that passes meanwhile.
func (c Clock) Sim(d time.Duration) time.Duration {
	if !c.Simulated() {
		return d
	}
	return d * time.Duration(c.Scale)
}

// Real converts a simulated duration to the real time it takes.
func (c Clock) Real(d time.Duration) time.Duration {
	if !c.Simulated() {
		return d
	}
	return d / time.Duration(c.Scale)
}
