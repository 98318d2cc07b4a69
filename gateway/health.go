package gateway

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom/admission"
)

// HealthOptions turn on health-driven release: every Interval the gateway
// judges the backend by the requests it proxied over the last Window, and
// lowers the room's rate when the backend struggles or raises it again
// when it copes.
//
// Unhealthy means more than MaxErrorRate of the calls were 5xx or got no
// answer, or their 95th percentile latency exceeded MaxLatency, with at
// least MinRequests calls: the rate is multiplied by DecreaseFactor, never
// below MinRatePerHour. Healthy means within both limits (no traffic at
// all counts as healthy): IncreasePerStep is added, never above the
// ceiling, the higher of the operator's configured rate (RatePerHour, later
// SetOperatorRate) and MaxRatePerHour. A rate above the ceiling (an
// operator's PUT /admin/api/rate) is left alone until the backend is
// unhealthy; below the floor, it is only raised.
//
// The rate is changed with Store.SetRate, so every gateway releases at the
// new rate. Every gateway of a fleet runs the loop, each judging its own
// share of the traffic, and they avoid reacting twice to one event: a
// gateway changes the rate only if the store still holds the rate it last
// saw; when another gateway (or an operator) changed it, it adopts the new
// rate and skips that round. After any change it waits a whole Window
// before lowering again, so that the traffic it judges is traffic at the
// new rate. Intervals are jittered by ±10% so gateways started together
// do not act in the same instant.
type HealthOptions struct {
	MaxErrorRate    float64
	MaxLatency      time.Duration
	Window          time.Duration
	Interval        time.Duration
	MinRequests     uint64
	MinRatePerHour  int64
	MaxRatePerHour  int64
	RatePerHour     int64
	DecreaseFactor  float64
	IncreasePerStep int64
	// Now is the clock of windows and waits; default time.Now. It stays
	// real when the gateway's clock is simulated: the backend lives in
	// real time.
	Now func() time.Time
}

// HealthView is what the health loop last judged and did, shown in
// GET /admin/api/state as "health" and in /metrics.
type HealthView struct {
	Enabled bool `json:"enabled"`
	// Backend is "healthy", "unhealthy" or "unsure" (over a limit on less
	// traffic than min_requests).
	Backend string `json:"backend,omitempty"`
	// Action is what the last round did: started, increased, decreased,
	// at_ceiling, at_floor, cooling_down (unhealthy, but the window still
	// holds traffic from before the last change), holding (unsure),
	// changed_elsewhere, paused or store_unavailable.
	Action            string      `json:"action,omitempty"`
	WindowRequests    uint64      `json:"window_requests"`
	ErrorRate         float64     `json:"error_rate"`
	LatencyP95Seconds float64     `json:"latency_p95_seconds"`
	CeilingPerHour    int64       `json:"ceiling_per_hour,omitempty"`
	FloorPerHour      int64       `json:"floor_per_hour,omitempty"`
	CheckedAt         string      `json:"checked_at,omitempty"`
	LastChange        *RateChange `json:"last_change,omitempty"`
}

// RateChange is a rate change the health loop made.
type RateChange struct {
	From int64  `json:"from_per_hour"`
	To   int64  `json:"to_per_hour"`
	At   string `json:"at"`
}

// The backend verdicts, as /metrics numbers them.
const (
	backendHealthy   = "healthy"
	backendUnsure    = "unsure"
	backendUnhealthy = "unhealthy"
)

// health is the loop's state. step runs under mu; the view is published
// atomically for the operator API and /metrics.
type health struct {
	o        HealthOptions
	operator atomic.Int64 // the operator's configured rate
	view     atomic.Pointer[HealthView]

	decreases, increases atomic.Uint64

	mu      sync.Mutex
	samples []backendSample // oldest first; the first is the window's base
	room    string          // the room seen last round
	seen    int64           // its rate when this gateway last read or wrote it
	changed time.Time       // when this gateway saw that rate appear
	last    *RateChange
}

// backendSample is the backend counters at one instant.
type backendSample struct {
	at              time.Time
	calls, failures uint64
	buckets         []uint64
}

func newHealth(o HealthOptions) *health {
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &health{o: o}
	h.operator.Store(o.RatePerHour)
	h.view.Store(&HealthView{Enabled: true, CeilingPerHour: h.ceiling(), FloorPerHour: o.MinRatePerHour})
	return h
}

func (h *health) ceiling() int64 { return max(h.operator.Load(), h.o.MaxRatePerHour) }

// SetOperatorRate records a new operator's rate (rate_per_hour edited in
// the config file), which moves the health loop's ceiling.
func (g *Gateway) SetOperatorRate(perHour int64) {
	if g.health != nil {
		g.health.operator.Store(perHour)
	}
}

// HealthView returns what the health loop last judged and did.
func (g *Gateway) HealthView() HealthView {
	if g.health == nil {
		return HealthView{}
	}
	return *g.health.view.Load()
}

// RunHealth runs the health loop until ctx ends; it returns at once when
// health-driven release is off.
func (g *Gateway) RunHealth(ctx context.Context) {
	if g.health == nil {
		return
	}
	for {
		jitter := time.Duration(float64(g.health.o.Interval) * (0.9 + 0.2*rand.Float64()))
		select {
		case <-ctx.Done():
			return
		case <-time.After(jitter):
		}
		c, cancel := context.WithTimeout(ctx, min(g.health.o.Interval, 5*time.Second))
		g.health.step(c, g)
		cancel()
	}
}

