package gateway

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/identity"
	"github.com/waitroom/waitroom/signal"
)

// metrics counts what the gateway does, for GET /metrics on the operator
// listener in the Prometheus text format 0.0.4, written here without a
// client library. Counters on the request path are atomics: a status poll
// or a proxied request adds to them without allocating or locking. Gauges
// are read from the room's snapshot when scraped, never from the store.
type metrics struct {
	joins       atomic.Uint64
	admissions  atomic.Uint64
	statusPolls atomic.Uint64
	// proxied counts backend answers by status class (index status/100)
	// and, at index 0, requests the backend never answered.
	proxied       [6]atomic.Uint64
	backendErrors [numBackendErrors]atomic.Uint64
	backendTime   *histogram
	storeErrors   [numStoreOps]atomic.Uint64
	// methods holds each verification method's counters; filled in New,
	// only read afterwards, so it needs no lock.
	methods map[string]*methodMetrics
}

// backendError is why a proxied request got no usable answer.
type backendError int

const (
	backendTimeout backendError = iota
	backendUnavailable
	backendTooLarge
	numBackendErrors
)

var backendErrorNames = [numBackendErrors]string{"timeout", "unavailable", "too_large"}

// storeOp is the kind of store call a store error interrupted. The
// controller's ticks are counted by the controller itself.
type storeOp int

const (
	opRequest     storeOp = iota // a visitor's join or claim
	opVerifyStats                // the traffic lights' statistics
	opSessions                   // ended sessions, shared across the fleet
	opOperator                   // an operator's change
	opHealth                     // the health loop's read or rate change
	opAdmit                      // confirming an admission (Presence.Admit)
	numStoreOps
)

var storeOpNames = [numStoreOps]string{"request", "verification_stats", "sessions", "operator", "health", "admit"}

// methodMetrics counts one verification method's verifications.
type methodMetrics struct {
	started, ok, failed, noPersonClaim atomic.Uint64
	latency                            *histogram
}

// Histogram bounds, in seconds. A backend answer takes milliseconds to
// the backend timeout; a verification is a person typing on their phone.
var (
	backendBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	verifyBounds  = []float64{1, 2, 5, 10, 20, 30, 60, 120, 300}
)

// newMetrics returns the counters of a gateway whose traffic lights are s
// (nil without identity first).
func newMetrics(s *signals) *metrics {
	m := &metrics{backendTime: newHistogram(backendBounds), methods: map[string]*methodMetrics{}}
	if s != nil {
		for _, ms := range s.methods {
			m.methods[ms.Name] = &methodMetrics{latency: newHistogram(verifyBounds)}
		}
	}
	return m
}

// histogram counts durations in fixed buckets: counts[i] holds the
// observations in (bounds[i-1], bounds[i]], the last one those above every
// bound. Buckets are made cumulative only when written out, so observe is
// one atomic add per counter.
type histogram struct {
	bounds    []float64 // seconds, ascending
	counts    []atomic.Uint64
	sumMicros atomic.Uint64 // µs: no overflow for millennia of latency
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(h.bounds) && s > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumMicros.Add(uint64(max(d, 0) / time.Microsecond))
}

// load returns the per-bucket counts (not cumulative) and the sum in seconds.
func (h *histogram) load() ([]uint64, float64) {
	counts := make([]uint64, len(h.counts))
	for i := range h.counts {
		counts[i] = h.counts[i].Load()
	}
	return counts, float64(h.sumMicros.Load()) / 1e6
}

// quantile estimates the q-quantile of per-bucket counts as Prometheus's
// histogram_quantile does: linear within the bucket, the highest finite
// bound for the last bucket. It is 0 without observations.
func quantile(q float64, bounds []float64, counts []uint64) float64 {
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var below float64
	for i, c := range counts {
		if below+float64(c) < rank || c == 0 {
			below += float64(c)
			continue
		}
		if i == len(bounds) {
			return bounds[len(bounds)-1]
		}
		lo := 0.0
		if i > 0 {
			lo = bounds[i-1]
		}
		return lo + (bounds[i]-lo)*(rank-below)/float64(c)
	}
	return bounds[len(bounds)-1]
}

