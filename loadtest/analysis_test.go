package loadtest

import (
	"math"
	"strings"
	"testing"
	"time"
)

const ms10 = 10 * time.Millisecond

// admittedAt is a person at pos admitted at t (real), last told waiting at
// lastWait (0: never).
func admittedAt(pos int64, t, lastWait time.Duration) person {
	return person{position: pos, joined: time.Millisecond, admitted: t, lastWait: lastWait, state: stDone}
}

func TestInversions(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name   string
		people []person
		want   int64
	}{
		{"in order", []person{admittedAt(1, 1*s, s/2), admittedAt(2, 2*s, 3*s/2), admittedAt(3, 3*s, 5*s/2)}, 0},
		// Position 3 still waiting 500 ms after position 5 was admitted.
		{"passed over", []person{admittedAt(5, 1*s, 0), admittedAt(3, 2*s, 1500*time.Millisecond)}, 1},
		// Told waiting 100 ms after: one gateway's view may be that stale.
		{"within two ticks", []person{admittedAt(5, 1*s, 0), admittedAt(3, 2*s, 1100*time.Millisecond)}, 0},
		// Exactly at the allowance is not an inversion; just beyond it is.
		{"at the allowance", []person{admittedAt(5, 1*s, 0), admittedAt(3, 2*s, 1*s+InversionAllowance)}, 0},
		{"beyond the allowance", []person{admittedAt(5, 1*s, 0), admittedAt(3, 2*s, 1*s+InversionAllowance+time.Millisecond)}, 1},
		// A person behind everyone admitted is not passed over.
		{"behind everyone", []person{admittedAt(1, 1*s, 0), admittedAt(2, 1*s, 0), {position: 9, lastWait: 5 * s, state: stWaiting}}, 0},
		// A person who gave up and was never told waiting again is not counted;
		// one who was told waiting late is, whatever happened after.
		{"gone after being passed over", []person{admittedAt(7, 1*s, 0), {position: 2, lastWait: 3 * s, left: 4 * s, state: stGone}}, 1},
		{"two passed over by one", []person{admittedAt(10, 1*s, 0), admittedAt(2, 3*s, 2*s), admittedAt(3, 3*s, 2*s)}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := findInversions(tc.people, InversionAllowance, 10)
			if inv.People != tc.want {
				t.Errorf("%d inversions, want %d: %+v", inv.People, tc.want, inv.Worst)
			}
		})
	}
	// The example names who was passed over, by whom, and how late.
	inv := findInversions([]person{admittedAt(4, 1*s, 0), admittedAt(6, 1*s+ms10, 0), admittedAt(3, 3*s, 2*s)}, InversionAllowance, 10)
	if len(inv.Worst) != 1 {
		t.Fatalf("worst: %+v", inv.Worst)
	}
	if w := inv.Worst[0]; w.Position != 3 || w.Behind != 4 || w.LateMS != 1000 || w.AdmittedAt != 10 || w.WaitingAt != 20 {
		t.Errorf("example %+v, want position 3 behind 4, 1000 ms late, at 10 s and 20 s simulated", w)
	}
}

// waited is an admitted person told eta seconds, who waited actual
// (simulated at scale 1).
func waited(eta int32, actual time.Duration) person {
	return person{position: 1, joined: time.Second, admitted: time.Second + actual, eta: eta, state: stDone}
}

func TestAccuracy(t *testing.T) {
	ps := []person{
		waited(100, 100*time.Second), // exact
		waited(100, 95*time.Second),  // +5.3%
		waited(100, 120*time.Second), // -16.7%: outside
		waited(100, 80*time.Second),  // +25%: outside
		waited(1, 300*time.Millisecond),
		waited(0, 0), // admitted at joining
		{position: 2, eta: 50, joined: time.Second, state: stGone, left: 5 * time.Second}, // gave up: no actual wait
	}
	a := measureAccuracy(ps, 1, 0.10, time.Second)
	if a.People != 6 || a.Within != 4 || math.Abs(a.Share-4.0/6) > 1e-9 {
		t.Errorf("%d of %d within (share %v), want 4 of 6", a.Within, a.People, a.Share)
	}
	// The floor matters only for short waits: without it 0.3 s told 1 s is +233%.
	if b := measureAccuracy(ps, 1, 0.10, 0); b.Within != 3 {
		t.Errorf("without a floor %d within, want 3", b.Within)
	}
	var n int64
	for _, b := range a.Histogram {
		n += b.Count
	}
	if n != a.People {
		t.Errorf("histogram holds %d people of %d", n, a.People)
	}
	if last := a.Histogram[len(a.Histogram)-1]; last.Count != 1 { // +233%
		t.Errorf("overflow bin %+v, want the 233%% error", last)
	}
	// Simulated time: at x10 a real second is ten simulated ones.
	fast := measureAccuracy([]person{waited(100, 10*time.Second)}, 10, 0.10, time.Second)
	if fast.Within != 1 {
		t.Errorf("at x10, 10 s real = 100 s simulated should match eta 100: %+v", fast)
	}
}

