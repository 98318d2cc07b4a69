package admission

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Snapshot is what a gateway knows of its room between two ticks. Status
// polls are answered from it without a store round trip.
type Snapshot struct {
	State
	// MeasuredPerHour is the release rate observed over the last minute while
	// people were waiting and release was running, in people admitted per
	// hour (State.Released: positions skipped because their holders left do
	// not count, the rejoin line's admissions do). It
	// is the configured rate until five seconds of such release, long enough
	// for 20 people at that rate, are seen, and again for a moment after the
	// rate changes.
	MeasuredPerHour float64
	// LeaveShare estimates the share of the people ahead of anyone waiting
	// who will have left before the cursor reaches them: the share of
	// positions the cursor skipped so far, starting from the expected share
	// (ControllerOptions.ExpectedLeaveShare) until enough people have been
	// released to measure it.
	LeaveShare float64
	// ReleasedLastMinute is how far the cursor moved in the last minute.
	ReleasedLastMinute int64
	// Healthy is false when the last tick could not reach the store; State
	// is then the last one read, which never admits anyone the store did not.
	Healthy bool
}

// Why release stops (Snapshot.PauseReason).
const (
	// PausedByOperator: an operator (or the config file) paused the room.
	PausedByOperator = "operator"
	// PausedStoreUnreachable: the last tick could not reach the store, so
	// nobody new is admitted until it answers again.
	PausedStoreUnreachable = "store_unreachable"
)

// PauseReason says why nobody new is admitted now: "" while release runs,
// else PausedStoreUnreachable or PausedByOperator (an unreachable store
// first: an operator's pause read from it may be stale). The waiting page,
// the operator API and the metrics all report this one answer.
func (s *Snapshot) PauseReason() string {
	switch {
	case !s.Healthy:
		return PausedStoreUnreachable
	case s.Paused:
		return PausedByOperator
	}
	return ""
}

// Wait estimates how long position still waits: the people ahead who will
// still be there when the cursor reaches them, and the rejoin line, which
// goes first, at the measured release rate. It is zero once position is
// admitted.
func (s *Snapshot) Wait(position int64) time.Duration {
	left := position - s.Admitted
	if left <= 0 {
		return 0
	}
	return s.waitFor(float64(left)*(1-s.LeaveShare) + float64(s.Rejoined-s.RejoinAdmitted))
}

// RejoinWait estimates how long index of the rejoin line still waits: its
// people come back on purpose, so nobody ahead is expected to leave.
func (s *Snapshot) RejoinWait(index int64) time.Duration {
	left := index - s.RejoinAdmitted
	if left <= 0 {
		return 0
	}
	return s.waitFor(float64(left))
}

// waitFor is the time the measured rate takes to release people.
func (s *Snapshot) waitFor(people float64) time.Duration {
	if s.MeasuredPerHour <= 0 {
		return MaxWait
	}
	w := people / s.MeasuredPerHour * float64(time.Hour)
	if w >= float64(MaxWait) {
		return MaxWait
	}
	return time.Duration(w)
}

// MaxWait bounds Wait so that a tiny rate cannot overflow a duration.
const MaxWait = 30 * 24 * time.Hour

// ControllerOptions configure a Controller; the zero value means defaults.
type ControllerOptions struct {
	// Interval between ticks, in real time. It must be shorter than the
	// store's ReleaseOptions.MaxStep (converted to real time), or every
	// tick loses release; default 80% of DefaultMaxStep, 80 ms, which
	// leaves a late tick 20 ms. The cursor moves in steps of rate/45000 at
	// most, never in per-minute jumps.
	Interval time.Duration
	// Window over which the release rate is measured. Default one minute.
	Window time.Duration
	// ExpectedLeaveShare is the share of waiting people expected to leave
	// before their turn, in [0, 1): what earlier nights measured. It shapes
	// the first estimates of the wait, before this queue has released
	// enough people to measure its own (see Snapshot.LeaveShare).
	ExpectedLeaveShare float64
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// leavePrior is how many released positions the expected leave share
// weighs: after that many the measured share counts as much as the
// expectation, and it soon dominates.
const leavePrior = 10_000

// minMeasured is how many people the configured rate must have released
// over the measured span before the measurement replaces it.
const minMeasured = 20

// Controller advances a room's cursor on every tick and keeps the latest
// Snapshot for lock-free reads. Each gateway runs one; because Store.Advance
// releases by store time, running many of them releases the rate once.
type Controller struct {
	store    Store
	room     string
	interval time.Duration
	window   time.Duration
	leave    float64
	log      *slog.Logger

	snap atomic.Pointer[Snapshot]

	mu      sync.Mutex // serialises ticks and guards samples
	samples []sample   // oldest first, trimmed to the window
	failing bool

	maxIssued atomic.Int64 // highest position this gateway handed out
	failures  atomic.Int64 // ticks that could not reach the store, for metrics
}

// Failures counts the ticks that could not reach the store.
func (c *Controller) Failures() int64 { return c.failures.Load() }

// Reseeder is implemented by stores that can come back empty (a Redis
// restarted without persistence). Reseed recreates room from a state a
// gateway remembers, or raises the store's counters to it, so that no
// position is handed out twice and nobody is admitted out of order.
type Reseeder interface {
	Reseed(ctx context.Context, room string, st State) (State, error)
}

type sample struct {
	at       time.Time // store clock
	admitted int64
	released int64 // State.Released
	waiting  int64
	issued   int64
	rate     int64
	paused   bool
}

// NewController returns a controller for room with state as its first
// snapshot (typically what Store.Init returned).
func NewController(store Store, room string, first State, o ControllerOptions) *Controller {
	c := &Controller{store: store, room: room, interval: o.Interval, window: o.Window, leave: o.ExpectedLeaveShare, log: o.Logger}
	if c.interval <= 0 {
		c.interval = DefaultMaxStep * 4 / 5
	}
	if c.window <= 0 {
		c.window = time.Minute
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.publish(first)
	return c
}

// Room is the room the controller advances.
func (c *Controller) Room() string { return c.room }

// Snapshot returns the latest snapshot; never nil. Callers must not modify it.
func (c *Controller) Snapshot() *Snapshot { return c.snap.Load() }

// Run ticks until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			tctx, cancel := context.WithTimeout(ctx, c.interval*5)
			_, _ = c.Tick(tctx)
			cancel()
		}
	}
}

