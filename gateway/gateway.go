// Package gateway is the waiting room's HTTP face: a fasthttp server that
// hands out queue tickets, answers status polls from memory, admits people
// when the release cursor reaches them, and proxies admitted requests to the
// booking backend. Everything else is refused before it reaches the backend.
package gateway

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/gateway/web"
	"github.com/waitroom/waitroom/ticket"
)

// Options configure a Gateway. Zero durations and sizes mean the defaults
// stated on each field.
type Options struct {
	// Room is the room served first; SetRoom moves to another.
	Room      *Room
	Store     admission.Store
	Admission *ticket.AdmissionKeys
	// Identity, when set, makes people verify who they are before they get
	// a place; anonymous joins are then refused.
	Identity *Identity

	// Backend is the booking service's base URL (http or https).
	Backend *url.URL
	// Protect and Bypass are path prefixes; the longest match decides, and
	// a path matching neither is protected.
	Protect, Bypass []string
	// TrustedProxies may set X-Forwarded-For/-Proto/-Host; from anyone else
	// those headers are replaced.
	TrustedProxies []netip.Prefix

	TicketTTL       time.Duration // queue ticket cookie lifetime; default 24 h
	MaxRequestBody  int           // default 1 MiB
	MaxResponseBody int64         // default 64 MiB
	MaxHeaderBytes  int           // default 16 KiB: JWT cookies plus a site's own
	ReadTimeout     time.Duration // client request read; default 10 s
	WriteTimeout    time.Duration // client response write; default 30 s
	IdleTimeout     time.Duration // client keep-alive; default 60 s
	BackendTimeout  time.Duration // whole backend exchange; default 30 s
	BackendIdle     time.Duration // idle backend connection lifetime; default 4 s
	MaxConns        int           // backend connections; default 1024

	// MaxPoll is the longest interval a waiting person is told to poll
	// at; default 120 s.
	MaxPoll time.Duration
	// HeartbeatGrace is how late a waiting person may be for the poll they
	// were told to make before release passes over them as gone, when the
	// store implements admission.Presence; default 15 s. Negative: never.
	HeartbeatGrace time.Duration
	// SleepGrace is how long a waiting page that said it went to sleep
	// (hidden, frozen or offline: see away) counts as present, on top of
	// HeartbeatGrace; default 10 min. Negative: such pages are held to
	// their last poll's promise like everyone.
	SleepGrace time.Duration
	// NoticeLead is the estimated wait under which status answers say
	// "soon", so that the page tells the person their turn is near;
	// default 2 min.
	NoticeLead time.Duration

	// Abuse sets the per-device and per-address budgets (see Abuse).
	Abuse Abuse

	// Health, when set, turns on health-driven release (see HealthOptions).
	Health *HealthOptions
	// MetricsUnauthenticated serves the operator listener's /metrics
	// without the admin token.
	MetricsUnauthenticated bool
	// AdminHosts are the host names the operator listener answers to (in
	// the Host header, compared ignoring case); IP addresses always pass.
	// Default "localhost".
	AdminHosts []string

	// Site names the deployment in the store's operator records (audit
	// log, board, gateway heartbeats), which outlive each window's room;
	// default the first room's name. ID names this gateway in heartbeats;
	// default its host name and a random suffix.
	Site, ID string

	Logger *slog.Logger
	// Now is the gateway's clock for ticket times; default time.Now.
	Now func() time.Time
}

// Room is one queue the gateway serves: its name, release controller and
// ticket codec. A gateway serves one room at a time; with an eligibility
// schedule every window is a room of its own, and SetRoom moves to the next.
type Room struct {
	Name       string
	Controller *admission.Controller
	Queue      *ticket.QueueCodec
	// Window is the eligibility window the room serves ("" for none).
	Window string
}

// Gateway serves the public listener.
type Gateway struct {
	o       Options
	log     *slog.Logger
	paths   pathPolicy
	backend *fasthttp.HostClient
	host    string // backend Host header
	server  *fasthttp.Server
	room    atomic.Pointer[Room]
	ended   endedSessions
	signals *signals // nil without Identity
	metrics *metrics
	health  *health // nil without Options.Health
	// presence records waiting people's polls; nil when the store cannot
	// skip people who left or HeartbeatGrace is negative.
	presence *presence
	abuse    *abuse
	console  consoleState // see console.go

	// prevRoom names the room served before the last SetRoom, whose
	// admission tokens stay valid (see SetRoom); nil before any.
	prevRoom atomic.Pointer[string]
}

// Room returns the room served now.
func (g *Gateway) Room() *Room { return g.room.Load() }

// SetRoom makes r the room served from now on. Tickets of the previous room
// stop being valid: their window is over. Its admission tokens stay valid
// until they expire (at most the session duration): people admitted before
// the switch, here or at a gateway of the fleet that switches a moment
// later, finish their business. Tokens of every other room are refused.
func (g *Gateway) SetRoom(r *Room) {
	if old := g.room.Swap(r); old != nil && old.Name != r.Name {
		g.prevRoom.Store(&old.Name)
	}
}

