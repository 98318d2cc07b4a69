package identity_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitroom/waitroom/eligibility"
	"github.com/waitroom/waitroom/identity"
	"github.com/waitroom/waitroom/identity/devidp"
)

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

// env is a development provider serving kakao, naver and pass (whose token
// endpoint always fails) behind a fault injector, and a Verifier for those
// methods plus a disabled ipin. Provider and Verifier share a fake clock.
type env struct {
	url     string
	clock   *fakeClock
	v       *identity.Verifier
	browser *http.Client
	started time.Time // the clock's initial time

	discoveries atomic.Int64 // discovery documents served

	mu      sync.Mutex
	claims  func(method string, c map[string]any) // edits ID token claims
	tamper  func(idToken string) string           // edits the signed ID token
	fault   func(w http.ResponseWriter, r *http.Request) bool
	lastSub string
	lastCI  string
}

const (
	person    = "홍길동"
	birthdate = "1990-08-09"
)

var (
	device = []byte("device-1")
	other  = []byte("device-2")
)

func mustEnv(tb testing.TB) *env { tb.Helper(); return mustEnvWith(tb, nil) }

// mustEnvWith is mustEnv with the Verifier's methods edited by edit.
func mustEnvWith(tb testing.TB, edit func([]identity.MethodConfig)) *env {
	tb.Helper()
	e := &env{clock: &fakeClock{t: time.Date(2021, 8, 9, 20, 0, 0, 0, time.UTC)}}
	e.started = e.clock.Now()
	var idp *devidp.Provider
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		fault, tamper := e.fault, e.tamper
		e.mu.Unlock()
		if fault != nil && fault(w, r) {
			return
		}
		if strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") {
			e.discoveries.Add(1)
		}
		if tamper == nil || !strings.HasSuffix(r.URL.Path, "/token") {
			idp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		idp.ServeHTTP(rec, r)
		var body map[string]any
		json.Unmarshal(rec.Body.Bytes(), &body)
		if tok, ok := body["id_token"].(string); ok {
			body["id_token"] = tamper(tok)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Code)
		json.NewEncoder(w).Encode(body)
	}))
	tb.Cleanup(ts.Close)
	e.url = ts.URL

	var err error
	idp, err = devidp.New(devidp.Options{
		BaseURL: ts.URL,
		Methods: []devidp.MethodSettings{{Name: "kakao"}, {Name: "naver"}, {Name: "pass", FailRate: 1}},
		Clients: map[string]string{"waitroom": "dev-secret"},
		Now:     e.clock.Now,
		Claims: func(method string, c map[string]any) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.lastSub, _ = c["sub"].(string)
			e.lastCI, _ = c["ci"].(string)
			if e.claims != nil {
				e.claims(method, c)
			}
		},
	})
	if err != nil {
		tb.Fatal(err)
	}

	var methods []identity.MethodConfig
	for _, m := range []string{"kakao", "naver", "pass"} {
		methods = append(methods, identity.MethodConfig{
			Name: m, Label: m, Issuer: ts.URL + "/" + m,
			ClientID: "waitroom", ClientSecret: "dev-secret",
			RedirectURL: "https://gw.example/waitroom/auth/" + m + "/callback",
			Enabled:     true,
		})
	}
	methods = append(methods, identity.MethodConfig{Name: "ipin", Label: "아이핀"})
	if edit != nil {
		edit(methods)
	}
	e.v, err = identity.New(methods, identity.Options{Secret: testSecret, Now: e.clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	e.browser = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return e
}

// set changes the env's hooks under its lock.
func (e *env) set(f func(e *env)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(e)
}

// ids returns the subject and CI of the last ID token.
func (e *env) ids() (sub, ci string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastSub, e.lastCI
}

func (e *env) start(tb testing.TB, method, returnPath string, binding []byte) (authURL, blob string) {
	tb.Helper()
	authURL, blob, err := e.v.Start(context.Background(), method, returnPath, binding)
	if err != nil {
		tb.Fatalf("Start(%s): %v", method, err)
	}
	return authURL, blob
}

// callback checks that resp redirects to method's callback and returns the
// callback's query.
func callback(tb testing.TB, resp *http.Response, method string) url.Values {
	tb.Helper()
	loc := resp.Header.Get("Location")
	prefix := "https://gw.example/waitroom/auth/" + method + "/callback?"
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, prefix) {
		tb.Fatalf("status %d to %q, want a redirect to %s", resp.StatusCode, loc, prefix)
	}
	q, err := url.ParseQuery(strings.TrimPrefix(loc, prefix))
	if err != nil {
		tb.Fatal(err)
	}
	return q
}

