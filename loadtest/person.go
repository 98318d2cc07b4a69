package loadtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/gateway"
)

// endpoint names a kind of request, for latency and error accounting.
type endpoint int

const (
	epJoin endpoint = iota
	epStatus
	epAuthStart
	epAuthorize // at the identity provider
	epCallback
	epBackend // an admitted person's page, through the gateway
	epBypass
	epAdmin
	epPage      // the waiting page, which issues the device
	epChallenge // a proof-of-work challenge
	epAway      // a page's beacon as its device falls asleep
	numEndpoints
)

var endpointNames = [numEndpoints]string{"join", "status", "auth_start", "idp_authorize", "auth_callback", "backend", "bypass", "admin", "page", "challenge", "away"}

func (ep endpoint) String() string { return endpointNames[ep] }

// gateway reports whether requests of this kind go to the gateways (and
// count in the crowd's request rate).
func (ep endpoint) gateway() bool { return ep != epAuthorize && ep != epAdmin }

const (
	// maxTries bounds the attempts of one step (join, verification, poll)
	// that fail with a retryable error; maxBackoff bounds the wait between
	// two (simulated). Ten tries last several simulated minutes: a person
	// told "busy" comes back, as the page asks them to.
	maxTries   = 10
	maxBackoff = time.Minute
	// returnPath is where every person wants to go: the demo's booking page.
	returnPath = "/book"
)

// failure is why a step did not succeed: its kind (for the error counts)
// and whether and when to try again (simulated time).
type failure struct {
	kind  string
	retry bool
	after time.Duration
}

// worker performs people's actions, one at a time, with its own request
// and response buffers and random source.
type worker struct {
	e    *engine
	req  *fasthttp.Request
	resp *fasthttp.Response
	rng  *rand.Rand
	from string // the person's client address (X-Forwarded-For)
}

func newWorker(e *engine, i uint64) *worker {
	return &worker{e: e, req: &fasthttp.Request{}, resp: &fasthttp.Response{}, rng: rand.New(rand.NewPCG(e.sc.Seed, i+1))}
}

// handle runs a person's due action and schedules the next one.
func (w *worker) handle(ev event) {
	e := w.e
	e.noteLag(e.since() - ev.at)
	p := &e.people[ev.id]
	w.from = e.addressOf(ev.id)
	if next, ok := w.step(ev.id, p); ok {
		e.later(ev.id, next)
		return
	}
	e.finished.Add(1)
}

// step performs one action of person id and returns when the next is due,
// or false when the person is done.
func (w *worker) step(id int32, p *person) (time.Duration, bool) {
	e := w.e
	var (
		s          standing
		sent, recv time.Duration
		f          *failure
	)
	switch p.state {
	case stArriving:
		if e.sc.Identity.Enabled {
			s, sent, recv, f = w.verify(id, p)
		} else {
			s, sent, recv, f = w.join(p)
		}
	case stWaiting:
		if p.giveUp != 0 && e.since() >= p.giveUp {
			p.left, p.state = p.giveUp, stGone
			e.gone.Add(1)
			return 0, false
		}
		if p.sleepAt != 0 && p.sleep == sleepNone && e.since() >= p.sleepAt {
			return w.fallAsleep(p), true
		}
		s, sent, recv, f = w.status(p)
	}
	if f != nil {
		return w.retry(p, f)
	}
	return w.standing(id, p, s, sent, recv)
}

// retry counts a failed step and schedules another try, or gives the
// person up as failed.
func (w *worker) retry(p *person, f *failure) (time.Duration, bool) {
	e := w.e
	e.fail(f.kind)
	p.tries++
	if !f.retry || p.tries >= maxTries {
		if p.state == stWaiting {
			p.left = e.since()
			e.dropped.Add(1)
		}
		p.state = stFailed
		e.failed.Add(1)
		return 0, false
	}
	backoff := max(f.after, min(time.Second<<(p.tries-1), maxBackoff))
	next := e.since() + e.sc.Real(backoff)
	if p.giveUp != 0 && p.giveUp < next {
		next = p.giveUp
	}
	return next, true
}

