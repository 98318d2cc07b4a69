package admission_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/admission/inmem"
)

// fixture is a room on an in-memory store with a fake clock.
type fixture struct {
	now   time.Time
	store *inmem.Store
	ctl   *admission.Controller
}

func newFixture(t *testing.T, rate int64, joined int) *fixture {
	t.Helper()
	f := &fixture{now: time.Unix(1_628_506_800, 0), store: inmem.New()}
	f.store.Now = func() time.Time { return f.now }
	ctx := context.Background()
	st, err := f.store.Init(ctx, "r", admission.Settings{RatePerHour: rate})
	if err != nil {
		t.Fatal(err)
	}
	for range joined {
		if _, err := f.store.Join(ctx, "r"); err != nil {
			t.Fatal(err)
		}
	}
	f.ctl = admission.NewController(f.store, "r", st, admission.ControllerOptions{})
	return f
}

// run ticks every 100 ms of fake time for d.
func (f *fixture) run(t *testing.T, d time.Duration) *admission.Snapshot {
	t.Helper()
	var s *admission.Snapshot
	for end := f.now.Add(d); f.now.Before(end); {
		f.now = f.now.Add(100 * time.Millisecond)
		var err error
		if s, err = f.ctl.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestController_Tick(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := newFixture(t, 36_000, 200)
		s := f.run(t, 10*time.Second)
		if got, want := s.Admitted, int64(100); got != want {
			t.Fatalf("admitted after 10 s at 36000/h = %d, want %d", got, want)
		}
		if !s.Healthy {
			t.Fatal("snapshot unhealthy")
		}
		if got, want := s.MeasuredPerHour, 36_000.0; got != want {
			t.Fatalf("measured rate = %v, want %v", got, want)
		}
		if got, want := s.ReleasedLastMinute, int64(100); got != want {
			t.Fatalf("released last minute = %d, want %d", got, want)
		}
	})
	t.Run("SmoothSteps", func(t *testing.T) {
		f := newFixture(t, 2_000_000, 1_000_000)
		prev := f.ctl.Snapshot().Admitted
		for range 100 {
			s := f.run(t, 100*time.Millisecond)
			// 2 M/h is 55.6 per 100 ms: every tick releases 55 or 56.
			if step := s.Admitted - prev; step < 55 || step > 56 {
				t.Fatalf("one tick released %d, want 55 or 56", step)
			}
			prev = s.Admitted
		}
	})
	t.Run("RateChangeWithinOneTick", func(t *testing.T) {
		f := newFixture(t, 36_000, 1000)
		f.run(t, 10*time.Second)
		if _, err := f.store.SetRate(context.Background(), "r", 72_000); err != nil {
			t.Fatal(err)
		}
		before := f.ctl.Snapshot().Admitted
		s := f.run(t, 10*time.Second)
		if got, want := s.Admitted-before, int64(200); got != want {
			t.Fatalf("released in 10 s after the change = %d, want %d", got, want)
		}
		if s.MeasuredPerHour != 72_000 {
			t.Fatalf("measured rate = %v, want the new rate", s.MeasuredPerHour)
		}
	})
	t.Run("EmptyQueueDoesNotLowerMeasuredRate", func(t *testing.T) {
		f := newFixture(t, 36_000, 50)
		s := f.run(t, 60*time.Second)
		if s.Admitted != 50 {
			t.Fatalf("admitted = %d, want 50", s.Admitted)
		}
		if s.MeasuredPerHour != 36_000 {
			t.Fatalf("measured rate = %v, want 36000 (idle time is not slowness)", s.MeasuredPerHour)
		}
	})
	t.Run("ErrUnavailable", func(t *testing.T) {
		f := newFixture(t, 36_000, 100)
		f.run(t, time.Second)
		good := f.ctl.Snapshot()
		f.ctl = admission.NewController(failingStore{f.store}, "r", good.State, admission.ControllerOptions{})
		s, err := f.ctl.Tick(context.Background())
		if !errors.Is(err, admission.ErrUnavailable) {
			t.Fatalf("err = %v", err)
		}
		if s.Healthy || s.Admitted != good.Admitted {
			t.Fatalf("snapshot after failure = %+v, want last state, unhealthy", s)
		}
	})
}

func TestSnapshot_Wait(t *testing.T) {
	s := &admission.Snapshot{State: admission.State{Admitted: 100}, MeasuredPerHour: 3600}
	for _, tc := range []struct {
		pos  int64
		want time.Duration
	}{
		{50, 0}, {100, 0}, {101, time.Second}, {160, time.Minute},
	} {
		if got := s.Wait(tc.pos); got != tc.want {
			t.Errorf("Wait(%d) = %v, want %v", tc.pos, got, tc.want)
		}
	}
	// The rejoin line goes first and nobody in it is expected to leave.
	s.Rejoined, s.RejoinAdmitted, s.LeaveShare = 70, 10, 0.5
	if got, want := s.Wait(160), 90*time.Second; got != want {
		t.Errorf("Wait(160) behind 60 rejoining, half of 60 leaving = %v, want %v", got, want)
	}
	if got, want := s.RejoinWait(40), 30*time.Second; got != want {
		t.Errorf("RejoinWait(40) = %v, want %v", got, want)
	}
	if got := s.RejoinWait(10); got != 0 {
		t.Errorf("RejoinWait of an admitted index = %v, want 0", got)
	}
	s.MeasuredPerHour = 0
	if got := s.Wait(101); got != admission.MaxWait {
		t.Errorf("Wait at rate 0 = %v, want MaxWait", got)
	}
}