// autoLogin follows authURL with a scripted login and returns the callback
// query for method.
func (e *env) autoLogin(tb testing.TB, authURL, method, birthdate, name string) url.Values {
	tb.Helper()
	resp, err := e.browser.Get(authURL + "&login_hint=" + url.QueryEscape("auto:"+birthdate+":"+name))
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	return callback(tb, resp, method)
}

var (
	formRE   = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// formLogin opens the login form at authURL, fills it in and presses the
// button action ("approve" or "deny"); it returns the callback query.
func (e *env) formLogin(tb testing.TB, authURL, method, birthdate, name, action string) url.Values {
	tb.Helper()
	resp, err := e.browser.Get(authURL)
	if err != nil {
		tb.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := formRE.FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		tb.Fatalf("status %d, no login form: %s", resp.StatusCode, page)
	}
	form := url.Values{"name": {name}, "birthdate": {birthdate}, "action": {action}}
	for _, h := range hiddenRE.FindAllSubmatch(page, -1) {
		form.Set(html.UnescapeString(string(h[1])), html.UnescapeString(string(h[2])))
	}
	resp, err = e.browser.PostForm(e.url+html.UnescapeString(string(m[1])), form)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	return callback(tb, resp, method)
}

// mustFail checks that err is want and reveals nothing personal.
func (e *env) mustFail(tb testing.TB, err, want error) {
	tb.Helper()
	if !errors.Is(err, want) {
		tb.Fatalf("err %v, want %v", err, want)
	}
	sub, ci := e.ids()
	for _, secret := range []string{sub, ci, person, birthdate} {
		if secret != "" && strings.Contains(err.Error(), secret) {
			tb.Fatalf("error %q reveals %q", err, secret)
		}
	}
}

func TestVerifier_Finish(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		e := mustEnv(t)
		authURL, blob := e.start(t, "kakao", "/book?slot=3", device)
		e.clock.Advance(42 * time.Second)
		q := e.autoLogin(t, authURL, "kakao", birthdate, person)
		p, ret, started, err := e.v.Finish(ctx, "kakao", q, blob, device)
		if err != nil {
			t.Fatal(err)
		}
		want := identity.Person{Hash: p.Hash, BirthDate: eligibility.Date{Year: 1990, Month: time.August, Day: 9}, Method: "kakao"}
		if p != want || ret != "/book?slot=3" || !started.Equal(e.started) {
			t.Fatalf("got %+v %q %v, want %+v %q %v", p, ret, started, want, "/book?slot=3", e.started)
		}
		sub, ci := e.ids()
		if len(p.Hash) != 43 || sub == "" || ci == "" || strings.Contains(p.Hash, sub) || strings.Contains(p.Hash, ci) {
			t.Fatalf("hash %q: want 43 characters containing neither the subject %q nor the CI %q", p.Hash, sub, ci)
		}

		t.Run("SamePersonOtherMethod", func(t *testing.T) {
			authURL, blob := e.start(t, "naver", "/", other)
			q := e.formLogin(t, authURL, "naver", birthdate, person, "approve")
			p2, _, _, err := e.v.Finish(ctx, "naver", q, blob, other)
			if err != nil {
				t.Fatal(err)
			}
			if p2.Hash != p.Hash || p2.Method != "naver" {
				t.Fatalf("got %+v, want hash %q from naver", p2, p.Hash)
			}
		})
		t.Run("OtherPerson", func(t *testing.T) {
			authURL, blob := e.start(t, "kakao", "/", device)
			q := e.autoLogin(t, authURL, "kakao", "1990-08-19", person)
			p3, _, _, err := e.v.Finish(ctx, "kakao", q, blob, device)
			if err != nil {
				t.Fatal(err)
			}
			if p3.Hash == p.Hash {
				t.Fatal("two people share one hash")
			}
		})
	})

	t.Run("AuthURL", func(t *testing.T) {
		e := mustEnv(t)
		authURL, blob := e.start(t, "kakao", "/", device)
		u, err := url.Parse(authURL)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if u.Path != "/kakao/authorize" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
			q.Get("nonce") == "" || q.Get("state") == "" || !strings.Contains(q.Get("scope"), "openid") {
			t.Fatalf("authorization URL %s lacks S256 PKCE, state, nonce or scope openid", authURL)
		}
		for _, k := range []string{"state", "nonce"} {
			if strings.Contains(blob, q.Get(k)) {
				t.Errorf("blob shows the %s in clear", k)
			}
		}
		authURL2, _ := e.start(t, "kakao", "/", device)
		if q2, _ := url.Parse(authURL2); q2.Query().Get("state") == q.Get("state") || q2.Query().Get("nonce") == q.Get("nonce") {
			t.Error("state or nonce repeated")
		}
	})

	t.Run("ReturnPath", func(t *testing.T) {
		e := mustEnv(t)
		for in, want := range map[string]string{
			"":                              "/",
			"/book?a=1#top":                 "/book?a=1#top",
			"https://evil.example/":         "/",
			"//evil.example/":               "/",
			"///evil.example/":              "/",
			"/\\evil.example":               "/",
			"/\t/evil.example":              "/",
			"book":                          "/",
			"/" + strings.Repeat("a", 2000): "/",
		} {
			authURL, blob := e.start(t, "kakao", in, device)
			_, got, _, _ := e.v.Finish(ctx, "kakao", url.Values{"state": {stateOf(t, authURL)}, "error": {"access_denied"}}, blob, device)
			if got != want {
				t.Errorf("return path %q became %q, want %q", in, got, want)
			}
		}
	})

	t.Run("ErrState", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			// finish edits the callback query, blob, method or binding.
			finish func(e *env, q url.Values, blob string) (string, url.Values, string, []byte)
		}{
			{"StateMismatch", func(_ *env, q url.Values, blob string) (string, url.Values, string, []byte) {
				q.Set("state", "forged")
				return "kakao", q, blob, device
			}},
			{"NoState", func(_ *env, q url.Values, blob string) (string, url.Values, string, []byte) {
				q.Del("state")
				return "kakao", q, blob, device
			}},
			{"NoBlob", func(_ *env, q url.Values, _ string) (string, url.Values, string, []byte) {
				return "kakao", q, "", device
			}},
			{"ForgedBlob", func(_ *env, q url.Values, blob string) (string, url.Values, string, []byte) {
				b, _ := base64.RawURLEncoding.DecodeString(blob)
				b[len(b)/2] ^= 1
				return "kakao", q, base64.RawURLEncoding.EncodeToString(b), device
			}},
			{"GarbageBlob", func(_ *env, q url.Values, _ string) (string, url.Values, string, []byte) {
				return "kakao", q, "%%%not-base64", device
			}},
			{"OtherMethod", func(_ *env, q url.Values, blob string) (string, url.Values, string, []byte) {
				return "naver", q, blob, device
			}},
			{"OtherBinding", func(_ *env, q url.Values, blob string) (string, url.Values, string, []byte) {
				return "kakao", q, blob, other
			}},
			{"NoBinding", func(_ *env, q url.Values, blob string) (string, url.Values, string, []byte) {
				return "kakao", q, blob, nil
			}},
			{"Expired", func(e *env, q url.Values, blob string) (string, url.Values, string, []byte) {
				e.clock.Advance(identity.DefaultStateTTL + time.Second)
				return "kakao", q, blob, device
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := mustEnv(t)
				authURL, blob := e.start(t, "kakao", "/", device)
				q := e.autoLogin(t, authURL, "kakao", birthdate, person)
				method, q, blob, binding := tc.finish(e, q, blob)
				_, _, _, err := e.v.Finish(ctx, method, q, blob, binding)
				e.mustFail(t, err, identity.ErrState)
			})
		}
	})

	t.Run("ErrToken", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			claims func(e *env, method string, c map[string]any)
			tamper func(idToken string) string
		}{
			{"IssuerOfOtherMethod", func(e *env, _ string, c map[string]any) { c["iss"] = e.url + "/naver" }, nil},
			{"NonceMismatch", func(_ *env, _ string, c map[string]any) { c["nonce"] = "other" }, nil},
			{"NoNonce", func(_ *env, _ string, c map[string]any) { delete(c, "nonce") }, nil},
			{"WrongAudience", func(_ *env, _ string, c map[string]any) { c["aud"] = "someone-else" }, nil},
			{"Expired", func(e *env, _ string, c map[string]any) { c["exp"] = e.clock.Now().Add(-time.Second).Unix() }, nil},
			{"NoBirthdate", func(_ *env, _ string, c map[string]any) { delete(c, "birthdate") }, nil},
			{"InvalidBirthdate", func(_ *env, _ string, c map[string]any) { c["birthdate"] = "1990-02-30" }, nil},
			{"YearWithheld", func(_ *env, _ string, c map[string]any) { c["birthdate"] = "0000-08-09" }, nil},
			{"BirthdateNotString", func(_ *env, _ string, c map[string]any) { c["birthdate"] = 19900809 }, nil},
			{"NoSubject", func(_ *env, _ string, c map[string]any) { delete(c, "sub") }, nil},
			{"BadSignature", nil, func(tok string) string {
				i := strings.LastIndexByte(tok, '.') + 5
				return tok[:i] + string(tok[i]^1) + tok[i+1:]
			}},
			{"AlgNone", nil, func(tok string) string {
				parts := strings.Split(tok, ".")
				return b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + "."
			}},
			{"AlgHS256", nil, func(tok string) string {
				parts := strings.Split(tok, ".")
				return b64(`{"alg":"HS256","typ":"JWT"}`) + "." + parts[1] + "." + parts[2]
			}},
			{"NoIDToken", nil, func(string) string { return "" }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := mustEnv(t)
				e.set(func(e *env) {
					if tc.claims != nil {
						e.claims = func(method string, c map[string]any) { tc.claims(e, method, c) }
					}
					e.tamper = tc.tamper
				})
				authURL, blob := e.start(t, "kakao", "/", device)
				q := e.autoLogin(t, authURL, "kakao", birthdate, person)
				p, _, _, err := e.v.Finish(ctx, "kakao", q, blob, device)
				e.mustFail(t, err, identity.ErrToken)
				if p != (identity.Person{}) {
					t.Fatalf("failed Finish returned %+v", p)
				}
			})
		}

		// PKCE binds the code to the session that asked for it: a code
		// injected into another session (same device, same method) is
		// refused by the provider with invalid_grant, reported as ErrToken.
		t.Run("InjectedCode", func(t *testing.T) {
			e := mustEnv(t)
			authURL1, _ := e.start(t, "kakao", "/", device)
			authURL2, blob2 := e.start(t, "kakao", "/", device)
			q1 := e.autoLogin(t, authURL1, "kakao", birthdate, person)
			q := url.Values{"code": {q1.Get("code")}, "state": {stateOf(t, authURL2)}}
			_, _, _, err := e.v.Finish(ctx, "kakao", q, blob2, device)
			e.mustFail(t, err, identity.ErrToken)
		})
		t.Run("ReplayedCode", func(t *testing.T) {
			e := mustEnv(t)
			authURL, blob := e.start(t, "kakao", "/", device)
			q := e.autoLogin(t, authURL, "kakao", birthdate, person)
			if _, _, _, err := e.v.Finish(ctx, "kakao", q, blob, device); err != nil {
				t.Fatal(err)
			}
			_, _, _, err := e.v.Finish(ctx, "kakao", q, blob, device)
			e.mustFail(t, err, identity.ErrToken)
		})
		// A code obtained from kakao's provider for a naver session (a
		// mix-up) is redeemed at naver's token endpoint, which does not
		// know it.
		t.Run("CodeFromOtherProvider", func(t *testing.T) {
			e := mustEnv(t)
			authURL, blob := e.start(t, "naver", "/", device)
			mixed := strings.Replace(authURL, "/naver/authorize", "/kakao/authorize", 1)
			q := e.autoLogin(t, mixed, "naver", birthdate, person)
			_, _, _, err := e.v.Finish(ctx, "naver", q, blob, device)
			e.mustFail(t, err, identity.ErrToken)
		})
		t.Run("NoCode", func(t *testing.T) {
			e := mustEnv(t)
			authURL, blob := e.start(t, "kakao", "/", device)
			_, _, _, err := e.v.Finish(ctx, "kakao", url.Values{"state": {stateOf(t, authURL)}}, blob, device)
			e.mustFail(t, err, identity.ErrToken)
		})
	})

	t.Run("ErrDenied", func(t *testing.T) {
		e := mustEnv(t)
		authURL, blob := e.start(t, "kakao", "/back", device)
		q := e.formLogin(t, authURL, "kakao", "", "", "deny")
		_, ret, started, err := e.v.Finish(ctx, "kakao", q, blob, device)
		e.mustFail(t, err, identity.ErrDenied)
		if ret != "/back" || !started.Equal(e.started) {
			t.Fatalf("return path %q, started %v: want them even on denial", ret, started)
		}
	})

	t.Run("ErrProvider", func(t *testing.T) {
		hangUp := func(suffix string) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasSuffix(r.URL.Path, suffix) {
					return false
				}
				conn, _, _ := http.NewResponseController(w).Hijack()
				conn.Close()
				return true
			}
		}
		for _, tc := range []struct {
			name   string
			method string
			fault  func(http.ResponseWriter, *http.Request) bool
			query  func(url.Values)
		}{
			{"TokenEndpoint500", "pass", nil, nil},
			{"TokenEndpointDown", "kakao", hangUp("/token"), nil},
			{"JWKSDown", "kakao", hangUp("/jwks"), nil},
			{"ProviderError", "kakao", nil, func(q url.Values) {
				q.Del("code")
				q.Set("error", "temporarily_unavailable")
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := mustEnv(t)
				authURL, blob := e.start(t, tc.method, "/", device)
				q := e.autoLogin(t, authURL, tc.method, birthdate, person)
				if tc.query != nil {
					tc.query(q)
				}
				e.set(func(e *env) { e.fault = tc.fault })
				_, _, _, err := e.v.Finish(ctx, tc.method, q, blob, device)
				e.mustFail(t, err, identity.ErrProvider)
			})
		}
	})

	t.Run("ErrDisabled", func(t *testing.T) {
		e := mustEnv(t)
		if _, _, err := e.v.Start(ctx, "ipin", "/", device); !errors.Is(err, identity.ErrDisabled) {
			t.Fatalf("Start: err %v, want ErrDisabled", err)
		}
		if _, _, _, err := e.v.Finish(ctx, "ipin", url.Values{}, "x", device); !errors.Is(err, identity.ErrDisabled) {
			t.Fatalf("Finish: err %v, want ErrDisabled", err)
		}
	})

	t.Run("ErrUnknownMethod", func(t *testing.T) {
		e := mustEnv(t)
		if _, _, err := e.v.Start(ctx, "nope", "/", device); !errors.Is(err, identity.ErrUnknownMethod) {
			t.Fatalf("Start: err %v, want ErrUnknownMethod", err)
		}
		if _, _, _, err := e.v.Finish(ctx, "nope", url.Values{}, "x", device); !errors.Is(err, identity.ErrUnknownMethod) {
			t.Fatalf("Finish: err %v, want ErrUnknownMethod", err)
		}
	})
}