// standing acts on a join or status answer.
func (w *worker) standing(id int32, p *person, s standing, sent, recv time.Duration) (time.Duration, bool) {
	e, sc := w.e, w.e.sc
	p.tries = 0
	if s.Ticket != "" {
		p.ticket = s.Ticket
	}
	if p.state == stArriving {
		p.joined, p.position, p.eta, p.state = recv, s.Position, int32(min(s.Eta, 1<<31-1)), stWaiting
		e.joined.Add(1)
		if p.flags&fGivesUp != 0 && s.State != "admitted" {
			p.giveUp = recv + max(sc.Real(w.giveUpAfter(s.Eta)), 1)
		}
		if p.sleepFor > 0 && s.State == "waiting" {
			w.planSleep(p, recv, s.Eta)
		}
	} else if p.sleep == sleepAsleep {
		w.woke(p, s)
	}
	switch s.State {
	case "admitted":
		p.admitted, p.state = recv, stDone
		e.admitted.Add(1)
		w.enter(p, s)
		return 0, false
	case "waiting", "pre_queue":
		if s.State == "waiting" {
			p.lastWait = sent
		}
		if s.Rejoining && p.flags&fRejoined == 0 {
			p.flags |= fRejoined
			if p.sleep != sleepSkipped { // a sleeper was not polling: counted apart
				e.rejoined.Add(1)
			}
		}
		if p.flags&fSecond != 0 {
			p.flags &^= fSecond
			w.secondDevice(id, p)
		}
		if p.flags&fBypass != 0 {
			w.tryBypass(p)
		}
		poll := sc.Polling.Every.D()
		if sc.Polling.Obey {
			poll = time.Duration(s.PollAfterMS) * time.Millisecond
			if poll <= 0 {
				e.fail("status poll_after_ms missing")
				poll = time.Second
			}
		}
		next := recv + sc.Real(poll)
		if p.giveUp != 0 && p.giveUp < next {
			next = p.giveUp
		}
		if p.sleep == sleepNone && p.sleepAt != 0 && p.sleepAt < next {
			next = p.sleepAt
		}
		return next, true
	}
	return w.retry(p, &failure{kind: fmt.Sprintf("unexpected state %q", s.State)})
}

// giveUpAfter draws how long after joining a person who gives up leaves
// (simulated), given the wait they were told.
func (w *worker) giveUpAfter(etaSeconds int64) time.Duration {
	g := w.e.sc.GiveUp
	switch {
	case g.UniformOfWait != nil:
		f := g.UniformOfWait[0] + (g.UniformOfWait[1]-g.UniformOfWait[0])*w.rng.Float64()
		return time.Duration(f * float64(etaSeconds) * float64(time.Second))
	case g.Uniform != nil:
		return g.Uniform[0].D() + time.Duration(float64(g.Uniform[1]-g.Uniform[0])*w.rng.Float64())
	}
	return time.Duration(w.rng.ExpFloat64() * float64(g.ExponentialMean))
}

// gw picks a gateway at random, as a load balancer without stickiness does.
func (w *worker) gw() *fasthttp.HostClient { return w.e.clients[w.rng.IntN(len(w.e.clients))] }

// request resets the request buffer for method and path on c.
func (w *worker) request(c *fasthttp.HostClient, method, pathQuery string) *fasthttp.Request {
	w.req.Reset()
	w.resp.Reset()
	w.req.Header.SetMethod(method)
	w.req.SetRequestURI("http://" + c.Addr + pathQuery)
	w.req.Header.Set("X-Forwarded-For", w.from)
	return w.req
}

// do sends the prepared request and records its latency. It returns when
// it was sent and answered (real time since the opening).
func (w *worker) do(ep endpoint, c *fasthttp.HostClient) (sent, recv time.Duration, f *failure) {
	e := w.e
	sent = e.since()
	err := c.DoTimeout(w.req, w.resp, e.o.RequestTimeout)
	recv = e.since()
	e.lat[ep].Record(recv - sent)
	if ep.gateway() {
		e.requests.Add(1)
	}
	if err != nil {
		return sent, recv, &failure{kind: ep.String() + " " + transportKind(err), retry: true}
	}
	return sent, recv, nil
}

