// Package devidp is a development OpenID Connect provider that serves every
// verification method of the waiting room from one process, so the gateway's
// identity-first flow can be run, demonstrated and load-tested without the
// real providers (mobile phone, i-PIN, certificates, Kakao, Naver, PASS).
//
// Method m lives under BaseURL + "/" + m, which is also its issuer:
//
//	/{m}/.well-known/openid-configuration  discovery
//	/{m}/jwks                              the method's Ed25519 public key
//	/{m}/authorize                         login form (GET) and its answer (POST)
//	/{m}/token                             authorization_code exchange
//
// A person is a name and a birth date. As at real providers, each method
// gives the same person its own subject ("sub": keyed by Options.Secret and
// the method), and every method gives them the same "ci" claim, like the
// connecting information (연계정보) that Korea's identity verification
// agencies share: keyed by Options.CIKey only, so several provider processes
// with one CIKey agree on who is who. A method with WithoutCI leaves "ci"
// out, as a social login without identity verification does.
//
// The login form suggests a birth date that the gateways' schedule
// (Options.Schedule) admits now, a new one on every load, since each person
// has one place.
//
// The form wears the waiting page's style sheet (package gateway/web), so
// the walk from the waiting room to the provider and back looks like one
// site.
//
// It accepts any absolute http(s) redirect_uri: it is for development and
// drills only and must never face the public.
package devidp

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/waitroom/waitroom/eligibility"
	"github.com/waitroom/waitroom/gateway/web"
	"github.com/waitroom/waitroom/internal/webfont"
)

const (
	// CodeTTL is how long an authorization code can be redeemed.
	CodeTTL = 60 * time.Second
	// TokenTTL is the lifetime of an ID token.
	TokenTTL = 5 * time.Minute
	// AutoLoginPrefix starts a login_hint that approves at once, without the
	// form: "auto:<YYYY-MM-DD>:<name>".
	AutoLoginPrefix = "auto:"
)

// MethodSettings describes one simulated provider.
type MethodSettings struct {
	// Name is the method name and path segment: [a-z0-9_-]{1,32}.
	Name string
	// Latency is added to every approval (form POST or auto login), while the
	// login holds one of the Capacity slots. Default 0. See SetLatency.
	Latency time.Duration
	// Capacity is the number of approvals in flight; beyond it /authorize
	// answers 503 "busy". 0 means unlimited.
	Capacity int
	// FailRate is the share (0..1) of token exchanges answered 500, for
	// congestion drills. Default 0.
	FailRate float64
	// WithoutCI leaves the "ci" claim out of the method's ID tokens.
	WithoutCI bool
}

// Options configures a Provider.
type Options struct {
	// BaseURL is the provider's external URL, e.g. "http://127.0.0.1:8082";
	// its path, if any, prefixes every route. Required.
	BaseURL string
	// Methods lists the simulated providers. At least one is required.
	Methods []MethodSettings
	// Clients maps client_id to client secret; every method accepts every
	// client. At least one is required.
	Clients map[string]string
	// Secret keys the subjects. Default: 32 random bytes, so subjects
	// change when the process restarts; set it to keep them stable.
	Secret []byte
	// CIKey keys the "ci" claim. Give every provider process that should
	// agree on people the same key. Default: 32 random bytes.
	CIKey []byte
	// Schedule, if set, is the gateways' eligibility schedule: the login
	// form then suggests a birth date whose window is open (or opens next).
	Schedule *eligibility.Schedule
	// Claims, if set, may edit the ID token claims of every token just before
	// it is signed. It is a hook for relying-party tests and drills (drop
	// birthdate, change nonce, audience or expiry); leave it nil otherwise.
	Claims func(method string, claims map[string]any)
	// Now is the clock for codes and token times. Default time.Now.
	Now func() time.Time
	// Logger receives operational events; it never sees names, birth dates
	// or subjects. Default: discard.
	Logger *slog.Logger
}

// Provider is the development OpenID Connect provider. It is an
// http.Handler; create it with New.
type Provider struct {
	base     string
	clients  map[string]string
	secret   []byte
	ciKey    []byte
	schedule *eligibility.Schedule
	claims   func(string, map[string]any)
	now      func() time.Time
	log      *slog.Logger
	methods  map[string]*method
	mux      *http.ServeMux

	mu        sync.Mutex
	codes     map[string]grant
	lastSweep time.Time
}

var _ http.Handler = (*Provider)(nil)

