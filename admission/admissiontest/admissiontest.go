// Package admissiontest is the conformance suite every admission.Store
// passes (Run), and the one of stores that also implement People,
// Verifications and Sessions (RunPeople). Stores whose clock cannot be faked
// (Redis uses its own TIME) are measured over short real intervals, with
// tolerances for scheduling.
package admissiontest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/waitroom/waitroom/admission"
)

// NewStore returns a fresh, empty store for one subtest, releasing by o.
type NewStore func(tb testing.TB, o admission.ReleaseOptions) admission.Store

// patient are the release options of the tests that measure release over
// sleeps of a test's length: a step may account for the longest time one
// can, so that a slow machine's scheduling never looks like an outage.
var patient = admission.ReleaseOptions{MaxStep: admission.MaxAdvanceStep}

// Run runs the whole suite against stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	set := admission.Settings{RatePerHour: 36_000}

	t.Run("Init", func(t *testing.T) {
		s := newStore(t, patient)
		st, err := s.Init(ctx, "r", set)
		if err != nil {
			t.Fatal(err)
		}
		if st.RatePerHour != 36_000 || st.Paused || st.Issued != 0 || st.Admitted != 0 || st.Epoch == "" {
			t.Fatalf("fresh room state = %+v", st)
		}
		if st.Window != (admission.Window{}) || st.Draw != (admission.Draw{}) {
			t.Fatalf("room made by Init has window %+v and draw %+v, want zero", st.Window, st.Draw)
		}
		if _, err := s.SetRate(ctx, "r", 72_000); err != nil {
			t.Fatal(err)
		}
		again, err := s.Init(ctx, "r", set)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := again.RatePerHour, int64(72_000); got != want {
			t.Fatalf("Init of an existing room reset its rate: got %d, want %d", got, want)
		}
		if again.Epoch != st.Epoch {
			t.Fatalf("Init of an existing room changed its epoch: %q -> %q", st.Epoch, again.Epoch)
		}
	})

	t.Run("ErrInvalidRate", func(t *testing.T) {
		s := newStore(t, patient)
		for _, rate := range []int64{0, -1, admission.MaxRatePerHour + 1} {
			if _, err := s.Init(ctx, "r", admission.Settings{RatePerHour: rate}); !errors.Is(err, admission.ErrInvalidRate) {
				t.Errorf("Init(rate %d) error = %v, want ErrInvalidRate", rate, err)
			}
		}
		mustInit(t, s, "r", set)
		if _, err := s.SetRate(ctx, "r", 0); !errors.Is(err, admission.ErrInvalidRate) {
			t.Errorf("SetRate(0) error = %v, want ErrInvalidRate", err)
		}
	})

	t.Run("ErrNotInitialized", func(t *testing.T) {
		s := newStore(t, patient)
		if _, err := s.Join(ctx, "nope"); !errors.Is(err, admission.ErrNotInitialized) {
			t.Errorf("Join error = %v", err)
		}
		if _, err := s.Advance(ctx, "nope"); !errors.Is(err, admission.ErrNotInitialized) {
			t.Errorf("Advance error = %v", err)
		}
		if _, err := s.State(ctx, "nope"); !errors.Is(err, admission.ErrNotInitialized) {
			t.Errorf("State error = %v", err)
		}
		if _, err := s.SetRate(ctx, "nope", 10); !errors.Is(err, admission.ErrNotInitialized) {
			t.Errorf("SetRate error = %v", err)
		}
		if _, err := s.SetPaused(ctx, "nope", true); !errors.Is(err, admission.ErrNotInitialized) {
			t.Errorf("SetPaused error = %v", err)
		}
	})

	t.Run("JoinUniqueInOrder", func(t *testing.T) {
		s := newStore(t, patient)
		mustInit(t, s, "r", set)
		const workers, each = 20, 100
		seen := make([]bool, workers*each+1)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				prev := int64(0)
				for range each {
					pos, err := s.Join(ctx, "r")
					if err != nil {
						t.Error(err)
						return
					}
					if pos <= prev {
						t.Errorf("positions out of order for one caller: %d after %d", pos, prev)
					}
					prev = pos
					mu.Lock()
					if pos < 1 || pos >= int64(len(seen)) || seen[pos] {
						t.Errorf("position %d out of range or handed out twice", pos)
					} else {
						seen[pos] = true
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		st, err := s.State(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := st.Issued, int64(workers*each); got != want {
			t.Fatalf("Issued = %d, want %d", got, want)
		}
	})

	t.Run("RoomsAreIndependent", func(t *testing.T) {
		s := newStore(t, patient)
		mustInit(t, s, "a", set)
		mustInit(t, s, "b", admission.Settings{RatePerHour: 1000, Paused: true})
		mustJoin(t, s, "a", 3)
		st, err := s.State(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		if st.Issued != 0 || st.RatePerHour != 1000 || !st.Paused {
			t.Fatalf("room b = %+v, want untouched by room a", st)
		}
	})

	t.Run("AdvanceNeverPassesIssued", func(t *testing.T) {
		s := newStore(t, patient)
		mustInit(t, s, "r", admission.Settings{RatePerHour: admission.MaxRatePerHour})
		mustJoin(t, s, "r", 5)
		mustAdvance(t, s, "r")
		time.Sleep(50 * time.Millisecond)
		st := mustAdvance(t, s, "r")
		if st.Admitted != 5 {
			t.Fatalf("Admitted = %d, want all 5 and no more", st.Admitted)
		}
		// Capacity unused while the queue was empty is not banked.
		time.Sleep(50 * time.Millisecond)
		mustAdvance(t, s, "r")
		mustJoin(t, s, "r", 1)
		st = mustState(t, s, "r")
		if st.Admitted != 5 || st.Issued != 6 {
			t.Fatalf("after a new join: %+v, want the newcomer still waiting", st)
		}
	})

	t.Run("AdvanceAtRate", func(t *testing.T) {
		s := newStore(t, patient)
		mustInit(t, s, "r", admission.Settings{RatePerHour: 36_000}) // 10 per second
		mustJoin(t, s, "r", 1000)
		start := mustAdvance(t, s, "r")
		time.Sleep(time.Second)
		end := mustAdvance(t, s, "r")
		checkRelease(t, end.Admitted-start.Admitted, 10, end.Now.Sub(start.Now))
	})

	t.Run("ConcurrentAdvancersReleaseOnce", func(t *testing.T) {
		s := newStore(t, patient)
		mustInit(t, s, "r", admission.Settings{RatePerHour: 72_000}) // 20 per second
		mustJoin(t, s, "r", 1000)
		start := mustAdvance(t, s, "r")
		var wg sync.WaitGroup
		deadline := time.Now().Add(time.Second)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					if _, err := s.Advance(ctx, "r"); err != nil {
						t.Error(err)
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
		}
		wg.Wait()
		end := mustAdvance(t, s, "r")
		checkRelease(t, end.Admitted-start.Admitted, 20, end.Now.Sub(start.Now))
	})

	t.Run("Paused", func(t *testing.T) {
		s := newStore(t, patient)
		mustInit(t, s, "r", admission.Settings{RatePerHour: admission.MaxRatePerHour, Paused: true})
		mustJoin(t, s, "r", 10)
		mustAdvance(t, s, "r")
		time.Sleep(20 * time.Millisecond)
		if st := mustAdvance(t, s, "r"); st.Admitted != 0 || !st.Paused {
			t.Fatalf("paused room released: %+v", st)
		}
		before, err := s.SetPaused(ctx, "r", false)
		if err != nil {
			t.Fatal(err)
		}
		if !before.Paused {
			t.Fatalf("SetPaused returned %+v, want the state before resuming", before)
		}
		// Time spent paused is not released on resume: only what is due
		// since the resume, on the store's clock.
		st := mustAdvance(t, s, "r")
		if due := admission.Release(admission.Cursor{Issued: st.Issued}, st.RatePerHour, st.Now.Sub(before.Now), nil).Admitted; st.Admitted > due {
			t.Fatalf("resume released the paused time at once: %+v, %d due since %v", st, due, before.Now)
		}
		time.Sleep(20 * time.Millisecond)
		if st := mustAdvance(t, s, "r"); st.Admitted != 10 {
			t.Fatalf("resumed room = %+v, want all 10 admitted", st)
		}
	})

	t.Run("SetRateReturnsBefore", func(t *testing.T) {
		s := newStore(t, patient)
		mustInit(t, s, "r", set)
		before, err := s.SetRate(ctx, "r", 1234)
		if err != nil {
			t.Fatal(err)
		}
		if before.RatePerHour != 36_000 {
			t.Fatalf("before.RatePerHour = %d, want 36000", before.RatePerHour)
		}
		if got := mustState(t, s, "r").RatePerHour; got != 1234 {
			t.Fatalf("rate after SetRate = %d, want 1234", got)
		}
	})

	t.Run("NoBurstAfterAGap", func(t *testing.T) {
		// 3,600,000/h is one person a millisecond. A step accounts for at
		// most MaxStep: the 600 ms nobody advanced release 50 people, not 600.
		step := 50 * time.Millisecond
		s := newStore(t, admission.ReleaseOptions{MaxStep: step})
		mustInit(t, s, "r", admission.Settings{RatePerHour: 3_600_000, Paused: true})
		mustJoin(t, s, "r", 2000)
		if _, err := s.SetPaused(ctx, "r", false); err != nil {
			t.Fatal(err)
		}
		before := mustAdvance(t, s, "r")
		time.Sleep(600 * time.Millisecond)
		after := mustAdvance(t, s, "r")
		if got, most := after.Released()-before.Released(), int64(step/time.Millisecond)+1; got > most {
			t.Fatalf("one step after %v released %d, want at most %d", after.Now.Sub(before.Now), got, most)
		}
		if !after.OutageUntil.After(after.Now) {
			t.Fatalf("a %v gap left no outage grace: until %v, now %v", after.Now.Sub(before.Now), after.OutageUntil, after.Now)
		}
		// Steps closer together than MaxStep release their whole time.
		start := mustAdvance(t, s, "r")
		for range 20 {
			time.Sleep(5 * time.Millisecond)
			mustAdvance(t, s, "r")
		}
		end := mustAdvance(t, s, "r")
		checkRelease(t, end.Released()-start.Released(), 1000, end.Now.Sub(start.Now))
	})

	t.Run("Presence", func(t *testing.T) { runPresence(t, newStore) })
	t.Run("Entries", func(t *testing.T) { runEntries(t, newStore) })
}

// checkRelease accepts a release within 5% (and one person) of perSecond x
// elapsed, elapsed being measured on the store's clock.
func checkRelease(tb testing.TB, got int64, perSecond float64, elapsed time.Duration) {
	tb.Helper()
	want := perSecond * elapsed.Seconds()
	if diff := float64(got) - want; diff > want*0.05+1 || -diff > want*0.05+1 {
		tb.Fatalf("released %d in %v, want %.1f", got, elapsed, want)
	}
}

func mustInit(tb testing.TB, s admission.Store, room string, set admission.Settings) {
	tb.Helper()
	if _, err := s.Init(context.Background(), room, set); err != nil {
		tb.Fatal(err)
	}
}

func mustJoin(tb testing.TB, s admission.Store, room string, n int) {
	tb.Helper()
	for range n {
		if _, err := s.Join(context.Background(), room); err != nil {
			tb.Fatal(fmt.Errorf("join: %w", err))
		}
	}
}

func mustAdvance(tb testing.TB, s admission.Store, room string) admission.State {
	tb.Helper()
	st, err := s.Advance(context.Background(), room)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

func mustState(tb testing.TB, s admission.Store, room string) admission.State {
	tb.Helper()
	st, err := s.State(context.Background(), room)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}