// sample reads the backend counters.
func (m *metrics) sample(at time.Time) backendSample {
	s := backendSample{at: at, failures: m.proxied[0].Load() + m.proxied[5].Load()}
	for i := range m.proxied {
		s.calls += m.proxied[i].Load()
	}
	s.buckets, _ = m.backendTime.load()
	return s
}

// judge adds the current sample and returns the window's verdict into v.
func (h *health) judge(now time.Time, cur backendSample, v *HealthView) {
	h.samples = append(h.samples, cur)
	// Keep as the base the newest sample at least a window old.
	cut := 0
	for cut+1 < len(h.samples) && !h.samples[cut+1].at.After(now.Add(-h.o.Window)) {
		cut++
	}
	h.samples = h.samples[cut:]
	base := h.samples[0]
	v.WindowRequests = cur.calls - base.calls
	if v.WindowRequests > 0 {
		v.ErrorRate = float64(cur.failures-base.failures) / float64(v.WindowRequests)
	}
	delta := make([]uint64, len(cur.buckets))
	for i := range delta {
		delta[i] = cur.buckets[i] - base.buckets[i]
	}
	v.LatencyP95Seconds = quantile(0.95, backendBounds, delta)
	over := v.ErrorRate > h.o.MaxErrorRate || v.LatencyP95Seconds > h.o.MaxLatency.Seconds()
	switch {
	case !over:
		v.Backend = backendHealthy
	case v.WindowRequests >= h.o.MinRequests:
		v.Backend = backendUnhealthy
	default:
		v.Backend = backendUnsure
	}
}

// step is one round of the loop: judge the window, read the room's rate,
// and change it if the verdict calls for it and nobody else just did.
func (h *health) step(ctx context.Context, g *Gateway) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.o.Now()
	v := HealthView{Enabled: true, CeilingPerHour: h.ceiling(), FloorPerHour: h.o.MinRatePerHour,
		CheckedAt: now.UTC().Format(time.RFC3339Nano), LastChange: h.last}
	defer func() { h.view.Store(&v) }()
	h.judge(now, g.metrics.sample(now), &v)

	r := g.Room()
	st, err := g.o.Store.State(ctx, r.Name)
	if err != nil {
		g.storeFailed(nil, opHealth, "health loop: cannot read the room's rate", err)
		v.Action = "store_unavailable"
		return
	}
	switch {
	case r.Name != h.room:
		h.room, h.seen, h.changed = r.Name, st.RatePerHour, now
		v.Action = "started"
		return
	case st.RatePerHour != h.seen:
		// An operator or another gateway's loop changed the rate: adopt
		// it, and let its effect show before judging it.
		h.seen, h.changed = st.RatePerHour, now
		v.Action = "changed_elsewhere"
		return
	case st.Paused:
		v.Action = "paused"
		return
	}
	rate, target := st.RatePerHour, st.RatePerHour
	switch v.Backend {
	case backendUnhealthy:
		target = max(h.o.MinRatePerHour, int64(float64(rate)*h.o.DecreaseFactor))
		switch {
		case now.Sub(h.changed) < h.o.Window:
			v.Action = "cooling_down"
			return
		case target >= rate:
			v.Action = "at_floor"
			return
		}
	case backendHealthy:
		if rate >= v.CeilingPerHour {
			v.Action = "at_ceiling"
			return
		}
		target = min(v.CeilingPerHour, rate+h.o.IncreasePerStep)
	default:
		v.Action = "holding"
		return
	}
	before, err := g.o.Store.SetRate(ctx, r.Name, target)
	if err != nil {
		g.storeFailed(nil, opHealth, "health loop: cannot change the room's rate", err)
		v.Action = "store_unavailable"
		return
	}
	h.seen, h.changed = target, now
	h.last = &RateChange{From: rate, To: target, At: v.CheckedAt}
	v.LastChange = h.last
	v.Action = "increased"
	msg := "health loop raised the release rate"
	if target < rate {
		v.Action = "decreased"
		msg = "health loop lowered the release rate: the backend is struggling"
		h.decreases.Add(1)
	} else {
		h.increases.Add(1)
	}
	g.log.Info(msg, "room", r.Name, "before_rate_per_hour", rate, "after_rate_per_hour", target,
		"ceiling_per_hour", v.CeilingPerHour, "window_requests", v.WindowRequests, "error_rate", v.ErrorRate,
		"latency_p95_seconds", v.LatencyP95Seconds)
	// In the console's audit log beside the operators' own changes.
	g.audit(g.log, admission.AuditRecord{At: time.Now(), What: "rate", Before: setting("rate", admission.State{RatePerHour: rate}),
		After: setting("rate", admission.State{RatePerHour: target}),
		From:  "health loop", Via: viaHealth})
	if before.RatePerHour != rate {
		// SetRate is not compare-and-set: a change made in the instant
		// between the read and this write was overwritten.
		g.log.Warn("health loop overwrote a rate change made at the same moment", "room", r.Name,
			"overwritten_rate_per_hour", before.RatePerHour, "rate_per_hour", target)
	}
}
