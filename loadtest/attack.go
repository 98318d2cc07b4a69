package loadtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/time/rate"

	"github.com/waitroom/waitroom/gateway"
)

// Client addresses. Every request of the crowd and of the attackers goes
// through the loadtest, which stands for the fleet's load balancer: a
// spawned fleet trusts 127.0.0.1 (trusted_proxies) and the loadtest sends
// each request with X-Forwarded-For naming the person's or the attacker's
// address, as a balancer does. The addresses are only header values: no
// packet goes to them. An attacker's request carries a spoofed hop before
// its address ("192.0.2.1, <address>"), which the gateways must ignore.
const (
	// crowdBase is the first crowd address: 10.0.0.1, one per person.
	crowdBase = 10<<24 | 1
	// spoofedHop is what attackers put in front of their X-Forwarded-For.
	spoofedHop = "192.0.2.1, "
)

// SharedAddress puts part of the crowd behind one client address, as a
// mobile carrier's carrier-grade NAT does.
type SharedAddress struct {
	// Address is the shared client address.
	Address string `yaml:"address"`
	// People is how many simulated people share it (not scaled: this many
	// people's requests come from the address), spread evenly over the
	// arrival order.
	People int64 `yaml:"people"`
}

// Attacker is one client flooding the gateways during the crowd's run, from
// the opening until the crowd is done. Rates are per simulated second (the
// gateways' budgets count in simulated time) and not scaled by the crowd
// scale: one attacker is one client. A run at time scale S sends them S
// times faster in real time, as far as the machine allows.
type Attacker struct {
	// Name names the attacker in the report.
	Name string `yaml:"name"`
	// From are its client addresses, used in turn.
	From []string `yaml:"from"`
	// StartsPerSecond: verification starts per method (identity first),
	// without cookies.
	StartsPerSecond float64 `yaml:"starts_per_second"`
	// StartDevices is how its starts get a device: "none" (no cookies at
	// all, the default) or "page" (a fresh device from the waiting page
	// before every start: the most a script can do to have its starts
	// counted).
	StartDevices string `yaml:"start_devices"`
	// JoinsPerSecond: POST /waitroom/api/join without cookies.
	JoinsPerSecond float64 `yaml:"joins_per_second"`
	// SolveChallenges makes its joins solve the proof-of-work challenge
	// when asked.
	SolveChallenges bool `yaml:"solve_challenges"`
	// ForgedPollsPerSecond: status polls with forged tickets.
	ForgedPollsPerSecond float64 `yaml:"forged_polls_per_second"`
	// BypassesPerSecond: requests for the booking page without admission
	// or with forged admission tokens.
	BypassesPerSecond float64 `yaml:"bypasses_per_second"`
	// Identities is how many real people it can verify as (identity
	// first); it verifies as them in turn from fresh devices at
	// VerificationsPerSecond, trying to hold more places.
	Identities             int     `yaml:"identities"`
	VerificationsPerSecond float64 `yaml:"verifications_per_second"`
}

// attackKind is one kind of attacking request.
type attackKind int

const (
	akStart attackKind = iota
	akJoin
	akForgedPoll
	akBypass
	akVerify
	numAttackKinds
)

var attackKindNames = [numAttackKinds]string{"starts", "joins", "forged_polls", "bypasses", "verifications"}

func (a *Attacker) rate(k attackKind, methods int) float64 {
	switch k {
	case akStart:
		return a.StartsPerSecond * float64(methods)
	case akJoin:
		return a.JoinsPerSecond
	case akForgedPoll:
		return a.ForgedPollsPerSecond
	case akBypass:
		return a.BypassesPerSecond
	}
	if a.Identities == 0 {
		return 0
	}
	return a.VerificationsPerSecond
}