// A person is keyed by the method's person claim: the CI by default, one
// key whatever the claim is called; a token without it is refused; "sub"
// keys a person at one provider only.
func TestVerifier_Finish_personClaim(t *testing.T) {
	verify := func(t *testing.T, e *env, method string) (identity.Person, error) {
		t.Helper()
		authURL, blob := e.start(t, method, "/", device)
		q := e.autoLogin(t, authURL, method, birthdate, person)
		p, _, _, err := e.v.Finish(context.Background(), method, q, blob, device)
		return p, err
	}
	mustVerify := func(t *testing.T, e *env, method string) identity.Person {
		t.Helper()
		p, err := verify(t, e, method)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("ErrNoPersonClaim", func(t *testing.T) {
		for name, ci := range map[string]any{
			"Missing":   nil,
			"Empty":     "",
			"NotString": 42,
			"TooLong":   strings.Repeat("A", identity.MaxPersonClaim+1),
		} {
			t.Run(name, func(t *testing.T) {
				e := mustEnv(t)
				e.set(func(e *env) {
					e.claims = func(_ string, c map[string]any) {
						if ci == nil {
							delete(c, "ci")
						} else {
							c["ci"] = ci
						}
					}
				})
				p, err := verify(t, e, "kakao")
				e.mustFail(t, err, identity.ErrNoPersonClaim)
				if p != (identity.Person{}) {
					t.Fatalf("refused verification returned %+v", p)
				}
			})
		}
	})
	t.Run("ClaimName", func(t *testing.T) {
		e := mustEnvWith(t, func(ms []identity.MethodConfig) { ms[1].PersonClaim = "connecting_info" })
		e.set(func(e *env) {
			e.claims = func(method string, c map[string]any) {
				if method == "naver" {
					c["connecting_info"], c["ci"] = c["ci"], nil
				}
			}
		})
		if a, b := mustVerify(t, e, "kakao"), mustVerify(t, e, "naver"); a.Hash != b.Hash {
			t.Fatalf("one CI under two claim names, two hashes: %q (kakao) and %q (naver)", a.Hash, b.Hash)
		}
	})
	t.Run("Sub", func(t *testing.T) {
		e := mustEnvWith(t, func(ms []identity.MethodConfig) { ms[0].PersonClaim, ms[1].PersonClaim = "sub", "sub" })
		e.set(func(e *env) { e.claims = func(_ string, c map[string]any) { delete(c, "ci") } })
		a := mustVerify(t, e, "kakao")
		if again := mustVerify(t, e, "kakao"); again.Hash != a.Hash {
			t.Fatalf("one person at one provider, two hashes: %q and %q", a.Hash, again.Hash)
		}
		if b := mustVerify(t, e, "naver"); b.Hash == a.Hash {
			t.Fatal("two providers' subjects gave one hash")
		}
		// Two providers that happen to use one subject are two people.
		e.set(func(e *env) {
			e.claims = func(_ string, c map[string]any) { c["sub"] = "12345" }
		})
		if a, b := mustVerify(t, e, "kakao"), mustVerify(t, e, "naver"); a.Hash == b.Hash {
			t.Fatal("subject 12345 at kakao and at naver gave one hash")
		}
	})
}

func TestVerifier_Start(t *testing.T) {
	ctx := context.Background()

	t.Run("EmptyBinding", func(t *testing.T) {
		e := mustEnv(t)
		if _, _, err := e.v.Start(ctx, "kakao", "/", nil); err == nil {
			t.Fatal("Start accepted an empty binding")
		}
	})

	t.Run("DiscoveryCached", func(t *testing.T) {
		e := mustEnv(t)
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if _, _, err := e.v.Start(ctx, "kakao", "/", device); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := e.discoveries.Load(); got != 1 {
			t.Fatalf("%d discoveries for 20 concurrent Starts, want 1", got)
		}
	})

	t.Run("ProviderDownThenBack", func(t *testing.T) {
		e := mustEnv(t)
		e.set(func(e *env) {
			e.fault = func(w http.ResponseWriter, r *http.Request) bool {
				e.discoveries.Add(1)
				http.Error(w, "down", http.StatusServiceUnavailable)
				return true
			}
		})
		_, _, err := e.v.Start(ctx, "kakao", "/", device)
		e.mustFail(t, err, identity.ErrProvider)

		e.set(func(e *env) { e.fault = nil })
		e.clock.Advance(identity.RediscoverEvery - time.Millisecond)
		_, _, err = e.v.Start(ctx, "kakao", "/", device)
		e.mustFail(t, err, identity.ErrProvider)
		if got := e.discoveries.Load(); got != 1 {
			t.Fatalf("%d discovery attempts within %v of a failure, want 1", got, identity.RediscoverEvery)
		}

		e.clock.Advance(time.Millisecond)
		authURL, blob := e.start(t, "kakao", "/", device)
		q := e.autoLogin(t, authURL, "kakao", birthdate, person)
		if _, _, _, err := e.v.Finish(ctx, "kakao", q, blob, device); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	})

	t.Run("Unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		ms := validMethods()[:1]
		ms[0].Issuer = "http://" + addr + "/kakao"
		v, err := identity.New(ms, identity.Options{Secret: testSecret})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := v.Start(ctx, "kakao", "/", device); !errors.Is(err, identity.ErrProvider) {
			t.Fatalf("err %v, want ErrProvider", err)
		}
	})
}