func TestIdealFinish(t *testing.T) {
	const perHour = 3600 // one a second
	for _, tc := range []struct {
		name  string
		steps []rateStep
		n     int64
		want  time.Duration
		ok    bool
	}{
		{"constant", []rateStep{{0, perHour}}, 1000, 1000 * time.Second, true},
		{"paused for 100 s", []rateStep{{0, perHour}, {100 * time.Second, 0}, {200 * time.Second, perHour}}, 1000, 1100 * time.Second, true},
		{"doubled", []rateStep{{0, perHour}, {100 * time.Second, 2 * perHour}}, 1000, 550 * time.Second, true},
		{"done before a change", []rateStep{{0, perHour}, {2000 * time.Second, 0}}, 1000, 1000 * time.Second, true},
		{"paused for good", []rateStep{{0, perHour}, {100 * time.Second, 0}}, 1000, 0, false},
	} {
		got, ok := idealFinish(tc.steps, tc.n)
		if ok != tc.ok || (got-tc.want).Abs() > time.Millisecond {
			t.Errorf("%s: %v %v, want %v %v", tc.name, got, ok, tc.want, tc.ok)
		}
		if ok && math.Abs(released(tc.steps, got)-float64(tc.n)) > 0.01 {
			t.Errorf("%s: released by the ideal finish = %v, want %d", tc.name, released(tc.steps, got), tc.n)
		}
	}
}

func TestRateSteps(t *testing.T) {
	sc, err := ParseScenario([]byte(override(minimal, `changes:
  - {at: 1m, pause: true}
  - {at: 2m, rate_per_hour: 72000}
  - {at: 3m, resume: true}
`)))
	if err != nil {
		t.Fatal(err)
	}
	got := rateSteps(sc)
	want := []rateStep{{0, 3600}, {time.Minute, 0}, {2 * time.Minute, 0}, {3 * time.Minute, 7200}}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d = %+v, want %+v (a rate set while paused applies on resume)", i, got[i], want[i])
		}
	}
}

func TestLastAdmitted(t *testing.T) {
	sc, err := ParseScenario([]byte(minimal)) // 3600/h simulated, x10
	if err != nil {
		t.Fatal(err)
	}
	// 100 stayed: the rate needs 100 s simulated = 10 s real. The last came
	// at 10.5 s real: ratio 1.05. Someone who gave up does not count.
	ps := []person{admittedAt(1, 10500*time.Millisecond, 0), {state: stGone, left: time.Second}}
	for range 99 {
		ps = append(ps, admittedAt(1, time.Second, 0))
	}
	la := lastAdmitted(ps, sc)
	if la.Stayed != 100 || la.StayedFullScale != 1000 || math.Abs(la.Ratio-1.05) > 1e-9 {
		t.Errorf("%+v, want 100 stayed (1000 full scale), ratio 1.05", la)
	}
}

func TestPeakRate(t *testing.T) {
	var ss []sample
	// 100 requests a second for 10 s, then 1000 a second for 1 s.
	for i := range 11 {
		ss = append(ss, sample{t: time.Duration(i) * time.Second, requests: int64(i) * 100})
	}
	ss = append(ss, sample{t: 11 * time.Second, requests: 2000})
	if got := peakRate(ss, time.Second); got != 1000 {
		t.Errorf("peak over 1 s = %v, want 1000", got)
	}
	if got := peakRate(ss, 2*time.Second); got != 550 {
		t.Errorf("peak over 2 s = %v, want 550", got)
	}
	if got := peakRate(ss, time.Minute); got != 0 {
		t.Errorf("peak over a window longer than the run = %v, want 0", got)
	}
}

// A run that misses an expectation fails, and says which.
func TestProperties_Fail(t *testing.T) {
	sc, err := ParseScenario([]byte(override(minimal, `expect:
  inversions_max: 0
  accuracy_share_min: 0.9
  last_admitted_ratio_max: 1.01
  implied_request_rate_max: 100
`)))
	if err != nil {
		t.Fatal(err)
	}
	r := &Report{Complete: true, Bypass: map[string]BypassCount{"no_admission": {Tried: 3, Refused: 2, Succeeded: 1}},
		Inversions:   Inversions{People: 1},
		Accuracy:     Accuracy{People: 10, Within: 8, Share: 0.8, Tolerance: 0.1},
		LastAdmitted: LastAdmitted{Ratio: 1.02, IdealSeconds: 100, LastSeconds: 102},
		RequestRate:  RequestRate{ImpliedPeakPerSecond: 101}}
	failed := map[string]bool{}
	for _, p := range properties(r, sc) {
		if p.Checked && !p.Pass {
			failed[p.Name] = true
		}
	}
	for _, name := range []string{"bypass refused", "order inversions", "predicted wait", "last admitted", "request rate (full scale)"} {
		if !failed[name] {
			t.Errorf("%q did not fail; failed: %v", name, failed)
		}
	}
	if failed["complete"] || failed["errors"] {
		t.Errorf("failed more than it should: %v", failed)
	}
	// The same figures within the bounds pass.
	r = &Report{Complete: true, Accuracy: Accuracy{People: 10, Within: 9, Share: 0.9, Tolerance: 0.1},
		LastAdmitted: LastAdmitted{Ratio: 1.01, IdealSeconds: 100, LastSeconds: 101}, RequestRate: RequestRate{ImpliedPeakPerSecond: 100},
		SchedulerLag: SchedulerLag{KeptUp: true}}
	for _, p := range properties(r, sc) {
		if p.Checked && !p.Pass {
			t.Errorf("%s failed: %+v", p.Name, p)
		}
	}
	if s := (&Report{Name: "x", Properties: properties(r, sc)}).Summary(); !strings.Contains(s, "PASS order inversions") {
		t.Errorf("summary:\n%s", s)
	}
}
