package admission_test

import (
	"testing"
	"time"

	"github.com/waitroom/waitroom/admission"
)

func TestRelease(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      admission.Cursor
		rate    int64
		elapsed time.Duration
		want    admission.Cursor
	}{
		{"OneSecondAt36000", admission.Cursor{Issued: 1000}, 36000, time.Second, admission.Cursor{Issued: 1000, Admitted: 10}},
		{"FractionCarried", admission.Cursor{Issued: 1000}, 3600, 500 * time.Millisecond, admission.Cursor{Issued: 1000, Credit: 1_800_000_000}},
		{"FractionCompletes", admission.Cursor{Issued: 1000, Credit: 1_800_000_000}, 3600, 500 * time.Millisecond, admission.Cursor{Issued: 1000, Admitted: 1}},
		{"CappedAtIssued", admission.Cursor{Issued: 8, Admitted: 5}, 36000, time.Second, admission.Cursor{Issued: 8, Admitted: 8}},
		{"NoTime", admission.Cursor{Issued: 8, Admitted: 3, Credit: 7}, 36000, 0, admission.Cursor{Issued: 8, Admitted: 3, Credit: 7}},
		{"NegativeTime", admission.Cursor{Issued: 8, Admitted: 3, Credit: 7}, 36000, -time.Second, admission.Cursor{Issued: 8, Admitted: 3, Credit: 7}},
		{"LongGapCapped", admission.Cursor{Issued: 1_000_000}, 3600, time.Hour, admission.Cursor{Issued: 1_000_000, Admitted: 10}},
		{"RejoinLineFirst", admission.Cursor{Issued: 100, Admitted: 50, Rejoined: 7, RejoinAdmitted: 2}, 36000, time.Second,
			admission.Cursor{Issued: 100, Admitted: 55, Rejoined: 7, RejoinAdmitted: 7}},
		{"OnlyTheRejoinLine", admission.Cursor{Issued: 50, Admitted: 50, Rejoined: 30, RejoinAdmitted: 2}, 36000, time.Second,
			admission.Cursor{Issued: 50, Admitted: 50, Rejoined: 30, RejoinAdmitted: 12}},
		{"BothLinesEmptyBankNothing", admission.Cursor{Issued: 50, Admitted: 48, Rejoined: 3, RejoinAdmitted: 2}, 36000, time.Second,
			admission.Cursor{Issued: 50, Admitted: 50, Rejoined: 3, RejoinAdmitted: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := admission.Release(tc.in, tc.rate, tc.elapsed, nil); got != tc.want {
				t.Fatalf("Release() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Many small steps release exactly what one long step does: no rounding drift.
func TestRelease_NoDrift(t *testing.T) {
	c := admission.Cursor{Issued: 1 << 40}
	for range 36_000 { // one hour in 100 ms ticks
		c = admission.Release(c, 2_000_000, 100*time.Millisecond, nil)
	}
	if got, want := c.Admitted, int64(2_000_000); got != want {
		t.Fatalf("admitted after one hour = %d, want %d", got, want)
	}
}

func TestRelease_Gone(t *testing.T) {
	var asked []int64
	gone := func(p int64) bool { asked = append(asked, p); return p%2 == 0 } // every other person left
	// 3,600,000/h for 10 ms is 10 people: positions 1..19 hold ten present
	// people (the odd ones) and nine who left.
	c := admission.Release(admission.Cursor{Issued: 100}, 3_600_000, 10*time.Millisecond, gone)
	if c != (admission.Cursor{Issued: 100, Admitted: 19, Skipped: 9}) {
		t.Fatalf("Release() = %+v, want 19 admitted, 9 skipped", c)
	}
	for i, p := range asked {
		if p != int64(i+1) {
			t.Fatalf("gone asked about %v, want each position once, in order", asked)
		}
	}
	// Reaching the end of the queue banks nothing.
	c = admission.Release(admission.Cursor{Issued: 6}, 3_600_000, 10*time.Millisecond, gone)
	if c != (admission.Cursor{Issued: 6, Admitted: 6, Skipped: 3}) {
		t.Fatalf("Release() at the end = %+v, want 6 admitted, 3 skipped", c)
	}
}

func TestRelease_SkipBound(t *testing.T) {
	calls := 0
	all := func(int64) bool { calls++; return true }
	// Everyone left: one step passes over MaxSkipPerAdvance of them and
	// keeps the people it could not release as credit for the next.
	c := admission.Release(admission.Cursor{Issued: 1 << 20}, 3_600_000, 10*time.Millisecond, all)
	if c.Admitted != admission.MaxSkipPerAdvance || c.Skipped != admission.MaxSkipPerAdvance || calls != admission.MaxSkipPerAdvance {
		t.Fatalf("Release() = %+v after %d calls; want %d of each", c, calls, admission.MaxSkipPerAdvance)
	}
	if want := int64(10) * 3_600_000_000; c.Credit != want {
		t.Fatalf("credit = %d, want the 10 unreleased people (%d)", c.Credit, want)
	}
}

func TestReleaseOptions_WithDefaults(t *testing.T) {
	got := admission.ReleaseOptions{MaxStep: time.Hour}.WithDefaults()
	if got.MaxStep != admission.MaxAdvanceStep || got.OutageGrace != admission.DefaultOutageGrace {
		t.Fatalf("WithDefaults() = %+v", got)
	}
	if got := (admission.ReleaseOptions{}).WithDefaults(); got.MaxStep != admission.DefaultMaxStep {
		t.Fatalf("zero MaxStep became %v", got.MaxStep)
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
