package admission

import (
	"context"
	"errors"
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
	Started   int64         // verifications begun in the last minute
	Completed int64         // of those, finished successfully
	Failed    int64         // of those, failed (provider error, bad token)
	Latency   time.Duration // sum over Completed
}

// InFlight estimates the verifications begun in the last minute and not yet
// finished; a verification unfinished after a minute counts as abandoned.
func (m MethodStats) InFlight() int64 { return max(0, m.Started-m.Completed-m.Failed) }

// Verifications counts verifications per method for the traffic lights,
// across every gateway, in buckets of StatsBucket by the start time.
type Verifications interface {
	// VerifyStarted records a verification of method begun at started.
	VerifyStarted(ctx context.Context, room, method string, started time.Time) error
	// VerifyFinished records the end of the verification begun at started.
	VerifyFinished(ctx context.Context, room, method string, started time.Time, latency time.Duration, ok bool) error
	// VerifyStats returns the counts of the verifications begun in the
	// minute before now, for each method.
	VerifyStats(ctx context.Context, room string, methods []string, now time.Time) (map[string]MethodStats, error)
}

// StatsBucket is the granularity of verification statistics.
const StatsBucket = 10 * time.Second

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