// method is one simulated provider.
type method struct {
	name     string
	issuer   string
	key      ed25519.PrivateKey
	kid      string
	latency  atomic.Int64  // time.Duration
	slots    chan struct{} // nil: unlimited
	failRate float64
	noCI     bool
}

// grant is what an authorization code stands for.
type grant struct {
	method, clientID, redirectURI, nonce, challenge string
	name, birthdate                                 string
	expires                                         time.Time
}

var nameRE = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// New checks o, generates one signing key per method and returns the
// provider. It reports every problem in o at once.
func New(o Options) (*Provider, error) {
	var errs []error
	u, err := url.Parse(o.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("base url %q: want an absolute http(s) URL without query", o.BaseURL))
	}
	if len(o.Methods) == 0 {
		errs = append(errs, errors.New("no methods"))
	}
	if len(o.Clients) == 0 {
		errs = append(errs, errors.New("no clients"))
	}
	for id, secret := range o.Clients {
		if id == "" || secret == "" {
			errs = append(errs, fmt.Errorf("client %q: empty id or secret", id))
		}
	}
	seen := map[string]bool{}
	for i, m := range o.Methods {
		switch {
		case !nameRE.MatchString(m.Name):
			errs = append(errs, fmt.Errorf("methods[%d]: name %q: want [a-z0-9_-]{1,32}", i, m.Name))
		case seen[m.Name]:
			errs = append(errs, fmt.Errorf("methods[%d]: duplicate name %q", i, m.Name))
		}
		seen[m.Name] = true
		if m.Latency < 0 || m.Capacity < 0 || m.FailRate < 0 || m.FailRate > 1 {
			errs = append(errs, fmt.Errorf("methods[%d]: latency and capacity must be >= 0, fail rate in [0, 1]", i))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("devidp: %w", err)
	}

	p := &Provider{
		base:     strings.TrimSuffix(o.BaseURL, "/"),
		clients:  o.Clients,
		secret:   randomIfNil(o.Secret),
		ciKey:    randomIfNil(o.CIKey),
		schedule: o.Schedule,
		claims:   o.Claims,
		now:      o.Now,
		log:      o.Logger,
		methods:  make(map[string]*method, len(o.Methods)),
		codes:    map[string]grant{},
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	for _, s := range o.Methods {
		_, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, fmt.Errorf("devidp: %s: generate key: %w", s.Name, err)
		}
		kid := sha256.Sum256(key.Public().(ed25519.PublicKey))
		m := &method{
			name:     s.Name,
			issuer:   p.base + "/" + s.Name,
			key:      key,
			kid:      b64(kid[:8]),
			failRate: s.FailRate,
			noCI:     s.WithoutCI,
		}
		m.latency.Store(int64(s.Latency))
		if s.Capacity > 0 {
			m.slots = make(chan struct{}, s.Capacity)
		}
		p.methods[s.Name] = m
	}

	prefix := strings.TrimSuffix(u.Path, "/")
	p.mux = http.NewServeMux()
	p.mux.HandleFunc("GET "+prefix+"/{method}/.well-known/openid-configuration", p.discovery)
	p.mux.HandleFunc("GET "+prefix+"/{method}/jwks", p.jwks)
	p.mux.HandleFunc("GET "+prefix+"/{method}/authorize", p.authorize)
	p.mux.HandleFunc("POST "+prefix+"/{method}/authorize", p.authorize)
	p.mux.HandleFunc("POST "+prefix+"/{method}/token", p.token)
	// The form's style sheet imports the Korean web font relative to the
	// page: /{method}/fonts/fonts.css, and the files beside it.
	p.mux.HandleFunc("GET "+prefix+"/{method}/fonts/{file}", font)
	return p, nil
}

// font serves a file of the Korean web font (package webfont).
func font(w http.ResponseWriter, r *http.Request) {
	body, ct, ok := webfont.Asset(r.PathValue("file"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(body) //nolint:errcheck // the client went away
}

// ServeHTTP serves the routes listed in the package documentation.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.mux.ServeHTTP(w, r) }

// SetLatency changes a method's approval latency at once (for congestion
// drills). Unknown methods are ignored; negative durations count as 0.
func (p *Provider) SetLatency(method string, d time.Duration) {
	if m := p.methods[method]; m != nil {
		m.latency.Store(int64(max(d, 0)))
	}
}

// Issuer returns the issuer URL of method m, or "" for an unknown method.
func (p *Provider) Issuer(m string) string {
	if p.methods[m] == nil {
		return ""
	}
	return p.base + "/" + m
}

// lookup returns the method named in the path, answering 404 if unknown.
func (p *Provider) lookup(w http.ResponseWriter, r *http.Request) *method {
	m := p.methods[r.PathValue("method")]
	if m == nil {
		http.NotFound(w, r)
	}
	return m
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	m := p.lookup(w, r)
	if m == nil {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                m.issuer,
		"authorization_endpoint":                m.issuer + "/authorize",
		"token_endpoint":                        m.issuer + "/token",
		"jwks_uri":                              m.issuer + "/jwks",
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"EdDSA"},
		"scopes_supported":                      []string{"openid", "profile"},
		"claims_supported":                      m.claimsSupported(),
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	m := p.lookup(w, r)
	if m == nil {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "OKP",
		"crv": "Ed25519",
		"x":   b64(m.key.Public().(ed25519.PublicKey)),
		"kid": m.kid,
		"alg": "EdDSA",
		"use": "sig",
	}}})
}

