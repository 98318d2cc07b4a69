package gateway_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/gateway"
)

// Backend behaviours of flakyBackend.
const (
	modeOK   int32 = iota
	modeFail       // every answer a 500
	modeSlow       // every answer after slowFor
)

const slowFor = 120 * time.Millisecond

// flakyBackend is a real fasthttp backend whose behaviour the test
// switches: answering, failing, or slow. /missing is a 404.
type flakyBackend struct {
	addr string
	mode atomic.Int32
}

func mustFlakyBackend(t *testing.T) *flakyBackend {
	t.Helper()
	b := &flakyBackend{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		switch {
		case string(ctx.Path()) == "/missing":
			ctx.SetStatusCode(fasthttp.StatusNotFound)
		case b.mode.Load() == modeFail:
			ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		case b.mode.Load() == modeSlow:
			time.Sleep(slowFor)
		}
		ctx.WriteString("backend")
	}}
	go s.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = s.Shutdown() })
	b.addr = ln.Addr().String()
	return b
}

// testHealthOptions judges a 2 s window every second, on the clock of h
// (real time when h is nil): a 20% error share or a 40 ms 95th percentile
// is too much; the rate moves between 10,000 and 40,000 an hour, down by
// x0.6, up by 7,000.
func testHealthOptions(h **harness) *gateway.HealthOptions {
	o := &gateway.HealthOptions{
		MaxErrorRate: 0.2, MaxLatency: 40 * time.Millisecond, Window: 2 * time.Second, Interval: time.Second,
		MinRequests: 5, MinRatePerHour: 10_000, RatePerHour: 40_000, DecreaseFactor: 0.6, IncreasePerStep: 7_000,
	}
	if h != nil {
		o.Now = func() time.Time { return (*h).clock() }
	}
	return o
}

