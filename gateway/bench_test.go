//go:build !race

// Allocation counts and timings mean nothing under the race detector (it
// makes sync.Pool drop items at random), so this file is left out of -race
// builds.

package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"maps"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/admission/inmem"
	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/ticket"
)

const benchRoomName = "bench"

// farPosition is a queue position far from the front: a million people
// ahead, the crowd a status poll is built for.
const farPosition = 1_000_000

// benchRoom is a gateway over the in-memory store, with its keys at hand so
// a benchmark can mint the tickets and tokens it needs.
type benchRoom struct {
	g      *gateway.Gateway
	queue  *ticket.QueueCodec
	adm    *ticket.AdmissionKeys
	device string // a device id, as in the wr_device cookie
}

// newBenchRoom returns a paused room at the slowest rate, so every ticket
// keeps waiting, whose gateway proxies to backend.
func newBenchRoom(tb testing.TB, backend string) *benchRoom {
	tb.Helper()
	// Every request of a benchmark comes from one address: its budgets are
	// those of a crowd behind one address.
	return newBenchRoomWith(tb, backend, gateway.Abuse{AddressPlaces: gateway.Budget{PerMinute: 1e6, Burst: 1e9}})
}

// newBenchRoomWith is newBenchRoom with the budgets of abuse.
func newBenchRoomWith(tb testing.TB, backend string, abuse gateway.Abuse) *benchRoom {
	tb.Helper()
	store := inmem.New()
	st, err := store.Init(context.Background(), benchRoomName, admission.Settings{RatePerHour: 1, Paused: true})
	if err != nil {
		tb.Fatal(err)
	}
	ctl := admission.NewController(store, benchRoomName, st, admission.ControllerOptions{})
	hk, ek := ticket.GenerateDevKeys()
	qc, err := ticket.NewQueueCodec(hk, ticket.QueueOptions{Issuer: "bench", Room: benchRoomName, Epoch: st.Epoch})
	if err != nil {
		tb.Fatal(err)
	}
	ak, err := ticket.NewAdmissionKeys(ek, ticket.AdmissionOptions{Issuer: "bench", Audience: "booking"})
	if err != nil {
		tb.Fatal(err)
	}
	u, err := url.Parse(backend)
	if err != nil {
		tb.Fatal(err)
	}
	g, err := gateway.New(gateway.Options{
		Room: &gateway.Room{Name: benchRoomName, Controller: ctl, Queue: qc}, Store: store, Admission: ak,
		Backend: u, Protect: []string{"/"}, Bypass: []string{"/static/"}, Abuse: abuse,
	})
	if err != nil {
		tb.Fatal(err)
	}
	// As in production: waiting people's polls go to the store every
	// 250 ms, so the buffer that collects them stays small.
	ctx, cancel := context.WithCancel(context.Background())
	go g.RunBackground(ctx)
	tb.Cleanup(cancel)
	return &benchRoom{g: g, queue: qc, adm: ak, device: ticket.NewDeviceID()}
}