// New checks o and builds a gateway.
func New(o Options) (*Gateway, error) {
	if o.Room == nil || o.Room.Controller == nil || o.Room.Queue == nil || o.Store == nil || o.Admission == nil || o.Backend == nil {
		return nil, errors.New("gateway: Room (with Controller and Queue), Store, Admission and Backend are required")
	}
	setDefault(&o.TicketTTL, 24*time.Hour)
	setDefault(&o.MaxRequestBody, 1<<20)
	setDefault(&o.MaxResponseBody, 64<<20)
	setDefault(&o.MaxHeaderBytes, 16<<10)
	setDefault(&o.ReadTimeout, 10*time.Second)
	setDefault(&o.WriteTimeout, 30*time.Second)
	setDefault(&o.IdleTimeout, 60*time.Second)
	setDefault(&o.BackendTimeout, 30*time.Second)
	setDefault(&o.BackendIdle, 4*time.Second)
	setDefault(&o.MaxConns, 1024)
	setDefault(&o.MaxPoll, 120*time.Second)
	if o.HeartbeatGrace == 0 {
		o.HeartbeatGrace = 15 * time.Second
	}
	if o.SleepGrace == 0 {
		o.SleepGrace = 10 * time.Minute
	}
	setDefault(&o.NoticeLead, 2*time.Minute)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Site == "" {
		o.Site = o.Room.Name
	}
	if o.ID == "" {
		o.ID = newGatewayID()
	}
	hc, err := newBackendClient(o)
	if err != nil {
		return nil, err
	}
	g := &Gateway{o: o, log: o.Logger, paths: newPathPolicy(o.Protect, o.Bypass), backend: hc, host: o.Backend.Host, abuse: newAbuse(o.Abuse)}
	g.room.Store(o.Room)
	if ps, ok := o.Store.(admission.Presence); ok && o.HeartbeatGrace > 0 {
		g.presence = &presence{store: ps, grace: o.HeartbeatGrace, log: o.Logger}
	}
	if o.Identity != nil {
		if err := o.Identity.check(); err != nil {
			return nil, err
		}
		g.signals = newSignals(o.Identity)
	}
	g.metrics = newMetrics(g.signals)
	if o.Health != nil {
		g.health = newHealth(*o.Health)
	}
	g.server = &fasthttp.Server{
		Handler:                      withRequestID(g.Handle),
		Name:                         "waitroom",
		ReadBufferSize:               o.MaxHeaderBytes,
		MaxRequestBodySize:           o.MaxRequestBody,
		ReadTimeout:                  o.ReadTimeout,
		WriteTimeout:                 o.WriteTimeout,
		IdleTimeout:                  o.IdleTimeout,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		ErrorHandler: func(ctx *fasthttp.RequestCtx, err error) {
			// Requests fasthttp could not parse: oversized headers or body,
			// bad framing. Answer 4xx, never 5xx.
			status := fasthttp.StatusBadRequest
			if errors.Is(err, fasthttp.ErrBodyTooLarge) {
				status = fasthttp.StatusRequestEntityTooLarge
			} else if errors.As(err, new(*fasthttp.ErrSmallBuffer)) {
				status = fasthttp.StatusRequestHeaderFieldsTooLarge
			}
			serveError(ctx, g.log, &Error{Status: status, Code: "bad_request", Message: "the request could not be read: " + fasthttp.StatusMessage(status)})
		},
	}
	return g, nil
}

func newBackendClient(o Options) (*fasthttp.HostClient, error) {
	u := o.Backend
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gateway: backend %q must be an http or https URL", u.String())
	}
	addr := u.Host
	if u.Port() == "" {
		addr += map[string]string{"http": ":80", "https": ":443"}[u.Scheme]
	}
	hc := &fasthttp.HostClient{
		Addr:                      addr,
		IsTLS:                     u.Scheme == "https",
		MaxConns:                  o.MaxConns,
		MaxConnWaitTimeout:        o.BackendTimeout,
		MaxIdleConnDuration:       o.BackendIdle,
		ReadTimeout:               o.BackendTimeout,
		WriteTimeout:              o.BackendTimeout,
		ReadBufferSize:            o.MaxHeaderBytes,
		StreamResponseBody:        true,
		MaxIdemponentCallAttempts: 1, // never send a booking twice
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		NoDefaultUserAgentHeader:  true,
		// Path normalising stays on: the request line is then written from
		// the parsed path, the one the gateway checked, never the raw one.
		DisablePathNormalizing: false,
	}
	if hc.IsTLS {
		hc.TLSConfig = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	}
	return hc, nil
}

// Server returns the configured fasthttp server (for Serve/Shutdown).
func (g *Gateway) Server() *fasthttp.Server { return g.server }

