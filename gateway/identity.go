package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/draw"
	"github.com/waitroom/waitroom/eligibility"
	"github.com/waitroom/waitroom/identity"
	"github.com/waitroom/waitroom/signal"
	"github.com/waitroom/waitroom/ticket"
)

// Identity configures identity-first joining: people verify with one of
// several methods, the schedule decides whether it is their window, and the
// store gives each person one place, from one device.
type Identity struct {
	Verifier *identity.Verifier
	People   admission.People
	Stats    admission.Verifications
	// Schedule decides who may queue when; nil lets everyone queue at any
	// time.
	Schedule *eligibility.Schedule
	// Block is how long another device is refused after a person verified.
	// Default 10 minutes.
	Block time.Duration
	// TargetLatency is the verification time above which a method's light
	// turns yellow. Default 5 s.
	TargetLatency time.Duration
}

func (i *Identity) check() error {
	if i.Verifier == nil || i.People == nil || i.Stats == nil {
		return errors.New("gateway: Identity needs Verifier, People and Stats")
	}
	setDefault(&i.Block, 10*time.Minute)
	setDefault(&i.TargetLatency, 5*time.Second)
	return nil
}

var (
	errVerifyFirst  = &Error{Status: fasthttp.StatusForbidden, Code: "verify_first", Message: "verify who you are first: pick a verification method at /waitroom/"}
	errWindowClosed = &Error{Status: fasthttp.StatusGone, Code: "window_closed", Message: "this booking window has closed"}
	errSessionEnded = &Error{Status: fasthttp.StatusForbidden, Code: "session_ended", Message: "your booking session has ended"}
	errMethodBusy   = &Error{Status: fasthttp.StatusTooManyRequests, Code: "method_busy", Message: "this verification method is at capacity: wait a moment or pick another method", RetryAfter: 10}
	// errNoPersonClaim: the provider did not say who the person is across
	// providers (no CI), so no place can be kept for them under it.
	errNoPersonClaim = &Error{Status: fasthttp.StatusForbidden, Code: "no_person_claim", Message: "이 인증 수단은 연계정보(CI)를 주지 않아 본인을 확인할 수 없습니다. 다른 인증 수단을 선택하세요. / This verification method did not confirm who you are across verification services (no CI): pick another method."}
)

const (
	prefixAuth = "/waitroom/auth/"
	cookieAuth = "wr_auth"
	// maxCallbackQuery bounds the callback's query string.
	maxCallbackQuery = 8 << 10
)

// auth serves /waitroom/auth/{method}/start and .../callback.
func (g *Gateway) auth(ctx *fasthttp.RequestCtx, rest []byte) error {
	if g.o.Identity == nil {
		return errNotFound
	}
	if !ctx.IsGet() {
		return errMethod
	}
	method, step, ok := strings.Cut(string(rest), "/")
	if !ok {
		return errNotFound
	}
	switch step {
	case "start":
		return g.authStart(ctx, method)
	case "callback":
		return g.authCallback(ctx, method)
	}
	return errNotFound
}

// authStart sends the person to the method's provider, unless the method is
// at capacity (held back: wait or pick another) or the device started too
// many (see countStart).
func (g *Gateway) authStart(ctx *fasthttp.RequestCtx, method string) error {
	id := g.o.Identity
	if g.methodIndex(method) == 0 {
		return errNotFound
	}
	if !g.signals.accepting(method) {
		return errMethodBusy
	}
	now := g.o.Now()
	d := g.deviceOf(ctx)
	counted, err := g.countStart(ctx, d, now)
	if err != nil {
		return err
	}
	dh := ticket.DeviceHash(d.id)
	ret := localPath(string(ctx.QueryArgs().Peek("return")))
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	authURL, blob, err := id.Verifier.Start(c, method, ret, dh[:])
	if err != nil {
		return identityError(err)
	}
	if counted {
		if err := id.Stats.VerifyStarted(c, g.Room().Name, method, now); err != nil {
			g.storeFailed(ctx, opVerifyStats, "verification statistics unavailable", err)
		}
	}
	g.metrics.verifyStarted(method)
	g.setCookie(ctx, cookieAuth, blob, prefixAuth+method+"/", 10*time.Minute)
	ctx.Response.Header.Set("Location", authURL)
	ctx.Response.Header.SetBytesKV(hdrCacheControl, valNoStore)
	ctx.SetStatusCode(fasthttp.StatusSeeOther)
	return nil
}

