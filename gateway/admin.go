package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/gateway/console"
	"github.com/waitroom/waitroom/signal"
)

// Admin serves the operator API and the operator console (/admin/) on its
// own listener. Every API call needs "Authorization: Bearer <admin token>"
// or a console session (see authenticate); every change is logged and
// recorded in the store's audit log.
type Admin struct {
	g         *Gateway
	tokenHash [32]byte
	log       *slog.Logger
	server    *fasthttp.Server
	sessions  *console.Sessions
	// Wrong admin tokens count against the known operator device they come
	// from, else against their network (see guesser).
	devices   *console.Devices
	byDevice  *console.Limiter[[16]byte]
	byNetwork *console.Limiter[netip.Prefix]
	hosts     []string // lower case, see Options.AdminHosts
}

// NewAdmin returns the operator API of g's room. token must not be empty.
func NewAdmin(g *Gateway, token string, log *slog.Logger) *Admin {
	if log == nil {
		log = slog.Default()
	}
	a := &Admin{g: g, tokenHash: sha256.Sum256([]byte(token)), log: log,
		// Real time, even when the gateway's clock is simulated: a session
		// and a lock-out last what they say.
		sessions: console.NewSessions(SessionTTL, nil), devices: console.NewDevices(),
		byDevice:  console.NewLimiter[[16]byte](maxSignInFailures, signInWindow, nil),
		byNetwork: console.NewLimiter[netip.Prefix](maxSignInFailures, signInWindow, nil),
		hosts:     []string{"localhost"},
	}
	if len(g.o.AdminHosts) > 0 {
		a.hosts = nil
		for _, h := range g.o.AdminHosts {
			a.hosts = append(a.hosts, strings.ToLower(strings.TrimSuffix(h, ".")))
		}
	}
	a.server = &fasthttp.Server{
		Handler:               withRequestID(a.Handle),
		Name:                  "waitroom-admin",
		MaxRequestBodySize:    64 << 10,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		NoDefaultServerHeader: true,
	}
	return a
}

// Server returns the configured fasthttp server.
func (a *Admin) Server() *fasthttp.Server { return a.server }

// StateView is the operator's view of the room.
type StateView struct {
	Room        string `json:"room"`
	RatePerHour int64  `json:"rate_per_hour"`
	// Paused is true while nobody new is admitted, PauseReason says why
	// (admission.PausedByOperator or PausedStoreUnreachable), as the
	// waiting page and the metrics say it.
	Paused      bool   `json:"paused"`
	PauseReason string `json:"pause_reason,omitempty"`
	Issued      int64  `json:"issued"`
	Admitted    int64  `json:"admitted"`
	Waiting     int64  `json:"waiting"`
	// Released counts the people let in, each once (admission.State.Released):
	// what the rate counts. Rejoined and RejoinAdmitted are the rejoin line
	// of people passed over who came back.
	Released       int64 `json:"released"`
	Rejoined       int64 `json:"rejoined"`
	RejoinAdmitted int64 `json:"rejoin_admitted"`
	// Skipped counts the positions release passed over because their
	// holders stopped polling; LeaveShare is the share of people expected
	// to leave before their turn that the wait estimate uses.
	Skipped             int64   `json:"skipped"`
	LeaveShare          float64 `json:"leave_share"`
	ReleasedLastMinute  int64   `json:"released_last_minute"`
	MeasuredRatePerHour float64 `json:"measured_rate_per_hour"`
	TailWaitSeconds     int64   `json:"tail_wait_seconds"`
	StoreHealthy        bool    `json:"store_healthy"`
	StoreTime           string  `json:"store_time"`
	// Health is the health loop's view, in GET /admin/api/state only.
	Health *HealthView `json:"health,omitempty"`
}

