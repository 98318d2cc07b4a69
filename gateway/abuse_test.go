package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/waitroom/waitroom/gateway"
)

// defaultBudgets gives a harness the default budgets (the harness's own are
// those of a crowd behind one address).
func defaultBudgets(o *gateway.Options) { o.Abuse = gateway.Abuse{} }

// kakaoSignal reads the kakao method's light after a refresh.
func kakaoSignal(t *testing.T, h *harness) gateway.MethodSignal {
	t.Helper()
	h.gw.Refresh(context.Background())
	_, b := h.person().do("GET", "/waitroom/api/signals", "", nil)
	var s struct{ Methods []gateway.MethodSignal }
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	for _, m := range s.Methods {
		if m.Name == "kakao" {
			return m
		}
	}
	t.Fatalf("no kakao in %s", b)
	return gateway.MethodSignal{}
}

// A flood of starts without cookies is served but moves no light: before,
// about 200 of them put a method at capacity for a minute.
func TestAbuse_StartFlood(t *testing.T) {
	h := mustIdentityHarnessWith(t, opening.Add(time.Minute), 3_600_000, defaultBudgets) // kakao: capacity 100
	for i := range 300 {
		if resp, _ := h.person().do("GET", "/waitroom/auth/kakao/start", "", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("start %d without cookies: %d", i, resp.StatusCode)
		}
	}
	if s := kakaoSignal(t, h); s.InFlight != 0 || !s.Accepting || s.Light != "green" {
		t.Fatalf("after 300 starts without cookies: %+v; want green, accepting, none in flight", s)
	}

	t.Run("OneDevice", func(t *testing.T) {
		p := h.person()
		p.do("GET", "/waitroom/", "", nil) // the page issues the device
		for i := range 6 {
			if resp, _ := p.do("GET", "/waitroom/auth/kakao/start", "", nil); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("start %d of one device: %d", i+1, resp.StatusCode)
			}
		}
		resp, b := p.do("GET", "/waitroom/auth/kakao/start", "", nil)
		var e standing
		_ = json.Unmarshal(b, &e)
		if resp.StatusCode != http.StatusTooManyRequests || e.Error == nil || e.Error.Code != "too_many_starts" || resp.Header.Get("Retry-After") != "30" {
			t.Fatalf("7th start of one device: %d Retry-After %q %s; want 429 too_many_starts after 30 s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
		if s := kakaoSignal(t, h); s.InFlight != 6 {
			t.Fatalf("in flight %d; want the device's 6 counted starts", s.InFlight)
		}
	})

	t.Run("FreshDevicesOneAddress", func(t *testing.T) {
		// Devices fetched one by one from the page, each starting once:
		// the address's first 30 count (the default burst), the rest are
		// served uncounted. 6 counted before.
		for i := range 100 {
			p := h.person()
			p.do("GET", "/waitroom/", "", nil)
			if resp, _ := p.do("GET", "/waitroom/auth/kakao/start", "", nil); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("start of fresh device %d: %d", i, resp.StatusCode)
			}
		}
		if s := kakaoSignal(t, h); s.InFlight != 30 {
			t.Fatalf("in flight %d; want 30, the address's budget", s.InFlight)
		}
	})
}

// Callbacks that carry an error of their own are not the provider's
// answer: a flood of them does not grey a method out.
func TestAbuse_ForgedCallbackErrors(t *testing.T) {
	h := mustIdentityHarnessWith(t, opening.Add(time.Minute), 3_600_000, nil)
	for range 20 {
		p := h.person()
		p.do("GET", "/waitroom/", "", nil)
		resp, _ := p.do("GET", "/waitroom/auth/kakao/start", "", nil)
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		q := url.Values{"state": {loc.Query().Get("state")}, "error": {"server_error"}}
		if resp, _ := p.do("GET", "/waitroom/auth/kakao/callback?"+q.Encode(), "", nil); resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("callback with error=server_error: %d", resp.StatusCode)
		}
	}
	if s := kakaoSignal(t, h); s.Light != "green" || !s.Accepting {
		t.Fatalf("after 20 callbacks carrying their own error: %+v; want green", s)
	}
}

// anonymousBudgets is a gateway behind a trusted proxy (127.0.0.1) with the
// default budgets and a small proof of work.
func anonymousBudgets(o *gateway.Options) {
	o.Abuse = gateway.Abuse{ProofBits: 8}
	o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
}