// authzParams are the authorization request parameters that travel from
// the GET to the form's POST as hidden fields.
var authzParams = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method"}

// authorize validates the authorization request, then shows the login form
// (GET), approves a scripted login_hint at once (GET), or acts on the form's
// answer (POST).
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	m := p.lookup(w, r)
	if m == nil {
		return
	}
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		q = r.PostForm
	}
	// Until client and redirect URI are known good, errors must not redirect
	// (RFC 6749 section 4.1.2.1).
	if _, ok := p.clients[q.Get("client_id")]; !ok {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || (redirect.Scheme != "http" && redirect.Scheme != "https") || redirect.Host == "" || redirect.Fragment != "" {
		http.Error(w, "redirect_uri must be an absolute http(s) URL", http.StatusBadRequest)
		return
	}
	state := q.Get("state")
	fail := func(code, desc string) {
		p.log.Debug("devidp: authorization refused", "method", m.name, "error", code)
		redirectTo(w, r, redirect, url.Values{"error": {code}, "error_description": {desc}, "state": {state}})
	}
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "response_type must be code")
		return
	case !hasScope(q.Get("scope"), "openid"):
		fail("invalid_scope", "scope must contain openid")
		return
	case state == "" || q.Get("nonce") == "":
		fail("invalid_request", "state and nonce are required")
		return
	case q.Get("code_challenge_method") != "S256" || !validChallenge(q.Get("code_challenge")):
		fail("invalid_request", "PKCE with code_challenge_method S256 is required")
		return
	}

	if r.Method == http.MethodPost {
		if r.PostForm.Get("action") != "approve" {
			fail("access_denied", "the person declined")
			return
		}
		name, birthdate, problem := checkPerson(r.PostForm.Get("name"), r.PostForm.Get("birthdate"))
		if problem != "" {
			p.form(w, r, http.StatusBadRequest, m, q, problem)
			return
		}
		p.approve(w, r, m, q, redirect, name, birthdate)
		return
	}
	if hint, ok := strings.CutPrefix(q.Get("login_hint"), AutoLoginPrefix); ok {
		birthdate, name, _ := strings.Cut(hint, ":")
		name, birthdate, problem := checkPerson(name, birthdate)
		if problem != "" {
			fail("invalid_request", "login_hint: "+problem)
			return
		}
		p.approve(w, r, m, q, redirect, name, birthdate)
		return
	}
	p.form(w, r, http.StatusOK, m, q, "")
}