// httpFailure describes an answer with an unexpected status: its kind
// names the endpoint, status and error code, and 429 and 5xx may be retried
// after Retry-After (simulated seconds, like every time the gateway gives).
func (w *worker) httpFailure(ep endpoint) *failure {
	st := w.resp.StatusCode()
	f := &failure{kind: fmt.Sprintf("%s %d", ep, st), retry: st == fasthttp.StatusTooManyRequests || st >= 500}
	if code := errorCode(w.resp.Body()); code != "" {
		f.kind += " " + code
	}
	if ra, err := strconv.Atoi(string(w.resp.Header.Peek("Retry-After"))); err == nil && ra > 0 {
		f.after = time.Duration(ra) * time.Second
	}
	return f
}

// errorCode reads the code of a JSON error answer {"error":{"code":...}}.
func errorCode(body []byte) string {
	var v struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	return v.Error.Code
}

// transportKind classifies a request that got no answer.
func transportKind(err error) string {
	switch {
	case errors.Is(err, fasthttp.ErrTimeout):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, fasthttp.ErrConnectionClosed):
		return "connection reset"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "no free connections"
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return "transport: " + s
}

// decodeStanding reads a 200 join or status answer.
func (w *worker) decodeStanding(ep endpoint) (standing, *failure) {
	var s standing
	if w.resp.StatusCode() != fasthttp.StatusOK {
		return s, w.httpFailure(ep)
	}
	if err := parseStanding(w.resp.Body(), &s); err != nil || s.State == "" {
		return s, &failure{kind: ep.String() + " bad JSON"}
	}
	return s, nil
}

// cookie returns a cookie the last answer set, or "".
func (w *worker) cookie(name string) string {
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(name)
	if !w.resp.Header.Cookie(c) {
		return ""
	}
	return string(c.Value())
}

// join takes an anonymous place, solving the proof-of-work challenge when
// the gateway asks for one (as the waiting page does).
func (w *worker) join(p *person) (standing, time.Duration, time.Duration, *failure) {
	c := w.gw()
	sent, recv, f := w.postJoin(c, p, "")
	if f != nil {
		return standing{}, sent, recv, f
	}
	if w.resp.StatusCode() == fasthttp.StatusTooManyRequests && errorCode(w.resp.Body()) == "challenge_required" {
		if d := w.cookie("wr_device"); d != "" {
			p.device = d
		}
		proof, f := w.solve(c, p)
		if f != nil {
			return standing{}, sent, recv, f
		}
		if sent, recv, f = w.postJoin(c, p, proof); f != nil {
			return standing{}, sent, recv, f
		}
	}
	s, f := w.decodeStanding(epJoin)
	if f != nil {
		return s, sent, recv, f
	}
	if d := w.cookie("wr_device"); d != "" {
		p.device = d
	}
	if p.device == "" {
		return s, sent, recv, &failure{kind: "join set no device cookie"}
	}
	return s, sent, recv, nil
}

// postJoin sends a join with proof (when not empty).
func (w *worker) postJoin(c *fasthttp.HostClient, p *person, proof string) (sent, recv time.Duration, f *failure) {
	req := w.request(c, fasthttp.MethodPost, "/waitroom/api/join")
	req.Header.SetContentType("application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if p.device != "" { // a retry keeps the device
		req.Header.SetCookie("wr_device", p.device)
	}
	req.SetBodyString(`{"return":"` + returnPath + `","proof":"` + proof + `"}`)
	return w.do(epJoin, c)
}

