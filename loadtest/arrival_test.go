package loadtest

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func arrivals(t *testing.T, a Arrival, n int64) []time.Duration {
	t.Helper()
	ts := a.Times(n, rand.New(rand.NewPCG(1, 2)))
	if int64(len(ts)) != n || !slices.IsSorted(ts) || ts[0] < 0 {
		t.Fatalf("%d times, sorted %v, first %v", len(ts), slices.IsSorted(ts), ts[0])
	}
	return ts
}

// countBefore is how many times are before t.
func countBefore(ts []time.Duration, t time.Duration) int {
	i, _ := slices.BinarySearch(ts, t)
	return i
}

func TestArrival_AtOpening(t *testing.T) {
	var a Arrival
	a.AtOpening = &struct {
		Spread Duration `yaml:"spread"`
	}{Duration(time.Minute)}
	const n = 10000
	ts := arrivals(t, a, n)
	// Exponential with mean 1m: 1 - 1/e within the first minute, 1 - 1/e^3 within three.
	for _, c := range []struct {
		by   time.Duration
		want float64
	}{{time.Minute, 1 - math.Exp(-1)}, {3 * time.Minute, 1 - math.Exp(-3)}} {
		if got := float64(countBefore(ts, c.by)) / n; math.Abs(got-c.want) > 0.002 {
			t.Errorf("share by %v = %.4f, want %.4f", c.by, got, c.want)
		}
	}
}

func TestArrival_Ramp(t *testing.T) {
	var a Arrival
	a.Ramp = &struct {
		Over Duration `yaml:"over"`
	}{Duration(10 * time.Minute)}
	const n = 1000
	ts := arrivals(t, a, n)
	for m := 1; m <= 10; m++ {
		if got := countBefore(ts, time.Duration(m)*time.Minute); got != m*n/10 {
			t.Errorf("by minute %d: %d arrived, want %d", m, got, m*n/10)
		}
	}
	if ts[n-1] >= 10*time.Minute {
		t.Errorf("last arrival %v after the ramp", ts[n-1])
	}
}

func TestArrival_Table(t *testing.T) {
	a := Arrival{Table: []TableRow{{0, 0.5}, {1, 0.3}, {5, 0.2}}}
	const n = 1000
	ts := arrivals(t, a, n)
	for _, c := range []struct {
		from, to time.Duration
		want     int
	}{{0, time.Minute, 500}, {time.Minute, 2 * time.Minute, 300}, {2 * time.Minute, 5 * time.Minute, 0}, {5 * time.Minute, 6 * time.Minute, 200}} {
		if got := countBefore(ts, c.to) - countBefore(ts, c.from); got != c.want {
			t.Errorf("[%v, %v): %d arrived, want %d", c.from, c.to, got, c.want)
		}
	}
}
