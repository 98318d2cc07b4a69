package admissiontest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/waitroom/waitroom/admission"
)

// runPresence checks release over people who left (admission.Presence): a
// position whose promise expired is passed over without using capacity, a
// position with a promise still running or none at all is not.
func runPresence(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	storeWith := func(tb testing.TB, o admission.ReleaseOptions, rate int64, people int) (admission.Store, admission.Presence) {
		s := newStore(tb, o)
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
	store := func(tb testing.TB, rate int64, people int) (admission.Store, admission.Presence) {
		return storeWith(tb, patient, rate, people)
	}
	expired := func(from, to int64) []admission.Beat {
		var beats []admission.Beat
		for pos := from; pos <= to; pos++ {
			beats = append(beats, admission.Beat{Position: pos, Until: time.Now().Add(-time.Hour)})
		}
		return beats
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

	t.Run("RejoinWithinTheRate", func(t *testing.T) {
		// 36,000/h is 10 people a second. Positions 1..20 left: the first
		// person due passes over all of them.
		s, p := store(t, 36_000, 100)
		if err := p.Beat(ctx, "r", expired(1, 20)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetPaused(ctx, "r", false); err != nil {
			t.Fatal(err)
		}
		var st admission.State
		for st = mustAdvance(t, s, "r"); st.Admitted < 21; st = mustAdvance(t, s, "r") {
			time.Sleep(10 * time.Millisecond)
		}
		if st.Skipped != 20 {
			t.Fatalf("skipped %d, want the 20 who left", st.Skipped)
		}
		if _, err := p.Admit(ctx, "r", st.Admitted+1); !errors.Is(err, admission.ErrNotReached) {
			t.Fatalf("Admit beyond the cursor: %v, want ErrNotReached", err)
		}
		if _, err := p.Admit(ctx, "nope", 1); !errors.Is(err, admission.ErrNotInitialized) {
			t.Fatalf("Admit in a room that does not exist: %v, want ErrNotInitialized", err)
		}
		if got := mustAdmit(t, p, 21); got != 0 {
			t.Fatalf("Admit(21), released to its holder: rejoin %d, want 0", got)
		}
		// A promise that reaches the store after the pass does not undo it.
		if err := p.Beat(ctx, "r", []admission.Beat{{Position: 5, Until: time.Now().Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ pos, want int64 }{{5, 1}, {12, 2}, {5, 1}, {3, 3}, {12, 2}} {
			if got := mustAdmit(t, p, c.pos); got != c.want {
				t.Fatalf("Admit(%d) = rejoin %d, want %d", c.pos, got, c.want)
			}
		}
		// The rejoin line goes first, and its admissions count against the
		// rate like everyone's.
		start := mustAdvance(t, s, "r")
		if start.Rejoined != 3 {
			t.Fatalf("rejoined %d, want 3", start.Rejoined)
		}
		for st = start; st.RejoinAdmitted < 3; st = mustAdvance(t, s, "r") {
			if st.Admitted > start.Admitted {
				t.Fatalf("the main line moved (%d -> %d) before the rejoin line was served (%d of 3)", start.Admitted, st.Admitted, st.RejoinAdmitted)
			}
			time.Sleep(10 * time.Millisecond)
		}
		for ; st.Now.Sub(start.Now) < time.Second; st = mustAdvance(t, s, "r") {
			time.Sleep(10 * time.Millisecond)
		}
		checkRelease(t, st.Released()-start.Released(), 10, st.Now.Sub(start.Now))
		if st.Waiting() != st.Issued-st.Admitted {
			t.Fatalf("waiting %d with the rejoin line served, want %d", st.Waiting(), st.Issued-st.Admitted)
		}
	})

	t.Run("AnOutageIsNobodysAbsence", func(t *testing.T) {
		// Promises expire while no step reaches the store: after the gap
		// nobody is passed over for OutageGrace, then release passes over
		// people who left again.
		o := admission.ReleaseOptions{MaxStep: 100 * time.Millisecond, OutageGrace: 500 * time.Millisecond}
		s, p := storeWith(t, o, admission.MaxRatePerHour, 30)
		if err := p.Beat(ctx, "r", expired(1, 30)); err != nil {
			t.Fatal(err)
		}
		mustAdvance(t, s, "r")
		time.Sleep(300 * time.Millisecond)
		if _, err := s.SetPaused(ctx, "r", false); err != nil {
			t.Fatal(err)
		}
		var st admission.State
		for st = mustAdvance(t, s, "r"); st.Admitted < 30; st = mustAdvance(t, s, "r") {
			time.Sleep(5 * time.Millisecond)
		}
		if st.Skipped != 0 || !st.Now.Before(st.OutageUntil) {
			t.Fatalf("within the grace after an outage: skipped %d (want 0), now %v, grace until %v", st.Skipped, st.Now, st.OutageUntil)
		}
		if _, err := s.SetPaused(ctx, "r", true); err != nil {
			t.Fatal(err)
		}
		mustJoin(t, s, "r", 10)
		if err := p.Beat(ctx, "r", expired(31, 40)); err != nil {
			t.Fatal(err)
		}
		for st = mustAdvance(t, s, "r"); st.Now.Before(st.OutageUntil); st = mustAdvance(t, s, "r") {
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := s.SetPaused(ctx, "r", false); err != nil {
			t.Fatal(err)
		}
		for st = mustAdvance(t, s, "r"); st.Admitted < 40; st = mustAdvance(t, s, "r") {
			time.Sleep(5 * time.Millisecond)
		}
		if st.Skipped != 10 {
			t.Fatalf("after the grace: skipped %d, want the 10 who left", st.Skipped)
		}
	})
}

func mustAdmit(tb testing.TB, p admission.Presence, pos int64) int64 {
	tb.Helper()
	rejoin, err := p.Admit(context.Background(), "r", pos)
	if err != nil {
		tb.Fatal(err)
	}
	return rejoin
}
