package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/gateway/console"
	"github.com/waitroom/waitroom/signal"
)

// The operator console on the admin listener: its page, signing in with
// the admin token for a session cookie, and the endpoints only the console
// uses. Every /admin/api/ call accepts the bearer token or the session
// cookie (see authenticate).

const (
	// cookieConsole holds the session id. Its path is the API's: the page
	// and its files need no session.
	cookieConsole = "wr_console"
	pathConsole   = "/admin/api/"
	headerCSRF    = "X-CSRF-Token"
	// cookieOperator marks a browser an operator signed in from
	// (console.Devices), for as long as browsers keep a cookie.
	cookieOperator = "wr_operator"
	operatorTTL    = 400 * 24 * time.Hour
	// SessionTTL is how long a console sign-in lasts.
	SessionTTL = 12 * time.Hour
	// Failed attempts with the admin token (console sign-ins and bearer
	// calls alike) allowed at once per client network, or per known
	// operator device; the allowance refills at this many per
	// signInWindow (one every 90 s).
	maxSignInFailures = 10
	signInWindow      = 15 * time.Minute
)

var (
	errCSRF = &Error{Status: fasthttp.StatusForbidden, Code: "csrf",
		Message: "a change made with the console's session must come from the console page and carry its X-CSRF-Token header"}
	errSessionExpired = &Error{Status: fasthttp.StatusUnauthorized, Code: "session_expired", Message: "the console session has ended: sign in again"}
	errNotSupported   = &Error{Status: fasthttp.StatusNotFound, Code: "not_supported", Message: "the admission store does not support this"}
	errSignInBody     = &Error{Status: fasthttp.StatusBadRequest, Code: "bad_request",
		Message: `post the token as JSON {"token":"..."} or as the form field "token", never in the URL`}
)

// actor is who made an operator change: the client's address (or the
// change's source) and how they signed in.
type actor struct{ from, via string }

// Via values of audit records.
const (
	viaBearer  = "bearer"
	viaConsole = "console"
	viaConfig  = "config"
	viaHealth  = "health" // the health loop (health.go)
)

// serveConsole serves what needs no credentials: the page, its files, and
// signing in. It reports whether path was one of those.
func (a *Admin) serveConsole(ctx *fasthttp.RequestCtx, path string) (bool, error) {
	switch {
	case path == "/admin":
		ctx.Redirect("/admin/", fasthttp.StatusMovedPermanently)
		return true, nil
	case path == "/admin/":
		if !ctx.IsGet() && !ctx.IsHead() {
			return true, errMethod
		}
		consoleHeaders(ctx)
		ctx.Response.Header.SetContentTypeBytes(ctHTML)
		ctx.SetBody(console.Page())
		return true, nil
	case strings.HasPrefix(path, "/admin/static/"):
		body, ct, ok := console.Asset(strings.TrimPrefix(path, "/admin/static/"))
		if !ok {
			return true, errNotFound
		}
		consoleHeaders(ctx)
		ctx.Response.Header.SetContentType(ct)
		ctx.SetBody(body)
		return true, nil
	case path == pathConsole+"signin":
		if !ctx.IsPost() {
			return true, errMethod
		}
		return true, a.signIn(ctx)
	}
	return false, nil
}