// solve fetches a challenge for the person's device and solves it.
func (w *worker) solve(c *fasthttp.HostClient, p *person) (string, *failure) {
	req := w.request(c, fasthttp.MethodGet, "/waitroom/api/challenge")
	req.Header.SetCookie("wr_device", p.device)
	if _, _, f := w.do(epChallenge, c); f != nil {
		return "", f
	}
	var ch struct {
		Challenge string `json:"challenge"`
		Bits      int    `json:"bits"`
	}
	if w.resp.StatusCode() != fasthttp.StatusOK || json.Unmarshal(w.resp.Body(), &ch) != nil {
		return "", w.httpFailure(epChallenge)
	}
	proof, err := gateway.SolveChallenge(ch.Challenge, ch.Bits)
	if err != nil {
		return "", &failure{kind: "challenge unsolved"}
	}
	return proof, nil
}

// status polls a person's standing.
func (w *worker) status(p *person) (standing, time.Duration, time.Duration, *failure) {
	c := w.gw()
	req := w.request(c, fasthttp.MethodGet, "/waitroom/api/status")
	req.Header.SetCookie("wr_ticket", p.ticket)
	req.Header.SetCookie("wr_device", p.device)
	sent, recv, f := w.do(epStatus, c)
	if f != nil {
		return standing{}, sent, recv, f
	}
	s, f := w.decodeStanding(epStatus)
	return s, sent, recv, f
}

// identityOf is person id's name and birth date at the identity provider:
// synthetic, unique per run and person, so that a run against running
// gateways never meets the places of an earlier one.
func (w *worker) identityOf(id int32) (name, birthdate string) {
	day := time.Date(1972, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(uint64(id)*7919%11000))
	return fmt.Sprintf("loadtest %s-%d", w.e.runID, id), day.Format(time.DateOnly)
}

// verify takes a place identity first with a method picked at random:
// start at a gateway, log in at the identity provider with an automatic
// login hint, come back to the callback, then read the standing.
func (w *worker) verify(id int32, p *person) (standing, time.Duration, time.Duration, *failure) {
	name, birth := w.identityOf(id)
	p.method = uint8(w.rng.IntN(len(w.e.sc.Identity.Methods)))
	status, device, f := w.verifyFlow(p.method, name, birth, p.device)
	if device != "" {
		p.device = device
	}
	if f != nil {
		return standing{}, 0, 0, f
	}
	if status != fasthttp.StatusSeeOther {
		return standing{}, 0, 0, w.httpFailure(epCallback)
	}
	if p.ticket = w.cookie("wr_ticket"); p.ticket == "" {
		return standing{}, 0, 0, &failure{kind: "auth_callback set no ticket"}
	}
	return w.status(p)
}

// verifyFlow runs one verification with the scenario's method m from a
// device ("" for a new one) and returns the callback's status (its answer
// is in w.resp) and the device.
func (w *worker) verifyFlow(m uint8, name, birth, device string) (int, string, *failure) {
	e := w.e
	method := e.sc.Identity.Methods[m]
	defer e.verifying(method)()
	c := w.gw()
	if device == "" { // the waiting page issues the device the start counts on
		w.request(c, fasthttp.MethodGet, "/waitroom/")
		if _, _, f := w.do(epPage, c); f != nil {
			return 0, device, f
		}
		if device = w.cookie("wr_device"); w.resp.StatusCode() != fasthttp.StatusOK || device == "" {
			return 0, device, &failure{kind: "page: no device cookie"}
		}
	}
	req := w.request(c, fasthttp.MethodGet, "/waitroom/auth/"+method+"/start?return="+url.QueryEscape(returnPath))
	req.Header.Set("Accept", "text/html")
	if device != "" {
		req.Header.SetCookie("wr_device", device)
	}
	if _, _, f := w.do(epAuthStart, c); f != nil {
		return 0, device, f
	}
	if w.resp.StatusCode() != fasthttp.StatusSeeOther {
		return 0, device, w.httpFailure(epAuthStart)
	}
	if d := w.cookie("wr_device"); d != "" {
		device = d
	}
	auth := w.cookie("wr_auth")
	loc, err := url.Parse(string(w.resp.Header.Peek("Location")))
	if err != nil || loc.Host != e.rig.idp || auth == "" || device == "" {
		return 0, device, &failure{kind: "auth_start: no provider redirect or cookies"}
	}
	q := loc.Query()
	q.Set("login_hint", "auto:"+birth+":"+name)
	loc.RawQuery = q.Encode()
	w.request(e.idp, fasthttp.MethodGet, loc.RequestURI())
	if _, _, f := w.do(epAuthorize, e.idp); f != nil {
		return 0, device, f
	}
	if w.resp.StatusCode() != fasthttp.StatusFound {
		return 0, device, w.httpFailure(epAuthorize)
	}
	back, err := url.Parse(string(w.resp.Header.Peek("Location")))
	if err != nil || e.byHost[back.Host] == nil || back.Query().Get("code") == "" {
		return 0, device, &failure{kind: "idp_authorize: no callback to a gateway"}
	}
	cb := e.byHost[back.Host]
	req = w.request(cb, fasthttp.MethodGet, back.RequestURI())
	req.Header.Set("Accept", "text/html")
	req.Header.SetCookie("wr_device", device)
	req.Header.SetCookie("wr_auth", auth)
	if _, _, f := w.do(epCallback, cb); f != nil {
		return 0, device, f
	}
	return w.resp.StatusCode(), device, nil
}