type failingStore struct{ admission.Store }

func (failingStore) Advance(context.Context, string) (admission.State, error) {
	return admission.State{}, admission.ErrUnavailable
}

// lostStore is an in-memory store whose room vanishes, like a Redis that
// restarted without persistence.
type lostStore struct {
	*inmem.Store
	lost     bool
	reseeded admission.State
}

func (s *lostStore) Advance(ctx context.Context, room string) (admission.State, error) {
	if s.lost {
		return admission.State{}, admission.ErrNotInitialized
	}
	return s.Store.Advance(ctx, room)
}

func (s *lostStore) Reseed(_ context.Context, _ string, st admission.State) (admission.State, error) {
	s.lost, s.reseeded = false, st
	return st, nil
}

func TestController_Reseed(t *testing.T) {
	f := newFixture(t, 36_000, 100)
	f.run(t, time.Second)
	ls := &lostStore{Store: f.store}
	ctl := admission.NewController(ls, "r", f.ctl.Snapshot().State, admission.ControllerOptions{})
	ctl.NoteIssued(150) // a join this gateway made after its last tick
	ls.lost = true
	s, err := ctl.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ls.reseeded.Issued < 150+64 || ls.reseeded.Epoch != f.ctl.Snapshot().Epoch || ls.reseeded.Admitted != 10 {
		t.Fatalf("reseeded with %+v, want issued past 150 with a gap, the same epoch and cursor", ls.reseeded)
	}
	if !s.Healthy {
		t.Fatal("snapshot unhealthy after a reseed")
	}
}

// A store that comes back with an older copy of the room (a lagging
// replica) is reseeded, never believed.
func TestController_ReseedRollback(t *testing.T) {
	f := newFixture(t, 36_000, 100)
	f.run(t, 2*time.Second)
	ls := &lostStore{Store: f.store}
	ctl := admission.NewController(ls, "r", f.ctl.Snapshot().State, admission.ControllerOptions{})
	// The store forgets the last 50 joins and 10 admissions.
	old := inmem.New()
	old.Now = f.store.Now
	ls.Store = old
	if _, err := old.Init(context.Background(), "r", admission.Settings{RatePerHour: 36_000}); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if _, err := old.Join(context.Background(), "r"); err != nil {
			t.Fatal(err)
		}
	}
	f.now = f.now.Add(100 * time.Millisecond)
	if _, err := ctl.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ls.reseeded.Issued < 100+64 || ls.reseeded.Admitted != 20 {
		t.Fatalf("reseeded with %+v, want issued past 100 and the cursor at 20", ls.reseeded)
	}
}

// With people leaving, the wait counts only those ahead expected to still
// be there, at the rate present people are released: every other person
// ahead left, so release passes over two positions per person admitted.
func TestController_LeaveShare(t *testing.T) {
	f := newFixture(t, 3600, 200)
	beats := make([]admission.Beat, 0, 100)
	for pos := int64(2); pos <= 200; pos += 2 {
		beats = append(beats, admission.Beat{Position: pos, Until: f.now.Add(-time.Second)})
	}
	if err := f.store.Beat(context.Background(), "r", beats); err != nil {
		t.Fatal(err)
	}
	s := f.run(t, 30*time.Second)
	if s.Admitted < 59 || s.Admitted > 60 || s.Skipped != s.Admitted/2 {
		t.Fatalf("after 30 s at 1/s: cursor %d, skipped %d; want ~60 and half", s.Admitted, s.Skipped)
	}
	if s.MeasuredPerHour < 3500 || s.MeasuredPerHour > 3700 {
		t.Fatalf("measured %v people/h, want ~3600 (skipped positions are not people released)", s.MeasuredPerHour)
	}
	// 30 skipped of 60 passed, weighed against an expected share of 0
	// over 10,000 positions: the estimate has barely moved yet.
	if want := 30.0 / 10_060; s.LeaveShare < want*0.9 || s.LeaveShare > want*1.1 {
		t.Fatalf("leave share %v, want %v", s.LeaveShare, want)
	}
	s.LeaveShare = 0.5
	if got := s.Wait(s.Admitted + 100); got < 49*time.Second || got > 51*time.Second {
		t.Fatalf("wait of 100 positions back with half leaving = %v, want ~50 s", got)
	}
}

// The expected share shapes the first estimates, before any release.
func TestController_ExpectedLeaveShare(t *testing.T) {
	ctl := admission.NewController(inmem.New(), "r", admission.State{RatePerHour: 3600}, admission.ControllerOptions{ExpectedLeaveShare: 0.1})
	s := ctl.Snapshot()
	if s.LeaveShare != 0.1 {
		t.Fatalf("leave share before any release = %v, want the expected 0.1", s.LeaveShare)
	}
	if got := s.Wait(100); got != 90*time.Second {
		t.Fatalf("wait of position 100 = %v, want 90 s (10%% of those ahead expected to leave)", got)
	}
}

// At a slow rate a few seconds release nobody: that is no measurement, and
// the estimate stays on the configured rate instead of jumping to MaxWait.
func TestController_SlowRateKeepsConfigured(t *testing.T) {
	f := newFixture(t, 100, 50) // one person every 36 s
	s := f.run(t, 10*time.Second)
	if s.Admitted != 0 || s.MeasuredPerHour != 100 {
		t.Fatalf("after 10 s at 100/h: cursor %d, measured %v/h; want 0 and the configured 100", s.Admitted, s.MeasuredPerHour)
	}
	if w := s.Wait(1); w > time.Minute {
		t.Fatalf("wait of the first person = %v, want about 36 s", w)
	}
}
