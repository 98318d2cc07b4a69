package loadtest

import (
	"math"
	"sync"
	"testing"
	"time"
)

func TestHistogram_Percentiles(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	s := h.Summary()
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", s.P50, 5}, {"p90", s.P90, 9}, {"p99", s.P99, 9.9}, {"max", s.Max, 10}, {"mean", s.Mean, 5.0005}} {
		if math.Abs(c.got-c.want)/c.want > 0.002 { // 3 significant digits
			t.Errorf("%s = %v ms, want %v", c.name, c.got, c.want)
		}
	}
	if s.Count != 10000 {
		t.Errorf("count %d", s.Count)
	}
}

// Values beyond the range count at its ends instead of being lost.
func TestHistogram_OutOfRange(t *testing.T) {
	h := NewHistogram()
	h.Record(0)
	h.Record(-time.Second)
	h.Record(time.Hour)
	s := h.Summary()
	if s.Count != 3 || s.Max < 599_000 || s.P50 > 0.0011 {
		t.Errorf("out of range values: %+v", s)
	}
}

func TestHistogram_Concurrent(t *testing.T) {
	h := NewHistogram()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				h.Record(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if s := h.Summary(); s.Count != 8000 {
		t.Errorf("count %d, want 8000", s.Count)
	}
}
