package main_test

import (
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/internal/redistest"
)

// Two gateways sharing one Redis, as a fleet: what an operator changes on
// one gateway's console reaches the other, the rate at once and the message
// on the waiting page within about a second; each lists both gateways as
// alive and shares one audit log.
func TestMain_ConsoleFleet(t *testing.T) {
	srv := redistest.Start(t)
	t.Setenv("WAITROOM_REDIS_ADDRS", srv.Addr())
	gw1, _ := mustGateway(t, "36000")
	gw2, _ := mustGateway(t, "36000")
	operator := func(gw, method, path, body string, v any) {
		t.Helper()
		req := mustReq(t, method, "http://"+gw+path, body)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		decode(t, mustDo(t, http.DefaultClient, req), v)
	}

	var st struct {
		RatePerHour int64 `json:"rate_per_hour"`
	}
	operator(gw1.AdminAddr, "PUT", "/admin/api/rate", `{"per_hour":54321}`, &st)
	start := time.Now()
	for operator(gw2.AdminAddr, "GET", "/admin/api/state", "", &st); st.RatePerHour != 54321; operator(gw2.AdminAddr, "GET", "/admin/api/state", "", &st) {
		if time.Since(start) > time.Second {
			t.Fatalf("second gateway's rate %d a second after the change", st.RatePerHour)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A person waits on the second gateway.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	operator(gw1.AdminAddr, "POST", "/admin/api/pause", "", &st)
	req := mustReq(t, "POST", "http://"+gw2.PublicAddr+"/waitroom/api/join", `{}`)
	req.Header.Set("Content-Type", "application/json")
	var s struct{ State, Message string }
	decode(t, mustDo(t, c, req), &s)
	if s.State != "waiting" || s.Message != "" {
		t.Fatalf("join on the second gateway: %+v", s)
	}

	var m struct{ Message string }
	operator(gw1.AdminAddr, "PUT", "/admin/api/message", `{"message":"오늘 예약은 20시에 재개됩니다"}`, &m)
	start = time.Now()
	for s.Message != m.Message {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("the message did not reach the second gateway's waiting page within 2 s: %+v", s)
		}
		time.Sleep(100 * time.Millisecond)
		decode(t, mustDo(t, c, mustReq(t, "GET", "http://"+gw2.PublicAddr+"/waitroom/api/status", "")), &s)
	}
	t.Logf("message reached the second gateway's status after %v", time.Since(start).Round(10*time.Millisecond))

	var v struct {
		Gateway  string `json:"gateway"`
		Gateways []struct {
			ID string `json:"id"`
		} `json:"gateways"`
	}
	start = time.Now()
	for operator(gw1.AdminAddr, "GET", "/admin/api/console", "", &v); len(v.Gateways) != 2; operator(gw1.AdminAddr, "GET", "/admin/api/console", "", &v) {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("gateways alive: %+v, want both", v.Gateways)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v.Gateways[0].ID == v.Gateways[1].ID || (v.Gateway != v.Gateways[0].ID && v.Gateway != v.Gateways[1].ID) {
		t.Fatalf("gateways %+v, this one %q", v.Gateways, v.Gateway)
	}

	var a struct {
		Records []struct{ What, After, Via string }
	}
	operator(gw2.AdminAddr, "GET", "/admin/api/audit", "", &a)
	var whats []string
	for _, r := range a.Records {
		whats = append(whats, r.What+"="+r.After)
	}
	if got, want := strings.Join(whats, ", "), "message=오늘 예약은 20시에 재개됩니다, pause=paused, rate=54321 per hour"; got != want {
		t.Fatalf("audit log on the second gateway: %s, want %s", got, want)
	}
}