// isBackendTimeout reports whether a backend call failed by running out of
// time or of connections, rather than by not reaching the backend.
func isBackendTimeout(err error) bool {
	return errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrNoFreeConns)
}

// observeBackend records one backend exchange: the class of its status, or
// no answer and why, and how long it took.
func (m *metrics) observeBackend(status int, err error, d time.Duration) {
	m.backendTime.observe(d)
	switch {
	case err != nil && isBackendTimeout(err):
		m.backendErrors[backendTimeout].Add(1)
		m.proxied[0].Add(1)
	case err != nil:
		m.backendErrors[backendUnavailable].Add(1)
		m.proxied[0].Add(1)
	case status >= 100 && status < 600:
		m.proxied[status/100].Add(1)
	default:
		m.proxied[0].Add(1) // not HTTP: as good as no answer
	}
}

func (m *metrics) verifyStarted(method string) {
	if mm := m.methods[method]; mm != nil {
		mm.started.Add(1)
	}
}

// verifyFinished counts a verification that ended with err: ok (nil),
// no_person_claim (the token lacked the person claim) or failed.
func (m *metrics) verifyFinished(method string, latency time.Duration, err error) {
	mm := m.methods[method]
	if mm == nil {
		return
	}
	switch {
	case err == nil:
		mm.ok.Add(1)
	case errors.Is(err, identity.ErrNoPersonClaim):
		mm.noPersonClaim.Add(1)
	default:
		mm.failed.Add(1)
	}
	mm.latency.observe(latency)
}

// storeError counts err against op when the store caused it. It tests the
// errors errorFor maps to a store answer without calling errorFor, whose
// errors.As allocates: a flood of forged tickets passes here.
func (m *metrics) storeError(op storeOp, err error) {
	if errors.Is(err, admission.ErrUnavailable) || errors.Is(err, admission.ErrNotInitialized) {
		m.storeErrors[op].Add(1)
	}
}

// lightValue is a traffic light as a number, for alerting on "worse than".
func lightValue(l signal.Light) float64 {
	switch l {
	case signal.Green:
		return 0
	case signal.Yellow:
		return 1
	case signal.Red:
		return 2
	}
	return 3 // off: the method cannot be used
}

var ctMetrics = []byte("text/plain; version=0.0.4; charset=utf-8")

// serveMetrics writes every metric of the gateway.
func (g *Gateway) serveMetrics(ctx *fasthttp.RequestCtx) error {
	if !ctx.IsGet() && !ctx.IsHead() {
		return errMethod
	}
	ctx.Response.Header.SetContentTypeBytes(ctMetrics)
	ctx.Response.Header.SetBytesKV(hdrCacheControl, valNoStore)
	ctx.SetBody(g.appendMetrics(make([]byte, 0, 16<<10)))
	return nil
}