// secondDevice verifies as person id again from a new device, with another
// method than the one that gave the place when the scenario has several (a
// provider of its own, with its own subject for the person): the gateway
// must refuse (409, the place is held elsewhere).
func (w *worker) secondDevice(id int32, p *person) {
	e := w.e
	name, birth := w.identityOf(id)
	m := p.method
	if n := len(e.sc.Identity.Methods); n > 1 {
		m = uint8((int(m) + 1 + w.rng.IntN(n-1)) % n)
	}
	status, _, f := w.verifyFlow(m, name, birth, "")
	e.second.mu.Lock()
	defer e.second.mu.Unlock()
	e.second.Tried++
	switch {
	case f != nil:
		e.second.Errors++
		e.fail("second device: " + f.kind)
	case status == fasthttp.StatusConflict:
		e.second.Refused++
	case status == fasthttp.StatusSeeOther && w.cookie("wr_ticket") != "":
		e.second.GotPlace++
	default:
		e.second.Errors++
		e.fail(fmt.Sprintf("second device: auth_callback %d", status))
	}
}

// enter is an admitted person opening the page they were sent to, with
// their admission token.
func (w *worker) enter(p *person, s standing) {
	e := w.e
	if s.Admission == "" {
		e.fail("admitted answer without admission token")
		return
	}
	e.tokens.add(s.Admission)
	if p.flags&fBypass != 0 && p.flags&fStolenTried == 0 {
		e.bypass.count(byStolen, outcomeNotTried)
	}
	if !*e.sc.VisitBackend {
		return
	}
	path := s.Redirect
	if !strings.HasPrefix(path, "/") {
		path = "/"
	}
	c := w.gw()
	req := w.request(c, fasthttp.MethodGet, path)
	req.Header.Set("Accept", "text/html")
	req.Header.SetCookie("wr_admission", s.Admission)
	req.Header.SetCookie("wr_device", p.device)
	if _, _, f := w.do(epBackend, c); f != nil {
		e.fail(f.kind)
		return
	}
	if st := w.resp.StatusCode(); st != fasthttp.StatusOK {
		e.fail(w.httpFailure(epBackend).kind)
	}
}

// tryBypass makes a waiting person try to get in without admission: no
// token, a forged ticket, a forged admission token, and (once someone was
// admitted) another person's admission token from this device. Every try
// must be refused.
func (w *worker) tryBypass(p *person) {
	if p.flags&fBypassDone == 0 {
		p.flags |= fBypassDone
		w.bypassTry(byNoAdmission, "/book", "", p.ticket, p.device)
		w.bypassTry(byForgedTicket, "/waitroom/api/status", "", tamper(p.ticket), p.device)
		w.bypassTry(byForgedAdmission, "/book", w.forgedAdmission(), "", p.device)
	}
	if p.flags&fStolenTried == 0 {
		if tok := w.e.tokens.pick(w.rng); tok != "" {
			p.flags |= fStolenTried
			w.bypassTry(byStolen, "/book", tok, "", p.device)
		}
	}
}

