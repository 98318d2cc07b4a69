package loadtest

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"time"
)

// InversionAllowance is how stale an answer may be before it counts as an
// inversion: two controller ticks (real time). Each gateway refreshes its
// view of the cursor every tick, so for up to that long one gateway may
// still say "waiting" to A after another admitted B behind A.
const InversionAllowance = 200 * time.Millisecond

// Inversions are people told "waiting" after someone behind them in the
// queue had been admitted.
type Inversions struct {
	// People counts the people A who were told "waiting" by an answer to a
	// request sent more than AllowanceMS (real) after the admitted answer
	// of some B with a later position arrived. Request send and answer
	// arrival bound the gateways' answer times from the safe side, so
	// every inversion counted is certain.
	People      int64       `json:"people"`
	AllowanceMS float64     `json:"allowance_ms"`
	Worst       []Inversion `json:"worst,omitempty"`
}

// Inversion is one person passed over.
type Inversion struct {
	Position int64 `json:"position"`
	// Behind is the position of the first person behind them admitted.
	Behind int64 `json:"behind_position"`
	// AdmittedAt is when Behind was admitted, WaitingAt when Position was
	// still told "waiting" (simulated seconds since the opening).
	AdmittedAt float64 `json:"behind_admitted_at_s"`
	WaitingAt  float64 `json:"told_waiting_at_s"`
	// LateMS is how much later, real milliseconds.
	LateMS float64 `json:"late_ms"`
}

// findInversions finds the people with an inversion. For each admitted
// person in order of admission it keeps the highest position admitted so
// far; a person A is inverted when the first admission of a position above
// A's precedes A's last "waiting" request by more than allowance. The last
// "waiting" answer is the one that matters: the highest admitted position
// only grows with time.
func findInversions(ps []person, allowance time.Duration, scale float64) Inversions {
	type adm struct {
		at  time.Duration
		pos int64
	}
	var admits []adm
	for i := range ps {
		if ps[i].admitted != 0 && ps[i].position > 0 {
			admits = append(admits, adm{ps[i].admitted, ps[i].position})
		}
	}
	slices.SortFunc(admits, func(a, b adm) int { return cmp.Compare(a.at, b.at) })
	// highest[i] is the highest position among admits[:i+1].
	highest := make([]int64, len(admits))
	for i, a := range admits {
		highest[i] = a.pos
		if i > 0 {
			highest[i] = max(highest[i], highest[i-1])
		}
	}
	out := Inversions{AllowanceMS: float64(allowance) / float64(time.Millisecond)}
	for i := range ps {
		a := &ps[i]
		if a.lastWait == 0 || a.position <= 0 {
			continue
		}
		// The first admission of a position behind a's.
		j := sort.Search(len(highest), func(j int) bool { return highest[j] > a.position })
		if j == len(highest) || a.lastWait-admits[j].at <= allowance {
			continue
		}
		out.People++
		behind := admits[j].pos
		for _, b := range admits[j:] { // the admission that raised the maximum
			if b.pos > a.position {
				behind = b.pos
				break
			}
		}
		out.Worst = append(out.Worst, Inversion{
			Position: a.position, Behind: behind,
			AdmittedAt: simSeconds(admits[j].at, scale), WaitingAt: simSeconds(a.lastWait, scale),
			LateMS: float64(a.lastWait-admits[j].at) / float64(time.Millisecond),
		})
	}
	slices.SortFunc(out.Worst, func(a, b Inversion) int { return cmp.Compare(b.LateMS, a.LateMS) })
	if len(out.Worst) > 10 {
		out.Worst = out.Worst[:10]
	}
	return out
}

// Accuracy compares each admitted person's predicted wait (eta_seconds of
// their first answer) with their actual wait (simulated time from that
// answer to their first "admitted" answer). People whose turn came while
// their device slept are left out: they entered when they woke, later than
// the estimate promised and by their own doing (see person.late).
type Accuracy struct {
	People int64 `json:"people"`
	// Within counts predictions within Tolerance of the actual wait, or
	// within FloorSeconds of it (waits of a few seconds).
	Within       int64   `json:"within"`
	Share        float64 `json:"share_within"`
	Tolerance    float64 `json:"tolerance"`
	FloorSeconds float64 `json:"floor_seconds"`
	// Error percentiles of (predicted - actual) / actual: positive means
	// people waited less than they were told. Clamped to ±10.
	ErrorPercentiles map[string]float64 `json:"error_percentiles"`
	MeanAbsErrorS    float64            `json:"mean_abs_error_s"`
	Histogram        []Bin              `json:"error_histogram"`
	// Sample is up to 2000 (predicted, actual) pairs, seconds, for charts.
	Sample [][2]float64 `json:"sample"`
}