// consoleHeaders keep the console's files fresh and confined to its own
// origin.
func consoleHeaders(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set("Content-Security-Policy", console.ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// signIn checks the posted token and starts a console session. A JSON body
// gets the session's CSRF token back; a plain form (the page without its
// script) is sent on to the console.
func (a *Admin) signIn(ctx *fasthttp.RequestCtx) error {
	if !sameOrigin(ctx, false) {
		return errCSRF
	}
	ip := a.operatorIP(ctx)
	who := a.guesser(ctx, ip)
	if err := a.allow(who); err != nil {
		return err
	}
	form := bytes.HasPrefix(ctx.Request.Header.ContentType(), []byte("application/x-www-form-urlencoded"))
	var token []byte
	if form {
		token = ctx.PostArgs().Peek("token")
	} else {
		var in struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(ctx.PostBody(), &in) != nil {
			return errSignInBody
		}
		token = []byte(in.Token)
	}
	if !a.tokenOK(token) {
		a.fail(who) // the refusal itself is logged with every refused request
		return errAdminAuth
	}
	if !who.known {
		a.g.setCookieSameSite(ctx, cookieOperator, a.devices.New(), pathConsole, operatorTTL, fasthttp.CookieSameSiteStrictMode)
	}
	id, sess := a.sessions.Create()
	a.setSessionCookie(ctx, id, a.sessions.TTL())
	a.log.Info("console sign-in", "from", ip.String(), "expires", sess.Expires.UTC().Format(time.RFC3339), "request_id", requestID(ctx))
	if form {
		ctx.Redirect("/admin/", fasthttp.StatusSeeOther)
		return nil
	}
	return writeJSON(ctx, sessionView(viaConsole, sess))
}

func (a *Admin) setSessionCookie(ctx *fasthttp.RequestCtx, id string, maxAge time.Duration) {
	a.g.setCookieSameSite(ctx, cookieConsole, id, pathConsole, maxAge, fasthttp.CookieSameSiteStrictMode)
}

// authenticate finds who is calling: a bearer token, else a console session
// cookie. A bearer header is judged on its own, never with a cookie beside
// it. A change (any method but GET and HEAD) made with the cookie must also
// carry the session's CSRF token and come from the console's own origin.
// Networks and devices that got the token wrong too often are refused for
// a while (see guesser).
func (a *Admin) authenticate(ctx *fasthttp.RequestCtx) (actor, error) {
	ip := a.operatorIP(ctx)
	who := actor{from: ip.String()}
	if auth := ctx.Request.Header.Peek("Authorization"); len(auth) > 0 {
		g := a.guesser(ctx, ip)
		if err := a.allow(g); err != nil {
			return who, err
		}
		if !bytes.HasPrefix(auth, bearerPrefix) || !a.tokenOK(auth[len(bearerPrefix):]) {
			a.fail(g)
			return who, a.challenge(ctx)
		}
		who.via = viaBearer
		return who, nil
	}
	id := ctx.Request.Header.Cookie(cookieConsole)
	if len(id) == 0 {
		return who, a.challenge(ctx)
	}
	sess, ok := a.sessions.Lookup(string(id))
	if !ok {
		a.setSessionCookie(ctx, "", -1)
		return who, errSessionExpired
	}
	if !ctx.IsGet() && !ctx.IsHead() && (!sess.CheckCSRF(ctx.Request.Header.Peek(headerCSRF)) || !sameOrigin(ctx, true)) {
		return who, errCSRF
	}
	who.via = viaConsole
	return who, nil
}

func (a *Admin) challenge(ctx *fasthttp.RequestCtx) error {
	ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="waitroom-admin"`)
	return errAdminAuth
}

// guesser is what a request's wrong admin tokens count against: the known
// operator device it comes from (its wr_operator cookie, which a sign-in
// with the right token sets), else its network. Guesses from a network
// then lock out that network's unknown devices, never an operator's
// browser that signed in before; and a known device that guesses spends
// only its own allowance.
type guesser struct {
	device  [16]byte
	known   bool
	network netip.Prefix
}

func (a *Admin) guesser(ctx *fasthttp.RequestCtx, ip netip.Addr) guesser {
	id, ok := a.devices.Check(ctx.Request.Header.Cookie(cookieOperator))
	return guesser{device: id, known: ok, network: console.Network(ip)}
}

// allow refuses a guesser that failed too often, saying when to retry.
func (a *Admin) allow(g guesser) error {
	ok, wait := a.byNetwork.Allow(g.network)
	if g.known {
		ok, wait = a.byDevice.Allow(g.device)
	}
	if ok {
		return nil
	}
	return &Error{Status: fasthttp.StatusTooManyRequests, Code: "too_many_attempts",
		Message:    "too many wrong admin tokens from this address: wait and try again (a browser that signed in here before is not held back)",
		RetryAfter: int(math.Ceil(wait.Seconds()))}
}

// fail counts a wrong token against g.
func (a *Admin) fail(g guesser) {
	if g.known {
		a.byDevice.Fail(g.device)
		return
	}
	a.byNetwork.Fail(g.network)
}

// tokenOK compares hashes of the presented and configured tokens in
// constant time, so neither content nor length leaks through timing.
func (a *Admin) tokenOK(token []byte) bool {
	if len(token) == 0 {
		return false
	}
	h := sha256.Sum256(token)
	return subtle.ConstantTimeCompare(h[:], a.tokenHash[:]) == 1
}

// sameOrigin reports whether the browser says the request comes from a
// page of this listener: Sec-Fetch-Site, when sent, is same-origin, and
// Origin names this host. A missing Origin passes only when it is not
// required (a sign-in, which gives nobody anything without the token).
func sameOrigin(ctx *fasthttp.RequestCtx, required bool) bool {
	if site := ctx.Request.Header.Peek("Sec-Fetch-Site"); len(site) > 0 && string(site) != "same-origin" {
		return false
	}
	origin := ctx.Request.Header.Peek("Origin")
	if len(origin) == 0 {
		return !required
	}
	u, err := url.Parse(string(origin))
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host == string(ctx.Host())
}

// operatorIP is the operator's address, through the trusted proxies.
func (a *Admin) operatorIP(ctx *fasthttp.RequestCtx) netip.Addr {
	remote, _ := netip.AddrFromSlice(ctx.RemoteIP())
	return clientIP(remote.Unmap(), ctx.Request.Header.Peek("X-Forwarded-For"), a.g.o.TrustedProxies)
}

// SessionView is a console session as the page sees it.
type SessionView struct {
	Via     string `json:"via"`
	CSRF    string `json:"csrf,omitempty"`
	Expires string `json:"expires,omitempty"`
}

func sessionView(via string, s console.Session) SessionView {
	return SessionView{Via: via, CSRF: s.CSRF, Expires: s.Expires.UTC().Format(time.RFC3339)}
}

// session answers GET /admin/api/session: who the caller is, and for a
// console session its CSRF token, which the page keeps in memory.
func (a *Admin) session(ctx *fasthttp.RequestCtx, who actor) error {
	if who.via != viaConsole {
		return writeJSON(ctx, SessionView{Via: who.via})
	}
	sess, _ := a.sessions.Lookup(string(ctx.Request.Header.Cookie(cookieConsole)))
	return writeJSON(ctx, sessionView(viaConsole, sess))
}

// signOut ends the caller's console session.
func (a *Admin) signOut(ctx *fasthttp.RequestCtx, who actor) error {
	if id := ctx.Request.Header.Cookie(cookieConsole); len(id) > 0 {
		a.sessions.End(string(id))
		a.setSessionCookie(ctx, "", -1)
		a.log.Info("console sign-out", "from", who.from, "request_id", requestID(ctx))
	}
	return writeJSON(ctx, SessionView{})
}

// ConsoleView is the console's live view, polled every second.
type ConsoleView struct {
	StateView
	TargetPerMinute float64          `json:"target_per_minute"`
	Site            string           `json:"site"`
	Gateway         string           `json:"gateway"` // the gateway answering
	Window          WindowView       `json:"window"`
	Message         string           `json:"message"`
	Lights          []MethodSignal   `json:"lights"`
	Gateways        []GatewayView    `json:"gateways"`
	Store           StoreStatsView   `json:"store"`
	Backend         *BackendStatView `json:"backend,omitempty"`
}

// WindowView is the room's window. OpeningFixed is true once the room
// opened (or when it was open from creation): only the closing can move.
type WindowView struct {
	ID           string `json:"id"`
	Opens        string `json:"opens"`
	Closes       string `json:"closes"`
	OpeningFixed bool   `json:"opening_fixed"`
	Editable     bool   `json:"editable"`
}

// GatewayView is a gateway that reported itself alive in the last
// AliveWithin.
type GatewayView struct {
	ID         string  `json:"id"`
	Room       string  `json:"room"`
	LastSeen   string  `json:"last_seen"`
	AgeSeconds float64 `json:"age_seconds"`
}

// StoreStatsView summarises this gateway's console round trips to the
// store over the last minute.
type StoreStatsView struct {
	LatencyMS        float64 `json:"latency_ms"`
	MaxLatencyMS     float64 `json:"max_latency_ms"`
	ErrorsLastMinute int     `json:"errors_last_minute"`
	GatewaysError    string  `json:"gateways_error,omitempty"`
}

// BackendStatView is the backend as this gateway proxied to it over the
// last sample interval.
type BackendStatView struct {
	At       string  `json:"at"`
	P95MS    float64 `json:"p95_ms"`
	Requests uint64  `json:"requests"`
	Errors   uint64  `json:"errors"`
}

func (a *Admin) windowView(r *Room, snap *admission.Snapshot) WindowView {
	_, editable := a.g.o.Store.(admission.WindowEditor)
	return WindowView{ID: r.Window, Opens: formatTime(snap.Window.Opens), Closes: formatTime(snap.Window.Closes),
		OpeningFixed: snap.Window.Opens.IsZero() || snap.Draw.Drawn, Editable: editable}
}

func (a *Admin) consoleView(ctx *fasthttp.RequestCtx) error {
	g := a.g
	r := g.Room()
	snap := r.Controller.Snapshot()
	latest, slowest, failed := g.storeStats(time.Now().Add(-time.Minute))
	v := ConsoleView{
		StateView: view(r.Name, snap), TargetPerMinute: float64(snap.RatePerHour) / 60,
		Site: g.o.Site, Gateway: g.o.ID, Window: a.windowView(r, snap), Message: g.Message(),
		Lights: []MethodSignal{}, Gateways: []GatewayView{},
		Store: StoreStatsView{LatencyMS: ms(latest), MaxLatencyMS: ms(slowest), ErrorsLastMinute: failed},
	}
	if g.signals != nil {
		v.Lights = g.signals.state.Load().list
	}
	if f, ok := g.o.Store.(admission.Fleet); ok {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var seen []admission.GatewaySeen
		var now time.Time
		if !g.timed(func() (err error) { seen, now, err = f.Gateways(c, g.o.Site, AliveWithin); return err }) {
			v.Store.GatewaysError = "the store did not answer: gateways unknown"
		}
		for _, s := range seen {
			v.Gateways = append(v.Gateways, GatewayView{ID: s.ID, Room: s.Room, LastSeen: s.LastSeen.UTC().Format(time.RFC3339Nano),
				AgeSeconds: max(0, now.Sub(s.LastSeen).Seconds())})
		}
	}
	if s, ok := g.console.history.Last(); ok {
		v.Backend = &BackendStatView{At: s.At.UTC().Format(time.RFC3339), P95MS: s.BackendP95MS, Requests: s.BackendRequests, Errors: s.BackendErrors}
	}
	return writeJSON(ctx, v)
}

func (a *Admin) history(ctx *fasthttp.RequestCtx) error {
	return writeJSON(ctx, struct {
		EverySeconds float64          `json:"every_seconds"`
		Samples      []console.Sample `json:"samples"`
	}{console.SampleEvery.Seconds(), a.g.console.history.Samples()})
}

// AuditView is an audit record as the API shows it.
type AuditView struct {
	At     string `json:"at"`
	What   string `json:"what"`
	Before string `json:"before"`
	After  string `json:"after"`
	From   string `json:"from"`
	Via    string `json:"via"`
}

// defaultAuditList is how many records GET /admin/api/audit lists without
// a limit.
const defaultAuditList = 100

func (a *Admin) auditList(ctx *fasthttp.RequestCtx) error {
	au, ok := a.g.o.Store.(admission.Audit)
	if !ok {
		return errNotSupported
	}
	n := defaultAuditList
	if l := ctx.QueryArgs().Peek("limit"); len(l) > 0 {
		var err error
		if n, err = strconv.Atoi(string(l)); err != nil || n < 1 || n > admission.AuditKept {
			return &Error{Status: fasthttp.StatusBadRequest, Code: "bad_limit", Message: "limit must be an integer between 1 and " + strconv.Itoa(admission.AuditKept)}
		}
	}
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	recs, err := au.ListAudit(c, a.g.o.Site, n)
	if err != nil {
		return err
	}
	out := make([]AuditView, len(recs))
	for i, r := range recs {
		out[i] = AuditView{At: r.At.UTC().Format(time.RFC3339Nano), What: r.What, Before: r.Before, After: r.After, From: r.From, Via: r.Via}
	}
	return writeJSON(ctx, struct {
		Records []AuditView `json:"records"`
	}{out})
}

// record logs an operator change and appends it to the audit log.
func (a *Admin) record(ctx *fasthttp.RequestCtx, who actor, what, before, after string) {
	a.g.audit(a.log.With("request_id", requestID(ctx)), admission.AuditRecord{
		At: time.Now(), What: what, Before: before, After: after, From: who.from, Via: who.via})
}

// audit logs a change of the room's settings and appends it to the audit
// log. A store that cannot take the record does not undo the change: the
// log line holds the same fields.
func (g *Gateway) audit(log *slog.Logger, r admission.AuditRecord) {
	log.Info("operator change", "what", r.What, "before", r.Before, "after", r.After, "from", r.From, "via", r.Via,
		"at", r.At.UTC().Format(time.RFC3339Nano))
	au, ok := g.o.Store.(admission.Audit)
	if !ok {
		return
	}
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := au.AppendAudit(c, g.o.Site, r); err != nil {
		g.metrics.storeError(opOperator, err)
		log.Error("audit record not stored; this log line is the record", "what", r.What, "err", err)
	}
}

// board returns the store's board, or errNotSupported.
func (a *Admin) board() (admission.Board, error) {
	b, ok := a.g.o.Store.(admission.Board)
	if !ok {
		return nil, errNotSupported
	}
	return b, nil
}

// setMessage answers PUT /admin/api/message {"message":"..."}: the text
// every waiting page shows, on every gateway within a second ("" removes
// it).
func (a *Admin) setMessage(ctx *fasthttp.RequestCtx, who actor) error {
	var in struct {
		Message *string `json:"message"`
	}
	if err := json.Unmarshal(ctx.PostBody(), &in); err != nil || in.Message == nil {
		return &Error{Status: fasthttp.StatusBadRequest, Code: "bad_request", Message: `body must be JSON like {"message":"..."}, or {"message":""} to remove it`}
	}
	text := strings.TrimSpace(*in.Message)
	if err := checkMessage(text); err != nil {
		return err
	}
	b, err := a.board()
	if err != nil {
		return err
	}
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	before, err := b.Post(c, a.g.o.Site, boardMessage, text)
	if err != nil {
		a.g.metrics.storeError(opOperator, err)
		return err
	}
	a.g.setMessage(text)
	a.record(ctx, who, "message", before, text)
	return writeJSON(ctx, struct {
		Message string `json:"message"`
	}{text})
}

// checkMessage accepts one line of plain text of at most MaxMessage
// characters. Pages show it as text, so markup is harmless but pointless;
// control and bidirectional formatting characters could garble the page.
func checkMessage(s string) error {
	bad := func(why string) error {
		return &Error{Status: fasthttp.StatusBadRequest, Code: "bad_message", Message: "the message must be " + why}
	}
	if !utf8.ValidString(s) {
		return bad("valid UTF-8")
	}
	if utf8.RuneCountInString(s) > MaxMessage {
		return bad("at most " + strconv.Itoa(MaxMessage) + " characters")
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.In(r, unicode.Bidi_Control, unicode.Zl, unicode.Zp) {
			return bad("one line of plain text, without control characters")
		}
	}
	return nil
}

// forceLight forces method's light on every gateway, through the board
// when the store has one ("" lets the statistics decide again).
func (a *Admin) forceLight(ctx *fasthttp.RequestCtx, who actor, method string, l signal.Light) error {
	s := a.g.signals
	prev := s.forcedLight(method)
	if err := s.force(method, l); err != nil {
		return err
	}
	before := prev
	if b, ok := a.g.o.Store.(admission.Board); ok {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		was, err := b.Post(c, a.g.o.Site, boardLight+method, string(l))
		if err != nil {
			_ = s.force(method, prev)
			a.g.metrics.storeError(opOperator, err)
			return err
		}
		before = signal.Light(was)
	}
	a.record(ctx, who, "light "+method, lightText(before), lightText(l))
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	lights, _ := s.refresh(c, a.g.Room().Name, a.g.o.Now())
	return writeJSON(ctx, lights)
}

func lightText(l signal.Light) string {
	if l == "" {
		return "automatic"
	}
	return "forced " + string(l)
}

// forcedLight is the light forced for method ("" for none).
func (s *signals) forcedLight(method string) signal.Light {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forced[method]
}

// setWindow answers PUT /admin/api/window {"opens":"...","closes":"..."}:
// RFC 3339 times, "" for none; a field left out stays as it is.
func (a *Admin) setWindow(ctx *fasthttp.RequestCtx, who actor) error {
	we, ok := a.g.o.Store.(admission.WindowEditor)
	if !ok {
		return errNotSupported
	}
	var in struct {
		Opens, Closes *string
	}
	if err := json.Unmarshal(ctx.PostBody(), &in); err != nil || (in.Opens == nil && in.Closes == nil) {
		return &Error{Status: fasthttp.StatusBadRequest, Code: "bad_request",
			Message: `body must be JSON like {"opens":"2021-08-09T20:00:00+09:00","closes":"2021-08-10T18:00:00+09:00"}: RFC 3339 times, "" for none, a field left out stays`}
	}
	r := a.g.Room()
	snap := r.Controller.Snapshot()
	w := snap.Window
	for _, f := range []struct {
		in  *string
		out *time.Time
	}{{in.Opens, &w.Opens}, {in.Closes, &w.Closes}} {
		switch {
		case f.in == nil:
		case *f.in == "":
			*f.out = time.Time{}
		default:
			t, err := time.Parse(time.RFC3339, *f.in)
			if err != nil {
				return &Error{Status: fasthttp.StatusBadRequest, Code: "bad_time", Message: "times must be RFC 3339, like 2021-08-09T20:00:00+09:00"}
			}
			*f.out = t
		}
	}
	if err := admission.CheckWindowChange(snap.Window, snap.Draw.Drawn, w); err != nil {
		return &Error{Status: fasthttp.StatusBadRequest, Code: "bad_window", Message: err.Error()}
	}
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	before, err := we.SetWindow(c, r.Name, w)
	if errors.Is(err, admission.ErrWindowChange) {
		// The check above passed on this gateway's snapshot: the room
		// opened in the meantime.
		return &Error{Status: fasthttp.StatusConflict, Code: "bad_window", Message: "the room changed meanwhile (it opened?): reload and try again"}
	}
	if err != nil {
		a.g.metrics.storeError(opOperator, err)
		return err
	}
	after, err := r.Controller.Tick(c)
	if err != nil {
		return err
	}
	a.record(ctx, who, "window", windowText(before.Window), windowText(after.Window))
	return writeJSON(ctx, a.windowView(r, after))
}

func windowText(w admission.Window) string {
	opens, closes := formatTime(w.Opens), formatTime(w.Closes)
	if opens == "" {
		opens = "open"
	}
	if closes == "" {
		closes = "never"
	}
	return "opens " + opens + ", closes " + closes
}
