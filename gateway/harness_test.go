package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/admission/inmem"
	"github.com/waitroom/waitroom/draw"
	"github.com/waitroom/waitroom/eligibility"
	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/ticket"
)

// harness is a gateway on a real listener in front of a recording backend,
// with the store's and the gateway's clock under the test's control.
type harness struct {
	t     *testing.T
	mu    sync.Mutex
	now   time.Time
	store *inmem.Store
	ctl   *admission.Controller
	queue *ticket.QueueCodec
	adm   *ticket.AdmissionKeys
	// The keys of queue and adm, for tests that sign what another room or
	// another gateway's settings would.
	hmacKeys []ticket.HMACKey
	edKeys   []ticket.EdKey
	admin    *gateway.Admin
	gw       *gateway.Gateway
	url      string // public base URL
	adminURL string
	backend  *recorder
}

const adminToken = "test-admin-token-0123456789"

type harnessOptions struct {
	rate        int64
	paused      bool
	backendAddr string // default: the recorder
	opts        func(*gateway.Options)
	start       time.Time // default 2021-08-09 20:00 KST
	// window, when set, turns identity first on for the window it returns.
	window func(*harness) (*gateway.Identity, eligibility.Window)
}

func mustHarness(t *testing.T, ho harnessOptions) *harness {
	t.Helper()
	if ho.rate == 0 {
		ho.rate = 36_000
	}
	if ho.start.IsZero() {
		ho.start = time.Unix(1_628_506_800, 0)
	}
	h := &harness{t: t, now: ho.start, store: inmem.New()}
	h.store.Now = h.clock
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.url = "http://" + ln.Addr().String()
	ctx := context.Background()
	set := admission.Settings{RatePerHour: ho.rate, Paused: ho.paused}
	var id *gateway.Identity
	var st admission.State
	var win eligibility.Window
	if ho.window != nil {
		id, win = ho.window(h)
		st, err = h.store.InitWindow(ctx, "r", set, admission.Window{Opens: win.Opens, Closes: win.Closes}, testSeed.Commitment(), testSeed.String())
	} else {
		st, err = h.store.Init(ctx, "r", set)
	}
	if err != nil {
		t.Fatal(err)
	}
	h.ctl = admission.NewController(h.store, "r", st, admission.ControllerOptions{})
	hk, ek := ticket.GenerateDevKeys()
	h.hmacKeys, h.edKeys = hk, ek
	if h.queue, err = ticket.NewQueueCodec(hk, ticket.QueueOptions{Issuer: "waitroom", Room: "r", Epoch: st.Epoch, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if h.adm, err = ticket.NewAdmissionKeys(ek, ticket.AdmissionOptions{Issuer: "waitroom", Audience: "booking", TTL: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	h.backend = mustRecorder(t, h)
	backend := ho.backendAddr
	if backend == "" {
		backend = h.backend.addr
	}
	o := gateway.Options{
		Room: &gateway.Room{Name: "r", Controller: h.ctl, Queue: h.queue, Window: win.ID}, Store: h.store, Admission: h.adm, Identity: id,
		Backend: &url.URL{Scheme: "http", Host: backend},
		Protect: []string{"/"}, Bypass: []string{"/static/", "/favicon.ico"},
		BackendTimeout: 2 * time.Second, Now: h.clock,
		// Every person of a test comes from 127.0.0.1: its address budgets
		// are those of a crowd behind one address (abuse tests set theirs).
		Abuse: gateway.Abuse{
			AddressPlaces:        gateway.Budget{PerMinute: 1e6, Burst: 1e6},
			AddressCountedStarts: gateway.Budget{PerMinute: 1e6, Burst: 1e6},
		},
	}
	if ho.opts != nil {
		ho.opts(&o)
	}
	g, err := gateway.New(o)
	if err != nil {
		t.Fatal(err)
	}
	go g.Server().Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = g.Server().Shutdown() })
	h.gw = g
	h.admin = gateway.NewAdmin(g, adminToken, nil)
	h.adminURL = "http://" + serve(t, h.admin.Server())
	return h
}

// testSeed is the draw seed of identity-first test rooms.
var testSeed = draw.NewSeed()

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

// advance moves both clocks by d in 100 ms controller ticks.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	for end := h.clock().Add(d); h.clock().Before(end); {
		h.mu.Lock()
		h.now = h.now.Add(100 * time.Millisecond)
		h.mu.Unlock()
		if _, err := h.ctl.Tick(context.Background()); err != nil {
			h.t.Fatal(err)
		}
	}
}

