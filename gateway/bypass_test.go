package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/ticket"
)

// The bypass suite: every shortcut around the line that the 2021 system saw
// or that waiting rooms are known to fall for (see shared/ANCHORS.md) must be
// refused before the backend. Direct paths, forged and other-device queue
// tickets, joining twice and outside the window, admission before opening
// and ended sessions are in the other tests of this package; these are the
// rest.
func TestBypass(t *testing.T) {
	h := mustIdentityHarness(t, opening.Add(time.Minute), 3_600_000)
	p := h.person()
	p.verify("kakao", "1990-03-19", "Kim")
	h.advance(time.Second)
	if _, s := p.status(); s.State != "admitted" {
		t.Fatalf("not admitted: %+v", s)
	}
	dev := p.cookie("wr_device")
	real := p.cookie("wr_admission")
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	claims := jwt.MapClaims{"iss": "waitroom", "aud": "booking", "sub": "x", "dev": "x", "room": "r", "jti": "c2Vzc2lvbi1pZC0wMDAwMA",
		"iat": h.clock().Unix(), "exp": h.clock().Add(time.Hour).Unix()}
	sign := func(m jwt.SigningMethod, key any) string {
		tok := jwt.NewWithClaims(m, claims)
		tok.Header["kid"] = "whatever"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	jwks := string(p.mustGet("/.well-known/jwks.json"))
	for _, tc := range []struct{ name, token string }{
		{"AlgNone", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType)},
		{"HS256WithThePublicKey", sign(jwt.SigningMethodHS256, []byte(jwks))},
		{"OtherEd25519Key", sign(jwt.SigningMethodEdDSA, otherKey)},
		{"QueueTicketAsAdmission", p.cookie("wr_ticket")},
		{"Truncated", real[:len(real)-5]},
		{"Empty", ""},
	} {
		t.Run("Admission"+tc.name, func(t *testing.T) {
			n := len(h.backend.requests())
			code, _ := p.call("GET", "/book", "", map[string]string{"Cookie": "wr_admission=" + tc.token + "; wr_device=" + dev})
			if code != 403 || len(h.backend.requests()) != n {
				t.Fatalf("got %d, backend reached: %v", code, len(h.backend.requests()) != n)
			}
		})
	}
	t.Run("AdmissionExpired", func(t *testing.T) {
		h.advance(11 * time.Minute) // past session_duration
		code, _ := p.call("GET", "/book", "", map[string]string{"Cookie": "wr_admission=" + real + "; wr_device=" + dev})
		if code != 403 {
			t.Fatalf("expired admission token: %d", code)
		}
	})
	t.Run("IDTokenFromAnotherMethod", func(t *testing.T) {
		q := h.person()
		resp, _ := q.do("GET", "/waitroom/auth/phone/start?return=%2F", "", nil) // phone's state cookie
		phoneAuth, _ := url.Parse(resp.Header.Get("Location"))
		resp, _ = q.do("GET", "/waitroom/auth/kakao/start?return=%2F", "", nil)
		r, err := q.client.Get(resp.Header.Get("Location") + "&login_hint=" + url.QueryEscape("auto:1991-01-19:Choi"))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		kakaoBack, _ := url.Parse(r.Header.Get("Location"))
		// kakao's code, with phone's state, at phone's callback.
		path := "/waitroom/auth/phone/callback?code=" + kakaoBack.Query().Get("code") + "&state=" + phoneAuth.Query().Get("state")
		code, s := q.call("GET", path, "", nil)
		if code != 401 || s.Error == nil || !strings.HasPrefix(s.Error.Code, "verification_") {
			t.Fatalf("another method's code: %d %+v", code, s.Error)
		}
	})
}

// A window's close stops its admissions: people still waiting are told the
// window closed, and nobody new gets in.
func TestBypass_WindowClose(t *testing.T) {
	closes := opening.Add(22 * time.Hour) // 2021-08-10 18:00 KST
	h := mustIdentityHarness(t, closes.Add(-time.Minute), 1)
	p := h.person()
	p.verify("kakao", "1990-03-19", "Kim")
	if code, s := p.status(); code != 200 || s.State != "waiting" {
		t.Fatalf("before the close: %d %+v", code, s)
	}
	h.advance(2 * time.Minute)
	if code, s := p.status(); code != 410 || s.Error == nil || s.Error.Code != "window_closed" {
		t.Fatalf("status after the close: %d %+v", code, s.Error)
	}
	resp, body := h.person().verify("phone", "1988-07-29", "Jung")
	if resp.StatusCode != 403 || !strings.Contains(body, "2021-08-19 20:00 KST") {
		t.Fatalf("verifying after the close: %d %.300s", resp.StatusCode, body)
	}
}