func (s *Scenario) validateAttack(bad func(key, format string, args ...any)) {
	if sa := s.SharedAddress; sa != nil {
		if _, err := netip.ParseAddr(sa.Address); err != nil {
			bad("shared_address.address", "%q is not an IP address", sa.Address)
		}
		if sa.People < 1 || sa.People > s.SimPeople() {
			bad("shared_address.people", "%d: want 1..%d (the simulated people)", sa.People, s.SimPeople())
		}
	}
	for i, a := range s.Attackers {
		key := fmt.Sprintf("attackers[%d]", i)
		if !nameRE.MatchString(a.Name) {
			bad(key+".name", "%q: want 1-64 of [a-z0-9._-]", a.Name)
		}
		if len(a.From) == 0 {
			bad(key+".from", "required: the attacker's client addresses")
		}
		for j, f := range a.From {
			if _, err := netip.ParseAddr(f); err != nil {
				bad(fmt.Sprintf("%s.from[%d]", key, j), "%q is not an IP address", f)
			}
		}
		for _, r := range []struct {
			key string
			v   float64
		}{{"starts_per_second", a.StartsPerSecond}, {"joins_per_second", a.JoinsPerSecond}, {"forged_polls_per_second", a.ForgedPollsPerSecond},
			{"bypasses_per_second", a.BypassesPerSecond}, {"verifications_per_second", a.VerificationsPerSecond}} {
			if !(r.v >= 0 && r.v <= 1e5) {
				bad(key+"."+r.key, "%v: want 0..100000 a simulated second", r.v)
			}
		}
		if a.StartDevices == "" {
			s.Attackers[i].StartDevices = "none"
		} else if a.StartDevices != "none" && a.StartDevices != "page" {
			bad(key+".start_devices", "%q: want none or page", a.StartDevices)
		}
		if (a.StartsPerSecond > 0 || a.Identities > 0) && !s.Identity.Enabled {
			bad(key, "starts and identities need identity.enabled")
		}
		if a.Identities < 0 || (a.Identities > 0) != (a.VerificationsPerSecond > 0) {
			bad(key+".identities", "set identities and verifications_per_second together")
		}
	}
}

// addressOf is the client address of person id.
func (e *engine) addressOf(id int32) string {
	if e.people[id].flags&fShared != 0 {
		return e.sc.SharedAddress.Address
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crowdBase+uint32(id))
	return netip.AddrFrom4(b).String()
}

// verifying counts a verification of method by the crowd as in flight
// until the returned func is called: what the crowd alone puts on the
// method, against which the lights are judged.
func (e *engine) verifying(method string) func() {
	i := slices.Index(e.sc.Identity.Methods, method)
	e.crowdVerifying[i].Add(1)
	return func() { e.crowdVerifying[i].Add(-1) }
}

// AttackReport is what one attacker did and achieved.
type AttackReport struct {
	Name string   `json:"name"`
	From []string `json:"from"`
	// Kinds are its requests by kind: sent, the rate reached (simulated
	// seconds) against the one asked for, and the answers by status and
	// error code.
	Kinds map[string]AttackCounts `json:"kinds"`
	// Places is the distinct places it held (positions it was given).
	Places int64 `json:"places"`
	// BypassesThrough counts 2xx answers to its bypasses: holes.
	BypassesThrough int64 `json:"bypasses_through"`
}

// AttackCounts are one kind of an attacker's requests.
type AttackCounts struct {
	Sent           int64            `json:"sent"`
	PerSecond      float64          `json:"per_second"`
	AskedPerSecond float64          `json:"asked_per_second"`
	Answers        map[string]int64 `json:"answers"`
}

// attacker runs one Attacker.
type attacker struct {
	e       *engine
	a       *Attacker
	clients []*fasthttp.HostClient
	idp     *fasthttp.HostClient // its own: the crowd's has a connection per worker
	next    atomic.Uint64        // round robin over From
	mu      sync.Mutex
	answers [numAttackKinds]map[string]int64
	sent    [numAttackKinds]atomic.Int64
	places  map[int64]bool
	through atomic.Int64
	// forged tickets and admission tokens, made once: the attack's cost
	// on the loadtest's own CPU is kept to sending.
	tickets, tokens [64]string
}