// appendMetrics appends the exposition of every metric to b. Room gauges
// carry the room's label: with a schedule the room changes each window.
// Every gateway of a fleet reports the same room gauges (they share the
// store), so dashboards take their max, not their sum.
func (g *Gateway) appendMetrics(b []byte) []byte {
	e := expo{b: b}
	m := g.metrics
	r := g.Room()
	snap := r.Controller.Snapshot()
	room := []string{"room", r.Name}

	e.family("waitroom_up", "gauge", "1 while the gateway serves.")
	e.value("waitroom_up", 1)
	e.family("waitroom_store_healthy", "gauge", "1 when the last tick reached the admission store.")
	e.value("waitroom_store_healthy", boolValue(snap.Healthy), room...)
	reason := snap.PauseReason()
	e.family("waitroom_paused", "gauge", "1 while nobody new is admitted, whatever the reason (see waitroom_pause_reason).")
	e.value("waitroom_paused", boolValue(reason != ""), room...)
	e.family("waitroom_pause_reason", "gauge", "1 for the reason nobody new is admitted now: operator (a pause) or store_unreachable; 0 for the others.")
	for _, why := range []string{admission.PausedByOperator, admission.PausedStoreUnreachable} {
		e.value("waitroom_pause_reason", boolValue(reason == why), append(room[:len(room):len(room)], "reason", why)...)
	}
	e.family("waitroom_queue_issued", "gauge", "Highest position handed out (the arrival counter).")
	e.value("waitroom_queue_issued", float64(snap.Issued), room...)
	e.family("waitroom_queue_admitted", "gauge", "The release cursor: positions up to it may enter.")
	e.value("waitroom_queue_admitted", float64(snap.Admitted), room...)
	e.family("waitroom_queue_waiting", "gauge", "People holding a position and not admitted yet.")
	e.value("waitroom_queue_waiting", float64(snap.Waiting()), room...)
	e.family("waitroom_queue_skipped_total", "counter", "Positions release passed over because their holders stopped polling.")
	e.count("waitroom_queue_skipped_total", uint64(snap.Skipped), room...)
	e.family("waitroom_queue_released_total", "counter", "People the fleet let in, each once: positions released to their holders plus the rejoin line's admissions. The rate counts these.")
	e.count("waitroom_queue_released_total", uint64(snap.Released()), room...)
	e.family("waitroom_queue_rejoined_total", "counter", "People passed over as gone who came back and joined the rejoin line.")
	e.count("waitroom_queue_rejoined_total", uint64(snap.Rejoined), room...)
	e.family("waitroom_queue_rejoin_admitted", "gauge", "The rejoin line's cursor: rejoin indexes up to it may enter.")
	e.value("waitroom_queue_rejoin_admitted", float64(snap.RejoinAdmitted), room...)
	e.family("waitroom_leave_share", "gauge", "Share of waiting people expected to leave before their turn, as the wait estimate uses it.")
	e.value("waitroom_leave_share", snap.LeaveShare, room...)
	e.family("waitroom_rate_per_hour", "gauge", "The room's release rate now (set by the operator or the health loop).")
	e.value("waitroom_rate_per_hour", float64(snap.RatePerHour), room...)
	e.family("waitroom_measured_rate_per_hour", "gauge", "Release rate measured over the last minute while people waited.")
	e.value("waitroom_measured_rate_per_hour", snap.MeasuredPerHour, room...)
	e.family("waitroom_released_last_minute", "gauge", "How far the cursor moved in the last minute.")
	e.value("waitroom_released_last_minute", float64(snap.ReleasedLastMinute), room...)
	e.family("waitroom_tail_wait_seconds", "gauge", "Estimated wait of the last person in line.")
	e.value("waitroom_tail_wait_seconds", snap.Wait(snap.Issued).Seconds(), room...)
	e.family("waitroom_store_tick_errors_total", "counter", "Controller ticks that could not reach the admission store.")
	e.count("waitroom_store_tick_errors_total", uint64(r.Controller.Failures()), room...)

	e.family("waitroom_joins_total", "counter", "Places handed out by this gateway (anonymous joins and first verified claims).")
	e.count("waitroom_joins_total", m.joins.Load())
	e.family("waitroom_admissions_total", "counter", "Admission tokens issued by this gateway.")
	e.count("waitroom_admissions_total", m.admissions.Load())
	e.family("waitroom_status_polls_total", "counter", "Status polls answered (any outcome).")
	e.count("waitroom_status_polls_total", m.statusPolls.Load())
	e.family("waitroom_budget_refusals_total", "counter", "Requests refused over a per-device or per-address budget, by budget.")
	for r := range numRefusals {
		e.count("waitroom_budget_refusals_total", g.abuse.refused[r].Load(), "budget", refusalNames[r])
	}
	e.family("waitroom_verification_starts_uncounted_total", "counter", "Verification starts served but not counted toward a light (no device issued before, or the address over its budget).")
	e.count("waitroom_verification_starts_uncounted_total", g.abuse.uncounted.Load())
	e.family("waitroom_challenges_total", "counter", "Proof-of-work challenges handed out.")
	e.count("waitroom_challenges_total", g.abuse.challenges.Load())
	e.family("waitroom_store_errors_total", "counter", "Store calls of this gateway that failed, by operation.")
	for op := range numStoreOps {
		e.count("waitroom_store_errors_total", m.storeErrors[op].Load(), "op", storeOpNames[op])
	}

	e.family("waitroom_proxy_requests_total", "counter", `Requests forwarded to the backend, by the class of its answer ("error": no answer).`)
	for i := range m.proxied {
		class := "error"
		if i > 0 {
			class = strconv.Itoa(i) + "xx"
		}
		e.count("waitroom_proxy_requests_total", m.proxied[i].Load(), "class", class)
	}
	e.family("waitroom_proxy_backend_seconds", "histogram", "Time from forwarding a request to the backend's answer (or failure).")
	e.histogram("waitroom_proxy_backend_seconds", m.backendTime)
	e.family("waitroom_backend_errors_total", "counter", "Backend calls without a usable answer, by kind.")
	for k := range numBackendErrors {
		e.count("waitroom_backend_errors_total", m.backendErrors[k].Load(), "kind", backendErrorNames[k])
	}

	if g.signals != nil {
		g.appendMethods(&e)
	}
	g.appendHealth(&e)
	return e.b
}

