package loadtest

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"
)

// faultSampleEvery is how often the room's release count is read while a
// scenario has store faults (real time): fine enough to see a burst of one
// tick.
const faultSampleEvery = 100 * time.Millisecond

// faultLog is what injectFaults did and saw.
type faultLog struct {
	mu      sync.Mutex
	done    []faultDone
	samples []releaseSample
}

// faultDone is one fault as made: real times since the opening.
type faultDone struct {
	what       string
	start, end time.Duration
	err        string
}

// releaseSample is the room's release count as the operator API reported
// it: sent and answered at real times since the opening; healthy means
// the gateway reached the store for it.
type releaseSample struct {
	sent, recv time.Duration
	released   int64
	healthy    bool
}

// injectFaults makes the scenario's store faults at their simulated times
// and, meanwhile, samples the room's release count every
// faultSampleEvery. A fault that cannot be made stops the run.
func (e *engine) injectFaults(ctx context.Context, stop context.CancelCauseFunc) {
	if len(e.sc.StoreFaults) == 0 {
		return
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); e.sampleRelease(sctx) }()
	defer wg.Wait()
	for _, f := range e.sc.StoreFaults {
		t := time.NewTimer(time.Until(e.start.Add(e.sc.Real(f.At.D()))))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		d := faultDone{start: e.since()}
		var err error
		switch {
		case f.Stop > 0:
			d.what = fmt.Sprintf("store stopped for %v", f.Stop.D())
			e.rig.redis.signal(syscall.SIGSTOP)
			select {
			case <-ctx.Done():
			case <-time.After(e.sc.Real(f.Stop.D())):
			}
			e.rig.redis.signal(syscall.SIGCONT)
		case f.RestartEmpty:
			d.what = "store killed and restarted empty"
			err = e.rig.redis.restartEmpty()
		case f.Failover:
			d.what = "master killed, Sentinels fail over"
			e.rig.redis.kill()
		}
		d.end = e.since()
		if err != nil {
			d.err = err.Error()
		}
		e.faults.mu.Lock()
		e.faults.done = append(e.faults.done, d)
		e.faults.mu.Unlock()
		if err != nil {
			stop(fmt.Errorf("store fault %q: %w", d.what, err))
			return
		}
	}
	// Keep sampling until the run ends: the minute after the last fault.
	<-ctx.Done()
}

