package admission

import (
	"context"
	"errors"
	"math"
	"time"
)

// Errors of People stores.
var (
	// ErrHeldElsewhere means the person's place is held by another device
	// whose verification is younger than the block time.
	ErrHeldElsewhere = errors.New("place held on another device")
	// ErrClosed means the room's window has closed: nobody joins any more.
	ErrClosed = errors.New("window closed")
)

// Window bounds a room in time. Its zero value means always open.
type Window struct {
	// Opens is the instant release starts, by the store's clock. People who
	// claim a place earlier wait in the pre-queue and are drawn at opening.
	Opens time.Time
	// Closes is the instant the room stops: no claims, no release. Zero
	// means never.
	Closes time.Time
}

// Draw is the state of a room's opening draw.
type Draw struct {
	// PreQueued is the number of people in the pre-queue (join indexes
	// 1..PreQueued); it stops growing at opening.
	PreQueued int64
	// Drawn is true once the room opened: positions 1..PreQueued then belong
	// to the pre-queue, in the order of the draw.
	Drawn bool
	// Commitment is the hex SHA-256 of the seed, published before opening.
	Commitment string
	// Seed is the hex seed, revealed only once Drawn.
	Seed string
}

// Claim asks for a person's one place in a room.
type Claim struct {
	// Identity is the person's keyed hash (never a raw personal number).
	Identity string
	// Device is the hash of the device the person verified on.
	Device string
	// Block is how long after the holder's last verification another
	// device is refused. Default 10 minutes.
	Block time.Duration
}

// Place is a person's place: a position in line, or an index in the
// pre-queue until the opening draw gives it a position.
type Place struct {
	Position int64 // > 0 once in line
	PreIndex int64 // > 0 while (or since) waiting in the pre-queue
	// Existing is true when the person already held this place.
	Existing bool
	// HeldUntil is when another device may take the place over; set with
	// ErrHeldElsewhere.
	HeldUntil time.Time
}

// People is implemented by stores that give each person exactly one place
// per room, from one device at a time. A room for people is made with
// InitWindow; its counters, release and operator settings are those of
// Store, with two differences: Advance releases nobody before the window
// opens or after it closes, and the first Advance or Claim at or after the
// opening freezes the pre-queue (Draw.Drawn; Issued becomes at least
// PreQueued, so positions 1..PreQueued are the pre-queue's and later
// arrivals queue behind it). State carries the Window and the Draw.
type People interface {
	// InitWindow is Init for a room bounded by w, with the draw seed
	// commitment and seed a gateway proposes (used only when the room is
	// created; every gateway then reads the same ones back).
	// Errors: ErrInvalidRate, ErrUnavailable.
	InitWindow(ctx context.Context, room string, s Settings, w Window, commitment, seed string) (State, error)

	// Claim gives c.Identity its one place in room, in one round trip:
	//   - a first claim before the window opens gets the next pre-queue
	//     index; after it opens, the next position (after the pre-queue);
	//   - a claim from the device that holds the place returns it again
	//     (Existing) without extending the block;
	//   - a claim from another device within c.Block of the holder's last
	//     verification fails with ErrHeldElsewhere (and Place.HeldUntil);
	//   - a later claim from another device moves the same place to it.
	// Concurrent claims of one identity produce exactly one place.
	// Errors: ErrHeldElsewhere, ErrClosed, ErrNotInitialized, ErrUnavailable.
	Claim(ctx context.Context, room string, c Claim) (Place, error)
}

// MethodStats counts one verification method's recent verifications across
// every gateway.
type MethodStats struct {
	// Starts counts the starts the gateways counted (see Verifications),
	// per StatsBucket by start time, newest first: Starts[0] is the bucket
	// holding now, Starts[StatsBuckets-1] began 50 to 60 s ago.
	Starts    [StatsBuckets]int64
	Completed int64         // verifications begun in the last minute that the provider confirmed
	Failed    int64         // of those, failed in a round trip with the provider
	Latency   time.Duration // sum over Completed
}

// Started is the counted starts of the last minute.
func (m MethodStats) Started() int64 {
	var n int64
	for _, s := range m.Starts {
		n += s
	}
	return n
}

// InFlight estimates the verifications in flight at now by Little's law:
// the rate of counted starts over the last StatsBucket and the part of the
// current one elapsed at now, times the mean latency of the completed
// verifications. Only the provider's own answers (Completed, Latency) set
// the latency, and a start whose callback never comes counts for that mean
// latency and no longer: abandoned starts expire on the provider's observed
// latency. While nothing completed in the last minute the latency is not
// known, and every counted start of the minute not finished counts.
func (m MethodStats) InFlight(now time.Time) int64 {
	if m.Completed == 0 {
		return max(0, m.Started()-m.Failed)
	}
	window := StatsBucket + time.Duration(now.UnixMicro()%StatsBucket.Microseconds())*time.Microsecond
	mean := m.Latency / time.Duration(m.Completed)
	return int64(math.Round(float64(m.Starts[0]+m.Starts[1]) * float64(mean) / float64(window)))
}

// Verifications counts verifications per method for the traffic lights,
// across every gateway, in buckets of StatsBucket by the start time.
//
// A start is counted only when the gateway trusts it to be a person's (a
// device it issued earlier, within that device's and its address's budgets):
// a flood of starts that never reach the provider must not make a method
// look busy. Ends are recorded only with the provider's evidence: a code
// exchanged (completed) or a round trip with the provider that failed. A
// callback that carries an error of its own, a forged or expired state, or a
// code the provider refused says nothing about the provider and is not
// recorded.
type Verifications interface {
	// VerifyStarted records a counted start of method at started.
	VerifyStarted(ctx context.Context, room, method string, started time.Time) error
	// VerifyFinished records the end of a verification begun at started
	// (counted or not) that the provider answered: ok when it confirmed an
	// identity, after latency; not ok when the round trip failed.
	VerifyFinished(ctx context.Context, room, method string, started time.Time, latency time.Duration, ok bool) error
	// VerifyStats returns the counts of the verifications begun in the
	// minute before now, for each method.
	VerifyStats(ctx context.Context, room string, methods []string, now time.Time) (map[string]MethodStats, error)
}

// StatsBucket is the granularity of verification statistics; StatsBuckets
// of them make the minute VerifyStats covers.
const (
	StatsBucket  = 10 * time.Second
	StatsBuckets = int(time.Minute / StatsBucket)
)

// Sessions ends admitted sessions before their tokens expire, across every
// gateway: the backend signals a finished booking, and the session's token
// must stop working everywhere.
type Sessions interface {
	// EndSession records that the session with token id jti has ended. The
	// record may be forgotten after until (the token's expiry).
	EndSession(ctx context.Context, room, jti string, until time.Time) error
	// EndedSince returns the sessions ended after cursor (0 at first) and
	// the cursor to pass next time. Gateways poll it about every second.
	EndedSince(ctx context.Context, room string, cursor string) (jtis []string, next string, err error)
}