// authCallback completes a verification, checks the person's window and
// gives them their one place.
func (g *Gateway) authCallback(ctx *fasthttp.RequestCtx, method string) error {
	id := g.o.Identity
	if len(ctx.URI().QueryString()) > maxCallbackQuery {
		return &Error{Status: fasthttp.StatusRequestURITooLong, Code: "bad_request", Message: "the verification answer is too long"}
	}
	query, err := url.ParseQuery(string(ctx.URI().QueryString()))
	if err != nil {
		return &Error{Status: fasthttp.StatusBadRequest, Code: "bad_request", Message: "the verification answer is malformed"}
	}
	device := ctx.Request.Header.Cookie(cookieDevice)
	dh := ticket.DeviceHash(device)
	blob := string(ctx.Request.Header.Cookie(cookieAuth))
	g.setCookie(ctx, cookieAuth, "", prefixAuth+method+"/", -time.Second) // one use
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, ret, started, err := id.Verifier.Finish(c, method, query, blob, dh[:])
	r := g.Room()
	if !started.IsZero() {
		g.metrics.verifyFinished(method, g.o.Now().Sub(started), err)
		if ok, answered := providerAnswered(query, err); answered {
			if serr := id.Stats.VerifyFinished(c, r.Name, method, started, g.o.Now().Sub(started), ok); serr != nil {
				g.storeFailed(ctx, opVerifyStats, "verification statistics unavailable", serr)
			}
		}
	}
	if err != nil {
		return identityError(err)
	}
	snap := r.Controller.Snapshot()
	if id.Schedule != nil {
		at := g.o.Now()
		if opens := snap.Window.Opens; at.Before(opens) {
			at = opens // the pre-queue: judged as at the opening
		}
		d := id.Schedule.Decide(p.BirthDate, at)
		if !d.Eligible || d.Window.ID != r.Window {
			return g.notEligible(ctx, d)
		}
	}
	hash, err := base64.RawURLEncoding.DecodeString(p.Hash)
	if err != nil || len(hash) < 16 {
		return fmt.Errorf("identity hash: %w", err)
	}
	place, err := id.People.Claim(c, r.Name, admission.Claim{Identity: p.Hash, Device: base64.RawURLEncoding.EncodeToString(dh[:]), Block: id.Block})
	switch {
	case errors.Is(err, admission.ErrHeldElsewhere):
		return g.notice(ctx, fasthttp.StatusConflict, "held", place.HeldUntil)
	case errors.Is(err, admission.ErrClosed):
		return errWindowClosed
	case err != nil:
		return err
	}
	if place.Existing {
		// A place whose admission ran out is spent: verifying again takes a
		// new one at the back of the line (the record keeps the first).
		over, err := g.admissionOver(r, place.Position, g.o.Now())
		if err != nil {
			return err
		}
		if over {
			if place.Position, err = g.o.Store.Join(c, r.Name); err != nil {
				return err
			}
			place.Existing = false
		}
	}
	if place.Position > 0 {
		r.Controller.NoteIssued(place.Position)
	}
	if !place.Existing {
		g.noteJoin(ctx, r.Name, place.Position) // 0: a place in the pre-queue
	}
	q := ticket.Queue{Device: dh, Position: place.Position, PreIndex: place.PreIndex, Method: g.methodIndex(method)}
	copy(q.Subject[:], hash)
	if _, err := g.issueTicket(ctx, r, q, ret, g.o.Now()); err != nil {
		return err
	}
	ctx.Response.Header.Set("Location", "/waitroom/?return="+url.QueryEscape(ret))
	ctx.SetStatusCode(fasthttp.StatusSeeOther)
	return nil
}

