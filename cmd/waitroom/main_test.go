package main_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	main "github.com/waitroom/waitroom/cmd/waitroom"
)

// MustRun runs the program with args until the test ends.
func MustRun(tb testing.TB, args ...string) *main.Main {
	tb.Helper()
	m := main.NewMain()
	m.Stdout, m.Stderr = io.Discard, io.Discard
	if testing.Verbose() {
		m.Stderr = os.Stderr
	}
	if err := m.Run(context.Background(), args); err != nil {
		tb.Fatalf("waitroom %s: %v", strings.Join(args, " "), err)
	}
	tb.Cleanup(func() { _ = m.Close() })
	return m
}

const adminToken = "e2e-admin-token-0123456789"

// devEnvironment lets the gateways of the test start without ticket keys,
// on throwaway ones, as `make run` does: production refuses that.
func devEnvironment(t *testing.T) { t.Setenv("WAITROOM_ENVIRONMENT", "development") }

func mustGateway(t *testing.T, rate string, extra ...string) (gw *main.Main, backend *main.Main) {
	t.Helper()
	t.Setenv("WAITROOM_ADMIN_TOKEN", adminToken)
	devEnvironment(t)
	backend = MustRun(t, "demo-backend", "--listen", "127.0.0.1:0")
	args := []string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--backend", "http://" + backend.PublicAddr}
	if rate != "" { // a flag wins over the config file
		args = append(args, "--rate-per-hour", rate)
	}
	args = append(args, extra...)
	return MustRun(t, args...), backend
}

// A person joins, waits, is admitted, and books on the demo backend; a
// forged ticket and an unadmitted request are refused.
func TestMain_EndToEnd(t *testing.T) {
	gw, _ := mustGateway(t, "3600000")
	base := "http://" + gw.PublicAddr
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// The booking page sends a browser to the waiting room.
	req, _ := http.NewRequest("GET", base+"/book", nil)
	req.Header.Set("Accept", "text/html")
	resp := mustDo(t, c, req)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/waitroom/?return=%2Fbook" {
		t.Fatalf("unadmitted browser: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = mustDo(t, c, mustReq(t, "GET", base+"/waitroom/?return=%2Fbook", ""))
	if resp.StatusCode != 200 {
		t.Fatalf("waiting page: %d", resp.StatusCode)
	}

	req = mustReq(t, "POST", base+"/waitroom/api/join", `{"return":"/book"}`)
	req.Header.Set("Content-Type", "application/json")
	var st struct {
		State, Redirect, Admission string
		Position                   int64
		PollAfterMS                int64 `json:"poll_after_ms"`
	}
	decode(t, mustDo(t, c, req), &st)
	if st.Position != 1 {
		t.Fatalf("join: %+v", st)
	}
	deadline := time.Now().Add(5 * time.Second)
	for st.State != "admitted" {
		if time.Now().After(deadline) {
			t.Fatalf("not admitted after 5 s at 3.6 M/h: %+v", st)
		}
		time.Sleep(time.Duration(st.PollAfterMS) * time.Millisecond)
		decode(t, mustDo(t, c, mustReq(t, "GET", base+"/waitroom/api/status", "")), &st)
	}
	if st.Redirect != "/book" || st.Admission == "" {
		t.Fatalf("admitted answer: %+v", st)
	}
	resp = mustDo(t, c, mustReq(t, "GET", base+st.Redirect, ""))
	body := readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(body, "<form") {
		t.Fatalf("booking page through the gateway: %d %.200q", resp.StatusCode, body)
	}
	resp = mustDo(t, c, mustReq(t, "GET", base+"/api/slots", ""))
	if resp.StatusCode != 200 {
		t.Fatalf("slots through the gateway: %d", resp.StatusCode)
	}

	// A forged ticket: the real one with its position changed.
	parts := strings.Split(cookie(t, jar, base+"/waitroom/", "wr_ticket"), ".")
	forged := mustReq(t, "GET", base+"/waitroom/api/status", "")
	forged.Header.Set("Authorization", "Bearer "+parts[0]+"."+parts[1]+"x."+parts[2])
	resp, err := http.DefaultClient.Do(forged)
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, resp); resp.StatusCode != 401 || !strings.Contains(b, `"error"`) {
		t.Fatalf("forged ticket: %d %s", resp.StatusCode, b)
	}
	// A client without admission.
	resp, err = http.DefaultClient.Get(base + "/api/slots")
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, resp); resp.StatusCode != 403 {
		t.Fatalf("unadmitted API client: %d %s", resp.StatusCode, b)
	}
}

