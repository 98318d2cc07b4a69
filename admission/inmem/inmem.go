// Package inmem is the embedded single-process admission.Store: the default
// when no Redis is configured. Its state lives and dies with the process.
package inmem

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/waitroom/waitroom/admission"
)

var (
	_ admission.Store         = (*Store)(nil)
	_ admission.People        = (*Store)(nil)
	_ admission.Verifications = (*Store)(nil)
	_ admission.Sessions      = (*Store)(nil)
	_ admission.Presence      = (*Store)(nil)
	_ admission.Entries       = (*Store)(nil)
)

// Store keeps rooms in memory behind one mutex; every operation but
// EndedSince is O(1), amortized.
type Store struct {
	// Now is the store's clock; tests replace it. Defaults to time.Now.
	Now func() time.Time
	// Release shapes release (set before first use); the zero value means
	// the defaults.
	Release admission.ReleaseOptions

	mu     sync.Mutex
	rooms  map[string]*room
	stats  map[statsKey]map[string]*counts
	oldest int64 // no bucket below this one is kept in stats
	ended  map[string]*endedLog

	// consoleRecords are the operator console's (audit.go), behind their
	// own lock: the console never waits for the queue's.
	consoleOnce    sync.Once
	consoleRecords *console
}

type room struct {
	admission.Cursor
	outageUntil time.Time // nobody is passed over as gone before it
	rate        int64
	paused      bool
	epoch       string
	last        time.Time // store time of the previous release
	window      admission.Window
	draw        admission.Draw // Seed is kept secret by state until Drawn
	people      map[string]*holder
	// beats[p] is the promise of position p (admission.BeatSecond), 0 for
	// none; positions beyond its end have none.
	beats []uint32
	// passed holds the positions release passed over as gone; rejoins maps
	// those whose holders came back to their rejoin index.
	passed  map[int64]bool
	rejoins map[int64]int64
	// entered maps the positions whose holders were let in to the first
	// instant they were (Enter), in unix seconds.
	entered map[int64]int64
}

// holder is the record of a person's place (Claim).
type holder struct {
	position, preIndex int64
	device             string
	verified           time.Time // of the latest claim from a new device
}

// New returns an empty store on the wall clock.
func New() *Store {
	return &Store{
		Now:   time.Now,
		rooms: map[string]*room{},
		stats: map[statsKey]map[string]*counts{},
		ended: map[string]*endedLog{},
	}
}

func (s *Store) Init(_ context.Context, name string, set admission.Settings) (admission.State, error) {
	return s.init("init", name, set, admission.Window{}, admission.Draw{})
}

// InitWindow is Init for a room bounded by w; see admission.People. A zero
// w.Opens means open from creation: no pre-queue and no draw (Draw.Drawn
// stays false); a zero w.Closes means never closing.
func (s *Store) InitWindow(_ context.Context, name string, set admission.Settings, w admission.Window, commitment, seed string) (admission.State, error) {
	return s.init("init window", name, set, w, admission.Draw{Commitment: commitment, Seed: seed})
}

