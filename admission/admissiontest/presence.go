package admissiontest

import (
	"context"
	"testing"
	"time"

	"github.com/waitroom/waitroom/admission"
)

// runPresence checks release over people who left (admission.Presence): a
// position whose promise expired is passed over without using capacity, a
// position with a promise still running or none at all is not.
func runPresence(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	store := func(tb testing.TB, rate int64, people int) (admission.Store, admission.Presence) {
		s := newStore(tb)
		p, ok := s.(admission.Presence)
		if !ok {
			tb.Skip("store does not implement admission.Presence")
		}
		if _, err := s.Init(ctx, "r", admission.Settings{RatePerHour: rate, Paused: true}); err != nil {
			tb.Fatal(err)
		}
		for range people {
			if _, err := s.Join(ctx, "r"); err != nil {
				tb.Fatal(err)
			}
		}
		return s, p
	}

	t.Run("SkipsPeopleWhoLeft", func(t *testing.T) {
		s, p := store(t, admission.MaxRatePerHour, 30)
		// Even positions 2..20 left an hour ago; 21..25 promise to come
		// back; the rest never promised anything.
		var beats []admission.Beat
		for pos := int64(2); pos <= 20; pos += 2 {
			beats = append(beats, admission.Beat{Position: pos, Until: time.Now().Add(-time.Hour)})
		}
		for pos := int64(21); pos <= 25; pos++ {
			beats = append(beats, admission.Beat{Position: pos, Until: time.Now().Add(time.Hour)})
		}
		if err := p.Beat(ctx, "r", beats); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetPaused(ctx, "r", false); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // ~140 people due at this rate: everyone
		st, err := s.Advance(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		if st.Admitted != 30 || st.Skipped != 10 {
			t.Fatalf("after releasing everyone: admitted %d, skipped %d; want 30 and 10", st.Admitted, st.Skipped)
		}
	})

	t.Run("SkippedCostNoCapacity", func(t *testing.T) {
		// 36,000/h is 10 people a second. Positions 1..50 left: the first
		// second of release passes over all of them and admits about ten.
		s, p := store(t, 36_000, 100)
		var beats []admission.Beat
		for pos := int64(1); pos <= 50; pos++ {
			beats = append(beats, admission.Beat{Position: pos, Until: time.Now().Add(-time.Minute)})
		}
		if err := p.Beat(ctx, "r", beats); err != nil {
			t.Fatal(err)
		}
		start, err := s.SetPaused(ctx, "r", false)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		end, err := s.Advance(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		if end.Skipped != 50 {
			t.Fatalf("skipped %d, want the 50 who left", end.Skipped)
		}
		checkRelease(t, end.Admitted-end.Skipped, 10, end.Now.Sub(start.Now))
	})

	t.Run("LaterPromiseWins", func(t *testing.T) {
		s, p := store(t, admission.MaxRatePerHour, 3)
		for _, until := range []time.Time{time.Now().Add(-time.Hour), time.Now().Add(time.Hour)} {
			if err := p.Beat(ctx, "r", []admission.Beat{{Position: 2, Until: until}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.SetPaused(ctx, "r", false); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
		st, err := s.Advance(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		if st.Admitted != 3 || st.Skipped != 0 {
			t.Fatalf("admitted %d, skipped %d; want 3 and 0 (position 2 renewed its promise)", st.Admitted, st.Skipped)
		}
	})
}