// identityError turns a verification failure into its answer.
func identityError(err error) error {
	switch {
	case errors.Is(err, identity.ErrUnknownMethod):
		return errNotFound
	case errors.Is(err, identity.ErrDisabled):
		return &Error{Status: fasthttp.StatusForbidden, Code: "method_disabled", Message: "this verification method is not available now: pick another"}
	case errors.Is(err, identity.ErrState):
		return &Error{Status: fasthttp.StatusBadRequest, Code: "verification_expired", Message: "this verification is expired or was started elsewhere: start again"}
	case errors.Is(err, identity.ErrDenied):
		return &Error{Status: fasthttp.StatusForbidden, Code: "verification_denied", Message: "the verification was cancelled or refused"}
	case errors.Is(err, identity.ErrNoPersonClaim):
		return errNoPersonClaim
	case errors.Is(err, identity.ErrToken):
		return &Error{Status: fasthttp.StatusUnauthorized, Code: "verification_invalid", Message: "the verification could not be confirmed: start again"}
	case errors.Is(err, identity.ErrProvider):
		return &Error{Status: fasthttp.StatusBadGateway, Code: "provider_unavailable", Message: "this verification method is not answering: pick another", RetryAfter: 10}
	}
	return err
}

// methodIndex is the 1-based index of method in the configured list, as
// queue tickets carry it.
func (g *Gateway) methodIndex(method string) int64 {
	for i, m := range g.signals.methods {
		if m.Name == method {
			return int64(i + 1)
		}
	}
	return 0
}

func (g *Gateway) methodName(i int64) string {
	if g.signals == nil || i < 1 || i > int64(len(g.signals.methods)) {
		return ""
	}
	return g.signals.methods[i-1].Name
}

// preQueue answers a person waiting for the opening draw.
func (g *Gateway) preQueue(ctx *fasthttp.RequestCtx, tok []byte, q *ticket.Queue, snap *admission.Snapshot) error {
	until := max(snap.Window.Opens.Sub(snap.Now), 0)
	b := make([]byte, 0, 768)
	b = append(b, `{"ticket":"`...)
	b = append(b, tok...)
	b = append(b, `","state":"pre_queue","pre_index":`...)
	b = strconv.AppendInt(b, q.PreIndex, 10)
	b = append(b, `,"pre_queued":`...)
	b = strconv.AppendInt(b, snap.Draw.PreQueued, 10)
	b = append(b, `,"opens_at":"`...)
	b = snap.Window.Opens.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","eta_seconds":`...)
	b = strconv.AppendInt(b, int64((until+time.Second-1)/time.Second), 10)
	b = append(b, `,"poll_after_ms":`...)
	b = strconv.AppendInt(b, g.pollAfter(until).Milliseconds(), 10)
	b = append(b, `,"commitment":"`...)
	b = append(b, snap.Draw.Commitment...)
	b = append(b, `","rate_per_hour":`...)
	b = strconv.AppendInt(b, snap.RatePerHour, 10)
	b = append(b, g.messageField()...)
	b = append(b, '}')
	ctx.Response.Header.SetContentTypeBytes(ctJSON)
	ctx.Response.Header.SetBytesKV(hdrCacheControl, valNoStore)
	ctx.Write(b)
	return nil
}