// approve takes a capacity slot for the method's latency, then issues a
// code and sends the browser back to the relying party.
func (p *Provider) approve(w http.ResponseWriter, r *http.Request, m *method, q url.Values, redirect *url.URL, name, birthdate string) {
	if m.slots != nil {
		select {
		case m.slots <- struct{}{}:
			defer func() { <-m.slots }()
		default:
			p.log.Debug("devidp: busy", "method", m.name)
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy (혼잡): too many verifications in progress, try again or choose another method", http.StatusServiceUnavailable)
			return
		}
	}
	if d := time.Duration(m.latency.Load()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	code := randomString()
	now := p.now()
	p.mu.Lock()
	// Sweep at most once per code lifetime: codes are few and short-lived,
	// and a sweep per login would cost O(codes) under load.
	if now.Sub(p.lastSweep) >= CodeTTL {
		for c, g := range p.codes {
			if now.After(g.expires) {
				delete(p.codes, c)
			}
		}
		p.lastSweep = now
	}
	p.codes[code] = grant{
		method:      m.name,
		clientID:    q.Get("client_id"),
		redirectURI: q.Get("redirect_uri"),
		nonce:       q.Get("nonce"),
		challenge:   q.Get("code_challenge"),
		name:        name,
		birthdate:   birthdate,
		expires:     now.Add(CodeTTL),
	}
	p.mu.Unlock()
	p.log.Debug("devidp: login approved", "method", m.name)
	redirectTo(w, r, redirect, url.Values{"code": {code}, "state": {q.Get("state")}})
}

// token redeems an authorization code for an ID token.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	m := p.lookup(w, r)
	if m == nil {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if m.failRate > 0 && mrand.Float64() < m.failRate {
		tokenError(w, http.StatusInternalServerError, "server_error", "simulated failure")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	f := r.PostForm
	clientID, secret, basic := r.BasicAuth()
	if basic {
		// client_secret_basic form-encodes id and secret (RFC 6749 section 2.3.1).
		var err1, err2 error
		clientID, err1 = url.QueryUnescape(clientID)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil || f.Has("client_secret") {
			tokenError(w, http.StatusBadRequest, "invalid_request", "one client authentication method only")
			return
		}
	} else {
		clientID, secret = f.Get("client_id"), f.Get("client_secret")
	}
	want, ok := p.clients[clientID]
	if !ok || subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 {
		if basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="devidp"`)
		}
		tokenError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if f.Get("grant_type") != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code")
		return
	}

	// The code is spent by any redemption attempt, good or bad, so it
	// cannot be replayed nor its PKCE verifier guessed by repeated tries.
	code := f.Get("code")
	p.mu.Lock()
	g, found := p.codes[code]
	delete(p.codes, code)
	p.mu.Unlock()
	now := p.now()
	verifier := f.Get("code_verifier")
	challenge := sha256.Sum256([]byte(verifier))
	switch {
	case !found || now.After(g.expires) || g.method != m.name:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown, used or expired code")
		return
	case g.clientID != clientID || g.redirectURI != f.Get("redirect_uri"):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "client_id or redirect_uri does not match the authorization request")
		return
	case len(verifier) < 43 || len(verifier) > 128 ||
		subtle.ConstantTimeCompare([]byte(b64(challenge[:])), []byte(g.challenge)) != 1:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match code_challenge")
		return
	}

	claims := map[string]any{
		"iss":       m.issuer,
		"sub":       p.subject(m.name, g.name, g.birthdate),
		"aud":       clientID,
		"exp":       now.Add(TokenTTL).Unix(),
		"iat":       now.Unix(),
		"nonce":     g.nonce,
		"name":      g.name,
		"birthdate": g.birthdate,
	}
	if !m.noCI {
		claims["ci"] = p.ci(g.name, g.birthdate)
	}
	if p.claims != nil {
		p.claims(m.name, claims)
	}
	idToken, err := m.sign(claims)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", "cannot sign")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": randomString(),
		"token_type":   "Bearer",
		"expires_in":   int(TokenTTL / time.Second),
		"id_token":     idToken,
	})
}

// subject is the person's identifier at method, stable while the secret
// is: base64url of the first 16 bytes of
// HMAC-SHA256(secret, method NUL name NUL birthdate).
func (p *Provider) subject(method, name, birthdate string) string {
	mac := hmac.New(sha256.New, p.secret)
	mac.Write([]byte(method + "\x00" + name + "\x00" + birthdate))
	return b64(mac.Sum(nil)[:16])
}

// ci is the person's connecting information, the same at every method and
// every provider with the same key: standard base64 of
// HMAC-SHA512(CI key, name NUL birthdate), 88 characters like a real CI.
func (p *Provider) ci(name, birthdate string) string {
	mac := hmac.New(sha512.New, p.ciKey)
	mac.Write([]byte(name + "\x00" + birthdate))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// claimsSupported lists the ID token claims of the method, for discovery.
func (m *method) claimsSupported() []string {
	c := []string{"iss", "sub", "aud", "exp", "iat", "nonce", "name", "birthdate"}
	if !m.noCI {
		c = append(c, "ci")
	}
	return c
}

// sign returns claims as a compact EdDSA JWS with the method's key id.
func (m *method) sign(claims map[string]any) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims(claims))
	t.Header["kid"] = m.kid
	return t.SignedString(m.key)
}

// checkPerson trims and validates the login's name and birth date,
// returning a problem to show or "".
func checkPerson(name, birthdate string) (string, string, string) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 64 || !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", "", "이름을 입력하세요 (enter a name of at most 64 characters)"
	}
	if _, err := time.Parse(time.DateOnly, birthdate); err != nil {
		return "", "", "생년월일을 YYYY-MM-DD 형식으로 입력하세요 (birth date must be a valid YYYY-MM-DD)"
	}
	return name, birthdate, ""
}

// formCSS is the waiting page's style sheet and the form's own rules, so
// that the provider's page looks like the page that sent people to it.
var formCSS = func() template.CSS {
	page, _, _ := web.Asset("app.css")
	return template.CSS(string(page) + formRules)
}()

//go:embed form.css
var formRules string

var formTmpl = template.Must(template.New("form").Parse(`<!doctype html>
<html lang="ko">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Method}} 본인인증 (development sign-in)</title>
<link rel="icon" href="data:,">
<style>{{.CSS}}</style>
</head>
<body>
<header class="top"><p class="notice">개발용 인증 서버입니다. <span lang="en">Development identity provider: not a real verification.</span></p></header>
<main class="card">
<h1>{{.Method}} 본인인증 <span lang="en">(verify with {{.Method}})</span></h1>
{{with .Problem}}<p class="err" role="alert">{{.}}</p>{{end}}
<form method="post" action="{{.Action}}">
{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<label>이름 <span lang="en">(name)</span><input name="name" required maxlength="64" autocomplete="name" value="{{.Name}}"></label>
<label>생년월일 <span lang="en">(birth date, YYYY-MM-DD)</span><input name="birthdate" required placeholder="YYYY-MM-DD" pattern="[0-9]{4}-[0-9]{2}-[0-9]{2}" value="{{.BirthDate}}" aria-describedby="birthdate-hint"></label>
<p class="hint" id="birthdate-hint">{{if .Suggested}}지금 예약 창이 열린 생년월일을 넣어 두었습니다. <span lang="en">A birth date whose booking window is open is filled in.</span> {{end}}사람마다 다른 이름이나 생년월일을 쓰세요. 한 사람은 한 자리만 받고, 다른 기기에서 다시 인증하면 한동안(기본 10분) 거절됩니다. <span lang="en">Use a different name or birth date for each person: one person gets one place, and verifying again from another device is refused for a while (10 minutes by default).</span></p>
<div class="actions">
<button name="action" value="approve">인증 <span lang="en">(verify)</span></button>
<button name="action" value="deny" formnovalidate class="secondary">취소 <span lang="en">(deny)</span></button>
</div>
</form>
</main>
</body>
</html>
`))

// form renders the login form, which posts back to the authorization
// endpoint r was sent to, carrying the authorization request along. A form
// shown again for a problem keeps what the person typed; a fresh one
// suggests a birth date from the schedule.
func (p *Provider) form(w http.ResponseWriter, r *http.Request, status int, m *method, q url.Values, problem string) {
	type field struct{ Name, Value string }
	hidden := make([]field, 0, len(authzParams))
	for _, k := range authzParams {
		hidden = append(hidden, field{k, q.Get(k)})
	}
	name, birthdate, suggested := q.Get("name"), q.Get("birthdate"), false
	if birthdate == "" && p.schedule != nil {
		if d, ok := p.schedule.Suggest(p.now()); ok {
			birthdate, suggested = d.String(), true
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	err := formTmpl.Execute(w, map[string]any{
		"CSS":       formCSS,
		"Method":    m.name,
		"Action":    r.URL.Path,
		"Hidden":    hidden,
		"Problem":   problem,
		"Name":      name,
		"BirthDate": birthdate,
		"Suggested": suggested,
	})
	if err != nil {
		p.log.Warn("devidp: render form", "method", m.name, "err", err)
	}
}

// redirectTo sends the browser to u with params added to its query.
func redirectTo(w http.ResponseWriter, r *http.Request, u *url.URL, params url.Values) {
	to := *u
	q := to.Query()
	for k, v := range params {
		if v[0] != "" {
			q[k] = v
		}
	}
	to.RawQuery = q.Encode()
	http.Redirect(w, r, to.String(), http.StatusFound)
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func hasScope(scope, want string) bool {
	for s := range strings.FieldsSeq(scope) {
		if s == want {
			return true
		}
	}
	return false
}

// validChallenge reports whether c looks like base64url(SHA-256(...)).
func validChallenge(c string) bool {
	b, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

// randomIfNil returns key, or 32 random bytes if key is nil.
func randomIfNil(key []byte) []byte {
	if key == nil {
		key = make([]byte, 32)
		rand.Read(key)
	}
	return key
}

func randomString() string {
	b := make([]byte, 24)
	rand.Read(b)
	return b64(b)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