func (g *Gateway) appendMethods(e *expo) {
	m := g.metrics
	names := make([]string, 0, len(g.signals.methods))
	for _, ms := range g.signals.methods {
		names = append(names, ms.Name) // the configured order, not the map's
	}
	e.family("waitroom_verification_starts_total", "counter", "Verifications started on this gateway, by method.")
	for _, n := range names {
		e.count("waitroom_verification_starts_total", m.methods[n].started.Load(), "method", n)
	}
	e.family("waitroom_verification_completions_total", "counter", "Verifications finished on this gateway, by method and outcome (ok; no_person_claim: the token lacked the person claim and was refused; failed: any other failure).")
	for _, n := range names {
		e.count("waitroom_verification_completions_total", m.methods[n].ok.Load(), "method", n, "outcome", "ok")
		e.count("waitroom_verification_completions_total", m.methods[n].noPersonClaim.Load(), "method", n, "outcome", "no_person_claim")
		e.count("waitroom_verification_completions_total", m.methods[n].failed.Load(), "method", n, "outcome", "failed")
	}
	e.family("waitroom_verification_seconds", "histogram", "Time from a verification's start to its callback, by method.")
	for _, n := range names {
		e.histogram("waitroom_verification_seconds", m.methods[n].latency, "method", n)
	}
	e.family("waitroom_verification_light", "gauge", "Each method's traffic light: 0 green, 1 yellow, 2 red, 3 off (grey).")
	for _, ms := range g.signals.state.Load().list {
		e.value("waitroom_verification_light", lightValue(ms.Light), "method", ms.Name)
	}
}