func view(room string, s *admission.Snapshot) StateView {
	return StateView{
		Room: room, RatePerHour: s.RatePerHour, Paused: s.PauseReason() != "", PauseReason: s.PauseReason(), Issued: s.Issued, Admitted: s.Admitted,
		Waiting: s.Waiting(), Released: s.Released(), Rejoined: s.Rejoined, RejoinAdmitted: s.RejoinAdmitted, Skipped: s.Skipped, LeaveShare: s.LeaveShare, ReleasedLastMinute: s.ReleasedLastMinute, MeasuredRatePerHour: s.MeasuredPerHour,
		TailWaitSeconds: int64(s.Wait(s.Issued).Seconds()), StoreHealthy: s.Healthy, StoreTime: s.Now.UTC().Format(time.RFC3339Nano),
	}
}

// Handle authenticates and routes one operator call, from a host name the
// listener answers to.
func (a *Admin) Handle(ctx *fasthttp.RequestCtx) {
	var err error = errAdminHost
	if a.hostAllowed(ctx.Host()) {
		err = a.route(ctx)
	}
	if err != nil {
		serveError(ctx, a.log, err)
	}
}

var errAdminHost = &Error{Status: fasthttp.StatusForbidden, Code: "host_not_allowed",
	Message: "the operator listener does not answer to this host name: use its address, localhost, or a name listed in admin_hosts"}

// hostAllowed reports whether the Host header names this listener: an IP
// address (no name, so no DNS rebinding), a name of a.hosts, or nothing
// (HTTP/1.0, never a browser). A web page whose own name an attacker
// points at the listener's address sends that name and is refused, so the
// page cannot use the browser as a way in, whatever it does with Origin.
func (a *Admin) hostAllowed(host []byte) bool {
	if len(host) == 0 {
		return true
	}
	name := string(host)
	if h, _, err := net.SplitHostPort(name); err == nil {
		name = h
	} else if strings.HasPrefix(name, "[") && strings.HasSuffix(name, "]") {
		name = name[1 : len(name)-1]
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return true
	}
	name = strings.TrimSuffix(name, ".")
	return slices.ContainsFunc(a.hosts, func(h string) bool { return strings.EqualFold(h, name) })
}

func (a *Admin) route(ctx *fasthttp.RequestCtx) error {
	path, method := string(ctx.Path()), string(ctx.Method())
	if handled, err := a.serveConsole(ctx, path); handled {
		return err
	}
	var who actor
	if !(a.g.o.MetricsUnauthenticated && path == "/metrics") {
		var err error
		if who, err = a.authenticate(ctx); err != nil {
			return err
		}
	}
	r, store := a.g.Room(), a.g.o.Store
	switch {
	case path == "/metrics":
		return a.g.serveMetrics(ctx)
	case path == "/admin/api/state" && method == fasthttp.MethodGet:
		// A tick rather than the cached snapshot: operators see the store
		// as it is now, and the cost (one round trip) is theirs alone.
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		snap, _ := r.Controller.Tick(c) // on failure: the last state, marked unhealthy
		v, h := view(r.Name, snap), a.g.HealthView()
		v.Health = &h
		return writeJSON(ctx, v)
	case path == "/admin/api/rate" && method == fasthttp.MethodPut:
		var in struct {
			PerHour *int64 `json:"per_hour"`
		}
		if err := json.Unmarshal(ctx.PostBody(), &in); err != nil || in.PerHour == nil {
			return &Error{Status: fasthttp.StatusBadRequest, Code: "bad_request", Message: `body must be JSON like {"per_hour":2000000}`}
		}
		if !admission.ValidRate(*in.PerHour) {
			return errRateOutOfRange
		}
		return a.apply(ctx, who, "rate", func(c context.Context) (admission.State, error) {
			return store.SetRate(c, r.Name, *in.PerHour)
		})
	case path == "/admin/api/pause" && method == fasthttp.MethodPost:
		return a.apply(ctx, who, "pause", func(c context.Context) (admission.State, error) {
			return store.SetPaused(c, r.Name, true)
		})
	case path == "/admin/api/resume" && method == fasthttp.MethodPost:
		return a.apply(ctx, who, "resume", func(c context.Context) (admission.State, error) {
			return store.SetPaused(c, r.Name, false)
		})
	case strings.HasPrefix(path, "/admin/api/signals/") && method == fasthttp.MethodPut && a.g.signals != nil:
		var in struct {
			Light *string `json:"light"`
		}
		if err := json.Unmarshal(ctx.PostBody(), &in); err != nil || in.Light == nil {
			return &Error{Status: fasthttp.StatusBadRequest, Code: "bad_request", Message: `body must be JSON like {"light":"red"}, or {"light":"auto"} to stop forcing`}
		}
		l, err := signal.ParseForced(*in.Light)
		if err != nil {
			return &Error{Status: fasthttp.StatusBadRequest, Code: "bad_light", Message: err.Error()}
		}
		return a.forceLight(ctx, who, strings.TrimPrefix(path, "/admin/api/signals/"), l)
	case path == "/admin/api/message" && method == fasthttp.MethodPut:
		return a.setMessage(ctx, who)
	case path == "/admin/api/window" && method == fasthttp.MethodPut:
		return a.setWindow(ctx, who)
	case path == "/admin/api/console" && method == fasthttp.MethodGet:
		return a.consoleView(ctx)
	case path == "/admin/api/history" && method == fasthttp.MethodGet:
		return a.history(ctx)
	case path == "/admin/api/audit" && method == fasthttp.MethodGet:
		return a.auditList(ctx)
	case path == "/admin/api/session" && method == fasthttp.MethodGet:
		return a.session(ctx, who)
	case path == "/admin/api/signout" && method == fasthttp.MethodPost:
		return a.signOut(ctx, who)
	case slices.Contains(adminPaths, path):
		return errMethod
	}
	return errNotFound
}