// waitingTicket returns a queue ticket for r.device at farPosition.
func (r *benchRoom) waitingTicket(tb testing.TB) string {
	tb.Helper()
	tok, err := r.queue.Issue(ticket.Queue{Subject: ticket.NewSubject(), Device: ticket.DeviceHash([]byte(r.device)), Position: farPosition}, "", time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// admissionToken returns an admission token bound to r.device.
func (r *benchRoom) admissionToken(tb testing.TB) string {
	tb.Helper()
	sub, dev := ticket.NewSubject(), ticket.DeviceHash([]byte(r.device))
	tok, _, err := r.adm.Issue(ticket.Admission{
		Subject:  base64.RawURLEncoding.EncodeToString(sub[:]),
		Device:   base64.RawURLEncoding.EncodeToString(dev[:]),
		Room:     benchRoomName,
		Position: 1,
	}, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// unusedBackend is a backend URL for rooms whose benchmark never proxies.
const unusedBackend = "http://127.0.0.1:1"

// newCtx returns a request context as the server would hand it to Handle,
// from a loopback client: the header read from the bytes a client sends.
// cookies are name, value pairs, sent in one Cookie header.
func newCtx(method, uri string, header map[string]string, cookies ...string) *fasthttp.RequestCtx {
	raw := method + " " + uri + " HTTP/1.1\r\nHost: waitroom.test\r\n"
	for k, v := range header {
		raw += k + ": " + v + "\r\n"
	}
	for i := 0; i+1 < len(cookies); i += 2 {
		if i == 0 {
			raw += "Cookie: "
		} else {
			raw += "; "
		}
		raw += cookies[i] + "=" + cookies[i+1]
	}
	if len(cookies) > 0 {
		raw += "\r\n"
	}
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(new(fasthttp.Request), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	if err := ctx.Request.Header.Read(bufio.NewReader(strings.NewReader(raw + "\r\n"))); err != nil {
		panic(err) // only the benchmarks' own requests get here
	}
	return ctx
}

// rereader returns a function that reads ctx's request header again from
// its bytes, without allocating, as the server reads every request afresh:
// what Handle does with a header (cookie lookups, rewriting it for the
// backend) is then measured as it happens in production.
func rereader(tb testing.TB, ctx *fasthttp.RequestCtx) func() {
	raw := append([]byte(nil), ctx.Request.Header.Header()...)
	rd := bytes.NewReader(raw)
	br := bufio.NewReader(rd)
	return func() {
		rd.Reset(raw)
		br.Reset(rd)
		ctx.Request.Reset()
		if err := ctx.Request.Header.Read(br); err != nil {
			tb.Fatal(err)
		}
	}
}

// mustServe runs Handle once on ctx and fails unless the answer has status
// want and a body containing wantBody. It leaves the response reset.
func mustServe(tb testing.TB, g *gateway.Gateway, ctx *fasthttp.RequestCtx, want int, wantBody string) {
	tb.Helper()
	g.Handle(ctx)
	if got := ctx.Response.StatusCode(); got != want {
		tb.Fatalf("status %d, want %d; body %s", got, want, ctx.Response.Body())
	}
	if body := ctx.Response.Body(); !bytes.Contains(body, []byte(wantBody)) {
		tb.Fatalf("body %s does not contain %q", body, wantBody)
	}
	ctx.Response.Reset()
}

// benchHandle measures reading one prepared request's header and Handle;
// the response is reset between iterations.
func benchHandle(b *testing.B, g *gateway.Gateway, ctx *fasthttp.RequestCtx) {
	next := rereader(b, ctx)
	b.ReportAllocs()
	for b.Loop() {
		next()
		g.Handle(ctx)
		ctx.Response.Reset()
	}
}

func waitingCtx(tb testing.TB, r *benchRoom) *fasthttp.RequestCtx {
	return newCtx("GET", "/waitroom/api/status", nil, "wr_ticket", r.waitingTicket(tb), "wr_device", r.device)
}

// BenchmarkStatusWaiting is the poll a waiting person sends every few
// seconds to a minute: it must not allocate.
func BenchmarkStatusWaiting(b *testing.B) {
	r := newBenchRoom(b, unusedBackend)
	ctx := waitingCtx(b, r)
	mustServe(b, r.g, ctx, fasthttp.StatusOK, `"state":"waiting"`)
	benchHandle(b, r.g, ctx)
}

// BenchmarkStatusBearer is the same poll from an app that sends its ticket
// in the Authorization header.
func BenchmarkStatusBearer(b *testing.B) {
	r := newBenchRoom(b, unusedBackend)
	ctx := newCtx("GET", "/waitroom/api/status", map[string]string{"Authorization": "Bearer " + r.waitingTicket(b)}, "wr_device", r.device)
	mustServe(b, r.g, ctx, fasthttp.StatusOK, `"state":"waiting"`)
	benchHandle(b, r.g, ctx)
}

// BenchmarkStatusInvalidTicket is a poll with a forged signature: a 401,
// the path a flood of made-up tickets takes.
func BenchmarkStatusInvalidTicket(b *testing.B) {
	r := newBenchRoom(b, unusedBackend)
	tok := []byte(r.waitingTicket(b))
	// Another base64url character in the signature (flipping bits could
	// make one a cookie would drop, and the poll would have no ticket).
	if c := &tok[len(tok)-2]; *c == 'A' {
		*c = 'B'
	} else {
		*c = 'A'
	}
	ctx := newCtx("GET", "/waitroom/api/status", nil, "wr_ticket", string(tok), "wr_device", r.device)
	mustServe(b, r.g, ctx, fasthttp.StatusUnauthorized, "ticket_")
	benchHandle(b, r.g, ctx)
}

// BenchmarkJoin is a first visit: a new device, a new place from the
// in-memory store, a signed ticket and two cookies.
func BenchmarkJoin(b *testing.B) {
	r := newBenchRoom(b, unusedBackend)
	ctx := newCtx("POST", "/waitroom/api/join", nil)
	mustServe(b, r.g, ctx, fasthttp.StatusOK, `"state":"waiting"`)
	benchHandle(b, r.g, ctx)
}

// BenchmarkJoinFlood is a join from an address past its free places,
// without a proof of work: the 429 a join flood gets, before any store
// round trip.
func BenchmarkJoinFlood(b *testing.B) {
	r := newBenchRoomWith(b, unusedBackend, gateway.Abuse{})
	ctx := newCtx("POST", "/waitroom/api/join", nil)
	for range 5 { // the address's free places
		mustServe(b, r.g, ctx, fasthttp.StatusOK, `"state":"waiting"`)
	}
	mustServe(b, r.g, ctx, fasthttp.StatusTooManyRequests, "challenge_required")
	benchHandle(b, r.g, ctx)
}

// BenchmarkRefuse is a request for a protected path without admission: a
// 403 that never reaches the backend.
func BenchmarkRefuse(b *testing.B) {
	r := newBenchRoom(b, unusedBackend)
	ctx := newCtx("GET", "/api/slots", map[string]string{"Accept": "application/json"}, "wr_device", r.device)
	mustServe(b, r.g, ctx, fasthttp.StatusForbidden, "not_admitted")
	benchHandle(b, r.g, ctx)
}

// benchBody is what the benchmark backend answers: 55 bytes, like the
// baseline server of scripts/bench.sh.
var benchBody = []byte(`{"state":"waiting","position":12345,"ahead":1234,"x":1}`)

// mustBackend starts a fasthttp server on a loopback TCP port (the
// gateway's HostClient dials an address) that answers benchBody, and
// returns its URL.
func mustBackend(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(benchBody)
	}}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// BenchmarkProxyAdmitted is an admitted request: reading its header, the
// admission check (a cache hit after the first), rewriting the headers and
// a round trip to a loopback backend. The response is written out as the
// server would, which returns the backend connection.
func BenchmarkProxyAdmitted(b *testing.B) {
	r := newBenchRoom(b, mustBackend(b))
	ctx := newCtx("GET", "/api/slots", nil, "wr_admission", r.admissionToken(b), "wr_device", r.device)
	next := rereader(b, ctx)
	w := bufio.NewWriter(io.Discard)
	serve := func() {
		next()
		r.g.Handle(ctx)
		if err := ctx.Response.Write(w); err != nil {
			b.Fatal(err)
		}
	}
	serve()
	if got, want := ctx.Response.StatusCode(), fasthttp.StatusOK; got != want {
		b.Fatalf("status %d, want %d", got, want)
	}
	ctx.Response.Reset()
	b.ReportAllocs()
	for b.Loop() {
		serve()
		ctx.Response.Reset()
	}
}

// TestStatusWaitingAllocs holds the status poll of a waiting person, from
// reading its header to the answer, to zero allocations, the promise of the
// status handler.
func TestStatusWaitingAllocs(t *testing.T) {
	r := newBenchRoom(t, unusedBackend)
	ctx := waitingCtx(t, r)
	mustServe(t, r.g, ctx, fasthttp.StatusOK, `"state":"waiting"`)
	next := rereader(t, ctx)
	got := testing.AllocsPerRun(200, func() {
		next()
		r.g.Handle(ctx)
		ctx.Response.Reset()
	})
	if got != 0 {
		t.Errorf("waiting status poll: %v allocations, want 0", got)
	}
}

// browserHeader is what a browser sends with a request for a page of the
// booking site, beside its cookies.
var browserHeader = map[string]string{
	"User-Agent":      "Mozilla/5.0 (Linux; Android 11; SM-G991N) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/92.0.4515.131 Mobile Safari/537.36",
	"Accept":          "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8",
	"Accept-Language": "ko-KR,ko;q=0.9,en-US;q=0.8",
	"Accept-Encoding": "gzip, deflate, br",
	"Referer":         "https://booking.example/waitroom/",
	"Sec-Fetch-Site":  "same-origin",
	"Sec-Fetch-Mode":  "navigate",
	"Connection":      "keep-alive",
}

// BenchmarkProxyHeaders is the proxy's header boundary alone
// (gateway/headers.go) on a browser's admitted request: one pass over the
// header block, then only the deletions it calls for. ReadOnly is reading
// the header, which every case includes: subtract it. Forged adds every
// header the boundary removes or replaces. DelEachName is the alternative
// the pass replaced, for comparison: a Del for every name the boundary
// looks for, then what the boundary does anyway (the pass is still needed
// for X-Waitroom-*, which no Del covers).
func BenchmarkProxyHeaders(b *testing.B) {
	r := newBenchRoom(b, unusedBackend)
	hop, others := gateway.BoundaryHeaders()
	forged := maps.Clone(browserHeader)
	for _, n := range others {
		forged[n] = "forged"
	}
	forged["X-Waitroom-Person"] = "admin"
	clean := func(ctx *fasthttp.RequestCtx) { gateway.CleanRequest(r.g, ctx) }
	for _, tc := range []struct {
		name   string
		header map[string]string
		clean  func(*fasthttp.RequestCtx)
	}{
		{"ReadOnly", browserHeader, func(*fasthttp.RequestCtx) {}},
		{"Browser", browserHeader, clean},
		{"Forged", forged, clean},
		{"DelEachName", browserHeader, func(ctx *fasthttp.RequestCtx) {
			for _, n := range append(hop, others...) {
				ctx.Request.Header.Del(n)
			}
			clean(ctx)
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := newCtx("GET", "/api/slots", tc.header, "wr_admission", r.admissionToken(b), "wr_device", r.device, "_ga", "GA1.2.1234567890.1628506800")
			next := rereader(b, ctx)
			b.ReportAllocs()
			for b.Loop() {
				next()
				tc.clean(ctx)
			}
		})
	}
}