func (g *Gateway) appendHealth(e *expo) {
	v := g.HealthView()
	e.family("waitroom_health_enabled", "gauge", "1 when health-driven release is on.")
	e.value("waitroom_health_enabled", boolValue(v.Enabled))
	if !v.Enabled {
		return
	}
	e.family("waitroom_health_state", "gauge", "The backend as the health loop last judged it: 0 healthy, 1 unsure (over a limit on too little traffic), 2 unhealthy.")
	if state, ok := map[string]float64{backendHealthy: 0, backendUnsure: 1, backendUnhealthy: 2}[v.Backend]; ok {
		e.value("waitroom_health_state", state)
	}
	e.family("waitroom_health_ceiling_rate_per_hour", "gauge", "Highest rate the health loop raises the room to.")
	e.value("waitroom_health_ceiling_rate_per_hour", float64(v.CeilingPerHour))
	e.family("waitroom_health_floor_rate_per_hour", "gauge", "Lowest rate the health loop lowers the room to.")
	e.value("waitroom_health_floor_rate_per_hour", float64(v.FloorPerHour))
	e.family("waitroom_health_error_ratio", "gauge", "Share of backend calls in the window that were 5xx or unanswered.")
	e.value("waitroom_health_error_ratio", v.ErrorRate)
	e.family("waitroom_health_latency_p95_seconds", "gauge", "95th percentile of backend latency in the window.")
	e.value("waitroom_health_latency_p95_seconds", v.LatencyP95Seconds)
	e.family("waitroom_health_window_requests", "gauge", "Backend calls in the window.")
	e.value("waitroom_health_window_requests", float64(v.WindowRequests))
	e.family("waitroom_health_rate_changes_total", "counter", "Rate changes made by this gateway's health loop, by direction.")
	e.count("waitroom_health_rate_changes_total", g.health.decreases.Load(), "direction", "down")
	e.count("waitroom_health_rate_changes_total", g.health.increases.Load(), "direction", "up")
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// expo appends the Prometheus text exposition format, version 0.0.4.
type expo struct{ b []byte }

// family writes the HELP and TYPE lines that precede a family's samples.
func (e *expo) family(name, typ, help string) {
	e.b = append(e.b, "# HELP "...)
	e.b = append(e.b, name...)
	e.b = append(e.b, ' ')
	for i := 0; i < len(help); i++ {
		switch c := help[i]; c {
		case '\\':
			e.b = append(e.b, `\\`...)
		case '\n':
			e.b = append(e.b, `\n`...)
		default:
			e.b = append(e.b, c)
		}
	}
	e.b = append(e.b, "\n# TYPE "...)
	e.b = append(e.b, name...)
	e.b = append(e.b, ' ')
	e.b = append(e.b, typ...)
	e.b = append(e.b, '\n')
}

// series writes a sample's name and labels (name, value pairs).
func (e *expo) series(name string, labels []string) {
	e.b = append(e.b, name...)
	if len(labels) > 0 {
		e.b = append(e.b, '{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b = append(e.b, labels[i]...)
			e.b = append(e.b, `="`...)
			e.b = appendLabelValue(e.b, labels[i+1])
			e.b = append(e.b, '"')
		}
		e.b = append(e.b, '}')
	}
	e.b = append(e.b, ' ')
}

// appendLabelValue escapes a label value: backslash, double quote and
// newline are the characters the format reserves.
func appendLabelValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

func (e *expo) value(name string, v float64, labels ...string) {
	e.series(name, labels)
	switch {
	case math.IsNaN(v):
		e.b = append(e.b, "NaN"...)
	case math.IsInf(v, 1):
		e.b = append(e.b, "+Inf"...)
	case math.IsInf(v, -1):
		e.b = append(e.b, "-Inf"...)
	default:
		e.b = strconv.AppendFloat(e.b, v, 'g', -1, 64)
	}
	e.b = append(e.b, '\n')
}

// count writes an integer sample exactly, however large.
func (e *expo) count(name string, v uint64, labels ...string) {
	e.series(name, labels)
	e.b = strconv.AppendUint(e.b, v, 10)
	e.b = append(e.b, '\n')
}

// histogram writes h's cumulative buckets, sum and count.
func (e *expo) histogram(name string, h *histogram, labels ...string) {
	counts, sum := h.load()
	var cum uint64
	for i, c := range counts {
		cum += c
		le := "+Inf"
		if i < len(h.bounds) {
			le = strconv.FormatFloat(h.bounds[i], 'g', -1, 64)
		}
		e.count(name+"_bucket", cum, slices.Concat(labels, []string{"le", le})...)
	}
	e.value(name+"_sum", sum, labels...)
	e.count(name+"_count", cum, labels...)
}

// noteJoin counts a place handed out and logs it at debug level.
func (g *Gateway) noteJoin(ctx *fasthttp.RequestCtx, room string, pos int64) {
	g.metrics.joins.Add(1)
	if g.log.Enabled(context.Background(), slog.LevelDebug) {
		g.log.Debug("joined", "request_id", requestID(ctx), "room", room, "position", pos)
	}
}

// noteAdmission counts an admission token issued and logs it at debug
// level: at millions an hour, info would drown everything else.
func (g *Gateway) noteAdmission(ctx *fasthttp.RequestCtx, room string, pos int64, method string) {
	g.metrics.admissions.Add(1)
	if g.log.Enabled(context.Background(), slog.LevelDebug) {
		g.log.Debug("admitted", "request_id", requestID(ctx), "room", room, "position", pos, "method", method)
	}
}
