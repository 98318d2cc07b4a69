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
