package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/gateway"
)

// operator is a browser on the console: its own cookie jar, and the CSRF
// token the page keeps after signing in.
type operator struct {
	t      *testing.T
	base   string // the admin listener
	client *http.Client
	csrf   string
}

func newOperator(t *testing.T, adminURL string) *operator {
	jar, _ := cookiejar.New(nil)
	return &operator{t: t, base: adminURL, client: &http.Client{
		Jar:           jar,
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request as the console page does: same origin, JSON, and the
// CSRF token once signed in. header entries override (or, empty, remove)
// those.
func (o *operator) do(method, path, body string, header map[string]string) (*http.Response, string) {
	o.t.Helper()
	req, err := http.NewRequest(method, o.base+path, strings.NewReader(body))
	if err != nil {
		o.t.Fatal(err)
	}
	req.Header.Set("Origin", o.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Content-Type", "application/json")
	if o.csrf != "" {
		req.Header.Set("X-CSRF-Token", o.csrf)
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := o.client.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// must sends a request and fails the test unless it gets status want.
func (o *operator) must(method, path, body string, want int) string {
	o.t.Helper()
	resp, b := o.do(method, path, body, nil)
	if resp.StatusCode != want {
		o.t.Fatalf("%s %s %s: %d %s, want %d", method, path, body, resp.StatusCode, b, want)
	}
	return b
}

func (o *operator) signIn(token string) *http.Response {
	o.t.Helper()
	in, _ := json.Marshal(map[string]string{"token": token})
	resp, b := o.do("POST", "/admin/api/signin", string(in), nil)
	if resp.StatusCode == 200 {
		var s gateway.SessionView
		decodeJSON(o.t, []byte(b), &s)
		o.csrf = s.CSRF
	}
	return resp
}

func (o *operator) mustSignIn() {
	o.t.Helper()
	if resp := o.signIn(adminToken); resp.StatusCode != 200 {
		o.t.Fatalf("sign-in with the right token: %d", resp.StatusCode)
	}
	if o.csrf == "" {
		o.t.Fatal("sign-in answered no CSRF token")
	}
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestConsole_Page(t *testing.T) {
	h := mustHarness(t, harnessOptions{})
	o := newOperator(t, h.adminURL)
	for _, tc := range []struct {
		path, ctype string
		code        int
	}{
		{"/admin/", "text/html", 200},
		{"/admin/static/console.js", "text/javascript", 200},
		{"/admin/static/console.css", "text/css", 200},
		{"/admin/static/nope.js", "application/json", 404},
		{"/admin/static/../admin.go", "application/json", 401}, // /admin/admin.go: no file, and no credentials
	} {
		resp, body := o.do("GET", tc.path, "", nil)
		if resp.StatusCode != tc.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
			t.Errorf("GET %s = %d %s %.60q, want %d %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.code, tc.ctype)
		}
		if tc.code == 200 && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("GET %s: CSP %q", tc.path, resp.Header.Get("Content-Security-Policy"))
		}
	}
	if resp, _ := o.do("GET", "/admin", "", nil); resp.StatusCode != 301 || !strings.HasSuffix(resp.Header.Get("Location"), "/admin/") {
		t.Errorf("GET /admin = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := o.do("POST", "/admin/", "", nil); resp.StatusCode != 405 {
		t.Errorf("POST /admin/ = %d, want 405", resp.StatusCode)
	}
}

func TestConsole_SignIn(t *testing.T) {
	h := mustHarness(t, harnessOptions{})
	t.Run("Success", func(t *testing.T) {
		o := newOperator(t, h.adminURL)
		resp := o.signIn(adminToken)
		if resp.StatusCode != 200 || o.csrf == "" {
			t.Fatalf("sign-in: %d, csrf %q", resp.StatusCode, o.csrf)
		}
		c := cookieNamed(resp, "wr_console")
		switch {
		case c == nil:
			t.Fatal("no session cookie")
		case !c.HttpOnly, c.SameSite != http.SameSiteStrictMode, c.Path != "/admin/api/", c.MaxAge != int(gateway.SessionTTL/time.Second):
			t.Errorf("session cookie %q", resp.Header.Get("Set-Cookie"))
		case c.Secure:
			t.Error("session cookie Secure over plain HTTP: the browser would drop it")
		case len(c.Value) < 40 || strings.Contains(c.Value, adminToken):
			t.Errorf("session id %q: not a long random id", c.Value)
		}
		body := o.must("GET", "/admin/api/session", "", 200)
		var s gateway.SessionView
		decodeJSON(t, []byte(body), &s)
		if s.Via != "console" || s.CSRF != o.csrf || s.Expires == "" {
			t.Errorf("session = %+v", s)
		}
		o.must("GET", "/admin/api/state", "", 200)
	})
	t.Run("Form", func(t *testing.T) {
		o := newOperator(t, h.adminURL)
		resp, body := o.do("POST", "/admin/api/signin", url.Values{"token": {adminToken}}.Encode(),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		if resp.StatusCode != 303 || !strings.HasSuffix(resp.Header.Get("Location"), "/admin/") || cookieNamed(resp, "wr_console") == nil {
			t.Fatalf("form sign-in: %d to %q, %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
	})
	t.Run("WrongToken", func(t *testing.T) {
		o := newOperator(t, h.adminURL)
		for _, tok := range []string{"", "wrong", adminToken + "x", adminToken[:10]} {
			resp := o.signIn(tok)
			if resp.StatusCode != 401 || cookieNamed(resp, "wr_console") != nil {
				t.Errorf("token %q: %d, cookie %v", tok, resp.StatusCode, cookieNamed(resp, "wr_console"))
			}
		}
		o.must("GET", "/admin/api/state", "", 401)
	})
	t.Run("NeverInTheURL", func(t *testing.T) {
		o := newOperator(t, h.adminURL)
		resp, body := o.do("POST", "/admin/api/signin?token="+adminToken, "", nil)
		if resp.StatusCode != 400 || cookieNamed(resp, "wr_console") != nil {
			t.Fatalf("token in the query string: %d %s", resp.StatusCode, body)
		}
		if resp, _ := o.do("GET", "/admin/api/signin", "", nil); resp.StatusCode != 405 {
			t.Fatalf("GET signin: %d", resp.StatusCode)
		}
	})
	t.Run("CrossSite", func(t *testing.T) {
		o := newOperator(t, h.adminURL)
		resp, _ := o.do("POST", "/admin/api/signin", `{"token":"`+adminToken+`"}`, map[string]string{"Origin": "https://evil.example"})
		if resp.StatusCode != 403 {
			t.Fatalf("sign-in from another origin: %d", resp.StatusCode)
		}
	})
	t.Run("SignOut", func(t *testing.T) {
		o := newOperator(t, h.adminURL)
		o.mustSignIn()
		resp, _ := o.do("POST", "/admin/api/signout", "", nil)
		if c := cookieNamed(resp, "wr_console"); resp.StatusCode != 200 || c == nil || c.MaxAge >= 0 && c.Expires.After(time.Now()) {
			t.Fatalf("sign-out: %d, cookie %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
		}
		o.must("GET", "/admin/api/state", "", 401)
	})
	t.Run("EndedSessionRefused", func(t *testing.T) {
		o := newOperator(t, h.adminURL)
		o.mustSignIn()
		stolen := o.client.Jar.Cookies(mustURL(t, h.adminURL+"/admin/api/"))
		o.must("POST", "/admin/api/signout", "", 200)
		// The old cookie, replayed, is dead on the server too.
		other := newOperator(t, h.adminURL)
		other.client.Jar.SetCookies(mustURL(t, h.adminURL+"/admin/api/"), stolen)
		if resp, body := other.do("GET", "/admin/api/state", "", nil); resp.StatusCode != 401 || !strings.Contains(body, "session_expired") {
			t.Fatalf("replayed cookie after sign-out: %d %s", resp.StatusCode, body)
		}
	})
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Over HTTPS (here: through a trusted proxy that says so) the cookie is
// Secure.
func TestConsole_SecureCookie(t *testing.T) {
	h := mustHarness(t, harnessOptions{opts: func(o *gateway.Options) {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}})
	o := newOperator(t, h.adminURL)
	resp, _ := o.do("POST", "/admin/api/signin", `{"token":"`+adminToken+`"}`, map[string]string{"X-Forwarded-Proto": "https"})
	if c := cookieNamed(resp, "wr_console"); resp.StatusCode != 200 || c == nil || !c.Secure {
		t.Fatalf("sign-in over HTTPS: %d, cookie %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
}

// Wrong tokens, at sign-in or as bearer, lock out guesses, not the
// operator: after ten from one address, browsers and clients at that
// address that never signed in are refused even with the right token
// (Retry-After: the next attempt in 90 s), but a browser that signed in
// there before signs in, and calls with the token, as usual. Guesses from
// such a browser spend its own allowance only; other addresses are not
// affected.
func TestConsole_SignInRateLimit(t *testing.T) {
	h := mustHarness(t, harnessOptions{opts: func(o *gateway.Options) {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}})
	from := map[string]string{"X-Forwarded-For": "198.51.100.7"}
	bearer := func(token string) map[string]string {
		return map[string]string{"X-Forwarded-For": "198.51.100.7", "Authorization": "Bearer " + token}
	}
	operatorBrowser := newOperator(t, h.adminURL)
	if resp, _ := operatorBrowser.do("POST", "/admin/api/signin", `{"token":"`+adminToken+`"}`, from); resp.StatusCode != 200 || cookieNamed(resp, "wr_operator") == nil {
		t.Fatalf("first sign-in: %d, cookies %q", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	}
	guesser := newOperator(t, h.adminURL)
	for i := range 10 {
		if i%2 == 0 {
			resp, _ := guesser.do("POST", "/admin/api/signin", `{"token":"guess`+strconv.Itoa(i)+`"}`, from)
			if resp.StatusCode != 401 {
				t.Fatalf("guess %d: %d", i, resp.StatusCode)
			}
			continue
		}
		if resp, _ := guesser.do("GET", "/admin/api/state", "", bearer("guess")); resp.StatusCode != 401 {
			t.Fatalf("bearer guess %d: %d", i, resp.StatusCode)
		}
	}
	resp, body := newOperator(t, h.adminURL).do("POST", "/admin/api/signin", `{"token":"`+adminToken+`"}`, from)
	if resp.StatusCode != 429 || !strings.Contains(body, "too_many_attempts") {
		t.Fatalf("a new browser with the right token after 10 wrong ones: %d %s", resp.StatusCode, body)
	}
	if after, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || after <= 0 || after > 90 {
		t.Fatalf("Retry-After %q, want the next attempt within 90 s", resp.Header.Get("Retry-After"))
	}
	if resp, _ := guesser.do("GET", "/admin/api/state", "", bearer(adminToken)); resp.StatusCode != 429 {
		t.Fatalf("bearer from the locked-out address: %d", resp.StatusCode)
	}
	t.Run("OperatorBrowserNotLockedOut", func(t *testing.T) {
		if resp, body := operatorBrowser.do("POST", "/admin/api/signin", `{"token":"`+adminToken+`"}`, from); resp.StatusCode != 200 {
			t.Fatalf("sign-in from the operator's browser: %d %s", resp.StatusCode, body)
		}
		if resp, _ := operatorBrowser.do("GET", "/admin/api/state", "", bearer(adminToken)); resp.StatusCode != 200 {
			t.Fatalf("bearer from the operator's browser: %d", resp.StatusCode)
		}
	})
	t.Run("OperatorBrowserGuessesAlone", func(t *testing.T) {
		known := newOperator(t, h.adminURL)
		known.client.Jar = operatorBrowser.client.Jar
		for range 10 {
			if resp, _ := known.do("GET", "/admin/api/state", "", bearer("guess")); resp.StatusCode != 401 {
				t.Fatalf("guess from a known browser: %d", resp.StatusCode)
			}
		}
		if resp, _ := known.do("POST", "/admin/api/signin", `{"token":"`+adminToken+`"}`, from); resp.StatusCode != 429 {
			t.Fatalf("the known browser after 10 wrong tokens of its own: %d", resp.StatusCode)
		}
	})
	if resp, _ := newOperator(t, h.adminURL).do("POST", "/admin/api/signin", `{"token":"`+adminToken+`"}`, map[string]string{"X-Forwarded-For": "203.0.113.9"}); resp.StatusCode != 200 {
		t.Fatalf("sign-in from another address: %d", resp.StatusCode)
	}
}

// The operator listener answers only to its addresses and the names it
// is given: a page whose own name an attacker points at it (DNS
// rebinding) is refused before anything else happens.
func TestAdmin_HostCheck(t *testing.T) {
	h := mustHarness(t, harnessOptions{opts: func(o *gateway.Options) { o.AdminHosts = []string{"ops.example", "localhost"} }})
	port := h.adminURL[strings.LastIndex(h.adminURL, ":"):]
	for _, tc := range []struct {
		host string
		want int
	}{
		{"127.0.0.1" + port, 200},
		{"[::1]" + port, 200},
		{"localhost" + port, 200},
		{"LOCALHOST.", 200},
		{"ops.example", 200},
		{"evil.example" + port, 403},
		{"localhost.evil.example", 403},
		{"ops.example.evil.example" + port, 403},
	} {
		req, _ := http.NewRequest("GET", h.adminURL+"/admin/api/state", nil)
		req.Host = tc.host
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || tc.want == 403 && !strings.Contains(string(b), "host_not_allowed") {
			t.Errorf("Host %s: %d %s, want %d", tc.host, resp.StatusCode, b, tc.want)
		}
	}
}

// otherFirst is s with its first character changed, so never s itself.
func otherFirst(s string) string {
	if s[0] == 'x' {
		return "y" + s[1:]
	}
	return "x" + s[1:]
}

// A change made with the session cookie needs the CSRF token and the
// console's origin; reading does not.
func TestConsole_CSRF(t *testing.T) {
	h := mustHarness(t, harnessOptions{})
	o := newOperator(t, h.adminURL)
	o.mustSignIn()
	for name, header := range map[string]map[string]string{
		"NoToken":        {"X-CSRF-Token": ""},
		"WrongToken":     {"X-CSRF-Token": otherFirst(o.csrf)},
		"OtherOrigin":    {"Origin": "https://evil.example"},
		"NoOrigin":       {"Origin": "", "Sec-Fetch-Site": ""},
		"CrossSiteFetch": {"Sec-Fetch-Site": "cross-site"},
	} {
		resp, body := o.do("PUT", "/admin/api/rate", `{"per_hour":1000}`, header)
		if resp.StatusCode != 403 || !strings.Contains(body, `"csrf"`) {
			t.Errorf("%s: %d %s, want 403 csrf", name, resp.StatusCode, body)
		}
	}
	if st := h.ctl.Snapshot(); st.RatePerHour != 36_000 {
		t.Fatalf("a refused change went through: rate %d", st.RatePerHour)
	}
	// Reading needs no token; the bearer token needs none either.
	if resp, _ := o.do("GET", "/admin/api/state", "", map[string]string{"X-CSRF-Token": ""}); resp.StatusCode != 200 {
		t.Fatalf("reading with the cookie alone: %d", resp.StatusCode)
	}
	admin(t, h, "PUT", "/admin/api/rate", `{"per_hour":1000}`, 200)
	o.must("PUT", "/admin/api/rate", `{"per_hour":2000}`, 200)
}

// auditRecords lists the audit log, newest first.
func auditRecords(t *testing.T, h *harness) []gateway.AuditView {
	t.Helper()
	var out struct {
		Records []gateway.AuditView `json:"records"`
	}
	decodeJSON(t, []byte(admin(t, h, "GET", "/admin/api/audit?limit=200", "", 200)), &out)
	return out.Records
}

// Every control leaves an audit record: what, before, after, when, from
// where and how the operator signed in, never the token.
func TestConsole_Audit(t *testing.T) {
	h := mustIdentityHarness(t, opening.Add(-time.Hour), 36_000)
	o := newOperator(t, h.adminURL)
	o.mustSignIn()
	now := time.Now()
	o.must("PUT", "/admin/api/rate", `{"per_hour":72000}`, 200)
	o.must("POST", "/admin/api/pause", "", 200)
	admin(t, h, "POST", "/admin/api/resume", "", 200)
	o.must("PUT", "/admin/api/signals/kakao", `{"light":"red"}`, 200)
	o.must("PUT", "/admin/api/message", `{"message":"  잠시 점검 중입니다  "}`, 200)
	st := h.ctl.Snapshot()
	opens := st.Window.Opens.Add(30 * time.Minute).UTC().Format(time.RFC3339)
	o.must("PUT", "/admin/api/window", `{"opens":"`+opens+`"}`, 200)
	want := []gateway.AuditView{
		{What: "window", Before: "opens " + st.Window.Opens.UTC().Format(time.RFC3339) + ", closes " + st.Window.Closes.UTC().Format(time.RFC3339),
			After: "opens " + opens + ", closes " + st.Window.Closes.UTC().Format(time.RFC3339), Via: "console"},
		{What: "message", Before: "", After: "잠시 점검 중입니다", Via: "console"},
		{What: "light kakao", Before: "automatic", After: "forced red", Via: "console"},
		{What: "resume", Before: "paused", After: "running", Via: "bearer"},
		{What: "pause", Before: "running", After: "paused", Via: "console"},
		{What: "rate", Before: "36000 per hour", After: "72000 per hour", Via: "console"},
	}
	got := auditRecords(t, h)
	if len(got) != len(want) {
		t.Fatalf("audit log = %+v, want %d records", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		at, err := time.Parse(time.RFC3339Nano, g.At)
		if g.What != w.What || g.Before != w.Before || g.After != w.After || g.Via != w.Via || g.From != "127.0.0.1" ||
			err != nil || at.Before(now.Add(-time.Second)) || at.After(time.Now()) {
			t.Errorf("record %d = %+v, want %+v from 127.0.0.1 now", i, g, w)
		}
		if strings.Contains(g.Before+g.After+g.From, adminToken) {
			t.Errorf("record %d holds the token", i)
		}
	}
	o.must("PUT", "/admin/api/signals/kakao", `{"light":""}`, 200)
	if got := auditRecords(t, h)[0]; got.Before != "forced red" || got.After != "automatic" {
		t.Errorf("unforcing: %+v", got)
	}
	admin(t, h, "GET", "/admin/api/audit?limit=0", "", 400)
	admin(t, h, "GET", "/admin/api/audit?limit=x", "", 400)
}

// The message: checked, escaped in the status JSON, and removable.
func TestConsole_Message(t *testing.T) {
	h := mustHarness(t, harnessOptions{})
	p := h.person()
	if s := p.join(); strings.Contains(mustStatusBody(t, p), `"message"`) || s.State != "waiting" {
		t.Fatalf("status before any message carries one (or is not waiting: %q)", s.State)
	}
	for _, bad := range []string{
		`{"message":"` + strings.Repeat("가", gateway.MaxMessage+1) + `"}`,
		`{"message":"two\nlines"}`,
		`{"message":"bidi \u202e trick"}`,
		`{"message":"line\u2028separator"}`,
		`{"message":5}`, `{}`, `nope`,
	} {
		admin(t, h, "PUT", "/admin/api/message", bad, 400)
	}
	text := `Back at 8 pm "KST" <b>&</b> ` + strings.Repeat("가", 100)
	in, _ := json.Marshal(map[string]string{"message": text})
	admin(t, h, "PUT", "/admin/api/message", string(in), 200)
	var s struct {
		State   string `json:"state"`
		Message string `json:"message"`
	}
	decodeJSON(t, []byte(mustStatusBody(t, p)), &s)
	if s.Message != text || s.State != "waiting" {
		t.Fatalf("status = %+v, want the message %q", s, text)
	}
	admin(t, h, "PUT", "/admin/api/message", `{"message":""}`, 200)
	if strings.Contains(mustStatusBody(t, p), `"message"`) {
		t.Fatal("status still carries the removed message")
	}
	admin(t, h, "GET", "/admin/api/message", "", 405)
}

func mustStatusBody(t *testing.T, p *person) string {
	t.Helper()
	resp, b := p.do("GET", "/waitroom/api/status", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

func TestConsole_Window(t *testing.T) {
	t.Run("OpenRoom", func(t *testing.T) {
		h := mustHarness(t, harnessOptions{})
		closes := h.clock().Add(time.Hour).UTC().Format(time.RFC3339)
		admin(t, h, "PUT", "/admin/api/window", `{"opens":"`+h.clock().Add(time.Hour).Format(time.RFC3339)+`"}`, 400)
		for _, bad := range []string{`{}`, `{"closes":"tomorrow"}`, `{"closes":5}`, `nope`} {
			admin(t, h, "PUT", "/admin/api/window", bad, 400)
		}
		var w gateway.WindowView
		decodeJSON(t, []byte(admin(t, h, "PUT", "/admin/api/window", `{"closes":"`+closes+`"}`, 200)), &w)
		if w.Closes != closes || w.Opens != "" || !w.OpeningFixed || !w.Editable {
			t.Fatalf("window after setting its closing = %+v", w)
		}
		if got := h.ctl.Snapshot().Window.Closes.UTC().Format(time.RFC3339); got != closes {
			t.Fatalf("snapshot closes %s, want %s", got, closes)
		}
		admin(t, h, "PUT", "/admin/api/window", `{"closes":""}`, 200)
		if !h.ctl.Snapshot().Window.Closes.IsZero() {
			t.Fatal("closing not removed")
		}
	})
	t.Run("PreQueue", func(t *testing.T) {
		h := mustIdentityHarness(t, opening.Add(-time.Hour), 36_000)
		st := h.ctl.Snapshot()
		at := func(d time.Duration) string { return st.Window.Opens.Add(d).UTC().Format(time.RFC3339) }
		for _, bad := range []string{
			`{"opens":"","closes":"` + at(time.Hour) + `"}`, // a pre-queue needs an opening
			`{"closes":"` + at(-time.Minute) + `"}`,         // closing before opening
			`{"opens":"` + at(2*time.Hour) + `","closes":"` + at(2*time.Hour) + `"}`,
		} {
			if b := admin(t, h, "PUT", "/admin/api/window", bad, 400); !strings.Contains(b, "bad_window") {
				t.Errorf("%s: %s", bad, b)
			}
		}
		var w gateway.WindowView
		decodeJSON(t, []byte(admin(t, h, "PUT", "/admin/api/window", `{"opens":"`+at(-30*time.Minute)+`"}`, 200)), &w)
		if w.Opens != at(-30*time.Minute) || w.OpeningFixed {
			t.Fatalf("window after moving the opening earlier = %+v", w)
		}
		// An opening in the past opens the room now, and fixes it.
		decodeJSON(t, []byte(admin(t, h, "PUT", "/admin/api/window", `{"opens":"`+at(-90*time.Minute)+`"}`, 200)), &w)
		if !w.OpeningFixed || !h.ctl.Snapshot().Draw.Drawn {
			t.Fatalf("window after opening now = %+v", w)
		}
		admin(t, h, "PUT", "/admin/api/window", `{"opens":"`+at(time.Hour)+`"}`, 400)
	})
}

// secondGateway is another gateway of h's fleet: the same store, keys and
// room, its own controller and operator API.
func secondGateway(t *testing.T, h *harness) (*gateway.Gateway, string) {
	t.Helper()
	st, err := h.store.State(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	ctl := admission.NewController(h.store, "r", st, admission.ControllerOptions{})
	g, err := gateway.New(gateway.Options{
		Room: &gateway.Room{Name: "r", Controller: ctl, Queue: h.queue}, Store: h.store, Admission: h.adm,
		Backend: mustURL(t, "http://"+h.backend.addr), Now: h.clock, ID: "second",
	})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, g.Server())
	return g, "http://" + serve(t, gateway.NewAdmin(g, adminToken, nil).Server())
}

// A change made on one gateway's console reaches the others: the rate at
// once through the store, the message, forced lights and liveness with
// their next Refresh (every second).
func TestConsole_Fleet(t *testing.T) {
	h := mustHarness(t, harnessOptions{opts: func(o *gateway.Options) { o.ID = "first" }})
	g2, admin2 := secondGateway(t, h)
	o := newOperator(t, h.adminURL)
	o.mustSignIn()

	o.must("PUT", "/admin/api/rate", `{"per_hour":54321}`, 200)
	o2 := newOperator(t, admin2)
	resp, body := o2.do("GET", "/admin/api/state", "", map[string]string{"Authorization": "Bearer " + adminToken})
	if resp.StatusCode != 200 || !strings.Contains(body, `"rate_per_hour":54321`) {
		t.Fatalf("second gateway's state after the rate change: %d %s", resp.StatusCode, body)
	}

	o.must("PUT", "/admin/api/message", `{"message":"fleet-wide"}`, 200)
	if g2.Message() != "" {
		t.Fatal("second gateway shows the message before reading the board")
	}
	c, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	g2.Refresh(c)
	h.gw.Refresh(c)
	if g2.Message() != "fleet-wide" {
		t.Fatalf("second gateway's message after Refresh = %q", g2.Message())
	}

	var v gateway.ConsoleView
	decodeJSON(t, []byte(o.must("GET", "/admin/api/console", "", 200)), &v)
	var ids []string
	for _, g := range v.Gateways {
		ids = append(ids, g.ID)
		if g.Room != "r" || g.AgeSeconds < 0 || g.AgeSeconds > 5 {
			t.Errorf("gateway %+v", g)
		}
	}
	if strings.Join(ids, " ") != "first second" || v.Gateway != "first" || v.Site != "r" {
		t.Errorf("console view: gateways %v, gateway %q, site %q", ids, v.Gateway, v.Site)
	}
	if v.Message != "fleet-wide" || v.RatePerHour != 54321 || v.TargetPerMinute != 54321.0/60 {
		t.Errorf("console view: message %q, rate %d, target %v", v.Message, v.RatePerHour, v.TargetPerMinute)
	}
	if v.Store.ErrorsLastMinute != 0 || v.Store.MaxLatencyMS <= 0 {
		t.Errorf("store stats %+v: want round trips measured, none failed", v.Store)
	}

	var hist struct {
		EverySeconds float64 `json:"every_seconds"`
		Samples      []struct {
			Waiting         int64   `json:"waiting"`
			TargetPerMinute float64 `json:"target_per_minute"`
			Gateways        int     `json:"gateways"`
		} `json:"samples"`
	}
	decodeJSON(t, []byte(o.must("GET", "/admin/api/history", "", 200)), &hist)
	if hist.EverySeconds != 10 || len(hist.Samples) != 1 || hist.Samples[0].Gateways != 2 || hist.Samples[0].TargetPerMinute != 54321.0/60 {
		t.Errorf("history after one Refresh = %+v, want one sample seeing both gateways", hist)
	}
}

// Forced lights apply on every gateway: a light forced through another
// gateway's console reaches this one through the board with its next
// Refresh, and so does its release.
func TestConsole_FleetLights(t *testing.T) {
	h := mustIdentityHarness(t, opening.Add(time.Minute), 36_000)
	admin(t, h, "PUT", "/admin/api/signals/nope", `{"light":"off"}`, 404)
	admin(t, h, "PUT", "/admin/api/signals/kakao", `{"light":"purple"}`, 400)
	light := func() string {
		t.Helper()
		_, body := h.person().do("GET", "/waitroom/api/signals", "", nil)
		var s struct {
			Methods []gateway.MethodSignal `json:"methods"`
		}
		decodeJSON(t, body, &s)
		for _, m := range s.Methods {
			if m.Name == "kakao" {
				return string(m.Light)
			}
		}
		t.Fatalf("no kakao in %s", body)
		return ""
	}
	// Another gateway's console posts to the shared board.
	if _, err := h.store.Post(context.Background(), "r", "light:kakao", "red"); err != nil {
		t.Fatal(err)
	}
	refresh(t, h)
	if got := light(); got != "red" {
		t.Fatalf("kakao after another gateway forced red: %s", got)
	}
	if _, err := h.store.Post(context.Background(), "r", "light:kakao", ""); err != nil {
		t.Fatal(err)
	}
	refresh(t, h)
	if got := light(); got == "red" {
		t.Fatal("kakao still red after another gateway released it")
	}
}
