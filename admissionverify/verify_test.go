package admissionverify_test

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/admissionverify"
	"github.com/waitroom/waitroom/ticket"
)

func TestNew(t *testing.T) {
	ok := admissionverify.Options{JWKSURL: "https://wait.example/.well-known/jwks.json", Issuer: "waitroom", Audience: "booking", Rooms: []string{"vaccine"}}
	if _, err := admissionverify.New(ok); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*admissionverify.Options){
		"NoURL":          func(o *admissionverify.Options) { o.JWKSURL = "" },
		"RelativeURL":    func(o *admissionverify.Options) { o.JWKSURL = "/.well-known/jwks.json" },
		"FileURL":        func(o *admissionverify.Options) { o.JWKSURL = "file:///etc/jwks.json" },
		"NoIssuer":       func(o *admissionverify.Options) { o.Issuer = "" },
		"NoAudience":     func(o *admissionverify.Options) { o.Audience = "" },
		"NoRooms":        func(o *admissionverify.Options) { o.Rooms = nil },
		"EmptyRoom":      func(o *admissionverify.Options) { o.Rooms = []string{"vaccine", ""} },
		"LifetimeShort":  func(o *admissionverify.Options) { o.MaxLifetime = time.Millisecond },
		"LeewayFraction": func(o *admissionverify.Options) { o.Leeway = 1500 * time.Millisecond },
		"LeewayTooLong":  func(o *admissionverify.Options) { o.Leeway = time.Hour },
		"MaxAgeShort":    func(o *admissionverify.Options) { o.RefreshInterval, o.MaxAge = time.Minute, time.Second },
	} {
		o := ok
		mod(&o)
		if _, err := admissionverify.New(o); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

// Every way to get past the backend without a real admission is refused,
// through both middlewares, with the status and code that say why.
func TestVerifier_Middleware(t *testing.T) {
	clk := newClock()
	gw := mustKeys(t, gwOpts, keyA)
	srv := newJWKSServer(t, gw)
	v := newVerifier(t, srv.URL(), clk)
	now := clk.Now()
	valid := issue(t, gw, now, device)
	pub := keyA.Private.Public().(ed25519.PublicKey)
	parts := strings.Split(valid, ".")
	payload, _ := b64.DecodeString(parts[1])
	tampered := parts[0] + "." + b64.EncodeToString([]byte(strings.Replace(string(payload), `"pos":42`, `"pos":1`, 1))) + "." + parts[2]
	other := func(o ticket.AdmissionOptions) string { return issue(t, mustKeys(t, o, keyA), now, device) }

	for _, tt := range []struct {
		name   string
		req    request
		status int
		code   string
	}{
		{"OK", request{token: valid, dev: device}, 200, ""},
		{"OKBearer", request{token: valid, dev: device, bearer: true}, 200, ""},
		{"OKWithinLeeway", request{token: issue(t, gw, now.Add(-time.Minute-4*time.Second), device), dev: device}, 200, ""},
		{"OKSignedByGolangJWT", request{token: sign(t, jwt.SigningMethodEdDSA, "a", claims(now), keyA.Private), dev: device}, 200, ""},
		{"ErrNoToken", request{dev: device}, 401, "missing_token"},
		{"ErrEmptyBearer", request{token: " ", dev: device, bearer: true}, 401, "missing_token"},
		{"ErrGarbage", request{token: "garbage", dev: device}, 401, "malformed_token"},
		{"ErrTooLarge", request{token: valid + strings.Repeat("A", ticket.MaxTokenSize), dev: device}, 401, "malformed_token"},
		{"ErrForgedSignature", request{token: sign(t, jwt.SigningMethodEdDSA, "a", claims(now), keyC.Private), dev: device}, 401, "bad_signature"},
		{"ErrTamperedPayload", request{token: tampered, dev: device}, 401, "bad_signature"},
		{"ErrAlgNone", request{token: sign(t, jwt.SigningMethodNone, "a", claims(now), jwt.UnsafeAllowNoneSignatureType), dev: device}, 401, "bad_algorithm"},
		{"ErrHS256WithPublicKey", request{token: sign(t, jwt.SigningMethodHS256, "a", claims(now), []byte(pub)), dev: device}, 401, "bad_algorithm"},
		{"ErrHS256WithJWKS", request{token: sign(t, jwt.SigningMethodHS256, "a", claims(now), gw.JWKS()), dev: device}, 401, "bad_algorithm"},
		{"ErrUnknownKid", request{token: issue(t, mustKeys(t, gwOpts, keyC), now, device), dev: device}, 401, "unknown_key"},
		{"ErrNoKid", request{token: sign(t, jwt.SigningMethodEdDSA, "", claims(now), keyA.Private), dev: device}, 401, "unknown_key"},
		{"ErrExpired", request{token: issue(t, gw, now.Add(-time.Minute-5*time.Second), device), dev: device}, 401, "expired"},
		{"ErrIssuedInTheFuture", request{token: issue(t, gw, now.Add(6*time.Second), device), dev: device}, 401, "not_yet_valid"},
		{"ErrIssuer", request{token: other(ticket.AdmissionOptions{Issuer: "evil", Audience: gwOpts.Audience}), dev: device}, 401, "wrong_issuer"},
		{"ErrAudience", request{token: other(ticket.AdmissionOptions{Issuer: gwOpts.Issuer, Audience: "concerts"}), dev: device}, 403, "wrong_audience"},
		{"ErrOtherDevice", request{token: valid, dev: "device-two"}, 403, "device_mismatch"},
		{"ErrNoDeviceCookie", request{token: valid}, 403, "device_mismatch"},
		{"ErrMissingIss", request{token: sign(t, jwt.SigningMethodEdDSA, "a", without(claims(now), "iss"), keyA.Private), dev: device}, 401, "missing_claim"},
		{"ErrMissingAud", request{token: sign(t, jwt.SigningMethodEdDSA, "a", without(claims(now), "aud"), keyA.Private), dev: device}, 401, "missing_claim"},
		{"ErrMissingExp", request{token: sign(t, jwt.SigningMethodEdDSA, "a", without(claims(now), "exp"), keyA.Private), dev: device}, 401, "missing_claim"},
		{"ErrMissingIat", request{token: sign(t, jwt.SigningMethodEdDSA, "a", without(claims(now), "iat"), keyA.Private), dev: device}, 401, "missing_claim"},
		{"ErrMissingSub", request{token: sign(t, jwt.SigningMethodEdDSA, "a", without(claims(now), "sub"), keyA.Private), dev: device}, 401, "missing_claim"},
		{"ErrMissingDev", request{token: sign(t, jwt.SigningMethodEdDSA, "a", without(claims(now), "dev"), keyA.Private), dev: device}, 401, "missing_claim"},
		{"ErrMissingJti", request{token: sign(t, jwt.SigningMethodEdDSA, "a", without(claims(now), "jti"), keyA.Private), dev: device}, 401, "missing_claim"},
		{"ErrOtherRoom", request{token: issueFor(t, gw, now, "concert"), dev: device}, 403, "wrong_room"},
		{"ErrOtherWindow", request{token: issueFor(t, gw, now, "vaccine-w2"), dev: device}, 403, "wrong_room"},
		{"ErrLifetime", request{token: other(ticket.AdmissionOptions{Issuer: gwOpts.Issuer, Audience: gwOpts.Audience, TTL: admissionverify.DefaultMaxLifetime + time.Second}), dev: device}, 401, "lifetime_too_long"},
		{"ErrBadJti", request{token: sign(t, jwt.SigningMethodEdDSA, "a", func() jwt.MapClaims { c := claims(now); c["jti"] = "x"; return c }(), keyA.Private), dev: device}, 401, "invalid_claims"},
	} {
		for _, mw := range []struct {
			name string
			do   func(request) result
		}{
			{"NetHTTP", func(q request) result { return q.netHTTP(v.Handler(http.HandlerFunc(echoPerson))) }},
			{"FastHTTP", func(q request) result { return q.fastHTTP(v.FastHTTP(echoPersonFast)) }},
		} {
			t.Run(tt.name+"/"+mw.name, func(t *testing.T) {
				// Twice: a verified token is then served from the cache.
				for range 2 {
					r := mw.do(tt.req)
					if r.status != tt.status || errorCode(r.body) != tt.code {
						t.Fatalf("%d %s, want %d %q", r.status, r.body, tt.status, tt.code)
					}
					if tt.status == 200 {
						var p admissionverify.Person
						if err := json.Unmarshal([]byte(r.body), &p); err != nil || p.Room != "vaccine" || p.Position != 42 || p.Subject == "" || p.Session == "" {
							t.Fatalf("person %s: %v", r.body, err)
						}
						continue
					}
					if ct := r.header.Get("Content-Type"); ct != "application/json" {
						t.Errorf("Content-Type %q", ct)
					}
					if tt.status == 401 && r.header.Get("WWW-Authenticate") == "" {
						t.Error("401 without WWW-Authenticate")
					}
				}
			})
		}
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Errorf("%d JWKS fetches, want 1: unknown kids within the refresh interval fetch no more", n)
	}
}

func TestVerifier_Verify(t *testing.T) {
	clk := newClock()
	gw := mustKeys(t, gwOpts, keyA)
	v := newVerifier(t, newJWKSServer(t, gw).URL(), clk)
	a := admission(device)
	a.Method = "kakao"
	tok, want, err := gw.Issue(a, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify([]byte(tok), []byte(device))
	if err != nil {
		t.Fatal(err)
	}
	if (p != admissionverify.Person{Subject: want.Subject, Session: want.ID, Room: "vaccine", Position: 42, Method: "kakao", Expiry: want.Expiry}) {
		t.Fatalf("person %+v, claims %+v", p, want)
	}
	if _, err := v.Verify([]byte(tok), []byte("device-two")); !errors.Is(err, admissionverify.ErrDevice) {
		t.Fatalf("other device: %v, want ErrDevice", err)
	}
}

// A token of a key published after the last fetch makes the verifier fetch
// again, once, however many requests carry such tokens at the same time.
func TestVerifier_UnknownKidRefreshesOnce(t *testing.T) {
	clk := newClock()
	srv := newJWKSServer(t, mustKeys(t, gwOpts, keyA))
	v := newVerifier(t, srv.URL(), clk)
	if _, err := v.Verify([]byte(issue(t, mustKeys(t, gwOpts, keyA), clk.Now(), device)), []byte(device)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(admissionverify.DefaultRefreshInterval)
	gw := mustKeys(t, gwOpts, keyB, keyA)
	srv.Publish(gw)
	tok := []byte(issue(t, gw, clk.Now(), device))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := v.Verify(tok, []byte(device)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (the first, and one for the new kid)", n)
	}
}

// Tokens naming key ids the gateway never published cannot make the backend
// fetch more than once per RefreshInterval.
func TestVerifier_RefreshRateLimit(t *testing.T) {
	clk := newClock()
	srv := newJWKSServer(t, mustKeys(t, gwOpts, keyA))
	v := newVerifier(t, srv.URL(), clk, func(o *admissionverify.Options) { o.RefreshInterval = 10 * time.Second })
	unknown := mustKeys(t, gwOpts, keyC)
	try := func() {
		t.Helper()
		if _, err := v.Verify([]byte(issue(t, unknown, clk.Now(), device)), []byte(device)); !errors.Is(err, admissionverify.ErrUnknownKey) {
			t.Fatalf("err = %v, want ErrUnknownKey", err)
		}
	}
	for _, step := range []struct {
		advance time.Duration
		fetches int64
	}{
		{0, 1}, // the first fetch
		{0, 1},
		{9 * time.Second, 1},
		{time.Second, 2}, // 10 s after the first
		{5 * time.Second, 2},
		{5 * time.Second, 3},
	} {
		clk.Advance(step.advance)
		for range 3 {
			try()
		}
		if n := srv.fetches.Load(); n != step.fetches {
			t.Fatalf("after %v: %d fetches, want %d", clk.Now().Sub(t0), n, step.fetches)
		}
	}
}

// While the gateway cannot be reached, or answers garbage, the keys held
// keep verifying; fresh keys arrive once it answers again.
func TestVerifier_GatewayDownKeepsKeys(t *testing.T) {
	clk := newClock()
	gw := mustKeys(t, gwOpts, keyA)
	srv := newJWKSServer(t, gw)
	v := newVerifier(t, srv.URL(), clk, func(o *admissionverify.Options) { o.RefreshInterval, o.MaxAge = time.Second, time.Second })
	if _, err := v.Verify([]byte(issue(t, gw, clk.Now(), device)), []byte(device)); err != nil {
		t.Fatal(err)
	}
	for name, fail := range map[string]func(){
		"Status503": func() { srv.status.Store(http.StatusServiceUnavailable) },
		"NotJSON":   func() { srv.SetBody([]byte("<html>maintenance</html>")) },
		"NoKeys":    func() { srv.SetBody([]byte(`{"keys":[]}`)) },
		"OnlyRSA":   func() { srv.SetBody([]byte(`{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB"}]}`)) },
		"BrokenX":   func() { srv.SetBody([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"short"}]}`)) },
		"DuplicateKid": func() {
			srv.SetBody([]byte(strings.Replace(string(mustKeys(t, gwOpts, keyA, keyB).JWKS()), `"kid":"b"`, `"kid":"a"`, 1)))
		},
	} {
		t.Run(name, func(t *testing.T) {
			fail()
			t.Cleanup(func() { srv.status.Store(0); srv.Publish(gw) })
			before := srv.fetches.Load()
			for range 3 {
				clk.Advance(2 * time.Second) // past MaxAge and RefreshInterval: each request may fetch
				if _, err := v.Verify([]byte(issue(t, gw, clk.Now(), device)), []byte(device)); err != nil {
					t.Fatalf("with the held keys: %v", err)
				}
				// An unknown kid fetches (and fails) at once, rather than
				// waiting for the background fetch.
				if _, err := v.Verify([]byte(issue(t, mustKeys(t, gwOpts, keyB), clk.Now(), device)), []byte(device)); !errors.Is(err, admissionverify.ErrUnknownKey) {
					t.Fatalf("unknown kid: %v, want ErrUnknownKey", err)
				}
			}
			if srv.fetches.Load() == before {
				t.Fatal("no fetch was tried")
			}
		})
	}
	// Back up, with a new key.
	next := mustKeys(t, gwOpts, keyB, keyA)
	srv.Publish(next)
	clk.Advance(2 * time.Second)
	if _, err := v.Verify([]byte(issue(t, next, clk.Now(), device)), []byte(device)); err != nil {
		t.Fatalf("new key after recovery: %v", err)
	}
}

// A verifier that never got keys refuses everything, 503, and asks the
// gateway again soon (but not on every request).
func TestVerifier_NeverHadKeys(t *testing.T) {
	clk := newClock()
	gw := mustKeys(t, gwOpts, keyA)
	srv := newJWKSServer(t, gw)
	srv.status.Store(http.StatusNotFound)
	v := newVerifier(t, srv.URL(), clk)
	tok := issue(t, gw, clk.Now(), device)
	for range 3 {
		r := request{token: tok, dev: device}.fastHTTP(v.FastHTTP(echoPersonFast))
		if r.status != 503 || errorCode(r.body) != "keys_unavailable" || r.header.Get("Retry-After") == "" {
			t.Fatalf("%d %s %v, want 503 keys_unavailable with Retry-After", r.status, r.body, r.header)
		}
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	srv.status.Store(0)
	clk.Advance(time.Second)
	if _, err := v.Verify([]byte(tok), []byte(device)); err != nil {
		t.Fatalf("once the gateway answers: %v", err)
	}

	t.Run("Unreachable", func(t *testing.T) {
		down := newJWKSServer(t, gw)
		down.Close()
		v := newVerifier(t, down.URL(), clk)
		if _, err := v.Verify([]byte(tok), []byte(device)); !errors.Is(err, admissionverify.ErrNoKeys) {
			t.Fatalf("err = %v, want ErrNoKeys", err)
		}
	})
}

// Once the gateway drops a key, its tokens stop verifying within MaxAge,
// even tokens verified (and cached) before.
func TestVerifier_DroppedKey(t *testing.T) {
	clk := newClock()
	both := mustKeys(t, gwOpts, keyB, keyA)
	srv := newJWKSServer(t, both)
	v := newVerifier(t, srv.URL(), clk, func(o *admissionverify.Options) { o.RefreshInterval, o.MaxAge = time.Second, time.Second })
	old := mustKeys(t, gwOpts, keyA)
	tok := []byte(issue(t, old, clk.Now(), device))
	if _, err := v.Verify(tok, []byte(device)); err != nil {
		t.Fatal(err)
	}
	srv.Publish(mustKeys(t, gwOpts, keyB))
	clk.Advance(2 * time.Second)
	waitRefused(t, v, tok, admissionverify.ErrUnknownKey)
}

// waitRefused presents tok until it is refused with want: the key set is
// fetched in the background, so the first attempts may still pass.
func waitRefused(t *testing.T, v *admissionverify.Verifier, tok []byte, want error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := v.Verify(tok, []byte(device))
		if errors.Is(err, want) {
			return
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("err = %v, want %v", err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A token verified before costs no allocation in the fasthttp middleware.
func TestVerifier_FastHTTPCachedDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	clk := newClock()
	gw := mustKeys(t, gwOpts, keyA)
	v := newVerifier(t, newJWKSServer(t, gw).URL(), clk)
	h := v.FastHTTP(func(ctx *fasthttp.RequestCtx) {
		if p, ok := admissionverify.FromContext(ctx); !ok || p.Position != 42 {
			t.Error("no person")
		}
	})
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetCookie(admissionverify.AdmissionCookie, issue(t, gw, clk.Now(), device))
	ctx.Request.Header.SetCookie(admissionverify.DeviceCookie, device)
	h(&ctx)
	if got := testing.AllocsPerRun(100, func() {
		ctx.ResetUserValues()
		h(&ctx)
	}); got != 0 {
		t.Fatalf("%v allocations per cached request", got)
	}
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("status %d", ctx.Response.StatusCode())
	}
}

func TestComplete(t *testing.T) {
	w := httptest.NewRecorder()
	admissionverify.Complete(w)
	if got := w.Header().Get(admissionverify.CompleteHeader); got != "1" {
		t.Fatalf("net/http: %q", got)
	}
	var ctx fasthttp.RequestCtx
	admissionverify.CompleteFast(&ctx)
	if got := string(ctx.Response.Header.Peek(admissionverify.CompleteHeader)); got != "1" {
		t.Fatalf("fasthttp: %q", got)
	}
}

func BenchmarkFastHTTPCached(b *testing.B) {
	clk := newClock()
	gw := mustKeys(b, gwOpts, keyA)
	v := newVerifier(b, newJWKSServer(b, gw).URL(), clk)
	h := v.FastHTTP(func(*fasthttp.RequestCtx) {})
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetCookie(admissionverify.AdmissionCookie, issue(b, gw, clk.Now(), device))
	ctx.Request.Header.SetCookie(admissionverify.DeviceCookie, device)
	b.ReportAllocs()
	for b.Loop() {
		ctx.ResetUserValues()
		h(&ctx)
	}
}

// Rooms names the rooms accepted exactly, or by a prefix ending in "*": a
// token of any other room (another waiting room, another eligibility
// window) is refused even though the gateway's keys signed it.
func TestVerifier_Rooms(t *testing.T) {
	clk := newClock()
	gw := mustKeys(t, gwOpts, keyA)
	srv := newJWKSServer(t, gw)
	for _, tt := range []struct {
		rooms []string
		room  string
		want  error
	}{
		{[]string{"vaccine"}, "vaccine", nil},
		{[]string{"vaccine"}, "vaccine-w1", admissionverify.ErrRoom},
		{[]string{"vaccine"}, "vaccin", admissionverify.ErrRoom},
		{[]string{"vaccine", "vaccine-*"}, "vaccine-w1", nil},
		{[]string{"vaccine-*"}, "vaccine", admissionverify.ErrRoom},
		{[]string{"vaccine-*"}, "concert-w1", admissionverify.ErrRoom},
		{[]string{"vaccine-w1", "vaccine-w2"}, "vaccine-w2", nil},
		{[]string{"vaccine-w1", "vaccine-w2"}, "vaccine-w3", admissionverify.ErrRoom},
		{[]string{"*"}, "concert", nil},
	} {
		v := newVerifier(t, srv.URL(), clk, func(o *admissionverify.Options) { o.Rooms = tt.rooms })
		if _, err := v.Verify([]byte(issueFor(t, gw, clk.Now(), tt.room)), []byte(device)); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("rooms %q, token for %q: err = %v, want %v", tt.rooms, tt.room, err, tt.want)
		}
	}
}

// MaxLifetime is the gateway's session_duration: a token signed with a
// longer lifetime is refused, one at it passes.
func TestVerifier_MaxLifetime(t *testing.T) {
	clk := newClock()
	gw := mustKeys(t, gwOpts, keyA)
	srv := newJWKSServer(t, gw)
	v := newVerifier(t, srv.URL(), clk, func(o *admissionverify.Options) { o.MaxLifetime = 30 * time.Minute })
	for _, tt := range []struct {
		ttl  time.Duration
		want error
	}{
		{30 * time.Minute, nil},
		{30*time.Minute + time.Second, admissionverify.ErrLifetime},
		{24 * time.Hour, admissionverify.ErrLifetime},
	} {
		o := gwOpts
		o.TTL = tt.ttl
		if _, err := v.Verify([]byte(issue(t, mustKeys(t, o, keyA), clk.Now(), device)), []byte(device)); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("lifetime %v: err = %v, want %v", tt.ttl, err, tt.want)
		}
	}
}