// sampleRelease reads the room's state from the operator API until ctx
// ends. The operator API ticks for every read, so the count is the store's.
func (e *engine) sampleRelease(ctx context.Context) {
	t := time.NewTicker(faultSampleEvery)
	defer t.Stop()
	for {
		var v GatewayView
		s := releaseSample{sent: e.since()}
		err := e.admin(ctx, "GET", "/admin/api/state", "", &v)
		s.recv = e.since()
		if err == nil && v.Released != nil && v.StoreHealthy != nil {
			s.released, s.healthy = *v.Released, *v.StoreHealthy
			e.faults.mu.Lock()
			e.faults.samples = append(e.faults.samples, s)
			e.faults.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// FaultResult is one store fault and the release around it. Times are
// simulated seconds since the opening; Back is when the store answered
// again (the first healthy read sent after the fault ended).
type FaultResult struct {
	What         string  `json:"what"`
	AtSeconds    float64 `json:"at_s"`
	EndedSeconds float64 `json:"ended_s"`
	BackSeconds  float64 `json:"back_s"`
	Error        string  `json:"error,omitempty"`
	// Measured is false when the reads around the fault do not reach 2 s
	// after Back; MinuteMeasured when they do not reach a minute after it
	// (the run ended first), and then the minute's figures are zero.
	Measured       bool `json:"measured"`
	MinuteMeasured bool `json:"minute_measured"`
	// ReleasedToBack2s counts the people released from the start to 2 s
	// after Back, against RateBack2s, what the rate releases in 2 s.
	ReleasedToBack2s int64   `json:"released_to_back_plus_2s"`
	RateBack2s       float64 `json:"rate_in_2s"`
	// ReleasedToBackMinute counts the people released from the start to a
	// minute after Back, against RateMinute.
	ReleasedToBackMinute int64   `json:"released_to_back_plus_minute"`
	RateMinute           float64 `json:"rate_in_minute"`
	// PeakSecond is the most people released in one second (simulated)
	// from the start to a minute after Back (or 2 s after it).
	PeakSecond int64 `json:"peak_second"`
}

// faultResults measures the release around each fault from the samples.
func (e *engine) faultResults() []FaultResult {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	sc := e.sc
	perSecond := float64(sc.SimRate(sc.RatePerHour)) / 3600
	var healthy []releaseSample
	for _, s := range e.faults.samples {
		if s.healthy {
			healthy = append(healthy, s)
		}
	}
	// before is the count of the last healthy read answered by t; after
	// the count of the first healthy read sent at or after t.
	before := func(t time.Duration) (int64, bool) {
		var n int64
		ok := false
		for _, s := range healthy {
			if s.recv > t {
				break
			}
			n, ok = s.released, true
		}
		return n, ok
	}
	after := func(t time.Duration) (releaseSample, bool) {
		for _, s := range healthy {
			if s.sent >= t {
				return s, true
			}
		}
		return releaseSample{}, false
	}
	sim := func(d time.Duration) float64 { return sc.Sim(d).Seconds() }
	var out []FaultResult
	for _, d := range e.faults.done {
		r := FaultResult{What: d.what, AtSeconds: sim(d.start), EndedSeconds: sim(d.end), Error: d.err,
			RateBack2s: 2 * perSecond, RateMinute: 60 * perSecond}
		start, ok1 := before(d.start)
		back, ok2 := after(d.end)
		two, ok3 := after(back.recv + sc.Real(2*time.Second))
		minute, ok4 := after(back.recv + sc.Real(time.Minute))
		if r.Measured = ok1 && ok2 && ok3; r.Measured {
			r.BackSeconds = sim(back.recv)
			r.ReleasedToBack2s = two.released - start
			end := two
			if r.MinuteMeasured = ok4; ok4 {
				r.ReleasedToBackMinute, end = minute.released-start, minute
			}
			for i, a := range healthy {
				if a.recv < d.start || a.sent > end.recv {
					continue
				}
				for _, b := range healthy[i+1:] {
					if b.recv-a.sent > sc.Real(time.Second) {
						break
					}
					r.PeakSecond = max(r.PeakSecond, b.released-a.released)
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// ReleasePoint is the release in one bin of simulated time: people per
// second (simulated), from the operator API's count.
type ReleasePoint struct {
	SimSeconds float64 `json:"t_s"`
	PerSecond  float64 `json:"per_second"`
}

// releaseSeries bins the increments of the healthy release reads by the
// simulated time they were answered: bins of one second, or wider so
// that there are at most maxSeries. An increment read after an outage
// falls in the bin of its read: a burst shows as a spike.
func (e *engine) releaseSeries() []ReleasePoint {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	var healthy []releaseSample
	for _, s := range e.faults.samples {
		if s.healthy {
			healthy = append(healthy, s)
		}
	}
	if len(healthy) < 2 {
		return nil
	}
	sc := e.sc
	span := sc.Sim(healthy[len(healthy)-1].recv).Seconds()
	width := max(1, span/maxSeries)
	bins := make([]float64, int(span/width)+1)
	for i := 1; i < len(healthy); i++ {
		bins[int(sc.Sim(healthy[i].recv).Seconds()/width)] += float64(healthy[i].released - healthy[i-1].released)
	}
	out := make([]ReleasePoint, len(bins))
	for i, n := range bins {
		out[i] = ReleasePoint{SimSeconds: (float64(i) + 0.5) * width, PerSecond: n / width}
	}
	return out
}
