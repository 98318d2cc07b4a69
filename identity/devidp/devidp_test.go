package devidp_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/waitroom/waitroom/eligibility"
	"github.com/waitroom/waitroom/identity/devidp"
)

const (
	clientID     = "waitroom"
	clientSecret = "dev-secret"
	callback     = "https://gw.example/waitroom/auth/cb?keep=1"
	verifier     = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG" // 43 chars
)

// challenge is the S256 challenge of verifier.
var challenge = func() string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}()

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// server is a running Provider.
type server struct {
	*devidp.Provider
	URL   string
	clock *fakeClock
}

// mustServer starts a Provider on a free port with methods kakao, naver
// and pass, a fake clock, and the options edited by edit if not nil.
func mustServer(tb testing.TB, edit func(*devidp.Options)) *server {
	tb.Helper()
	s := &server{clock: &fakeClock{t: time.Date(2021, 8, 9, 20, 0, 0, 0, time.UTC)}}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.ServeHTTP(w, r) }))
	tb.Cleanup(ts.Close)
	o := devidp.Options{
		BaseURL: ts.URL,
		Methods: []devidp.MethodSettings{{Name: "kakao"}, {Name: "naver"}, {Name: "pass"}},
		Clients: map[string]string{clientID: clientSecret},
		Now:     s.clock.Now,
	}
	if edit != nil {
		edit(&o)
	}
	p, err := devidp.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	s.Provider, s.URL = p, ts.URL
	return s
}