// adminPaths are the API's fixed paths, for telling a wrong method from a
// wrong path.
var adminPaths = []string{
	"/admin/api/state", "/admin/api/rate", "/admin/api/pause", "/admin/api/resume", "/admin/api/message", "/admin/api/window",
	"/admin/api/console", "/admin/api/history", "/admin/api/audit", "/admin/api/session", "/admin/api/signout",
}

// apply makes one operator change and answers with the state after it.
func (a *Admin) apply(ctx *fasthttp.RequestCtx, who actor, what string, change func(context.Context) (admission.State, error)) error {
	after, err := a.change(ctx, who, what, change)
	if err != nil {
		return err
	}
	return writeJSON(ctx, view(a.g.Room().Name, after))
}

// Change runs an operator change made outside the API (from names its
// source, such as "config file"), as the API does.
func (a *Admin) Change(what, from string, change func(context.Context) (admission.State, error)) (*admission.Snapshot, error) {
	return a.change(nil, actor{from: from, via: viaConfig}, what, change)
}

// change runs change ("rate", "pause" or "resume"), makes every poll on
// this gateway see it at once, and logs and records what, before, after,
// when and from where. ctx is the API request, nil for other sources.
func (a *Admin) change(ctx *fasthttp.RequestCtx, who actor, what string, change func(context.Context) (admission.State, error)) (*admission.Snapshot, error) {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	before, err := change(c)
	if err != nil {
		a.g.metrics.storeError(opOperator, err)
		a.log.Warn("operator change failed", "what", what, "from", who.from, "err", err, "request_id", requestID(ctx))
		return nil, err
	}
	after, err := a.g.Room().Controller.Tick(c)
	if err != nil {
		return nil, err
	}
	a.record(ctx, who, what, setting(what, before), setting(what, after.State))
	return after, nil
}

// setting is the setting a change of what touches, as the audit log shows
// it: the rate, or whether release runs.
func setting(what string, st admission.State) string {
	if what == "rate" {
		return strconv.FormatInt(st.RatePerHour, 10) + " per hour"
	}
	if st.Paused {
		return "paused"
	}
	return "running"
}

func writeJSON(ctx *fasthttp.RequestCtx, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx.Response.Header.SetContentTypeBytes(ctJSON)
	ctx.Response.Header.SetBytesKV(hdrCacheControl, valNoStore)
	ctx.Write(b)
	return nil
}
