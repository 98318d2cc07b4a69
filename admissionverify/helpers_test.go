package admissionverify_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/admissionverify"
	"github.com/waitroom/waitroom/ticket"
)

var (
	t0     = time.Unix(1_628_506_800, 0) // 2021-08-09 20:00 KST
	keyA   = ticket.EdKey{ID: "a", Private: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))}
	keyB   = ticket.EdKey{ID: "b", Private: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))}
	keyC   = ticket.EdKey{ID: "c", Private: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))}
	gwOpts = ticket.AdmissionOptions{Issuer: "waitroom", Audience: "booking", TTL: time.Minute}
	b64    = base64.RawURLEncoding
)

const device = "device-one"

// clock is a settable clock, shared by the gateway's keys and the verifier.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(t0.UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// jwksServer is the gateway's /.well-known/jwks.json: it serves the JWKS of
// the keys it is given, or fails, and counts the requests.
type jwksServer struct {
	*httptest.Server
	body    atomic.Pointer[[]byte]
	status  atomic.Int64 // 0 means 200
	fetches atomic.Int64
}

func newJWKSServer(tb testing.TB, k *ticket.AdmissionKeys) *jwksServer {
	tb.Helper()
	s := &jwksServer{}
	s.Publish(k)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if st := s.status.Load(); st != 0 {
			http.Error(w, "unavailable", int(st))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*s.body.Load())
	}))
	tb.Cleanup(s.Close)
	return s
}

func (s *jwksServer) Publish(k *ticket.AdmissionKeys) { s.SetBody(k.JWKS()) }
func (s *jwksServer) SetBody(b []byte)                { s.body.Store(&b) }
func (s *jwksServer) URL() string                     { return s.Server.URL + "/.well-known/jwks.json" }

func mustKeys(tb testing.TB, o ticket.AdmissionOptions, keys ...ticket.EdKey) *ticket.AdmissionKeys {
	tb.Helper()
	k, err := ticket.NewAdmissionKeys(keys, o)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func newVerifier(tb testing.TB, jwksURL string, clk *clock, mod ...func(*admissionverify.Options)) *admissionverify.Verifier {
	tb.Helper()
	o := admissionverify.Options{
		JWKSURL: jwksURL, Issuer: gwOpts.Issuer, Audience: gwOpts.Audience, Rooms: []string{"vaccine"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clk.Now,
	}
	for _, m := range mod {
		m(&o)
	}
	v, err := admissionverify.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func devHash(dev string) string {
	h := ticket.DeviceHash([]byte(dev))
	return b64.EncodeToString(h[:])
}

func admission(dev string) ticket.Admission {
	return ticket.Admission{Subject: b64.EncodeToString([]byte("person-0123456789")), Device: devHash(dev), Room: "vaccine", Position: 42, Method: "pass"}
}

// issue is what the gateway does on admission.
func issue(tb testing.TB, k *ticket.AdmissionKeys, now time.Time, dev string) string {
	tb.Helper()
	tok, _, err := k.Issue(admission(dev), now)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// issueFor is issue for another room than the test verifiers accept.
func issueFor(tb testing.TB, k *ticket.AdmissionKeys, now time.Time, room string) string {
	tb.Helper()
	a := admission(device)
	a.Room = room
	tok, _, err := k.Issue(a, now)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// sign builds a token with golang-jwt, as an attacker would.
func sign(tb testing.TB, m jwt.SigningMethod, kid string, claims jwt.MapClaims, key any) string {
	tb.Helper()
	t := jwt.NewWithClaims(m, claims)
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// claims are a valid token's claims at now, for device.
func claims(now time.Time) jwt.MapClaims {
	a := admission(device)
	return jwt.MapClaims{
		"iss": gwOpts.Issuer, "aud": gwOpts.Audience, "sub": a.Subject, "dev": a.Device, "room": a.Room, "pos": a.Position,
		"jti": b64.EncodeToString([]byte("session-id-00000")), "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
}

func without(c jwt.MapClaims, claim string) jwt.MapClaims {
	delete(c, claim)
	return c
}

func kidOf(tb testing.TB, tok string) string {
	tb.Helper()
	h, err := b64.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		tb.Fatal(err)
	}
	var hdr struct{ Kid string }
	if err := json.Unmarshal(h, &hdr); err != nil {
		tb.Fatal(err)
	}
	return hdr.Kid
}

// echoPerson answers 200 with the admitted person as JSON.
func echoPerson(w http.ResponseWriter, r *http.Request) {
	p, ok := admissionverify.FromContext(r.Context())
	if !ok {
		http.Error(w, "no person", http.StatusInternalServerError)
		return
	}
	_ = json.NewEncoder(w).Encode(p)
}

func echoPersonFast(ctx *fasthttp.RequestCtx) {
	p, ok := admissionverify.FromContext(ctx)
	if !ok {
		ctx.Error("no person", fasthttp.StatusInternalServerError)
		return
	}
	b, _ := json.Marshal(p)
	ctx.SetBody(b)
}

// request is one request to a middleware: the token in the cookie (or as
// a bearer token), and the device cookie when dev is not empty.
type request struct {
	token, dev string
	bearer     bool
}

type result struct {
	status int
	body   string
	header http.Header
}

func (q request) netHTTP(h http.Handler) result {
	r := httptest.NewRequest(http.MethodGet, "/book", nil)
	if q.token != "" && q.bearer {
		r.Header.Set("Authorization", "Bearer "+q.token)
	} else if q.token != "" {
		r.AddCookie(&http.Cookie{Name: admissionverify.AdmissionCookie, Value: q.token})
	}
	if q.dev != "" {
		r.AddCookie(&http.Cookie{Name: admissionverify.DeviceCookie, Value: q.dev})
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return result{w.Code, w.Body.String(), w.Result().Header}
}

func (q request) fastHTTP(h fasthttp.RequestHandler) result {
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/book")
	if q.token != "" && q.bearer {
		ctx.Request.Header.Set("Authorization", "Bearer "+q.token)
	} else if q.token != "" {
		ctx.Request.Header.SetCookie(admissionverify.AdmissionCookie, q.token)
	}
	if q.dev != "" {
		ctx.Request.Header.SetCookie(admissionverify.DeviceCookie, q.dev)
	}
	h(&ctx)
	hdr := http.Header{}
	for k, v := range ctx.Response.Header.All() {
		hdr.Add(string(k), string(v))
	}
	return result{ctx.Response.StatusCode(), string(ctx.Response.Body()), hdr}
}

// errorCode is the code of a JSON error answer, or "".
func errorCode(body string) string {
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal([]byte(body), &e) != nil || e.Error.Message == "" {
		return ""
	}
	return e.Error.Code
}
