package gateway

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/admission/inmem"
)

// A page's last poll and the beacon it sends as it falls asleep can reach
// two gateways milliseconds apart, and the store keeps the promise written
// last: the beacon's waits, so the poll's never overwrites it, whichever
// gateway flushes first. Leaving waits longer than sleeping: a closed tab
// sends both.
func TestPresence_BeaconsWinTheRace(t *testing.T) {
	now := time.Unix(1_628_506_800, 0)
	for _, tc := range []struct {
		name     string
		beacons  []int // delays of the beacons gateway a gets, in order
		skipped  int64
		pollLast bool // gateway b, with the poll, flushes after a each time
	}{
		{"SleepAfterPoll", []int{sleepDelay}, 0, true},
		{"SleepAfterPoll/OtherOrder", []int{sleepDelay}, 0, false},
		{"LeftAfterSleep", []int{sleepDelay, leftDelay}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clock := now
			s := inmem.New()
			s.Now = func() time.Time { return clock }
			// The test's clock jumps: no outage grace after a jump.
			s.Release = admission.ReleaseOptions{MaxStep: admission.MaxAdvanceStep, OutageGrace: time.Nanosecond}
			if _, err := s.Init(ctx, "r", admission.Settings{RatePerHour: 3600, Paused: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Join(ctx, "r"); err != nil {
				t.Fatal(err)
			}
			grace := 5 * time.Second
			a := &presence{store: s, grace: grace, log: slog.Default()}
			b := &presence{store: s, grace: grace, log: slog.Default()}
			b.note("r", 1, now.Add(time.Second)) // the last poll, at b
			for _, d := range tc.beacons {
				until := now.Add(10 * time.Minute)
				if d == leftDelay {
					until = now
				}
				a.noteLater("r", 1, until, d) // the beacon, at a
			}
			for range leftDelay {
				if tc.pollLast {
					a.flush(ctx)
					b.flush(ctx)
				} else {
					b.flush(ctx)
					a.flush(ctx)
				}
			}
			clock = clock.Add(2 * time.Minute)
			if _, err := s.SetPaused(ctx, "r", false); err != nil {
				t.Fatal(err)
			}
			clock = clock.Add(1100 * time.Millisecond)
			st, err := s.Advance(ctx, "r")
			if err != nil {
				t.Fatal(err)
			}
			if st.Admitted != 1 || st.Skipped != tc.skipped {
				t.Fatalf("two minutes later: cursor %d, skipped %d; want 1 and %d", st.Admitted, st.Skipped, tc.skipped)
			}
		})
	}
}
