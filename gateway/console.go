package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/gateway/console"
	"github.com/waitroom/waitroom/signal"
)

// Board keys every gateway reads once a second (see admission.Board): the
// operator's message on the waiting page, and the lights operators force,
// under boardLight + the method's name.
const (
	boardMessage = "message"
	boardLight   = "light:"
)

// MaxMessage is the longest message on the waiting page, in characters.
const MaxMessage = 200

// AliveWithin is how recent a gateway's heartbeat must be for the console
// to list it as alive.
const AliveWithin = 10 * time.Second

// consoleState is what a gateway keeps for the operator console: the
// message it shows, its recent store round trips, and the hour of samples
// the charts draw.
type consoleState struct {
	message atomic.Pointer[message] // nil: none

	mu          sync.Mutex
	probes      [probesKept]probe // ring of the console's store round trips
	nextProbe   int
	nextSample  time.Time
	lastBackend *backendSample // backend counters at the previous sample

	history console.History
}

// message is the operator's message and its status field, `,"message":"…"`,
// encoded once so a status poll only copies it.
type message struct {
	text  string
	field []byte
}

// probe is one store round trip of the console's work.
type probe struct {
	at      time.Time
	latency time.Duration
	failed  bool
}

// probesKept holds a minute of round trips at two a second.
const probesKept = 120

// newGatewayID names a gateway in heartbeats: its host name, which
// operators recognise, and a random suffix, since one host may run several.
func newGatewayID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "gateway"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// ID names this gateway in heartbeats.
func (g *Gateway) ID() string { return g.o.ID }

// Site names the deployment in the store's operator records.
func (g *Gateway) Site() string { return g.o.Site }

// Message returns the operator's message on the waiting page ("" for none).
func (g *Gateway) Message() string {
	if m := g.console.message.Load(); m != nil {
		return m.text
	}
	return ""
}

// setMessage makes text the message every status answer carries.
func (g *Gateway) setMessage(text string) {
	if g.Message() == text {
		return
	}
	if text == "" {
		g.console.message.Store(nil)
		return
	}
	v, _ := json.Marshal(text)
	g.console.message.Store(&message{text: text, field: append([]byte(`,"message":`), v...)})
}

// messageField is the message field of status answers, `,"message":"…"`,
// or nil when there is no message.
func (g *Gateway) messageField() []byte {
	if m := g.console.message.Load(); m != nil {
		return m.field
	}
	return nil
}

// syncConsole is the console's part of Refresh: it reports this gateway
// alive, reads the board (message and forced lights) that operators may
// have changed on another gateway, and samples the room every
// console.SampleEvery. A store that cannot be reached changes nothing: the
// last message and lights stay.
func (g *Gateway) syncConsole(ctx context.Context) {
	site, room := g.o.Site, g.Room().Name
	if f, ok := g.o.Store.(admission.Fleet); ok {
		g.timed(func() error { return f.GatewayBeat(ctx, site, g.o.ID, room) })
	}
	if b, ok := g.o.Store.(admission.Board); ok {
		var board map[string]string
		if g.timed(func() (err error) { board, err = b.Board(ctx, site); return err }) {
			g.applyBoard(board)
		}
	}
	now := time.Now() // real time, as the console's charts: the gateway's clock may be simulated
	g.console.mu.Lock()
	due := !now.Before(g.console.nextSample)
	if due {
		g.console.nextSample = now.Add(console.SampleEvery)
	}
	g.console.mu.Unlock()
	if due {
		g.sample(ctx, now)
	}
}

// timed runs one store round trip of the console's and records its
// latency; it reports whether the call succeeded.
func (g *Gateway) timed(call func() error) bool {
	start := time.Now()
	err := call()
	p := probe{at: time.Now(), latency: time.Since(start), failed: err != nil}
	g.console.mu.Lock()
	g.console.probes[g.console.nextProbe] = p
	g.console.nextProbe = (g.console.nextProbe + 1) % probesKept
	g.console.mu.Unlock()
	return err == nil
}

// applyBoard takes the message and the forced lights from the board.
func (g *Gateway) applyBoard(board map[string]string) {
	g.setMessage(board[boardMessage])
	if g.signals != nil {
		forced := map[string]signal.Light{}
		for _, m := range g.signals.methods {
			if l := signal.Light(board[boardLight+m.Name]); l.Valid() {
				forced[m.Name] = l
			}
		}
		g.signals.mu.Lock()
		g.signals.forced = forced
		g.signals.mu.Unlock()
	}
}

// storeStats summarises the console's store round trips since `since`:
// the latest latency, the slowest, and the failures.
func (g *Gateway) storeStats(since time.Time) (latest, slowest time.Duration, failed int) {
	g.console.mu.Lock()
	defer g.console.mu.Unlock()
	var newest time.Time
	for _, p := range g.console.probes {
		if p.at.IsZero() || p.at.Before(since) {
			continue
		}
		if p.failed {
			failed++
			continue
		}
		slowest = max(slowest, p.latency)
		if !p.at.Before(newest) {
			newest, latest = p.at, p.latency
		}
	}
	return latest, slowest, failed
}

// sample adds the room, the store and the backend as they are now to the
// console's history.
func (g *Gateway) sample(ctx context.Context, now time.Time) {
	snap := g.Room().Controller.Snapshot()
	_, slowest, failed := g.storeStats(now.Add(-console.SampleEvery))
	s := console.Sample{
		At: now, Waiting: snap.Waiting(), Issued: snap.Issued, Admitted: snap.Admitted,
		AdmittedPerMinute: snap.ReleasedLastMinute, TargetPerMinute: float64(snap.RatePerHour) / 60,
		Paused: snap.PauseReason() != "", StoreHealthy: snap.Healthy, StoreLatencyMS: ms(slowest), StoreErrors: failed,
	}
	cur := g.metrics.sample(now)
	g.console.mu.Lock()
	prev := g.console.lastBackend
	g.console.lastBackend = &cur
	g.console.mu.Unlock()
	if prev != nil {
		s.BackendRequests, s.BackendErrors = cur.calls-prev.calls, cur.failures-prev.failures
		delta := make([]uint64, len(cur.buckets))
		for i := range delta {
			delta[i] = cur.buckets[i] - prev.buckets[i]
		}
		s.BackendP95MS = quantile(0.95, backendBounds, delta) * 1000
	}
	if f, ok := g.o.Store.(admission.Fleet); ok {
		var seen []admission.GatewaySeen
		if g.timed(func() (err error) { seen, _, err = f.Gateways(ctx, g.o.Site, AliveWithin); return err }) {
			s.Gateways = len(seen)
		}
	}
	g.console.history.Add(s)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
