package loadtest

import (
	"math"
	"math/rand/v2"
	"time"
)

// Times returns n arrival times after the opening (simulated time), in
// increasing order. They are stratified: person i arrives at the curve's
// quantile (i + u)/n for a random u in [0, 1), so even a small crowd
// follows the curve closely while no two runs of different seeds coincide.
func (a *Arrival) Times(n int64, rng *rand.Rand) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		q := (float64(i) + rng.Float64()) / float64(n)
		out[i] = a.quantile(q)
	}
	return out
}

// quantile is the inverse of the arrival curve's distribution function:
// the time by which a share q in [0, 1) of the people has arrived.
func (a *Arrival) quantile(q float64) time.Duration {
	switch {
	case a.AtOpening != nil:
		return time.Duration(-math.Log1p(-q) * float64(a.AtOpening.Spread))
	case a.Ramp != nil:
		return time.Duration(q * float64(a.Ramp.Over))
	}
	cum := 0.0
	for i, r := range a.Table {
		if q < cum+r.Share || i == len(a.Table)-1 {
			f := min((q-cum)/r.Share, 1)
			return time.Duration((float64(r.Minute) + f) * float64(time.Minute))
		}
		cum += r.Share
	}
	return 0 // unreachable for a validated table
}
