package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/signal"
)

// Admin serves the operator API on its own listener. Every call needs
// "Authorization: Bearer <admin token>".
type Admin struct {
	g         *Gateway
	tokenHash [32]byte
	log       *slog.Logger
	server    *fasthttp.Server
}

// NewAdmin returns the operator API of g's room. token must not be empty.
func NewAdmin(g *Gateway, token string, log *slog.Logger) *Admin {
	if log == nil {
		log = slog.Default()
	}
	a := &Admin{g: g, tokenHash: sha256.Sum256([]byte(token)), log: log}
	a.server = &fasthttp.Server{
		Handler:               a.Handle,
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
	Room                string  `json:"room"`
	RatePerHour         int64   `json:"rate_per_hour"`
	Paused              bool    `json:"paused"`
	Issued              int64   `json:"issued"`
	Admitted            int64   `json:"admitted"`
	Waiting             int64   `json:"waiting"`
	ReleasedLastMinute  int64   `json:"released_last_minute"`
	MeasuredRatePerHour float64 `json:"measured_rate_per_hour"`
	TailWaitSeconds     int64   `json:"tail_wait_seconds"`
	StoreHealthy        bool    `json:"store_healthy"`
	StoreTime           string  `json:"store_time"`
}

func view(room string, s *admission.Snapshot) StateView {
	return StateView{
		Room: room, RatePerHour: s.RatePerHour, Paused: s.Paused, Issued: s.Issued, Admitted: s.Admitted,
		Waiting: s.Waiting(), ReleasedLastMinute: s.ReleasedLastMinute, MeasuredRatePerHour: s.MeasuredPerHour,
		TailWaitSeconds: int64(s.Wait(s.Issued).Seconds()), StoreHealthy: s.Healthy, StoreTime: s.Now.UTC().Format(time.RFC3339Nano),
	}
}

// Handle authenticates and routes one operator call.
func (a *Admin) Handle(ctx *fasthttp.RequestCtx) {
	if err := a.route(ctx); err != nil {
		serveError(ctx, a.log, err)
	}
}

func (a *Admin) route(ctx *fasthttp.RequestCtx) error {
	if !a.authorized(ctx) {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="waitroom-admin"`)
		return errAdminAuth
	}
	path, method := string(ctx.Path()), string(ctx.Method())
	r, store := a.g.Room(), a.g.o.Store
	switch {
	case path == "/admin/api/state" && method == fasthttp.MethodGet:
		// A tick rather than the cached snapshot: operators see the store
		// as it is now, and the cost (one round trip) is theirs alone.
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		snap, _ := r.Controller.Tick(c) // on failure: the last state, marked unhealthy
		return writeJSON(ctx, view(r.Name, snap))
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
		return a.apply(ctx, "rate", ctx.RemoteAddr().String(), func(c context.Context) (admission.State, error) {
			return store.SetRate(c, r.Name, *in.PerHour)
		})
	case path == "/admin/api/pause" && method == fasthttp.MethodPost:
		return a.apply(ctx, "pause", ctx.RemoteAddr().String(), func(c context.Context) (admission.State, error) {
			return store.SetPaused(c, r.Name, true)
		})
	case path == "/admin/api/resume" && method == fasthttp.MethodPost:
		return a.apply(ctx, "resume", ctx.RemoteAddr().String(), func(c context.Context) (admission.State, error) {
			return store.SetPaused(c, r.Name, false)
		})
	case strings.HasPrefix(path, "/admin/api/signals/") && method == fasthttp.MethodPut && a.g.signals != nil:
		var in struct {
			Light *signal.Light `json:"light"`
		}
		if err := json.Unmarshal(ctx.PostBody(), &in); err != nil || in.Light == nil {
			return &Error{Status: fasthttp.StatusBadRequest, Code: "bad_request", Message: `body must be JSON like {"light":"red"}, or {"light":""} to stop forcing`}
		}
		name := strings.TrimPrefix(path, "/admin/api/signals/")
		if err := a.g.signals.force(name, *in.Light); err != nil {
			return err
		}
		a.log.Info("operator change", "what", "force light", "method", name, "light", *in.Light, "from", ctx.RemoteAddr().String(),
			"at", time.Now().UTC().Format(time.RFC3339Nano))
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		lights, _ := a.g.signals.refresh(c, r.Name, a.g.o.Now())
		return writeJSON(ctx, lights)
	case path == "/admin/api/state" || path == "/admin/api/rate" || path == "/admin/api/pause" || path == "/admin/api/resume":
		return errMethod
	}
	return errNotFound
}

// apply makes one operator change and answers with the state after it.
func (a *Admin) apply(ctx *fasthttp.RequestCtx, what, from string, change func(context.Context) (admission.State, error)) error {
	after, err := a.Change(what, from, change)
	if err != nil {
		return err
	}
	return writeJSON(ctx, view(a.g.Room().Name, after))
}

// Change runs an operator change (from the API or a config reload), makes
// every poll on this gateway see it at once, and logs what, before, after,
// when and from where.
func (a *Admin) Change(what, from string, change func(context.Context) (admission.State, error)) (*admission.Snapshot, error) {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	before, err := change(c)
	if err != nil {
		a.log.Warn("operator change failed", "what", what, "from", from, "err", err)
		return nil, err
	}
	after, err := a.g.Room().Controller.Tick(c)
	if err != nil {
		return nil, err
	}
	a.log.Info("operator change", "what", what, "from", from, "at", time.Now().UTC().Format(time.RFC3339Nano),
		"before_rate_per_hour", before.RatePerHour, "after_rate_per_hour", after.RatePerHour,
		"before_paused", before.Paused, "after_paused", after.Paused)
	return after, nil
}

// authorized compares hashes of the presented and configured tokens in
// constant time, so neither content nor length leaks through timing.
func (a *Admin) authorized(ctx *fasthttp.RequestCtx) bool {
	got := ctx.Request.Header.Peek("Authorization")
	if len(got) <= len(bearerPrefix) || string(got[:len(bearerPrefix)]) != string(bearerPrefix) {
		return false
	}
	h := sha256.Sum256(got[len(bearerPrefix):])
	return subtle.ConstantTimeCompare(h[:], a.tokenHash[:]) == 1
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