func (s *Store) init(op, name string, set admission.Settings, w admission.Window, d admission.Draw) (admission.State, error) {
	if !admission.ValidRate(set.RatePerHour) {
		return admission.State{}, fmt.Errorf("%s %q: %w", op, name, admission.ErrInvalidRate)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[name]
	if !ok {
		var b [8]byte
		_, _ = rand.Read(b[:])
		r = &room{rate: set.RatePerHour, paused: set.Paused, epoch: hex.EncodeToString(b[:]), last: s.Now(),
			window: w, draw: d, people: map[string]*holder{}, passed: map[int64]bool{}, rejoins: map[int64]int64{}, entered: map[int64]int64{}}
		s.rooms[name] = r
	}
	return r.state(s.Now()), nil
}

// Join is admission.Store's. In a room with a window it fails with
// admission.ErrClosed once the window closed and with a plain error before
// it opens, since the first positions belong to the pre-queue's draw
// (people claim places there with Claim); at or after the opening it
// freezes the pre-queue first, like Advance.
func (s *Store) Join(_ context.Context, name string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.room(name)
	if err != nil {
		return 0, err
	}
	now := s.Now()
	switch {
	case r.closed(now):
		return 0, fmt.Errorf("join %q: %w", name, admission.ErrClosed)
	case now.Before(r.window.Opens):
		return 0, fmt.Errorf("join %q: window not open yet", name)
	}
	r.freeze(now)
	r.Issued++
	return r.Issued, nil
}

// DefaultBlock is the block of a Claim whose Block is zero or negative.
const DefaultBlock = 10 * time.Minute

// Claim is admission.People's. A room's records of people are forgotten
// a day after its window closes, as in the Redis store.
func (s *Store) Claim(_ context.Context, name string, c admission.Claim) (admission.Place, error) {
	if c.Identity == "" || c.Device == "" {
		return admission.Place{}, fmt.Errorf("claim in %q: empty identity or device", name)
	}
	block := c.Block
	if block <= 0 {
		block = DefaultBlock
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.room(name)
	if err != nil {
		return admission.Place{}, err
	}
	now := s.Now()
	if r.closed(now) {
		if !now.Before(r.window.Closes.Add(24 * time.Hour)) {
			r.people = nil
		}
		return admission.Place{}, fmt.Errorf("claim in %q: %w", name, admission.ErrClosed)
	}
	r.freeze(now)
	if h, ok := r.people[c.Identity]; ok {
		switch held := h.verified.Add(block); {
		case h.device == c.Device:
			// The block runs from the last verification on a new device,
			// so re-claiming does not extend it.
		case now.Before(held):
			return admission.Place{HeldUntil: held}, fmt.Errorf("claim in %q: %w", name, admission.ErrHeldElsewhere)
		default:
			h.device, h.verified = c.Device, now
		}
		return admission.Place{Position: h.position, PreIndex: h.preIndex, Existing: true}, nil
	}
	h := &holder{device: c.Device, verified: now}
	if now.Before(r.window.Opens) {
		r.draw.PreQueued++
		h.preIndex = r.draw.PreQueued
	} else {
		r.Issued++
		h.position = r.Issued
	}
	r.people[c.Identity] = h
	return admission.Place{Position: h.position, PreIndex: h.preIndex}, nil
}

func (s *Store) Advance(_ context.Context, name string) (admission.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.room(name)
	if err != nil {
		return admission.State{}, err
	}
	now := s.Now()
	r.release(now, s.Release.WithDefaults())
	return r.state(now), nil
}

func (s *Store) State(_ context.Context, name string) (admission.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.room(name)
	if err != nil {
		return admission.State{}, err
	}
	return r.state(s.Now()), nil
}

func (s *Store) SetRate(_ context.Context, name string, perHour int64) (admission.State, error) {
	if !admission.ValidRate(perHour) {
		return admission.State{}, fmt.Errorf("set rate of %q to %d: %w", name, perHour, admission.ErrInvalidRate)
	}
	return s.change(name, func(r *room) { r.rate = perHour })
}

func (s *Store) SetPaused(_ context.Context, name string, paused bool) (admission.State, error) {
	return s.change(name, func(r *room) { r.paused = paused })
}

// change settles the release due at the old settings, then applies f.
func (s *Store) change(name string, f func(*room)) (admission.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.room(name)
	if err != nil {
		return admission.State{}, err
	}
	now := s.Now()
	r.release(now, s.Release.WithDefaults())
	before := r.state(now)
	f(r)
	return before, nil
}

func (s *Store) Close() error { return nil }

func (s *Store) room(name string) (*room, error) {
	r, ok := s.rooms[name]
	if !ok {
		return nil, fmt.Errorf("room %q: %w", name, admission.ErrNotInitialized)
	}
	return r, nil
}

func (r *room) closed(now time.Time) bool {
	return !r.window.Closes.IsZero() && !now.Before(r.window.Closes)
}

// freeze ends the pre-queue at or after the opening: positions
// 1..PreQueued become the pre-queue's, later arrivals queue behind them.
func (r *room) freeze(now time.Time) {
	if !r.window.Opens.IsZero() && !r.draw.Drawn && !now.Before(r.window.Opens) {
		r.draw.Drawn = true
		r.Issued = max(r.Issued, r.draw.PreQueued)
	}
}

// release freezes the pre-queue if due and releases what is due since the
// previous release, at most o.MaxStep of it (admission.ReleaseOptions).
// Only the part of that interval inside the window counts, so nothing is
// banked before the opening or released after the closing.
func (r *room) release(now time.Time, o admission.ReleaseOptions) {
	r.freeze(now)
	if !now.After(r.last) {
		return
	}
	if now.Sub(r.last) > o.MaxStep {
		r.outageUntil = now.Add(o.OutageGrace)
	}
	from, to := r.last, now
	if from.Before(r.window.Opens) {
		from = r.window.Opens
	}
	if r.closed(to) {
		to = r.window.Closes
	}
	r.last = now
	if r.paused || !to.After(from) {
		return
	}
	calm := now.Before(r.outageUntil)
	r.Cursor = admission.Release(r.Cursor, r.rate, min(to.Sub(from), o.MaxStep), func(p int64) bool {
		if calm || p >= int64(len(r.beats)) || !admission.GoneBy(r.beats[p], now) {
			return false
		}
		r.passed[p] = true
		return true
	})
}

// Beat is admission.Presence'. Promises for positions already admitted
// are dropped; they no longer matter.
func (s *Store) Beat(_ context.Context, name string, beats []admission.Beat) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.room(name)
	if err != nil {
		return err
	}
	for _, b := range beats {
		if b.Position <= r.Admitted || b.Position > r.Issued {
			continue
		}
		if n := b.Position + 1; n > int64(len(r.beats)) {
			r.beats = slices.Grow(r.beats, int(n)-len(r.beats))[:n]
		}
		r.beats[b.Position] = admission.BeatSecond(b.Until)
	}
	return nil
}

// Admit is admission.Presence'.
func (s *Store) Admit(_ context.Context, name string, position int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.room(name)
	if err != nil {
		return 0, err
	}
	switch {
	case position < 1 || position > r.Admitted:
		return 0, fmt.Errorf("admit %d in %q at cursor %d: %w", position, name, r.Admitted, admission.ErrNotReached)
	case !r.passed[position]:
		return 0, nil
	}
	if i, ok := r.rejoins[position]; ok {
		return i, nil
	}
	r.Rejoined++
	r.rejoins[position] = r.Rejoined
	return r.Rejoined, nil
}

// Enter is admission.Entries'.
func (s *Store) Enter(_ context.Context, name string, position int64, at time.Time) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.room(name)
	if err != nil {
		return time.Time{}, err
	}
	if position < 1 || position > r.Admitted {
		return time.Time{}, fmt.Errorf("enter %d in %q at cursor %d: %w", position, name, r.Admitted, admission.ErrNotReached)
	}
	first, ok := r.entered[position]
	if !ok {
		first = max(at.Unix(), 1)
		r.entered[position] = first
	}
	return time.Unix(first, 0), nil
}

func (r *room) state(now time.Time) admission.State {
	d := r.draw
	if !d.Drawn {
		d.Seed = ""
	}
	return admission.State{
		Issued: r.Issued, Admitted: r.Admitted, Skipped: r.Skipped, Rejoined: r.Rejoined, RejoinAdmitted: r.RejoinAdmitted,
		OutageUntil: r.outageUntil, RatePerHour: r.rate, Paused: r.paused, Epoch: r.epoch, Now: now,
		Window: r.window, Draw: d,
	}
}