func (p *person) mustGet(path string) []byte {
	p.t.Helper()
	resp, body := p.do("GET", path, "", nil)
	if resp.StatusCode != 200 {
		p.t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return body
}

// admissionToken signs an admission token with the harness's own keys, as
// a gateway serving room with a session of ttl would, bound to device (a
// wr_device cookie value).
func (h *harness) admissionToken(room string, ttl time.Duration, device string) string {
	h.t.Helper()
	k, err := ticket.NewAdmissionKeys(h.edKeys, ticket.AdmissionOptions{Issuer: "waitroom", Audience: "booking", TTL: ttl})
	if err != nil {
		h.t.Fatal(err)
	}
	sub, dev := ticket.NewSubject(), ticket.DeviceHash([]byte(device))
	tok, _, err := k.Issue(ticket.Admission{
		Subject: base64.RawURLEncoding.EncodeToString(sub[:]), Device: base64.RawURLEncoding.EncodeToString(dev[:]),
		Room: room, Position: 1,
	}, h.clock())
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// sendAdmission sends GET /book with an admission token and its device
// cookie from a fresh browser, and reports the status and whether the
// backend was reached.
func (h *harness) sendAdmission(token, device string) (int, bool) {
	h.t.Helper()
	n := len(h.backend.requests())
	resp, _ := h.person().do("GET", "/book", "", map[string]string{"Cookie": "wr_admission=" + token + "; wr_device=" + device})
	return resp.StatusCode, len(h.backend.requests()) > n
}

// An admission token is valid only in its own room, and only with the
// lifetime this gateway gives (session_duration, 10 minutes here): a token
// signed with the same keys by a gateway of another room (the anonymous
// room of the same site, say) or by one configured with longer sessions
// lets nobody in.
func TestBypass_ForeignAdmission(t *testing.T) {
	h := mustHarness(t, harnessOptions{})
	dev := ticket.NewDeviceID()
	for _, tc := range []struct {
		name  string
		token string
		want  int
	}{
		{"OwnRoom", h.admissionToken("r", 10*time.Minute, dev), 200},
		{"OtherRoom", h.admissionToken("anon", 10*time.Minute, dev), 403},
		{"LongerLifetime", h.admissionToken("r", 11*time.Minute, dev), 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, reached := h.sendAdmission(tc.token, dev); code != tc.want || reached != (tc.want == 200) {
				t.Fatalf("got %d (backend reached: %v), want %d", code, reached, tc.want)
			}
		})
	}
}

// Each eligibility window is a room of its own. When the gateway moves to
// the next window, the tokens of the one just closed stay valid until they
// expire, so that people admitted before the switch (here, or at a gateway
// of the fleet that switched a moment later) finish their booking; a token
// of any other window, earlier or later, is refused.
func TestBypass_OtherWindow(t *testing.T) {
	h := mustHarness(t, harnessOptions{})
	dev := ticket.NewDeviceID()
	tokens := map[string]string{}
	for _, w := range []string{"r", "r-w2", "r-w3"} {
		tokens[w] = h.admissionToken(w, 10*time.Minute, dev)
	}
	for _, step := range []struct {
		serve string   // the room the gateway moves to ("" stays)
		valid []string // the rooms whose tokens pass
	}{
		{"", []string{"r"}},
		{"r-w2", []string{"r", "r-w2"}},
		{"r-w3", []string{"r-w2", "r-w3"}},
	} {
		if step.serve != "" {
			h.gw.SetRoom(h.room(step.serve))
		}
		for w, tok := range tokens {
			want := 403
			if slices.Contains(step.valid, w) {
				want = 200
			}
			if code, reached := h.sendAdmission(tok, dev); code != want || reached != (want == 200) {
				t.Errorf("serving %s: token of %s: got %d (backend reached: %v), want %d", h.gw.Room().Name, w, code, reached, want)
			}
		}
	}
}

// room opens another room in the harness's store, with its keys.
func (h *harness) room(name string) *gateway.Room {
	h.t.Helper()
	st, err := h.store.Init(context.Background(), name, admission.Settings{RatePerHour: 3600})
	if err != nil {
		h.t.Fatal(err)
	}
	q, err := ticket.NewQueueCodec(h.hmacKeys, ticket.QueueOptions{Issuer: "waitroom", Room: name, Epoch: st.Epoch, TTL: time.Hour})
	if err != nil {
		h.t.Fatal(err)
	}
	return &gateway.Room{Name: name, Controller: admission.NewController(h.store, name, st, admission.ControllerOptions{}), Queue: q, Window: name}
}
