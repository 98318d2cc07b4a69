package gateway_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waitroom/waitroom/draw"
	"github.com/waitroom/waitroom/eligibility"
	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/identity"
	"github.com/waitroom/waitroom/identity/devidp"
)

// opening is 2021-08-09 20:00 KST, when the first window of the August 2021
// schedule opened (birth dates ending in 9).
var opening = time.Date(2021, 8, 9, 11, 0, 0, 0, time.UTC)

// mustIdentityHarness is a gateway with identity first: the development
// identity provider (kakao and phone, and naver, which gives no CI), the
// August 2021 schedule, the clock at start.
func mustIdentityHarness(t *testing.T, start time.Time, rate int64) *harness {
	t.Helper()
	return mustIdentityHarnessWith(t, start, rate, nil)
}

// mustIdentityHarnessWith is mustIdentityHarness with opts applied to the
// gateway's options.
func mustIdentityHarnessWith(t *testing.T, start time.Time, rate int64, opts func(*gateway.Options)) *harness {
	t.Helper()
	b, err := os.ReadFile("../etc/schedule-2021-08.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sched, err := eligibility.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	var h *harness
	clock := func() time.Time { return h.clock() }
	srv := httptest.NewUnstartedServer(nil) // started first: the provider's issuer is its URL
	srv.Start()
	t.Cleanup(srv.Close)
	idp, err := devidp.New(devidp.Options{
		BaseURL: srv.URL, Methods: []devidp.MethodSettings{{Name: "kakao"}, {Name: "phone"}, {Name: "naver", WithoutCI: true}},
		Clients: map[string]string{"waitroom": "secret"}, Now: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = idp

	h = mustHarness(t, harnessOptions{rate: rate, start: start, opts: opts, window: func(h *harness) (*gateway.Identity, eligibility.Window) {
		w := sched.Windows()[0]
		var methods []identity.MethodConfig
		for _, m := range []string{"kakao", "phone", "naver"} {
			methods = append(methods, identity.MethodConfig{Name: m, Label: m, LabelEn: strings.ToUpper(m), Issuer: srv.URL + "/" + m, ClientID: "waitroom", ClientSecret: "secret",
				RedirectURL: h.url + "/waitroom/auth/" + m + "/callback", Capacity: 100, Enabled: true})
		}
		v, err := identity.New(methods, identity.Options{Secret: []byte(strings.Repeat("s", 32)), Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		return &gateway.Identity{Verifier: v, People: h.store, Stats: h.store, Schedule: sched, Block: 10 * time.Minute}, w
	}})
	return h
}

// verify walks a person through a verification with method for someone born
// on birth, as a browser would, and returns where the gateway sent them.
func (p *person) verify(method, birth, name string) (*http.Response, string) {
	p.t.Helper()
	resp, body := p.do("GET", "/waitroom/auth/"+method+"/start?return=%2Fbook", "", map[string]string{"Accept": "text/html"})
	if resp.StatusCode != http.StatusSeeOther {
		return resp, string(body)
	}
	authURL := resp.Header.Get("Location") + "&login_hint=" + url.QueryEscape("auto:"+birth+":"+name)
	r, err := p.client.Get(authURL)
	if err != nil {
		p.t.Fatal(err)
	}
	r.Body.Close()
	callback := r.Header.Get("Location")
	if !strings.HasPrefix(callback, p.h.url) {
		p.t.Fatalf("provider answered %d, Location %q", r.StatusCode, callback)
	}
	resp, body = p.do("GET", strings.TrimPrefix(callback, p.h.url), "", map[string]string{"Accept": "text/html"})
	return resp, string(body)
}

func TestIdentity_Flow(t *testing.T) {
	h := mustIdentityHarness(t, opening.Add(time.Minute), 3_600_000)
	t.Run("VerifyFirst", func(t *testing.T) {
		code, s := h.person().call("POST", "/waitroom/api/join", "", nil)
		if code != 403 || s.Error == nil || s.Error.Code != "verify_first" {
			t.Fatalf("anonymous join: %d %+v", code, s.Error)
		}
	})
	p := h.person()
	t.Run("OK", func(t *testing.T) {
		resp, _ := p.verify("kakao", "1990-03-19", "Kim")
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/waitroom/?return=%2Fbook" {
			t.Fatalf("callback answered %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		code, s := p.status()
		if code != 200 || s.Position != 1 {
			t.Fatalf("status after verifying: %d %+v", code, s)
		}
		// Verifying again from the same device, even with another method,
		// keeps the same place.
		p.verify("phone", "1990-03-19", "Kim")
		if _, again := p.status(); again.Position != 1 {
			t.Fatalf("second verification moved the place: %+v", again)
		}
		h.advance(time.Second)
		if _, s = p.status(); s.State != "admitted" {
			t.Fatalf("not admitted: %+v", s)
		}
		claims, err := h.adm.Verify([]byte(s.Admission), []byte(p.cookie("wr_device")), h.clock())
		if err != nil {
			t.Fatal(err)
		}
		if claims.Method != "phone" && claims.Method != "kakao" || len(claims.Subject) != 22 {
			t.Fatalf("admission claims %+v: want the method and the person's hash", claims)
		}
	})
	t.Run("ErrHeldElsewhere", func(t *testing.T) {
		// The provider gives Kim another subject at every method; the CI
		// is what tells the gateway it is Kim again.
		for _, method := range []string{"kakao", "phone"} {
			resp, body := h.person().verify(method, "1990-03-19", "Kim")
			if resp.StatusCode != 409 || !strings.Contains(body, `data-code="held"`) {
				t.Fatalf("second device with %s: %d %.300s", method, resp.StatusCode, body)
			}
		}
	})
	t.Run("ErrNoPersonClaim", func(t *testing.T) {
		other := h.person()
		resp, body := other.verify("naver", "1991-03-19", "Choi")
		if resp.StatusCode != 403 || !strings.Contains(body, "(no CI): pick another method") {
			t.Fatalf("a token without ci: %d %.400s", resp.StatusCode, body)
		}
		if code, s := other.status(); code != 401 || s.Error == nil || s.Error.Code != "no_ticket" {
			t.Fatalf("after a token without ci: status %d %+v, want no ticket", code, s.Error)
		}
		// Kim's verification with naver is refused the same way, and does
		// not touch Kim's place.
		if resp, _ := p.verify("naver", "1990-03-19", "Kim"); resp.StatusCode != 403 {
			t.Fatalf("Kim with naver: %d", resp.StatusCode)
		}
		if _, s := p.status(); s.Position != 1 {
			t.Fatalf("Kim's place after a refused verification: %+v", s)
		}
		// Both count against naver's light as failures.
		stats, err := h.store.VerifyStats(context.Background(), h.gw.Room().Name, []string{"naver"}, h.clock())
		if err != nil || stats["naver"].Failed != 2 || stats["naver"].Completed != 0 {
			t.Fatalf("naver's statistics %+v (%v): want 2 failed", stats["naver"], err)
		}
	})
	t.Run("NotYourDay", func(t *testing.T) {
		resp, body := h.person().verify("kakao", "1990-03-10", "Lee")
		if resp.StatusCode != 403 || !strings.Contains(body, "2021-08-10 20:00 KST") {
			t.Fatalf("digit 0 on 9 August: %d %.400s", resp.StatusCode, body)
		}
	})
	t.Run("TooOld", func(t *testing.T) {
		resp, body := h.person().verify("kakao", "1960-03-19", "Park")
		if resp.StatusCode != 403 || !strings.Contains(body, "not_eligible_age") {
			t.Fatalf("age 61: %d %.300s", resp.StatusCode, body)
		}
	})
	t.Run("ErrStateForged", func(t *testing.T) {
		code, s := h.person().call("GET", "/waitroom/auth/kakao/callback?code=x&state=y", "", nil)
		if code != 400 || s.Error == nil || s.Error.Code != "verification_expired" {
			t.Fatalf("forged callback: %d %+v", code, s.Error)
		}
	})
	t.Run("UnknownMethod", func(t *testing.T) {
		if code, _ := h.person().call("GET", "/waitroom/auth/nope/start", "", nil); code != 404 {
			t.Fatalf("unknown method: %d", code)
		}
	})
	t.Run("Signals", func(t *testing.T) {
		refresh(t, h)
		resp, body := p.do("GET", "/waitroom/api/signals", "", nil)
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"name":"kakao","label":"kakao","label_en":"KAKAO"`) || !strings.Contains(string(body), `"korean":"원활"`) {
			t.Fatalf("signals: %d %s", resp.StatusCode, body)
		}
		// "grey" is the word people use for 선택불가; "off" and "gray" say
		// the same, "auto" (or "") stops forcing.
		for _, grey := range []string{"off", "grey", "Gray"} {
			admin(t, h, "PUT", "/admin/api/signals/kakao", `{"light":"`+grey+`"}`, 200)
			resp, body = p.do("GET", "/waitroom/auth/kakao/start", "", nil)
			if resp.StatusCode != 429 {
				t.Fatalf("start on a method forced %q: %d %s", grey, resp.StatusCode, body)
			}
			admin(t, h, "PUT", "/admin/api/signals/kakao", `{"light":"auto"}`, 200)
			if resp, body = p.do("GET", "/waitroom/auth/kakao/start", "", nil); resp.StatusCode != 303 {
				t.Fatalf("start after forcing stopped: %d %s", resp.StatusCode, body)
			}
		}
		admin(t, h, "PUT", "/admin/api/signals/kakao", `{"light":""}`, 200)
	})
}

// The backend's completion header ends the session everywhere: the token
// stops working and no new one is issued for that place.
func TestIdentity_CompletionEndsSession(t *testing.T) {
	h := mustIdentityHarness(t, opening.Add(time.Minute), 3_600_000)
	p := h.person()
	p.verify("kakao", "1990-03-19", "Kim")
	h.advance(time.Second)
	if _, s := p.status(); s.State != "admitted" {
		t.Fatalf("not admitted: %+v", s)
	}
	tok := p.cookie("wr_admission")
	if resp, _ := p.do("GET", "/complete", "", nil); resp.StatusCode != 200 || resp.Header.Get("X-Waitroom-Complete") != "" {
		t.Fatalf("completing request: %d, header passed to the client: %q", resp.StatusCode, resp.Header.Get("X-Waitroom-Complete"))
	}
	code, _ := p.call("GET", "/book", "", map[string]string{"Cookie": "wr_admission=" + tok + "; wr_device=" + p.cookie("wr_device")})
	if code != 403 {
		t.Fatalf("token of an ended session: %d, want 403", code)
	}
	if code, s := p.status(); code != 403 || s.Error == nil || s.Error.Code != "session_ended" {
		t.Fatalf("status after the session ended: %d %+v", code, s.Error)
	}
}

// People who verify before the opening wait in a pre-queue; at the opening
// they get positions by a draw anyone can recompute from the revealed seed;
// nobody is admitted before the opening.
func TestIdentity_PreQueueDraw(t *testing.T) {
	h := mustIdentityHarness(t, opening.Add(-10*time.Minute), 3_600_000)
	const n = 40
	people := make([]*person, n)
	var wg sync.WaitGroup
	for i := range people {
		people[i] = h.person()
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			people[i].verify("kakao", "1990-03-19", "P"+strings.Repeat("x", i))
		}(i)
	}
	wg.Wait()
	resp, body := people[0].do("GET", "/waitroom/api/draw", "", nil)
	if resp.StatusCode != 200 || strings.Contains(string(body), `"seed"`) {
		t.Fatalf("draw before opening: %d %s (the seed must stay hidden)", resp.StatusCode, body)
	}
	pre := map[int64]*person{}
	for _, p := range people {
		code, s := p.status()
		if code != 200 || s.State != "pre_queue" || s.Admission != "" {
			t.Fatalf("before opening: %d %+v", code, s)
		}
		idx := preIndex(t, s.Ticket)
		pre[idx] = p
	}
	if len(pre) != n {
		t.Fatalf("%d distinct pre-queue indexes for %d people", len(pre), n)
	}
	if code, _ := people[0].call("GET", "/book", "", nil); code != 403 {
		t.Fatalf("request before opening: %d", code)
	}
	h.advance(10*time.Minute + 100*time.Millisecond) // the opening, and a few admitted
	var d struct {
		Commitment, Seed string
		PreQueued        int64 `json:"pre_queued"`
		Drawn            bool
	}
	resp, body = people[0].do("GET", "/waitroom/api/draw", "", nil)
	decodeJSON(t, body, &d)
	seed, err := draw.ParseSeed(d.Seed)
	if err != nil || !d.Drawn || d.PreQueued != n || !draw.Verify(d.Commitment, seed) {
		t.Fatalf("draw after opening: %s (%v)", body, err)
	}
	order := draw.Order(seed, n)
	seen := map[int64]bool{}
	for idx, p := range pre {
		_, s := p.status()
		if want := int64(order[idx-1]); s.Position != want || seen[s.Position] {
			t.Fatalf("index %d got position %d, the revealed seed gives %d", idx, s.Position, want)
		}
		seen[s.Position] = true
		if (s.State == "admitted") != (s.Position <= h.ctl.Snapshot().Admitted) {
			t.Fatalf("position %d admitted out of order: %+v", s.Position, s)
		}
	}
	// Someone verifying after the opening queues behind the whole pre-queue.
	late := h.person()
	late.verify("phone", "1985-01-29", "Late")
	if _, s := late.status(); s.Position != n+1 {
		t.Fatalf("first arrival after opening got position %d, want %d", s.Position, n+1)
	}
}

func preIndex(t *testing.T, tok string) int64 {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Pre int64 `json:"pre"`
	}
	decodeJSON(t, b, &c)
	return c.Pre
}

func refresh(t *testing.T, h *harness) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	h.gw.Refresh(c)
}

func decodeJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
