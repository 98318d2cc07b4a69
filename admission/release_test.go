package admission_test

import (
	"testing"
	"time"

	"github.com/waitroom/waitroom/admission"
)

func TestRelease(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		admitted, issued, credit int64
		rate                     int64
		elapsed                  time.Duration
		wantAdmitted, wantCredit int64
	}{
		{"OneSecondAt36000", 0, 1000, 0, 36000, time.Second, 10, 0},
		{"FractionCarried", 0, 1000, 0, 3600, 500 * time.Millisecond, 0, 1_800_000_000},
		{"FractionCompletes", 0, 1000, 1_800_000_000, 3600, 500 * time.Millisecond, 1, 0},
		{"CappedAtIssued", 5, 8, 0, 36000, time.Second, 8, 0},
		{"NoTime", 3, 8, 7, 36000, 0, 3, 7},
		{"NegativeTime", 3, 8, 7, 36000, -time.Second, 3, 7},
		{"LongGapCapped", 0, 1_000_000, 0, 3600, time.Hour, 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gotA, gotC := admission.Release(tc.admitted, tc.issued, tc.credit, tc.rate, tc.elapsed)
			if gotA != tc.wantAdmitted || gotC != tc.wantCredit {
				t.Fatalf("Release() = (%d, %d), want (%d, %d)", gotA, gotC, tc.wantAdmitted, tc.wantCredit)
			}
		})
	}
}

// Many small steps release exactly what one long step does: no rounding drift.
func TestRelease_NoDrift(t *testing.T) {
	var admitted, credit int64
	for range 36_000 { // one hour in 100 ms ticks
		admitted, credit = admission.Release(admitted, 1<<40, credit, 2_000_000, 100*time.Millisecond)
	}
	if got, want := admitted, int64(2_000_000); got != want {
		t.Fatalf("admitted after one hour = %d, want %d", got, want)
	}
}

func TestReleaseLive(t *testing.T) {
	gone := func(p int64) bool { return p%2 == 0 } // every other person left
	// 3,600,000/h for 10 ms is 10 people: positions 1..19 hold ten present
	// people (the odd ones) and nine who left.
	a, c, skipped := admission.ReleaseLive(0, 100, 0, 3_600_000, 10*time.Millisecond, gone)
	if a != 19 || c != 0 || skipped != 9 {
		t.Fatalf("ReleaseLive() = (%d, %d, %d), want (19, 0, 9)", a, c, skipped)
	}
	// Reaching the end of the queue banks nothing.
	a, c, skipped = admission.ReleaseLive(0, 6, 0, 3_600_000, 10*time.Millisecond, gone)
	if a != 6 || c != 0 || skipped != 3 {
		t.Fatalf("ReleaseLive() at the end = (%d, %d, %d), want (6, 0, 3)", a, c, skipped)
	}
}

func TestReleaseLiveSkipBound(t *testing.T) {
	all := func(int64) bool { return true }
	// Everyone left: one step passes over MaxSkipPerAdvance of them and
	// keeps the people it could not release as credit for the next.
	a, c, skipped := admission.ReleaseLive(0, 1<<20, 0, 3_600_000, 10*time.Millisecond, all)
	if a != admission.MaxSkipPerAdvance || skipped != admission.MaxSkipPerAdvance {
		t.Fatalf("ReleaseLive() = admitted %d, skipped %d; want %d of both", a, skipped, admission.MaxSkipPerAdvance)
	}
	if want := int64(10) * 3_600_000_000; c != want {
		t.Fatalf("credit = %d, want the 10 unreleased people (%d)", c, want)
	}
}

func TestBeatSecond(t *testing.T) {
	at := time.Unix(1_700_000_000, 1)
	if got := admission.BeatSecond(at); got != 1_700_000_001 {
		t.Fatalf("BeatSecond rounds down: %d", got)
	}
	if admission.GoneBy(admission.BeatSecond(at), at.Add(time.Second)) {
		t.Fatal("a promise expired before its second ended")
	}
	if !admission.GoneBy(admission.BeatSecond(at), at.Add(3*time.Second)) {
		t.Fatal("an expired promise still holds")
	}
	if admission.GoneBy(0, at) {
		t.Fatal("no promise counts as gone")
	}
}
