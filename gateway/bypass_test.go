package gateway_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