// bypassTry sends one bypass attempt and counts how it was answered.
func (w *worker) bypassTry(kind bypassKind, path, admission, ticket, device string) {
	e := w.e
	c := w.gw()
	req := w.request(c, fasthttp.MethodGet, path)
	req.Header.Set("Accept", "application/json")
	if admission != "" {
		req.Header.SetCookie("wr_admission", admission)
	}
	if ticket != "" {
		req.Header.SetCookie("wr_ticket", ticket)
	}
	req.Header.SetCookie("wr_device", device)
	if _, _, f := w.do(epBypass, c); f != nil {
		e.fail("bypass " + f.kind)
		e.bypass.count(kind, outcomeErrored)
		return
	}
	switch st := w.resp.StatusCode(); {
	case st >= 200 && st < 300:
		e.fail(fmt.Sprintf("bypass %s got %d", kind, st))
		e.bypass.count(kind, outcomeSucceeded)
	case st >= 500:
		e.fail(w.httpFailure(epBypass).kind)
		e.bypass.count(kind, outcomeErrored)
	default:
		e.bypass.count(kind, outcomeRefused)
	}
}

// tamper changes one character of a ticket's payload, as someone trying
// to move their place forward would.
func tamper(ticket string) string {
	parts := strings.Split(ticket, ".")
	if len(parts) < 2 || len(parts[1]) == 0 {
		return ticket + "x"
	}
	b := []byte(parts[1])
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	parts[1] = string(b)
	return strings.Join(parts, ".")
}

// forgedAdmission makes an admission token the gateway never issued:
// an EdDSA-shaped JWT with a random signature, or one with alg "none".
func (w *worker) forgedAdmission() string { return forgedAdmissionToken(w.rng) }

// bypassKind is one way of trying to get in without admission.
type bypassKind int

const (
	byNoAdmission bypassKind = iota
	byForgedTicket
	byForgedAdmission
	byStolen
	numBypassKinds
)

var bypassNames = [numBypassKinds]string{"no_admission", "forged_ticket", "forged_admission", "other_persons_token"}

func (k bypassKind) String() string { return bypassNames[k] }

type bypassOutcome int

const (
	outcomeRefused bypassOutcome = iota
	outcomeSucceeded
	outcomeErrored
	outcomeNotTried
)

// BypassCount is how the attempts of one kind were answered. Succeeded
// (a 2xx) is a hole; NotTried counts people admitted before any token of
// another person was available to them.
type BypassCount struct {
	Tried     int64 `json:"tried"`
	Refused   int64 `json:"refused"`
	Succeeded int64 `json:"succeeded"`
	Errored   int64 `json:"errored"`
	NotTried  int64 `json:"not_tried,omitempty"`
}

type bypassCounts struct {
	mu sync.Mutex
	c  [numBypassKinds]BypassCount
}

func (b *bypassCounts) count(k bypassKind, o bypassOutcome) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := &b.c[k]
	switch o {
	case outcomeNotTried:
		c.NotTried++
		return
	case outcomeRefused:
		c.Refused++
	case outcomeSucceeded:
		c.Succeeded++
	case outcomeErrored:
		c.Errored++
	}
	c.Tried++
}

// SecondDevice is how verifications of an already placed person from
// another device were answered: Refused (409) is right, GotPlace a hole.
type SecondDevice struct {
	Applicable bool  `json:"applicable"`
	Tried      int64 `json:"tried"`
	Refused    int64 `json:"refused"`
	GotPlace   int64 `json:"got_place"`
	Errors     int64 `json:"errors"`
}

type secondCounts struct {
	mu sync.Mutex
	SecondDevice
}