func serve(t *testing.T, s *fasthttp.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = s.Shutdown() })
	return ln.Addr().String()
}

// person is one browser: its own cookie jar, redirects not followed.
type person struct {
	t      *testing.T
	h      *harness
	client *http.Client
}

func (h *harness) person() *person {
	jar, _ := cookiejar.New(nil)
	return &person{t: h.t, h: h, client: &http.Client{
		Jar:           jar,
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// standing is the join and status answer.
type standing struct {
	Ticket      string `json:"ticket"`
	State       string `json:"state"`
	Position    int64  `json:"position"`
	Ahead       int64  `json:"ahead"`
	ETASeconds  int64  `json:"eta_seconds"`
	PollAfterMS int64  `json:"poll_after_ms"`
	Paused      bool   `json:"paused"`
	PauseReason string `json:"pause_reason"`
	Rejoining   bool   `json:"rejoining"`
	Soon        bool   `json:"soon"`
	RatePerHour int64  `json:"rate_per_hour"`
	Admission   string `json:"admission"`
	// AdmissionSeconds is how long the admission lasts from now.
	AdmissionSeconds int64  `json:"admission_seconds"`
	Redirect         string `json:"redirect"`
	Error            *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (p *person) do(method, path, body string, header map[string]string) (*http.Response, []byte) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.h.url+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	return resp, b
}

func (p *person) call(method, path, body string, header map[string]string) (int, standing) {
	p.t.Helper()
	resp, b := p.do(method, path, body, header)
	var s standing
	if err := json.Unmarshal(b, &s); err != nil {
		p.t.Fatalf("%s %s: status %d, body %q is not JSON: %v", method, path, resp.StatusCode, b, err)
	}
	return resp.StatusCode, s
}

func (p *person) join() standing {
	p.t.Helper()
	code, s := p.call("POST", "/waitroom/api/join", `{"return":"/book?date=1"}`, map[string]string{"Content-Type": "application/json"})
	if code != 200 {
		p.t.Fatalf("join: status %d, %+v", code, s)
	}
	return s
}

func (p *person) status() (int, standing) {
	p.t.Helper()
	return p.call("GET", "/waitroom/api/status", "", nil)
}

func (p *person) cookie(name string) string {
	u, _ := url.Parse(p.h.url + "/waitroom/")
	for _, c := range p.client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// recorder is a backend that records what reaches it and checks that each
// request was admitted or bypassed.
type recorder struct {
	addr string
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	path     string
	admitted bool
	header   http.Header
}

func mustRecorder(t *testing.T, h *harness) *recorder {
	r := &recorder{}
	s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		sr := seenRequest{path: string(ctx.Request.Header.RequestURI()), header: http.Header{}}
		ctx.Request.Header.VisitAll(func(k, v []byte) { sr.header.Add(string(k), string(v)) })
		tok := ctx.Request.Header.Cookie("wr_admission")
		_, err := h.adm.Verify(tok, ctx.Request.Header.Cookie("wr_device"), h.clock())
		sr.admitted = err == nil
		r.mu.Lock()
		r.seen = append(r.seen, sr)
		r.mu.Unlock()
		switch string(ctx.Path()) {
		case "/hop":
			ctx.Response.Header.Set("Connection", "X-Secret-Hop")
			ctx.Response.Header.Set("X-Secret-Hop", "1")
			ctx.Response.Header.Set("Keep-Alive", "timeout=5")
		case "/big":
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
				chunk := []byte(strings.Repeat("x", 64<<10))
				for range 64 { // 4 MiB
					_, _ = w.Write(chunk)
					_ = w.Flush()
				}
			})
			return
		case "/complete":
			ctx.Response.Header.Set("X-Waitroom-Complete", "1")
		case "/slow":
			time.Sleep(3 * time.Second)
		}
		ctx.SetContentType("text/plain")
		ctx.WriteString("backend " + string(ctx.Path()))
	}}
	r.addr = serve(t, s)
	return r
}

func (r *recorder) requests() []seenRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seenRequest(nil), r.seen...)
}