// noRedirect is a browser that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authzQuery is a valid authorization request.
func authzQuery() url.Values {
	return url.Values{
		"client_id":             {clientID},
		"redirect_uri":          {callback},
		"response_type":         {"code"},
		"scope":                 {"openid profile"},
		"state":                 {"st"},
		"nonce":                 {"nc"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
}

// authorize sends an authorization GET for method and returns the response
// with its body read.
func (s *server) authorize(tb testing.TB, ctx context.Context, method string, q url.Values) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/"+method+"/authorize?"+q.Encode(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// callbackQuery returns the query of a redirect to callback.
func callbackQuery(tb testing.TB, resp *http.Response) url.Values {
	tb.Helper()
	if resp.StatusCode != http.StatusFound {
		tb.Fatalf("status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		tb.Fatal(err)
	}
	if got, want := loc.Scheme+"://"+loc.Host+loc.Path, "https://gw.example/waitroom/auth/cb"; got != want {
		tb.Fatalf("redirect to %q, want %q", got, want)
	}
	if loc.Query().Get("keep") != "1" {
		tb.Fatalf("redirect %q lost the redirect_uri's own query", loc)
	}
	return loc.Query()
}

// login approves person (birthdate, name) at method by login_hint and
// returns the code.
func (s *server) login(tb testing.TB, method, birthdate, name string) string {
	tb.Helper()
	q := authzQuery()
	q.Set("login_hint", "auto:"+birthdate+":"+name)
	resp, _ := s.authorize(tb, context.Background(), method, q)
	cb := callbackQuery(tb, resp)
	if cb.Get("state") != "st" || cb.Get("code") == "" {
		tb.Fatalf("callback %v: want code and state st", cb)
	}
	return cb.Get("code")
}

type tokenResponse struct {
	IDToken string `json:"id_token"`
	Error   string `json:"error"`
}

// redeem posts form to method's token endpoint with client_secret_post.
func (s *server) redeem(tb testing.TB, method string, form url.Values) (int, tokenResponse) {
	tb.Helper()
	resp, err := http.PostForm(s.URL+"/"+method+"/token", form)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, tr
}

func tokenForm(code string) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {callback},
		"code_verifier": {verifier},
		"client_id":     {clientID},
		"client_secret": {clientSecret},
	}
}

// claims verifies an ID token of method with go-oidc and returns its claims.
func (s *server) claims(tb testing.TB, method, idToken string) map[string]any {
	tb.Helper()
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, s.URL+"/"+method)
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := p.Verifier(&oidc.Config{ClientID: clientID, Now: s.clock.Now}).Verify(ctx, idToken)
	if err != nil {
		tb.Fatal(err)
	}
	var c map[string]any
	if err := tok.Claims(&c); err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestNew(t *testing.T) {
	ok := devidp.Options{BaseURL: "http://127.0.0.1:8082", Methods: []devidp.MethodSettings{{Name: "kakao"}}, Clients: map[string]string{"c": "s"}}
	if _, err := devidp.New(ok); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	for name, edit := range map[string]func(*devidp.Options){
		"BadBaseURL":    func(o *devidp.Options) { o.BaseURL = "127.0.0.1:8082" },
		"NoMethods":     func(o *devidp.Options) { o.Methods = nil },
		"BadName":       func(o *devidp.Options) { o.Methods = []devidp.MethodSettings{{Name: "Kakao"}} },
		"DuplicateName": func(o *devidp.Options) { o.Methods = []devidp.MethodSettings{{Name: "a"}, {Name: "a"}} },
		"FailRate":      func(o *devidp.Options) { o.Methods = []devidp.MethodSettings{{Name: "a", FailRate: 1.5}} },
		"NoClients":     func(o *devidp.Options) { o.Clients = nil },
		"EmptySecret":   func(o *devidp.Options) { o.Clients = map[string]string{"c": ""} },
	} {
		t.Run(name, func(t *testing.T) {
			o := ok
			edit(&o)
			if _, err := devidp.New(o); err == nil {
				t.Fatal("New accepted invalid options")
			}
		})
	}
}

func TestProvider_discovery(t *testing.T) {
	s := mustServer(t, nil)
	t.Run("OK", func(t *testing.T) {
		for _, m := range []string{"kakao", "naver"} {
			p, err := oidc.NewProvider(context.Background(), s.URL+"/"+m)
			if err != nil {
				t.Fatalf("%s: %v", m, err)
			}
			if got, want := p.Endpoint().TokenURL, s.URL+"/"+m+"/token"; got != want {
				t.Errorf("token endpoint %q, want %q", got, want)
			}
			if got, want := s.Issuer(m), s.URL+"/"+m; got != want {
				t.Errorf("Issuer(%q) = %q, want %q", m, got, want)
			}
		}
	})
	t.Run("BaseURLWithPath", func(t *testing.T) {
		s := mustServer(t, func(o *devidp.Options) { o.BaseURL += "/idp/" })
		if _, err := oidc.NewProvider(context.Background(), s.URL+"/idp/naver"); err != nil {
			t.Fatal(err)
		}
		if _, body := s.authorize(t, context.Background(), "idp/naver", authzQuery()); !strings.Contains(body, `action="/idp/naver/authorize"`) {
			t.Fatalf("form does not post to /idp/naver/authorize: %s", body)
		}
	})
	t.Run("UnknownMethod", func(t *testing.T) {
		resp, err := http.Get(s.URL + "/nope/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got, want := resp.StatusCode, http.StatusNotFound; got != want {
			t.Fatalf("status %d, want %d", got, want)
		}
	})
}

func TestProvider_authorize(t *testing.T) {
	s := mustServer(t, nil)
	t.Run("Refused", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			edit   func(url.Values)
			status int
			error  string // in the redirect, if status is 302
		}{
			{"UnknownClient", func(q url.Values) { q.Set("client_id", "x") }, http.StatusBadRequest, ""},
			{"RelativeRedirect", func(q url.Values) { q.Set("redirect_uri", "/cb") }, http.StatusBadRequest, ""},
			{"JavascriptRedirect", func(q url.Values) { q.Set("redirect_uri", "javascript:alert(1)") }, http.StatusBadRequest, ""},
			{"ResponseType", func(q url.Values) { q.Set("response_type", "token") }, http.StatusFound, "unsupported_response_type"},
			{"NoOpenID", func(q url.Values) { q.Set("scope", "profile") }, http.StatusFound, "invalid_scope"},
			{"NoState", func(q url.Values) { q.Del("state") }, http.StatusFound, "invalid_request"},
			{"NoNonce", func(q url.Values) { q.Del("nonce") }, http.StatusFound, "invalid_request"},
			{"NoPKCE", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, http.StatusFound, "invalid_request"},
			{"PlainPKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }, http.StatusFound, "invalid_request"},
			{"ShortChallenge", func(q url.Values) { q.Set("code_challenge", "abc") }, http.StatusFound, "invalid_request"},
			{"BadHintDate", func(q url.Values) { q.Set("login_hint", "auto:1990-02-30:홍길동") }, http.StatusFound, "invalid_request"},
			{"EmptyHintName", func(q url.Values) { q.Set("login_hint", "auto:1990-02-03:") }, http.StatusFound, "invalid_request"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				q := authzQuery()
				tc.edit(q)
				resp, _ := s.authorize(t, context.Background(), "kakao", q)
				if got, want := resp.StatusCode, tc.status; got != want {
					t.Fatalf("status %d, want %d", got, want)
				}
				if tc.status == http.StatusFound {
					cb := callbackQuery(t, resp)
					if got, want := cb.Get("error"), tc.error; got != want {
						t.Fatalf("error %q, want %q", got, want)
					}
					if cb.Has("code") {
						t.Fatal("refused request got a code")
					}
				}
			})
		}
	})
	t.Run("Form", func(t *testing.T) {
		resp, body := s.authorize(t, context.Background(), "kakao", authzQuery())
		if got, want := resp.StatusCode, http.StatusOK; got != want {
			t.Fatalf("status %d, want %d", got, want)
		}
		for _, want := range []string{"생년월일", "birth date", "이름", `action="/kakao/authorize"`, `name="code_challenge" value="` + challenge + `"`,
			`<main class="card">`, `<header class="top">`, `<link rel="icon" href="data:,">`, "<style>", "--accent", ".card {", "button {"} {
			if !strings.Contains(body, want) {
				t.Errorf("form lacks %q", want)
			}
		}
		if suggestedRE.MatchString(body) {
			t.Error("a birth date is filled in without a schedule to choose it from")
		}
	})
	post := func(t *testing.T, form url.Values) (*http.Response, string) {
		resp, err := noRedirect.PostForm(s.URL+"/kakao/authorize", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	t.Run("FormApprove", func(t *testing.T) {
		form := authzQuery()
		form.Set("name", " 홍길동 ")
		form.Set("birthdate", "1990-08-09")
		form.Set("action", "approve")
		resp, _ := post(t, form)
		code := callbackQuery(t, resp).Get("code")
		status, tr := s.redeem(t, "kakao", tokenForm(code))
		if status != http.StatusOK {
			t.Fatalf("token status %d (%s)", status, tr.Error)
		}
		c := s.claims(t, "kakao", tr.IDToken)
		if c["name"] != "홍길동" || c["birthdate"] != "1990-08-09" || c["nonce"] != "nc" {
			t.Fatalf("claims %v", c)
		}
	})
	t.Run("FormDeny", func(t *testing.T) {
		form := authzQuery()
		form.Set("action", "deny")
		resp, _ := post(t, form)
		cb := callbackQuery(t, resp)
		if cb.Get("error") != "access_denied" || cb.Get("state") != "st" || cb.Has("code") {
			t.Fatalf("callback %v: want error=access_denied with state", cb)
		}
	})
	t.Run("FormInvalid", func(t *testing.T) {
		form := authzQuery()
		form.Set("name", "홍길동")
		form.Set("birthdate", "09/08/1990")
		form.Set("action", "approve")
		resp, body := post(t, form)
		if got, want := resp.StatusCode, http.StatusBadRequest; got != want {
			t.Fatalf("status %d, want %d", got, want)
		}
		if !strings.Contains(body, "YYYY-MM-DD") {
			t.Fatal("form does not explain the problem")
		}
		if !strings.Contains(body, `value="홍길동"`) || !strings.Contains(body, `value="09/08/1990"`) {
			t.Fatal("form shown again lost what the person typed")
		}
	})
}

// suggestedRE finds the birth date filled in the login form.
var suggestedRE = regexp.MustCompile(`name="birthdate"[^>]* value="([0-9-]+)"`)

// With the gateways' schedule, the form fills in a birth date whose window
// is open, a different one on each load.
func TestProvider_formSuggests(t *testing.T) {
	sched, err := eligibility.Parse([]byte(`timezone: Asia/Seoul
windows:
  - {id: d9, opens: "2021-08-09 20:00", closes: "2021-08-10 18:00", digits: [9], min_age: 18, max_age: 49, age_at: "2021-12-31"}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := mustServer(t, func(o *devidp.Options) { o.Schedule = sched })
	s.clock.Advance(time.Hour) // 2021-08-10 06:00 in Seoul: the window is open
	seen := map[string]bool{}
	for range 10 {
		_, body := s.authorize(t, context.Background(), "kakao", authzQuery())
		m := suggestedRE.FindStringSubmatch(body)
		if m == nil || !strings.Contains(body, "예약 창이 열린 생년월일") {
			t.Fatalf("no suggested birth date in the form:\n%s", body)
		}
		d, err := eligibility.ParseDate(m[1])
		if err != nil {
			t.Fatal(err)
		}
		if got := sched.Decide(d, s.clock.Now()); !got.Eligible {
			t.Fatalf("suggested %s, not eligible now: %+v", d, got)
		}
		seen[m[1]] = true
	}
	if len(seen) < 8 {
		t.Errorf("10 forms suggested %d different dates", len(seen))
	}
}

func TestProvider_token(t *testing.T) {
	s := mustServer(t, nil)
	t.Run("OK", func(t *testing.T) {
		code := s.login(t, "kakao", "1990-08-09", "홍길동")
		status, tr := s.redeem(t, "kakao", tokenForm(code))
		if status != http.StatusOK {
			t.Fatalf("status %d (%s)", status, tr.Error)
		}
		c := s.claims(t, "kakao", tr.IDToken)
		if got, want := c["iss"], s.URL+"/kakao"; got != want {
			t.Errorf("iss %v, want %v", got, want)
		}
		if got, want := c["exp"], float64(s.clock.Now().Add(devidp.TokenTTL).Unix()); got != want {
			t.Errorf("exp %v, want %v", got, want)
		}
	})
	t.Run("ClientSecretBasic", func(t *testing.T) {
		form := tokenForm(s.login(t, "kakao", "1990-08-09", "홍길동"))
		form.Del("client_id")
		form.Del("client_secret")
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/kakao/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got, want := resp.StatusCode, http.StatusOK; got != want {
			t.Fatalf("status %d, want %d", got, want)
		}
	})
	for _, tc := range []struct {
		name   string
		edit   func(s *server, form url.Values)
		status int
		error  string
	}{
		{"WrongSecret", func(_ *server, f url.Values) { f.Set("client_secret", "x") }, http.StatusUnauthorized, "invalid_client"},
		{"UnknownClient", func(_ *server, f url.Values) { f.Set("client_id", "x") }, http.StatusUnauthorized, "invalid_client"},
		{"GrantType", func(_ *server, f url.Values) { f.Set("grant_type", "password") }, http.StatusBadRequest, "unsupported_grant_type"},
		{"WrongVerifier", func(_ *server, f url.Values) { f.Set("code_verifier", strings.Repeat("x", 43)) }, http.StatusBadRequest, "invalid_grant"},
		{"NoVerifier", func(_ *server, f url.Values) { f.Del("code_verifier") }, http.StatusBadRequest, "invalid_grant"},
		{"OtherRedirect", func(_ *server, f url.Values) { f.Set("redirect_uri", "https://gw.example/other") }, http.StatusBadRequest, "invalid_grant"},
		{"UnknownCode", func(_ *server, f url.Values) { f.Set("code", "nope") }, http.StatusBadRequest, "invalid_grant"},
		{"Expired", func(s *server, _ url.Values) { s.clock.Advance(devidp.CodeTTL + time.Second) }, http.StatusBadRequest, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustServer(t, nil)
			form := tokenForm(s.login(t, "kakao", "1990-08-09", "홍길동"))
			tc.edit(s, form)
			status, tr := s.redeem(t, "kakao", form)
			if status != tc.status || tr.Error != tc.error {
				t.Fatalf("got %d %q, want %d %q", status, tr.Error, tc.status, tc.error)
			}
			if tr.IDToken != "" {
				t.Fatal("refused exchange returned an id token")
			}
		})
	}
	t.Run("Replay", func(t *testing.T) {
		form := tokenForm(s.login(t, "kakao", "1990-08-09", "홍길동"))
		if status, tr := s.redeem(t, "kakao", form); status != http.StatusOK {
			t.Fatalf("first redemption: %d %s", status, tr.Error)
		}
		if status, tr := s.redeem(t, "kakao", form); status != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Fatalf("replay: got %d %q, want 400 invalid_grant", status, tr.Error)
		}
	})
	t.Run("OtherMethodsCode", func(t *testing.T) {
		form := tokenForm(s.login(t, "kakao", "1990-08-09", "홍길동"))
		if status, tr := s.redeem(t, "naver", form); status != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Fatalf("got %d %q, want 400 invalid_grant", status, tr.Error)
		}
	})
}

// As at real providers, each method has its own subject for a person, and
// every method of every provider with the same CI key gives them one CI.
func TestProvider_subjectAndCI(t *testing.T) {
	ciKey := []byte("a CI key shared by the providers.")
	s := mustServer(t, func(o *devidp.Options) { o.CIKey = ciKey })
	other := mustServer(t, func(o *devidp.Options) { o.CIKey = ciKey }) // another process: its own subject secret
	stranger := mustServer(t, nil)                                      // another CI key
	ids := func(s *server, method, birthdate, name string) (sub, ci string) {
		_, tr := s.redeem(t, method, tokenForm(s.login(t, method, birthdate, name)))
		c := s.claims(t, method, tr.IDToken)
		sub, _ = c["sub"].(string)
		ci, _ = c["ci"].(string)
		return sub, ci
	}
	sub, ci := ids(s, "kakao", "1990-08-09", "홍길동")
	if len(ci) != 88 || sub == "" {
		t.Fatalf("sub %q, ci %q: want a subject and an 88-character CI", sub, ci)
	}
	for _, tc := range []struct {
		name     string
		s        *server
		method   string
		sameCI   bool
		birth, n string
	}{
		{"OtherMethod", s, "naver", true, "1990-08-09", "홍길동"},
		{"OtherProvider", other, "kakao", true, "1990-08-09", "홍길동"},
		{"OtherCIKey", stranger, "kakao", false, "1990-08-09", "홍길동"},
		{"OtherBirthDate", s, "kakao", false, "1990-08-19", "홍길동"},
		{"OtherName", s, "kakao", false, "1990-08-09", "김철수"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub2, ci2 := ids(tc.s, tc.method, tc.birth, tc.n)
			if sub2 == sub {
				t.Errorf("subject %q again: subjects must differ across methods, providers and people", sub)
			}
			if (ci2 == ci) != tc.sameCI {
				t.Errorf("ci %q and %q: same = %v, want %v", ci, ci2, ci2 == ci, tc.sameCI)
			}
		})
	}
	t.Run("SameMethodSamePerson", func(t *testing.T) {
		if sub2, ci2 := ids(s, "kakao", "1990-08-09", "홍길동"); sub2 != sub || ci2 != ci {
			t.Fatalf("(%q, %q) then (%q, %q): want stable identifiers", sub, ci, sub2, ci2)
		}
	})
}

// A method WithoutCI, like a login without identity verification, sends
// no ci claim and does not advertise one.
func TestProvider_WithoutCI(t *testing.T) {
	s := mustServer(t, func(o *devidp.Options) { o.Methods[1].WithoutCI = true })
	_, tr := s.redeem(t, "naver", tokenForm(s.login(t, "naver", "1990-08-09", "홍길동")))
	if c := s.claims(t, "naver", tr.IDToken); c["ci"] != nil || c["sub"] == nil {
		t.Fatalf("claims %v: want a subject and no ci", c)
	}
	resp, err := http.Get(s.URL + "/naver/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		Claims []string `json:"claims_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || slices.Contains(d.Claims, "ci") {
		t.Fatalf("discovery claims %v (%v): want no ci", d.Claims, err)
	}
}

func TestProvider_Claims(t *testing.T) {
	s := mustServer(t, func(o *devidp.Options) {
		o.Claims = func(method string, c map[string]any) { c["birthdate"] = method }
	})
	_, tr := s.redeem(t, "kakao", tokenForm(s.login(t, "kakao", "1990-08-09", "홍길동")))
	if got, want := s.claims(t, "kakao", tr.IDToken)["birthdate"], "kakao"; got != want {
		t.Fatalf("birthdate %v, want %v (set by the hook)", got, want)
	}
}

func TestProvider_FailRate(t *testing.T) {
	s := mustServer(t, func(o *devidp.Options) { o.Methods[2].FailRate = 1 })
	form := tokenForm(s.login(t, "pass", "1990-08-09", "홍길동"))
	if status, tr := s.redeem(t, "pass", form); status != http.StatusInternalServerError || tr.Error != "server_error" {
		t.Fatalf("got %d %q, want 500 server_error", status, tr.Error)
	}
}

func TestProvider_SetLatency(t *testing.T) {
	s := mustServer(t, nil)
	const d = 50 * time.Millisecond
	s.SetLatency("kakao", d)
	start := time.Now()
	s.login(t, "kakao", "1990-08-09", "홍길동")
	if got := time.Since(start); got < d {
		t.Fatalf("login took %v, want at least the latency %v", got, d)
	}
	s.SetLatency("nope", d) // ignored, must not panic
}

func TestProvider_Capacity(t *testing.T) {
	s := mustServer(t, func(o *devidp.Options) {
		o.Methods[2] = devidp.MethodSettings{Name: "pass", Capacity: 1, Latency: time.Minute}
	})
	q := authzQuery()
	q.Set("login_hint", "auto:1990-08-09:홍길동")

	// A login holds the only slot for a minute, until cancelled; it retries
	// while a probe below holds the slot.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	held := make(chan struct{})
	go func() {
		defer close(held)
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/pass/authorize?"+q.Encode(), nil)
			if resp, err := noRedirect.Do(req); err == nil {
				resp.Body.Close()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	// Whether the login holds the slot yet is unobservable, so probe until
	// busy. A probe that gets the slot itself gives up after a moment.
	status := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/pass/authorize?"+q.Encode(), nil)
		resp, err := noRedirect.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(10 * time.Second)
	for status() != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("no 503 while the only slot is held")
		}
	}
	// Other methods are not affected.
	if resp, _ := s.authorize(t, context.Background(), "kakao", q); resp.StatusCode != http.StatusFound {
		t.Fatalf("kakao status %d while pass is busy, want 302", resp.StatusCode)
	}

	cancel()
	<-held
	s.SetLatency("pass", 0)
	for status() != http.StatusFound {
		if time.Now().After(deadline) {
			t.Fatal("slot not released after the first login ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestProvider_unknownMethod(t *testing.T) {
	s := mustServer(t, nil)
	for _, path := range []string{"/nope/jwks", "/nope/authorize", "/kakao/nope"} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, resp.StatusCode)
		}
	}
	resp, err := http.Get(s.URL + "/kakao/token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusMethodNotAllowed; got != want {
		t.Errorf("GET /kakao/token: status %d, want %d", got, want)
	}
}
