package inmem

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/waitroom/waitroom/admission"
)

// These tests check that what the store keeps stays bounded: nothing of it
// shows through the API.

func fakeClock() (*Store, *time.Time) {
	now := time.Unix(1_628_506_800, 0)
	s := New()
	s.Now = func() time.Time { return now }
	return s, &now
}

func TestStore_EndSessionPrunes(t *testing.T) {
	ctx := context.Background()
	s, now := fakeClock()
	for i := range 10 * minPrune {
		if err := s.EndSession(ctx, "r", strconv.Itoa(i), now.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		*now = now.Add(time.Millisecond)
	}
	// Each entry outlives its until by at most the doubling that triggers
	// the next pruning.
	if n := len(s.ended["r"].entries); n > 2*minPrune {
		t.Fatalf("%d entries kept, want at most %d (1000 unexpired)", n, 2*minPrune)
	}
}

func TestStore_StatsPruned(t *testing.T) {
	ctx := context.Background()
	s, now := fakeClock()
	if err := s.VerifyStarted(ctx, "r", "m", *now); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(3 * time.Minute)
	if err := s.VerifyStarted(ctx, "r", "m", *now); err != nil {
		t.Fatal(err)
	}
	if n := len(s.stats); n != 1 {
		t.Fatalf("%d buckets kept, want only the current one", n)
	}
}

func TestStore_ClaimForgetsPeople(t *testing.T) {
	ctx := context.Background()
	s, now := fakeClock()
	w := admission.Window{Opens: *now, Closes: now.Add(time.Hour)}
	if _, err := s.InitWindow(ctx, "r", admission.Settings{RatePerHour: 1}, w, "", ""); err != nil {
		t.Fatal(err)
	}
	c := admission.Claim{Identity: "i", Device: "d"}
	if _, err := s.Claim(ctx, "r", c); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at   time.Duration // after the closing
		kept bool
	}{{0, true}, {23 * time.Hour, true}, {24 * time.Hour, false}}
	for _, tt := range tests {
		*now = w.Closes.Add(tt.at)
		if _, err := s.Claim(ctx, "r", c); !errors.Is(err, admission.ErrClosed) {
			t.Fatalf("claim %v after the closing: error = %v, want ErrClosed", tt.at, err)
		}
		if got := s.rooms["r"].people != nil; got != tt.kept {
			t.Fatalf("%v after the closing: people kept = %v, want %v", tt.at, got, tt.kept)
		}
	}
}