// attackConcurrency is how many requests of one kind an attacker keeps in
// flight at most.
const attackConcurrency = 32

// attack runs every attacker until ctx ends and keeps their results.
func (e *engine) attack(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range e.sc.Attackers {
		at := &attacker{e: e, a: &e.sc.Attackers[i], places: map[int64]bool{}}
		rng := rand.New(rand.NewPCG(e.sc.Seed, uint64(i)))
		for j := range at.tickets {
			at.tickets[j], at.tokens[j] = forgedTicket(rng), forgedAdmissionToken(rng)
		}
		for _, g := range e.rig.gateways {
			c := e.hostClient(g)
			c.MaxConns = attackConcurrency * int(numAttackKinds)
			at.clients = append(at.clients, c)
		}
		if e.rig.idp != "" {
			at.idp = e.hostClient(e.rig.idp)
		}
		for k := range numAttackKinds {
			at.answers[k] = map[string]int64{}
			// A simulated second lasts 1/S real: the gateways' budgets count
			// in simulated time, so the attacker sends S times its rate in
			// real time, as far as attackConcurrency and the machine allow
			// (the report gives the rate reached).
			r := at.a.rate(k, len(e.sc.Identity.Methods)) * e.sc.TimeScale
			if r <= 0 {
				continue
			}
			lim := rate.NewLimiter(rate.Limit(r), 1)
			for j := range attackConcurrency {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(e.sc.Seed, uint64(i)<<16|uint64(k)<<8|uint64(j)))
					for lim.Wait(ctx) == nil {
						at.send(k, rng)
					}
				}()
			}
		}
		e.attackers = append(e.attackers, at)
	}
	e.attackStart = e.since()
	wg.Wait()
	e.attackEnd = e.since()
}

// send makes one request of kind k.
func (at *attacker) send(k attackKind, rng *rand.Rand) {
	at.sent[k].Add(1)
	x := &attackExchange{at: at, rng: rng, req: fasthttp.AcquireRequest(), resp: fasthttp.AcquireResponse(),
		from: spoofedHop + at.a.From[at.next.Add(1)%uint64(len(at.a.From))]}
	defer fasthttp.ReleaseRequest(x.req)
	defer fasthttp.ReleaseResponse(x.resp)
	var outcome string
	switch k {
	case akStart:
		outcome = x.start()
	case akJoin:
		outcome = x.join()
	case akForgedPoll:
		outcome = x.forgedPoll()
	case akBypass:
		outcome = x.bypass()
	case akVerify:
		outcome = x.verify()
	}
	at.mu.Lock()
	at.answers[k][outcome]++
	at.mu.Unlock()
}

// attackExchange is one attacking request and the ones it needs before.
type attackExchange struct {
	at     *attacker
	rng    *rand.Rand
	req    *fasthttp.Request
	resp   *fasthttp.Response
	from   string
	c      *fasthttp.HostClient
	device string
}

// do sends method path (with body, when not empty) to a random gateway,
// or to c when set, with the attacker's address, the device cookie when it
// has one, cookies (name, value pairs) and headers (name, value pairs), and
// returns how it was answered ("303", "429 too_many_starts", "error
// timeout").
func (x *attackExchange) do(method, path, body string, cookies []string, header ...string) string {
	if x.c == nil {
		x.c = x.at.clients[x.rng.IntN(len(x.at.clients))]
	}
	x.req.Reset()
	x.resp.Reset()
	x.req.Header.SetMethod(method)
	x.req.SetRequestURI("http://" + x.c.Addr + path)
	x.req.Header.Set("X-Forwarded-For", x.from)
	if body != "" {
		x.req.SetBodyString(body)
	}
	if x.device != "" {
		x.req.Header.SetCookie("wr_device", x.device)
	}
	for i := 0; i+1 < len(cookies); i += 2 {
		x.req.Header.SetCookie(cookies[i], cookies[i+1])
	}
	for i := 0; i+1 < len(header); i += 2 {
		x.req.Header.Set(header[i], header[i+1])
	}
	if err := x.c.DoTimeout(x.req, x.resp, x.at.e.o.RequestTimeout); err != nil {
		return "error " + transportKind(err)
	}
	if d := responseCookie(x.resp, "wr_device"); d != "" {
		x.device = d
	}
	out := strconv.Itoa(x.resp.StatusCode())
	if code := quickErrorCode(x.resp.Body()); code != "" {
		out += " " + code
	}
	return out
}

