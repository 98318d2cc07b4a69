// Package inmem is the embedded single-process admission.Store: the default
// when no Redis is configured. Its state lives and dies with the process.
package inmem

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/waitroom/waitroom/admission"
)

var _ admission.Store = (*Store)(nil)

// Store keeps rooms in memory behind one mutex; every operation is O(1).
type Store struct {
	// Now is the store's clock; tests replace it. Defaults to time.Now.
	Now func() time.Time

	mu    sync.Mutex
	rooms map[string]*room
}

type room struct {
	issued, admitted, credit int64
	rate                     int64
	paused                   bool
	epoch                    string
	last                     time.Time // store time of the previous release
}

// New returns an empty store on the wall clock.
func New() *Store { return &Store{Now: time.Now, rooms: map[string]*room{}} }

func (s *Store) Init(_ context.Context, name string, set admission.Settings) (admission.State, error) {
	if !admission.ValidRate(set.RatePerHour) {
		return admission.State{}, fmt.Errorf("init %q: %w", name, admission.ErrInvalidRate)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[name]
	if !ok {
		var b [8]byte
		_, _ = rand.Read(b[:])
		r = &room{rate: set.RatePerHour, paused: set.Paused, epoch: hex.EncodeToString(b[:]), last: s.Now()}
		s.rooms[name] = r
	}
	return r.state(s.Now()), nil
}

func (s *Store) Join(_ context.Context, name string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.room(name)
	if err != nil {
		return 0, err
	}
	r.issued++
	return r.issued, nil
}

func (s *Store) Advance(_ context.Context, name string) (admission.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.room(name)
	if err != nil {
		return admission.State{}, err
	}
	now := s.Now()
	r.release(now)
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
	r.release(now)
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

func (r *room) release(now time.Time) {
	elapsed := now.Sub(r.last)
	if elapsed <= 0 {
		return
	}
	r.last = now
	if r.paused {
		return
	}
	r.admitted, r.credit = admission.Release(r.admitted, r.issued, r.credit, r.rate, elapsed)
}

func (r *room) state(now time.Time) admission.State {
	return admission.State{Issued: r.issued, Admitted: r.admitted, RatePerHour: r.rate, Paused: r.paused, Epoch: r.epoch, Now: now}
}