// drawn gives a pre-queue ticket the position the opening draw assigned and
// re-issues the ticket with it, so later polls skip the draw.
func (g *Gateway) drawn(ctx *fasthttp.RequestCtx, r *Room, tok []byte, q *ticket.Queue, snap *admission.Snapshot) ([]byte, error) {
	seed, err := draw.ParseSeed(snap.Draw.Seed)
	if err != nil || q.PreIndex < 1 || q.PreIndex > snap.Draw.PreQueued {
		return nil, fmt.Errorf("pre-queue index %d of %d: %w", q.PreIndex, snap.Draw.PreQueued, errors.Join(err, ticket.ErrClaims))
	}
	q.Position = int64(draw.Permute(seed, uint64(snap.Draw.PreQueued), uint64(q.PreIndex-1))) + 1
	return g.issueTicket(ctx, r, *q, r.Queue.ReturnPath(tok), g.o.Now())
}

// drawInfo serves the opening draw: the seed's commitment before the
// opening, the seed itself after, so anyone can recompute the order.
func (g *Gateway) drawInfo(ctx *fasthttp.RequestCtx) error {
	snap := g.Room().Controller.Snapshot()
	return writeJSON(ctx, struct {
		Room       string `json:"room"`
		OpensAt    string `json:"opens_at,omitempty"`
		PreQueued  int64  `json:"pre_queued"`
		Drawn      bool   `json:"drawn"`
		Commitment string `json:"commitment"`
		Seed       string `json:"seed,omitempty"`
		Algorithm  string `json:"algorithm"`
	}{g.Room().Name, formatTime(snap.Window.Opens), snap.Draw.PreQueued, snap.Draw.Drawn, snap.Draw.Commitment, snap.Draw.Seed,
		"position(i) = Permute(seed, pre_queued, i-1) + 1 for join index i: an 8-round Feistel network keyed by HMAC-SHA256(seed), see package draw"})
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// sessionOf is the session id of a person's place in a room: every admission
// token for that place carries it as its jti.
func sessionOf(room string, subject [16]byte) [16]byte {
	h := sha256.New()
	h.Write([]byte(room))
	h.Write([]byte{0})
	h.Write(subject[:])
	var id [16]byte
	copy(id[:], h.Sum(nil))
	return id
}

// endedSessions is the set of sessions the backend ended, shared across the
// fleet through admission.Sessions.
type endedSessions struct {
	mu     sync.RWMutex
	m      map[[16]byte]time.Time
	cursor string
}

func (e *endedSessions) has(id [16]byte) bool {
	e.mu.RLock()
	_, ok := e.m[id]
	e.mu.RUnlock()
	return ok
}

func (e *endedSessions) add(id [16]byte, until time.Time) {
	e.mu.Lock()
	if e.m == nil {
		e.m = map[[16]byte]time.Time{}
	}
	e.m[id] = until
	e.mu.Unlock()
}

// forget drops the sessions whose tokens have all expired.
func (e *endedSessions) forget(now time.Time) {
	e.mu.Lock()
	for id, until := range e.m {
		if now.After(until) {
			delete(e.m, id)
		}
	}
	e.mu.Unlock()
}

// signals keeps each method's traffic light, refreshed from the fleet-wide
// verification statistics.
type signals struct {
	id       *Identity
	methods  []identity.MethodConfig
	mu       sync.Mutex
	trackers map[string]*signal.Tracker
	forced   map[string]signal.Light
	state    atomic.Pointer[signalState]
}

type signalState struct {
	body  []byte          // the /waitroom/api/signals answer
	admit map[string]bool // methods taking new verifications
	list  []MethodSignal  // every method's light, for /metrics
}

// MethodSignal is one method's light as the page shows it.
type MethodSignal struct {
	Name      string       `json:"name"`
	Label     string       `json:"label"`
	LabelEn   string       `json:"label_en"`
	Light     signal.Light `json:"light"`
	Korean    string       `json:"korean"`
	Accepting bool         `json:"accepting"`
	InFlight  int64        `json:"in_flight"`
	Capacity  int          `json:"capacity"`
	Forced    bool         `json:"forced,omitempty"`
}

func newSignals(id *Identity) *signals {
	s := &signals{id: id, methods: id.Verifier.Methods(), trackers: map[string]*signal.Tracker{}, forced: map[string]signal.Light{}}
	for _, m := range s.methods {
		s.trackers[m.Name] = signal.NewTracker(signal.Options{})
	}
	s.publish(nil, time.Time{}, nil) // no statistics yet: every enabled method green
	return s
}

func (s *signals) accepting(method string) bool { return s.state.Load().admit[method] }

// force sets an operator's light for method ("" clears it).
func (s *signals) force(method string, l signal.Light) error {
	if _, ok := s.trackers[method]; !ok {
		return errNotFound
	}
	if l != "" && !l.Valid() {
		return &Error{Status: fasthttp.StatusBadRequest, Code: "bad_light", Message: signal.ErrForced.Error()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if l == "" {
		delete(s.forced, method)
	} else {
		s.forced[method] = l
	}
	return nil
}

// refresh recomputes every light from the last minute's statistics.
func (s *signals) refresh(ctx context.Context, room string, now time.Time) ([]MethodSignal, error) {
	names := make([]string, len(s.methods))
	for i, m := range s.methods {
		names[i] = m.Name
	}
	stats, err := s.id.Stats.VerifyStats(ctx, room, names, now)
	return s.publish(stats, now, err), err
}

// publish computes and stores every light from stats read at now; err
// means the statistics could not be read, which turns the lights off (fail
// closed).
func (s *signals) publish(stats map[string]admission.MethodStats, now time.Time, err error) []MethodSignal {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]MethodSignal, 0, len(s.methods))
	admit := map[string]bool{}
	for _, m := range s.methods {
		st := stats[m.Name]
		inFlight := st.InFlight(now)
		met := signal.Metrics{
			InFlight: int(inFlight), Capacity: m.Capacity, TargetLatency: s.id.TargetLatency,
			Failures: int(st.Failed), Completions: int(st.Completed),
			Disabled: !m.Enabled, ProviderDown: err != nil,
		}
		if st.Completed > 0 {
			met.P50Latency = st.Latency / time.Duration(st.Completed) // the mean: what buckets across gateways can sum
		}
		forced := s.forced[m.Name]
		light := s.trackers[m.Name].Update(met, forced)
		ok := signal.Admit(met) && light != signal.Off
		admit[m.Name] = ok
		out = append(out, MethodSignal{Name: m.Name, Label: m.Label, LabelEn: m.LabelEn, Light: light, Korean: signal.Korean(light), Accepting: ok,
			InFlight: inFlight, Capacity: m.Capacity, Forced: forced != ""})
	}
	body, _ := json.Marshal(struct {
		Methods []MethodSignal `json:"methods"`
	}{out})
	s.state.Store(&signalState{body: body, admit: admit, list: out})
	return out
}

// RunBackground refreshes the traffic lights and the ended sessions every
// second, and hands waiting people's polls to the store every beatEvery,
// until ctx ends. cmd runs it beside the controller.
func (g *Gateway) RunBackground(ctx context.Context) {
	if g.presence != nil {
		go g.presence.run(ctx)
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		c, cancel := context.WithTimeout(ctx, 900*time.Millisecond)
		g.Refresh(c)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Refresh reports the gateway alive and reads the operators' board (see
// syncConsole), recomputes the traffic lights and fetches the sessions
// other gateways ended: one round of RunBackground.
func (g *Gateway) Refresh(ctx context.Context) {
	g.syncConsole(ctx) // first: the lights computed below include the ones operators forced
	room := g.Room().Name
	if g.signals != nil {
		if _, err := g.signals.refresh(ctx, room, g.o.Now()); err != nil && ctx.Err() == nil {
			g.storeFailed(nil, opVerifyStats, "traffic lights: statistics unavailable; lights off until they are back", err)
		}
	}
	if s, ok := g.o.Store.(admission.Sessions); ok {
		g.syncEnded(ctx, s, room)
	}
}

func (g *Gateway) syncEnded(ctx context.Context, s admission.Sessions, room string) {
	ids, next, err := s.EndedSince(ctx, room, g.ended.cursor)
	if err != nil {
		g.metrics.storeErrors[opSessions].Add(1)
		return // the store is down: the sessions this gateway ended are still refused
	}
	g.ended.cursor = next
	until := g.o.Now().Add(24 * time.Hour)
	for _, jti := range ids {
		if sid, ok := ticket.SessionID(jti); ok {
			g.ended.add(sid, until)
		}
	}
	g.ended.forget(g.o.Now())
}

// signalsAPI serves GET /waitroom/api/signals.
func (g *Gateway) signalsAPI(ctx *fasthttp.RequestCtx) error {
	if g.signals == nil {
		return errNotFound
	}
	ctx.Response.Header.SetContentTypeBytes(ctJSON)
	ctx.Response.Header.SetBytesKV(hdrCacheControl, valNoStore)
	ctx.SetBody(g.signals.state.Load().body)
	return nil
}

// notEligible tells a person outside the current window when theirs opens.
func (g *Gateway) notEligible(ctx *fasthttp.RequestCtx, d eligibility.Decision) error {
	if d.Eligible || !d.NextOpen.IsZero() {
		return g.notice(ctx, fasthttp.StatusForbidden, "not_your_window", d.NextOpen)
	}
	return g.notice(ctx, fasthttp.StatusForbidden, "not_eligible_"+d.Reason, time.Time{})
}

var noticeTemplate = template.Must(template.New("notice").Parse(`<!doctype html>
<html lang="ko"><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Ko}}</title><link rel="stylesheet" href="/waitroom/static/app.css">
<body><main class="card" id="notice-page" data-code="{{.Code}}"><h1>{{.Ko}}</h1><p lang="en">{{.En}}</p>
{{if .When}}<p class="when" id="notice-when"><time datetime="{{.WhenISO}}">{{.When}}</time></p>{{end}}
<p><a href="/waitroom/">대기실로 돌아가기 / Back to the waiting room</a></p></main></body></html>`))

var notices = map[string][2]string{
	"held":                      {"이 대기 순번은 다른 기기에서 사용 중입니다.", "Your place is held on another device. You can take it over on this device after:"},
	"not_your_window":           {"지금은 예약 대상 기간이 아닙니다. 예약 가능 일시:", "It is not your booking window yet. Your window opens:"},
	"not_eligible_age":          {"예약 대상 연령이 아닙니다.", "Your age group is not eligible in this programme."},
	"not_eligible_closed":       {"예약 기간이 끝났습니다.", "The booking period is over."},
	"not_eligible_birth_date":   {"생년월일을 확인할 수 없습니다.", "Your birth date could not be read from the verification."},
	"not_eligible_not_your_day": {"오늘은 예약 대상이 아닙니다.", "Today is not your booking day."},
}

// notice renders a small page for outcomes of a verification that a
// browser lands on. Nothing personal goes in the URL.
func (g *Gateway) notice(ctx *fasthttp.RequestCtx, status int, code string, when time.Time) error {
	text, ok := notices[code]
	if !ok {
		text = [2]string{"예약할 수 없습니다.", "Booking is not possible."}
	}
	data := struct{ Code, Ko, En, When, WhenISO string }{Code: code, Ko: text[0], En: text[1]}
	if !when.IsZero() {
		loc := time.UTC
		if s := g.o.Identity.Schedule; s != nil {
			loc = s.Location()
		}
		data.When = when.In(loc).Format("2006-01-02 15:04 MST")
		data.WhenISO = when.UTC().Format(time.RFC3339)
	}
	setPageHeaders(ctx)
	ctx.Response.Header.SetContentTypeBytes(ctHTML)
	ctx.SetStatusCode(status)
	return noticeTemplate.Execute(ctx, data)
}