// Bin is one bar of a histogram of shares: [From, To).
type Bin struct {
	From  float64 `json:"from"`
	To    float64 `json:"to"`
	Count int64   `json:"count"`
}

const (
	maxRelError = 10.0
	binWidth    = 0.02
	binLimit    = 0.3
	sampleSize  = 2000
)

// measureAccuracy computes the Accuracy of admitted people.
func measureAccuracy(ps []person, scale, tolerance float64, floor time.Duration) Accuracy {
	out := Accuracy{Tolerance: tolerance, FloorSeconds: floor.Seconds(), ErrorPercentiles: map[string]float64{}}
	var rel []float64
	var absSum float64
	n := 0
	for i := range ps {
		if ps[i].admitted != 0 && ps[i].joined != 0 && !ps[i].late() {
			n++
		}
	}
	stride := max(1, (n+sampleSize-1)/sampleSize) // spread over the whole crowd
	for i := range ps {
		p := &ps[i]
		if p.admitted == 0 || p.joined == 0 || p.late() {
			continue
		}
		pred := float64(p.eta)
		actual := simSeconds(p.admitted-p.joined, scale)
		diff := pred - actual
		if math.Abs(diff) <= max(tolerance*actual, floor.Seconds()) {
			out.Within++
		}
		r := 0.0
		switch {
		case actual > 0:
			r = diff / actual
		case diff > 0:
			r = maxRelError
		}
		rel = append(rel, min(max(r, -maxRelError), maxRelError))
		absSum += math.Abs(diff)
		if len(rel)%stride == 0 && len(out.Sample) < sampleSize {
			out.Sample = append(out.Sample, [2]float64{pred, actual})
		}
	}
	out.People = int64(len(rel))
	if out.People == 0 {
		return out
	}
	out.Share = float64(out.Within) / float64(out.People)
	out.MeanAbsErrorS = absSum / float64(out.People)
	slices.Sort(rel)
	for _, q := range []struct {
		name string
		q    float64
	}{{"p1", 0.01}, {"p5", 0.05}, {"p10", 0.10}, {"p25", 0.25}, {"p50", 0.50}, {"p75", 0.75}, {"p90", 0.90}, {"p95", 0.95}, {"p99", 0.99}} {
		out.ErrorPercentiles[q.name] = rel[min(len(rel)-1, int(q.q*float64(len(rel))))]
	}
	// Bins of 2% from -30% to +30%, and one for everything beyond each end.
	nb := int(math.Round(2 * binLimit / binWidth))
	out.Histogram = make([]Bin, nb+2)
	out.Histogram[0] = Bin{From: -maxRelError, To: -binLimit}
	out.Histogram[nb+1] = Bin{From: binLimit, To: maxRelError}
	for i := 1; i <= nb; i++ {
		out.Histogram[i] = Bin{From: -binLimit + float64(i-1)*binWidth, To: -binLimit + float64(i)*binWidth}
	}
	for _, r := range rel {
		i := int(math.Floor((r+binLimit)/binWidth)) + 1
		out.Histogram[min(max(i, 0), nb+1)].Count++
	}
	return out
}

// rateStep is the release rate (simulated people per simulated hour; 0
// while paused) from a simulated time on.
type rateStep struct {
	at      time.Duration
	perHour int64
}

// rateSteps is the configured release schedule of a scenario, as the
// gateways run it (crowd-scaled).
func rateSteps(sc *Scenario) []rateStep {
	rate, paused := sc.SimRate(sc.RatePerHour), false
	steps := []rateStep{{0, rate}}
	for _, c := range sc.Changes {
		switch {
		case c.Pause:
			paused = true
		case c.Resume:
			paused = false
		default:
			rate = sc.SimRate(c.RatePerHour)
		}
		r := rate
		if paused {
			r = 0
		}
		steps = append(steps, rateStep{c.At.D(), r})
	}
	return steps
}

// released is how many people the schedule releases in [0, t).
func released(steps []rateStep, t time.Duration) float64 {
	total := 0.0
	for i, s := range steps {
		end := t
		if i+1 < len(steps) {
			end = min(end, steps[i+1].at)
		}
		if end > s.at {
			total += float64(s.perHour) * (end - s.at).Hours()
		}
	}
	return total
}