// The operator API changes the rate live, authenticated.
func TestMain_Operator(t *testing.T) {
	gw, _ := mustGateway(t, "36000")
	base := "http://" + gw.AdminAddr
	req := mustReq(t, "PUT", base+"/admin/api/rate", `{"per_hour":72000}`)
	resp := mustDo(t, http.DefaultClient, req)
	if resp.StatusCode != 401 {
		t.Fatalf("rate change without token: %d", resp.StatusCode)
	}
	req = mustReq(t, "PUT", base+"/admin/api/rate", `{"per_hour":72000}`)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	var st struct {
		RatePerHour int64 `json:"rate_per_hour"`
	}
	decode(t, mustDo(t, http.DefaultClient, req), &st)
	if st.RatePerHour != 72000 {
		t.Fatalf("rate after change = %d", st.RatePerHour)
	}
}

// Editing rate_per_hour or paused in the config file applies live.
func TestMain_ConfigReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "waitroom.yaml")
	write := func(rate int, paused bool) {
		b, _ := json.Marshal(map[string]any{"rate_per_hour": rate, "paused": paused})
		if err := os.WriteFile(path, b, 0o600); err != nil { // JSON is YAML
			t.Fatal(err)
		}
	}
	write(36000, false)
	gw, _ := mustGateway(t, "", "--config", path)
	write(50000, true)
	deadline := time.Now().Add(3 * time.Second)
	for {
		s := gw.Gateway.Room().Controller.Snapshot()
		if s.Paused && s.RatePerHour == 50000 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("config edit not applied within 3 s: rate %d paused %v", s.RatePerHour, s.Paused)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMain_CheckConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(path, []byte("rate_per_hour: 0\nlisten: nowhere\nbogus_key: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := main.NewMain()
	m.Stdout, m.Stderr = io.Discard, io.Discard
	err := m.Run(context.Background(), []string{"serve", "--config", path, "--check-config"})
	if err == nil || !m.OneShot {
		t.Fatal("a bad config passed --check-config")
	}
	for _, key := range []string{"rate_per_hour", "listen", "bogus_key", "admin_token"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("check-config error does not name %s:\n%v", key, err)
		}
	}
}

func mustReq(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func mustDo(t *testing.T, c *http.Client, req *http.Request) *http.Response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decode(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	b := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, b)
	}
	if err := json.Unmarshal([]byte(b), v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
}

func cookie(t *testing.T, jar http.CookieJar, u, name string) string {
	t.Helper()
	req := mustReq(t, "GET", u, "")
	for _, c := range jar.Cookies(req.URL) {
		if c.Name == name {
			return c.Value
		}
	}
	t.Fatalf("no cookie %s for %s", name, u)
	return ""
}

// dev-idp refuses flags and settings it cannot honour, before listening.
func TestMain_DevIdPSettings(t *testing.T) {
	for _, tc := range []struct {
		name, ciKey, want string
		args              []string
	}{
		{"WithoutCIUnknownMethod", "", "--without-ci", []string{"--methods", "phone,kakao", "--without-ci", "naver"}},
		{"ShortCIKey", "short", "WAITROOM_DEV_IDP_CI_KEY", nil},
		{"ScheduleMissing", "", "--schedule", []string{"--schedule", filepath.Join(t.TempDir(), "none.yaml")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WAITROOM_DEV_IDP_CI_KEY", tc.ciKey)
			m := main.NewMain()
			m.Stdout, m.Stderr = io.Discard, io.Discard
			err := m.Run(context.Background(), append([]string{"dev-idp", "--listen", "127.0.0.1:0"}, tc.args...))
			defer m.Close()
			if err == nil || !m.OneShot || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (one shot %v), want an error about %s", err, m.OneShot, tc.want)
			}
		})
	}
}
