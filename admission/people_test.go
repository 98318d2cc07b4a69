package admission_test

import (
	"testing"
	"time"

	"github.com/waitroom/waitroom/admission"
)

func TestMethodStats_InFlight(t *testing.T) {
	// 5 s into a bucket: the rate is taken over the last 15 s.
	now := time.Unix(1_700_000_005, 0)
	tests := []struct {
		name string
		m    admission.MethodStats
		want int64
	}{
		{"NothingYet", admission.MethodStats{}, 0},
		{"NoLatencyKnown", admission.MethodStats{Starts: [admission.StatsBuckets]int64{0: 4, 5: 3}, Failed: 2}, 5},
		// 30 starts in 15 s at a mean of 20 s: 40 in flight.
		{"LittlesLaw", admission.MethodStats{Starts: [admission.StatsBuckets]int64{0: 10, 1: 20, 2: 500}, Completed: 2, Latency: 40 * time.Second}, 40},
		// A flood of starts a minute ago that never completed no longer
		// counts once the provider answers in 2 s.
		{"AbandonedExpire", admission.MethodStats{Starts: [admission.StatsBuckets]int64{0: 3, 1: 12, 5: 10000}, Completed: 10, Latency: 20 * time.Second}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.InFlight(now); got != tt.want {
				t.Fatalf("InFlight = %d, want %d", got, tt.want)
			}
		})
	}
}