// idealFinish is when the schedule has released n people, counting from
// the opening; false if it never does (paused at the end).
func idealFinish(steps []rateStep, n int64) (time.Duration, bool) {
	done := 0.0
	for i, s := range steps {
		need := float64(n) - done
		if s.perHour > 0 {
			t := s.at + time.Duration(need/float64(s.perHour)*float64(time.Hour))
			if i+1 == len(steps) || t <= steps[i+1].at {
				return t, true
			}
		}
		if i+1 < len(steps) {
			done += float64(s.perHour) * (steps[i+1].at - s.at).Hours()
		}
	}
	return 0, false
}

// LastAdmitted compares the last admission with the time the configured
// rate needs for the people who stayed (did not give up). The admission of
// someone whose turn came while their device slept is when they woke, a
// time of their choosing: it is left out of the last admission (they count
// among those who stayed: release spent their place on them) and reported
// as LateLastSeconds.
type LastAdmitted struct {
	Stayed          int64   `json:"stayed"`
	StayedFullScale int64   `json:"stayed_full_scale"`
	LastSeconds     float64 `json:"last_admitted_s"`
	IdealSeconds    float64 `json:"stayed_over_rate_s"`
	Ratio           float64 `json:"ratio"`
	Late            int64   `json:"admitted_on_waking,omitempty"`
	LateLastSeconds float64 `json:"last_admitted_on_waking_s,omitempty"`
}

func lastAdmitted(ps []person, sc *Scenario) LastAdmitted {
	var out LastAdmitted
	var last, late time.Duration
	for i := range ps {
		if ps[i].state != stGone {
			out.Stayed++
		}
		if ps[i].late() {
			out.Late++
			late = max(late, ps[i].admitted)
			continue
		}
		last = max(last, ps[i].admitted)
	}
	out.LateLastSeconds = simSeconds(late, sc.TimeScale)
	out.StayedFullScale = int64(math.Round(float64(out.Stayed) * sc.CrowdScale))
	out.LastSeconds = simSeconds(last, sc.TimeScale)
	if ideal, ok := idealFinish(rateSteps(sc), out.Stayed); ok && ideal > 0 {
		out.IdealSeconds = ideal.Seconds()
		out.Ratio = out.LastSeconds / out.IdealSeconds
	}
	return out
}

// MinutePoint is one simulated minute of release, full scale.
type MinutePoint struct {
	Minute     int     `json:"minute"`
	Admitted   float64 `json:"admitted"`
	Configured float64 `json:"configured"`
}

// admittedPerMinute buckets admissions by simulated minute.
func admittedPerMinute(ps []person, sc *Scenario) []MinutePoint {
	var counts []int64
	for i := range ps {
		if ps[i].admitted == 0 {
			continue
		}
		m := int(sc.Sim(ps[i].admitted) / time.Minute)
		for len(counts) <= m {
			counts = append(counts, 0)
		}
		counts[m]++
	}
	steps := rateSteps(sc)
	out := make([]MinutePoint, len(counts))
	for m, c := range counts {
		from, to := time.Duration(m)*time.Minute, time.Duration(m+1)*time.Minute
		out[m] = MinutePoint{Minute: m, Admitted: float64(c) * sc.CrowdScale,
			Configured: (released(steps, to) - released(steps, from)) * sc.CrowdScale}
	}
	return out
}

// sample is the crowd's counters at one moment (real time since opening).
type sample struct {
	t                                                 time.Duration
	requests, joined, admitted, gone, failed, dropped int64
	lagMax                                            time.Duration
	gwWaiting, gwAdmitted, gwIssued                   int64 // from the operator API; -1 unknown
}

// waiting is the people holding a place, not admitted, not gone.
func (s sample) waiting() int64 { return s.joined - s.admitted - s.gone - s.dropped }

// peakRate is the highest request rate over any window of samples spanning
// at least window (real time), per second.
func peakRate(ss []sample, window time.Duration) float64 {
	peak := 0.0
	j := 0
	for i := range ss {
		for j < i && ss[i].t-ss[j+1].t >= window {
			j++
		}
		if d := ss[i].t - ss[j].t; d >= window && d > 0 {
			peak = max(peak, float64(ss[i].requests-ss[j].requests)/d.Seconds())
		}
	}
	return peak
}

func simSeconds(d time.Duration, scale float64) float64 { return d.Seconds() * scale }