// quickErrorCode reads the code of the gateway's JSON error answer
// {"error":{"code":"...",...}} without decoding it: attackers classify
// thousands of answers a second on the machine they load.
func quickErrorCode(body []byte) string {
	const key = `{"error":{"code":"`
	if !bytes.HasPrefix(body, []byte(key)) {
		return ""
	}
	code, _, ok := bytes.Cut(body[len(key):], []byte{'"'})
	if !ok {
		return ""
	}
	return string(code)
}

func (x *attackExchange) start() string {
	e := x.at.e
	if x.at.a.StartDevices == "page" {
		if out := x.do(fasthttp.MethodGet, "/waitroom/", "", nil); out != "200" {
			return "page " + out
		}
	}
	methods := e.sc.Identity.Methods
	return x.do(fasthttp.MethodGet, "/waitroom/auth/"+methods[x.rng.IntN(len(methods))]+"/start?return=%2Fbook", "", nil, "Accept", "text/html")
}

func (x *attackExchange) join() string {
	out := x.joinWith("")
	if out == "429 challenge_required" && x.at.a.SolveChallenges {
		var c struct {
			Challenge string `json:"challenge"`
			Bits      int    `json:"bits"`
		}
		if o := x.do(fasthttp.MethodGet, "/waitroom/api/challenge", "", nil); o != "200" || json.Unmarshal(x.resp.Body(), &c) != nil {
			return "challenge " + o
		}
		proof, err := gateway.SolveChallenge(c.Challenge, c.Bits)
		if err != nil {
			return "challenge unsolved"
		}
		out = x.joinWith(proof)
	}
	return out
}

func (x *attackExchange) joinWith(proof string) string {
	out := x.do(fasthttp.MethodPost, "/waitroom/api/join", `{"return":"/book","proof":"`+proof+`"}`, nil,
		"Content-Type", "application/json", "Sec-Fetch-Site", "same-origin")
	if out == "200" {
		var s standing
		if parseStanding(x.resp.Body(), &s) == nil {
			x.at.hold(s.Position)
		}
	}
	return out
}

func (x *attackExchange) forgedPoll() string {
	return x.do(fasthttp.MethodGet, "/waitroom/api/status", "", []string{"wr_ticket", x.at.tickets[x.rng.IntN(len(x.at.tickets))]})
}

func (x *attackExchange) bypass() string {
	out := x.do(fasthttp.MethodGet, "/book", "", []string{"wr_admission", x.at.tokens[x.rng.IntN(len(x.at.tokens))]}, "Accept", "application/json")
	if st := x.resp.StatusCode(); st >= 200 && st < 300 {
		x.at.through.Add(1)
	}
	return out
}