var (
	prefixRoom    = []byte("/waitroom/")
	pathRoom      = []byte("/waitroom")
	pathJoin      = []byte("/waitroom/api/join")
	pathStatus    = []byte("/waitroom/api/status")
	pathAway      = []byte("/waitroom/api/away")
	pathStatic    = []byte("/waitroom/static/")
	pathSignals   = []byte("/waitroom/api/signals")
	pathDraw      = []byte("/waitroom/api/draw")
	pathChallenge = []byte("/waitroom/api/challenge")
	pathAuth      = []byte(prefixAuth)
	pathJWKS      = []byte("/.well-known/jwks.json")
	pathHealth    = []byte("/healthz")
	pathReady     = []byte("/readyz")
)

// Handle routes one request. The reserved prefix /waitroom/, JWKS and
// health belong to the gateway; every other path goes through the proxy's
// admission check.
func (g *Gateway) Handle(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	var err error
	switch {
	case bytes.Equal(path, pathStatus):
		err = g.status(ctx)
	case bytes.Equal(path, pathJoin):
		err = g.join(ctx)
	case bytes.Equal(path, pathAway):
		err = g.away(ctx)
	case bytes.Equal(path, prefixRoom):
		err = g.page(ctx)
	case bytes.HasPrefix(path, pathStatic):
		err = g.asset(ctx, path[len(pathStatic):])
	case bytes.Equal(path, pathSignals):
		err = g.signalsAPI(ctx)
	case bytes.Equal(path, pathDraw):
		err = g.drawInfo(ctx)
	case bytes.Equal(path, pathChallenge):
		err = g.challenge(ctx)
	case bytes.HasPrefix(path, pathAuth):
		err = g.auth(ctx, path[len(pathAuth):])
	case bytes.HasPrefix(path, prefixRoom):
		err = errNotFound
	case bytes.Equal(path, pathRoom):
		ctx.Redirect("/waitroom/", fasthttp.StatusMovedPermanently)
	case bytes.Equal(path, pathJWKS):
		err = g.jwks(ctx)
	case bytes.Equal(path, pathHealth):
		ctx.Response.Header.SetContentTypeBytes(ctJSON)
		ctx.WriteString(`{"status":"ok"}`)
	case bytes.Equal(path, pathReady):
		err = g.ready(ctx)
	default:
		err = g.proxy(ctx)
	}
	if err != nil {
		g.metrics.storeError(opRequest, err)
		serveError(ctx, g.log, err)
	}
}

func (g *Gateway) page(ctx *fasthttp.RequestCtx) error {
	if !ctx.IsGet() && !ctx.IsHead() {
		return errMethod
	}
	lang := string(ctx.QueryArgs().Peek("lang"))
	if lang != "en" && lang != "ko" {
		lang = web.Lang(ctx.Request.Header.Peek("Accept-Language"))
	}
	g.deviceOf(ctx) // issued before a start or a join, so that it counts there
	setPageHeaders(ctx)
	ctx.Response.Header.Set("Vary", "Accept-Language")
	ctx.Response.Header.SetContentTypeBytes(ctHTML)
	ctx.SetBody(web.Page(lang))
	return nil
}

func (g *Gateway) asset(ctx *fasthttp.RequestCtx, name []byte) error {
	body, ct, ok := web.Asset(string(name))
	if !ok {
		return errNotFound
	}
	ctx.Response.Header.SetContentType(ct)
	// The page's script and style change with a release, within minutes;
	// the font never does, and the few who need it should fetch it once.
	cache := "public, max-age=300"
	if bytes.HasPrefix(name, []byte("fonts/")) {
		cache = "public, max-age=86400"
	}
	ctx.Response.Header.Set("Cache-Control", cache)
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	if gz, ok := web.Gzipped(string(name)); ok {
		ctx.Response.Header.Set("Vary", "Accept-Encoding")
		if ctx.Request.Header.HasAcceptEncoding("gzip") {
			ctx.Response.Header.Set("Content-Encoding", "gzip")
			body = gz
		}
	}
	ctx.SetBody(body)
	return nil
}

// setPageHeaders sets the security headers of every HTML page the public
// listener renders (the waiting page, notices, error pages): only our own
// scripts and styles, never in a frame (X-Frame-Options for browsers that
// predate frame-ancestors), no type sniffing, no referrer, not stored.
func setPageHeaders(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

func (g *Gateway) jwks(ctx *fasthttp.RequestCtx) error {
	ctx.Response.Header.SetContentTypeBytes(ctJSON)
	ctx.Response.Header.Set("Cache-Control", "public, max-age=300")
	ctx.SetBody(g.o.Admission.JWKS())
	return nil
}

func (g *Gateway) ready(ctx *fasthttp.RequestCtx) error {
	if !g.Room().Controller.Snapshot().Healthy {
		return &Error{Status: fasthttp.StatusServiceUnavailable, Code: "not_ready", Message: "the admission store is unreachable", RetryAfter: 1}
	}
	ctx.Response.Header.SetContentTypeBytes(ctJSON)
	ctx.WriteString(`{"status":"ready"}`)
	return nil
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