// FuzzVerifier_Finish checks that Finish never panics and fails only with
// its documented errors, whatever the callback query, blob and binding.
func FuzzVerifier_Finish(f *testing.F) {
	e := mustEnv(f)
	authURL, blob, err := e.v.Start(context.Background(), "kakao", "/", device)
	if err != nil {
		f.Fatal(err)
	}
	state := url.QueryEscape(stateOf(f, authURL))
	f.Add("", "", []byte(nil))
	f.Add("state="+state+"&code=x", blob, device)
	f.Add("state="+state+"&error=access_denied", blob, device)
	f.Add("state="+state+"&error=%00%ff", blob, device)
	f.Add("state="+state+"&state=x&code=", blob, device)
	f.Add("code=x", blob, other)
	f.Add("state=x", blob[:len(blob)-1], device)
	f.Add("state=x", "AQ", device)
	f.Add("%zz", strings.Repeat("A", 4096), device)
	sentinels := []error{identity.ErrState, identity.ErrDenied, identity.ErrProvider, identity.ErrToken}
	f.Fuzz(func(t *testing.T, rawQuery, blob string, binding []byte) {
		q, _ := url.ParseQuery(rawQuery)
		p, _, _, err := e.v.Finish(context.Background(), "kakao", q, blob, binding)
		if err == nil {
			t.Fatalf("Finish succeeded on fuzzed input: %+v", p)
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("undocumented error %v", err)
	})
}

// stateOf returns the state parameter of an authorization URL.
func stateOf(tb testing.TB, authURL string) string {
	tb.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		tb.Fatal(err)
	}
	return u.Query().Get("state")
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