// verify verifies as one of the attacker's identities from a fresh device
// and, when it gets a place, reads which.
func (x *attackExchange) verify() string {
	e := x.at.e
	n := x.at.sent[akVerify].Load()
	name, birth := fmt.Sprintf("attacker %s-%s-%d", e.runID, x.at.a.Name, n%int64(x.at.a.Identities)), "1990-01-01"
	if out := x.do(fasthttp.MethodGet, "/waitroom/", "", nil); out != "200" {
		return "page " + out
	}
	if out := x.start(); out != "303" {
		return "start " + out
	}
	auth := responseCookie(x.resp, "wr_auth")
	loc, err := url.Parse(string(x.resp.Header.Peek("Location")))
	if err != nil || auth == "" {
		return "start without provider redirect"
	}
	q := loc.Query()
	q.Set("login_hint", "auto:"+birth+":"+name)
	loc.RawQuery = q.Encode()
	x.req.Reset()
	x.resp.Reset()
	x.req.SetRequestURI("http://" + e.rig.idp + loc.RequestURI())
	if err := x.at.idp.DoTimeout(x.req, x.resp, e.o.RequestTimeout); err != nil || x.resp.StatusCode() != fasthttp.StatusFound {
		return "provider refused"
	}
	back, err := url.Parse(string(x.resp.Header.Peek("Location")))
	if err != nil {
		return "provider sent nowhere"
	}
	x.c = e.byHost[back.Host]
	out := x.do(fasthttp.MethodGet, back.RequestURI(), "", []string{"wr_auth", auth}, "Accept", "text/html")
	tok := responseCookie(x.resp, "wr_ticket")
	if out != "303" || tok == "" {
		return out
	}
	if o := x.do(fasthttp.MethodGet, "/waitroom/api/status", "", []string{"wr_ticket", tok}); o == "200" {
		var s standing
		if parseStanding(x.resp.Body(), &s) == nil {
			x.at.hold(s.Position)
		}
	}
	return "303 place"
}

func (at *attacker) hold(pos int64) {
	at.mu.Lock()
	at.places[pos] = true
	at.mu.Unlock()
}

func (at *attacker) report(sc *Scenario, seconds float64) AttackReport {
	at.mu.Lock()
	defer at.mu.Unlock()
	r := AttackReport{Name: at.a.Name, From: at.a.From, Kinds: map[string]AttackCounts{}, Places: int64(len(at.places)), BypassesThrough: at.through.Load()}
	for k := range numAttackKinds {
		asked := at.a.rate(k, len(sc.Identity.Methods))
		if asked == 0 {
			continue
		}
		n := at.sent[k].Load()
		c := AttackCounts{Sent: n, AskedPerSecond: asked, Answers: at.answers[k]}
		if seconds > 0 {
			c.PerSecond = float64(n) / seconds
		}
		r.Kinds[attackKindNames[k]] = c
	}
	return r
}

// responseCookie returns a cookie resp sets, or "".
func responseCookie(resp *fasthttp.Response, name string) string {
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(name)
	if !resp.Header.Cookie(c) {
		return ""
	}
	return string(c.Value())
}

// forgedTicket is a queue ticket the gateways never issued: the right
// shape, position 1, a random signature.
func forgedTicket(rng *rand.Rand) string {
	enc := base64.RawURLEncoding
	now := time.Now().Unix()
	payload := fmt.Sprintf(`{"iss":"waitroom","aud":"waitroom-queue","room":%q,"ep":"x","sub":"AAAAAAAAAAAAAAAAAAAAAA","dev":"AAAAAAAAAAAAAAAAAAAAAA","pos":1,"iat":%d,"exp":%d}`, room, now, now+3600)
	return enc.EncodeToString([]byte(`{"alg":"HS256","kid":"k-1","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(randomBytes(rng, 32))
}

// forgedAdmissionToken is an admission token the gateways never issued: an
// EdDSA-shaped JWT with a random signature, or one with alg "none".
func forgedAdmissionToken(rng *rand.Rand) string {
	enc := base64.RawURLEncoding
	now := time.Now().Unix()
	payload := fmt.Sprintf(`{"iss":"waitroom","aud":"booking","sub":"forged","room":%q,"pos":1,"iat":%d,"exp":%d}`, room, now, now+3600)
	if rng.IntN(2) == 0 {
		return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload)) + "."
	}
	return enc.EncodeToString([]byte(`{"alg":"EdDSA","typ":"JWT","kid":"k-1"}`)) + "." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(randomBytes(rng, 64))
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}
