package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// sampleEvery is how often the crowd's counters are sampled (real time).
const sampleEvery = 200 * time.Millisecond

// Run sets up the fleet (spawned or targets), plays the scenario, stops a
// spawned fleet (also when ctx is cancelled: Ctrl-C) and returns the
// report. A run stopped early still returns its report, marked incomplete.
func Run(ctx context.Context, sc *Scenario, o Options) (*Report, error) {
	o.defaults()
	if n := sc.SimPeople(); n > o.MaxPeople {
		return nil, fmt.Errorf("the scenario simulates %d people, more than the bound %d: raise crowd_scale or -max-people", n, o.MaxPeople)
	}
	if n := sc.SimPeople(); n > 1<<31-1 {
		return nil, fmt.Errorf("the scenario simulates %d people: at most %d", n, 1<<31-1)
	}
	logs := filepath.Join(o.Out, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, err
	}
	var (
		r   *rig
		err error
	)
	if sc.Fleet.Spawn != nil {
		fmt.Fprintf(o.Progress, "starting %d gateway(s), store %s, logs in %s\n", sc.Fleet.Spawn.Gateways, sc.Fleet.Spawn.Store, logs)
		r, err = spawnRig(ctx, sc, o.Waitroom, logs)
	} else {
		r, err = targetRig(sc.Fleet.Targets, o.AllowRemote)
	}
	if err != nil {
		return nil, err
	}
	defer r.close()

	e := newEngine(sc, o, r)
	if sc.Fleet.Targets != nil {
		// Running gateways get the scenario's crowd-scaled rate, released.
		if err := e.admin(ctx, "PUT", "/admin/api/rate", fmt.Sprintf(`{"per_hour":%d}`, sc.SimRate(sc.RatePerHour)), nil); err != nil {
			return nil, fmt.Errorf("set the rate on the targets: %w", err)
		}
		if err := e.admin(ctx, "POST", "/admin/api/resume", "", nil); err != nil {
			return nil, fmt.Errorf("resume the targets: %w", err)
		}
	}
	limit := min(sc.Real(sc.MaxDuration.D()), o.Timeout)
	rctx, cancel := context.WithTimeoutCause(ctx, limit,
		fmt.Errorf("stopped at the time bound (%v real: max_duration %v simulated, -timeout %v)", limit.Round(time.Second), sc.MaxDuration.D(), o.Timeout))
	defer cancel()
	fmt.Fprintf(o.Progress, "%s: %d people (%d simulated), %d/h (%d/h simulated), time x%v, crowd /%v, bound %v real\n",
		sc.Name, sc.People, sc.SimPeople(), sc.RatePerHour, sc.SimRate(sc.RatePerHour), sc.TimeScale, sc.CrowdScale, limit.Round(time.Second))
	started := time.Now()
	reason := e.run(rctx)
	if reason == context.Canceled.Error() && ctx.Err() != nil {
		reason = "interrupted"
	}
	rep := e.report(started, reason)
	var end GatewayView
	if err := e.admin(ctx, "GET", "/admin/api/state", "", &end); err == nil {
		rep.GatewayEnd = &end
	}
	return rep, nil
}

// admin calls the operator API and decodes its answer into out (if not nil).
func (e *engine) admin(ctx context.Context, method, path, body string, out any) error {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(c, method, e.rig.admin+path, bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+e.rig.token)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	e.lat[epAdmin].Record(time.Since(start))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// GatewayView is the operator API's room state.
type GatewayView struct {
	Issued   int64 `json:"issued"`
	Admitted int64 `json:"admitted"`
	Waiting  int64 `json:"waiting"`
	// Skipped counts positions release passed over because their holders
	// had left (nil when the gateway does not report it).
	Skipped *int64 `json:"skipped,omitempty"`
	// Released counts the people let in, each once, what the rate counts;
	// StoreHealthy whether the gateway reached the store for this answer
	// (nil when the gateway does not report them).
	Released     *int64 `json:"released,omitempty"`
	StoreHealthy *bool  `json:"store_healthy,omitempty"`
}

// monitor samples the crowd every sampleEvery, the room's state from the
// operator API every second, prints progress, and stops the run if a
// spawned process dies. It returns the samples once ctx ends.
type monitor struct {
	e       *engine
	mu      sync.Mutex
	samples []sample
	gw      atomic.Pointer[GatewayView]
}

func (m *monitor) run(ctx context.Context, stop context.CancelCauseFunc) {
	e := m.e
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			var v GatewayView
			if err := e.admin(ctx, "GET", "/admin/api/state", "", &v); err == nil {
				m.gw.Store(&v)
			} else if ctx.Err() == nil {
				e.fail("admin state: " + err.Error())
			}
			if err := e.rig.healthy(); err != nil {
				stop(err)
			}
			if e.sc.Identity.Enabled {
				e.sampleLights()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	lastPrint, printed := time.Now(), m.take()
	for {
		select {
		case <-ctx.Done():
			m.take()
			wg.Wait()
			return
		case <-tick.C:
		}
		s := m.take()
		if time.Since(lastPrint) >= e.o.ProgressEvery {
			m.print(printed, s)
			lastPrint, printed = time.Now(), s
		}
	}
}

// take records one sample.
func (m *monitor) take() sample {
	e := m.e
	s := sample{t: e.since(), requests: e.requests.Load(), joined: e.joined.Load(), admitted: e.admitted.Load(),
		gone: e.gone.Load(), failed: e.failed.Load(), dropped: e.dropped.Load(), lagMax: time.Duration(e.lagMax.Swap(0)), gwWaiting: -1, gwAdmitted: -1, gwIssued: -1}
	if v := m.gw.Load(); v != nil {
		s.gwWaiting, s.gwAdmitted, s.gwIssued = v.Waiting, v.Admitted, v.Issued
	}
	m.mu.Lock()
	m.samples = append(m.samples, s)
	m.mu.Unlock()
	return s
}

// print writes one progress line covering the samples from a to b.
func (m *monitor) print(a, b sample) {
	e, sc := m.e, m.e.sc
	rate := 0.0
	if d := b.t - a.t; d > 0 {
		rate = float64(b.requests-a.requests) / d.Seconds()
	}
	e.errMu.Lock()
	var errs int64
	for _, n := range e.errs {
		errs += n
	}
	e.errMu.Unlock()
	fmt.Fprintf(e.o.Progress, "%6.0fs real  sim %-9s joined %d/%d  waiting %d  admitted %d  gave up %d  failed %d  %.0f req/s (full scale %.0f)  lag max %v  errors %d\n",
		b.t.Seconds(), fmtSim(sc.Sim(b.t)), b.joined, len(e.people), b.waiting(), b.admitted, b.gone, b.failed,
		rate, rate*sc.CrowdScale/sc.TimeScale, m.maxLag(a.t).Round(time.Millisecond), errs)
}

// maxLag is the largest lateness in the samples since t.
func (m *monitor) maxLag(since time.Duration) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var lag time.Duration
	for i := len(m.samples) - 1; i >= 0 && m.samples[i].t > since; i-- {
		lag = max(lag, m.samples[i].lagMax)
	}
	return lag
}

// fmtSim formats a simulated time since the opening as h:mm:ss.
func fmtSim(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}