// joinFrom joins as p from addr (X-Forwarded-For through the trusted
// proxy), with proof when not empty.
func (p *person) joinFrom(addr, proof string) (int, standing, http.Header) {
	p.t.Helper()
	body, _ := json.Marshal(map[string]string{"return": "/book", "proof": proof})
	resp, b := p.do("POST", "/waitroom/api/join", string(body), map[string]string{"X-Forwarded-For": addr, "Content-Type": "application/json"})
	var s standing
	if err := json.Unmarshal(b, &s); err != nil {
		p.t.Fatalf("join: %d %q", resp.StatusCode, b)
	}
	return resp.StatusCode, s, resp.Header
}

// solve gets a challenge for p's device and solves it.
func (p *person) solve(addr string) string {
	p.t.Helper()
	resp, b := p.do("GET", "/waitroom/api/challenge", "", map[string]string{"X-Forwarded-For": addr})
	var c struct {
		Challenge string
		Bits      int
	}
	if err := json.Unmarshal(b, &c); err != nil || resp.StatusCode != 200 {
		p.t.Fatalf("challenge: %d %q", resp.StatusCode, b)
	}
	proof, err := gateway.SolveChallenge(c.Challenge, c.Bits)
	if err != nil {
		p.t.Fatal(err)
	}
	return proof
}

func TestAbuse_JoinFlood(t *testing.T) {
	h := mustHarness(t, harnessOptions{opts: anonymousBudgets})
	const attacker = "203.0.113.9"
	places := 0
	for range 200 { // no cookies: a new device each time
		code, s, hdr := h.person().joinFrom(attacker, "")
		switch {
		case code == 200:
			places++
		case code != 429 || s.Error.Code != "challenge_required" || hdr.Get("Retry-After") == "":
			t.Fatalf("join flood: %d %+v", code, s.Error)
		}
	}
	if places != 5 {
		t.Fatalf("the flooding address took %d places; want 5, its budget", places)
	}
	if code, s, _ := h.person().joinFrom("198.51.100.7", ""); code != 200 || s.Position != 6 {
		t.Fatalf("someone else joining during the flood: %d %+v", code, s)
	}

	t.Run("ProofForOneDevice", func(t *testing.T) {
		p := h.person()
		proof := p.solve(attacker)
		if code, s, _ := h.person().joinFrom(attacker, proof); code != 429 || s.Error.Code != "challenge_failed" {
			t.Fatalf("a proof used by another device: %d %+v", code, s.Error)
		}
		// The same device, dropping its ticket each time: its own budget
		// (3 at once) ends the replay.
		for i := range 4 {
			p.client.Jar.SetCookies(&url.URL{Scheme: "http", Host: h.url[len("http://"):], Path: "/waitroom/"}, []*http.Cookie{{Name: "wr_ticket", Value: "", MaxAge: -1, Path: "/waitroom/"}})
			code, s, _ := p.joinFrom(attacker, proof)
			if want := 200; i == 3 {
				if code != 429 || s.Error.Code != "too_many_joins" {
					t.Fatalf("replay %d: %d %+v; want too_many_joins", i+1, code, s.Error)
				}
			} else if code != want {
				t.Fatalf("replay %d: %d %+v", i+1, code, s.Error)
			}
		}
	})

	t.Run("ExpiredChallenge", func(t *testing.T) {
		p := h.person()
		proof := p.solve(attacker)
		h.advance(5*time.Minute + time.Second)
		// One place came back to the address meanwhile (0.2 a minute).
		if code, _, _ := h.person().joinFrom(attacker, ""); code != 200 {
			t.Fatalf("the address's budget did not refill: %d", code)
		}
		if code, s, _ := p.joinFrom(attacker, proof); code != 429 || s.Error.Code != "challenge_failed" {
			t.Fatalf("an expired proof: %d %+v", code, s.Error)
		}
	})
}

// 2,000 people behind one carrier-grade NAT address all get a place: the
// first few free, the others after their browser solved a challenge.
func TestAbuse_SharedAddress(t *testing.T) {
	h := mustHarness(t, harnessOptions{opts: anonymousBudgets})
	const cgnat = "100.64.0.1"
	seen := map[int64]bool{}
	for i := range 2000 {
		p := h.person()
		code, s, _ := p.joinFrom(cgnat, "")
		if code == 429 && s.Error.Code == "challenge_required" {
			code, s, _ = p.joinFrom(cgnat, p.solve(cgnat))
		}
		if code != 200 || seen[s.Position] {
			t.Fatalf("person %d behind the shared address: %d %+v", i, code, s)
		}
		seen[s.Position] = true
	}
}