// The health loop lowers the rate multiplicatively while a real backend
// fails or slows, waiting a window between cuts and never going below the
// floor, then raises it additively once the backend recovers, never above
// the ceiling; a change made elsewhere is adopted, not fought.
func TestHealth_ReleaseFollowsBackend(t *testing.T) {
	b := mustFlakyBackend(t)
	var h *harness
	h = mustHarness(t, harnessOptions{rate: 40_000, backendAddr: b.addr, opts: func(o *gateway.Options) { o.Health = testHealthOptions(&h) }})
	ctx := context.Background()
	p := h.person()
	p.join()
	h.advance(time.Second)
	if _, s := p.status(); s.State != "admitted" {
		t.Fatalf("not admitted: %+v", s)
	}
	traffic := func(mode int32, n int) {
		b.mode.Store(mode)
		for range n {
			p.do("GET", "/book", "", nil)
		}
	}
	rate := func() int64 {
		st, err := h.store.State(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		return st.RatePerHour
	}
	step := func(wantAction string, wantRate int64) gateway.HealthView {
		t.Helper()
		h.advance(time.Second)
		gateway.HealthStep(h.gw, ctx)
		v := h.gw.HealthView()
		if v.Action != wantAction || rate() != wantRate {
			t.Fatalf("after a round: action %q, rate %d; want %q, %d (view %+v)", v.Action, rate(), wantAction, wantRate, v)
		}
		return v
	}

	step("started", 40_000)
	traffic(modeFail, 2)
	if v := step("holding", 40_000); v.Backend != "unsure" || v.ErrorRate != 1 {
		t.Fatalf("two failures: %+v, want unsure: too little traffic to act on", v)
	}
	traffic(modeOK, 10)
	step("at_ceiling", 40_000) // 2 failures in 12: within the limit

	// Failing: x0.6, a window's wait, x0.6, then the floor.
	traffic(modeFail, 10)
	v := step("decreased", 24_000)
	if v.Backend != "unhealthy" || v.ErrorRate != 0.5 || v.LastChange == nil || v.LastChange.From != 40_000 || v.LastChange.To != 24_000 {
		t.Fatalf("view after the cut: %+v", v)
	}
	traffic(modeFail, 10)
	step("cooling_down", 24_000)
	traffic(modeFail, 10)
	step("decreased", 14_400)
	traffic(modeFail, 10)
	step("cooling_down", 14_400)
	traffic(modeFail, 10)
	step("decreased", 10_000) // 8,640 is below the floor
	traffic(modeFail, 10)
	step("cooling_down", 10_000)
	traffic(modeFail, 10)
	step("at_floor", 10_000)

	// Recovered: once the window holds no failure, +7,000 a round up to
	// the ceiling and no further.
	traffic(modeOK, 10)
	step("at_floor", 10_000) // the window still holds the failures
	for _, want := range []int64{17_000, 24_000, 31_000, 38_000, 40_000} {
		traffic(modeOK, 10)
		step("increased", want)
	}
	traffic(modeOK, 10)
	step("at_ceiling", 40_000)

	// An operator (or another gateway's loop) changes the rate: adopted,
	// and only the next round acts on it.
	admin(t, h, "PUT", "/admin/api/rate", `{"per_hour":15000}`, 200)
	traffic(modeOK, 10)
	step("changed_elsewhere", 15_000)
	traffic(modeOK, 10)
	step("increased", 22_000)

	// Slow answers count like failures.
	traffic(modeSlow, 10)
	step("cooling_down", 22_000) // the last change was a round ago
	traffic(modeSlow, 10)
	v = step("decreased", 13_200)
	if v.ErrorRate != 0 || v.LatencyP95Seconds < slowFor.Seconds() {
		t.Fatalf("slow backend: %+v, want no errors and a p95 above %v", v, slowFor)
	}

	var state struct {
		RatePerHour int64               `json:"rate_per_hour"`
		Health      *gateway.HealthView `json:"health"`
	}
	if err := json.Unmarshal([]byte(admin(t, h, "GET", "/admin/api/state", "", 200)), &state); err != nil {
		t.Fatal(err)
	}
	if hv := state.Health; hv == nil || !hv.Enabled || hv.Action != "decreased" || hv.CeilingPerHour != 40_000 || hv.FloorPerHour != 10_000 || state.RatePerHour != 13_200 {
		t.Fatalf("state: rate %d, health %+v", state.RatePerHour, state.Health)
	}
	e := scrape(t, h)
	e.want(t, "waitroom_health_enabled", 1)
	e.want(t, "waitroom_health_state", 2)
	e.want(t, "waitroom_health_ceiling_rate_per_hour", 40_000)
	e.want(t, `waitroom_health_rate_changes_total{direction="down"}`, 4)
	e.want(t, `waitroom_health_rate_changes_total{direction="up"}`, 6)
	e.want(t, `waitroom_rate_per_hour{room="r"}`, 13_200)

	// Every change of the loop is in the audit log beside the operators'.
	recs, err := h.store.ListAudit(ctx, h.gw.Site(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var byLoop int
	for _, r := range recs {
		if r.Via == "health" && r.What == "rate" {
			byLoop++
		}
	}
	if byLoop != 10 {
		t.Fatalf("%d audit records from the health loop, want its 10 rate changes (%+v)", byLoop, recs)
	}

	// The operator's rate moves the ceiling (rate_per_hour edited in the
	// config file).
	h.gw.SetOperatorRate(60_000)
	if got := h.gw.HealthView().CeilingPerHour; got != 40_000 {
		t.Fatalf("the view changed before the next round: ceiling %d", got)
	}
	traffic(modeOK, 10)
	step("cooling_down", 13_200)
	if got := h.gw.HealthView().CeilingPerHour; got != 60_000 {
		t.Fatalf("ceiling %d after the operator's rate went to 60,000", got)
	}
}

// While paused, or without health-driven release, nothing changes.
func TestHealth_Quiet(t *testing.T) {
	var h *harness
	h = mustHarness(t, harnessOptions{rate: 20_000, paused: true, opts: func(o *gateway.Options) { o.Health = testHealthOptions(&h) }})
	ctx := context.Background()
	for _, want := range []string{"started", "paused", "paused"} {
		h.advance(time.Second)
		gateway.HealthStep(h.gw, ctx)
		if v := h.gw.HealthView(); v.Action != want {
			t.Fatalf("action %q, want %q", v.Action, want)
		}
	}
	if st, _ := h.store.State(ctx, "r"); st.RatePerHour != 20_000 {
		t.Fatalf("rate %d while paused", st.RatePerHour)
	}
	off := mustHarness(t, harnessOptions{})
	if v := off.gw.HealthView(); v.Enabled {
		t.Fatalf("health view without the loop: %+v", v)
	}
	off.gw.RunHealth(ctx) // returns at once when off
	if body := admin(t, off, "GET", "/admin/api/state", "", 200); !json.Valid([]byte(body)) || !strings.Contains(body, `"health":{"enabled":false,`) {
		t.Fatalf("state without the loop: %s", body)
	}
}