// Tick advances the cursor once and publishes the new snapshot. On a store
// failure the previous state stays published, marked unhealthy.
func (c *Controller) Tick(ctx context.Context) (*Snapshot, error) {
	st, err := c.store.Advance(ctx, c.room)
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.snap.Load()
	switch {
	case err == nil && prev.Healthy && st.Now.Before(prev.Now):
		// This read lost a race with a newer one (an operator's change
		// ticking beside Run): keep the newer state.
		return prev, nil
	case errors.Is(err, ErrNotInitialized), err == nil && (st.Issued < prev.Issued || st.Admitted < prev.Admitted):
		// The store lost the room, or came back with an older copy of it
		// (a lagging replica after failover, a restored backup): its
		// counters must never go back, or positions would be handed out
		// twice and people admitted out of order.
		st, err = c.reseed(ctx)
	}
	if err != nil {
		c.failures.Add(1)
		if !c.failing {
			c.log.Error("admission store unreachable; admitting nobody new until it is back", "room", c.room, "err", err)
			c.failing = true
		}
		prev := *c.snap.Load()
		prev.Healthy = false
		c.snap.Store(&prev)
		return &prev, err
	}
	if c.failing {
		c.log.Info("admission store reachable again", "room", c.room)
		c.failing = false
	}
	return c.publish(st), nil
}

// NoteIssued records a position this gateway handed out, so that a store
// that lost its data is reseeded above it.
func (c *Controller) NoteIssued(pos int64) {
	for {
		cur := c.maxIssued.Load()
		if pos <= cur || c.maxIssued.CompareAndSwap(cur, pos) {
			return
		}
	}
}

// reseed restores a room the store lost from what this gateway has seen.
func (c *Controller) reseed(ctx context.Context) (State, error) {
	r, ok := c.store.(Reseeder)
	if !ok {
		return State{}, fmt.Errorf("room %q vanished from the store: %w", c.room, ErrNotInitialized)
	}
	seen := c.snap.Load().State
	// Other gateways may have handed out positions since this one last
	// read the store: skip past twice the joins of the last second seen, so
	// no position is handed out twice. Unused positions cost a moment of
	// release; a duplicate would cost fairness.
	gap := int64(64)
	if n := len(c.samples); n > 0 {
		last := c.samples[n-1]
		for i := n - 1; i >= 0; i-- {
			if last.at.Sub(c.samples[i].at) >= time.Second || i == 0 {
				gap = max(gap, 2*(last.issued-c.samples[i].issued))
				break
			}
		}
	}
	seen.Issued = max(seen.Issued, c.maxIssued.Load()) + gap
	if !seen.Draw.Drawn {
		seen.Draw.PreQueued += gap // pre-queue indexes handed out elsewhere, likewise
	}
	st, err := r.Reseed(ctx, c.room, seen)
	if err != nil {
		return State{}, err
	}
	c.log.Warn("admission store lost the room or went back in time; reseeded it from this gateway's memory",
		"room", c.room, "issued", st.Issued, "admitted", st.Admitted, "epoch", st.Epoch)
	return st, nil
}

// publish records st and stores the snapshot built from it. c.mu is held
// (or c is not yet shared).
func (c *Controller) publish(st State) *Snapshot {
	c.samples = append(c.samples, sample{at: st.Now, admitted: st.Admitted, released: st.Released(), waiting: st.Waiting(),
		issued: st.Issued, rate: st.RatePerHour, paused: st.Paused})
	cut := 0
	for cut < len(c.samples)-1 && st.Now.Sub(c.samples[cut].at) > c.window {
		cut++
	}
	c.samples = append(c.samples[:0], c.samples[cut:]...)

	s := &Snapshot{State: st, Healthy: true, MeasuredPerHour: float64(st.RatePerHour),
		LeaveShare: (c.leave*leavePrior + float64(st.Skipped)) / float64(leavePrior+st.Admitted)}
	s.ReleasedLastMinute = st.Admitted - c.samples[0].admitted
	// Measure only intervals in which release ran at the current rate with
	// people waiting: an empty queue or a pause says nothing about speed.
	var moved int64
	var span time.Duration
	for i := len(c.samples) - 1; i > 0; i-- {
		a, b := c.samples[i-1], c.samples[i]
		if b.rate != st.RatePerHour {
			break
		}
		if a.paused || b.paused || b.waiting == 0 || a.rate != b.rate {
			continue
		}
		moved += b.released - a.released
		span += b.at.Sub(a.at)
	}
	// A measurement needs time and people: at a slow rate five seconds
	// may release nobody, which says nothing about the rate.
	if span >= 5*time.Second && float64(st.RatePerHour)*span.Hours() >= minMeasured {
		s.MeasuredPerHour = float64(moved) / span.Hours()
	}
	c.snap.Store(s)
	return s
}
