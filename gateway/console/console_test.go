package console_test

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waitroom/waitroom/gateway/console"
)

// clock is a fake clock for sessions and limiters.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{now: time.Date(2021, 8, 9, 11, 0, 0, 0, time.UTC)} }

func TestSessions(t *testing.T) {
	c := newClock()
	s := console.NewSessions(time.Hour, c.Now)
	id, sess := s.Create()
	id2, sess2 := s.Create()
	if id == id2 || sess.CSRF == sess2.CSRF || id == sess.CSRF || len(id) < 43 || len(sess.CSRF) < 43 {
		t.Fatalf("ids and tokens not distinct 256-bit values: %q %q %q %q", id, id2, sess.CSRF, sess2.CSRF)
	}
	if !sess.Expires.Equal(c.Now().Add(time.Hour)) {
		t.Fatalf("expires %v", sess.Expires)
	}
	if got, ok := s.Lookup(id); !ok || got != sess {
		t.Fatalf("Lookup = %+v, %v", got, ok)
	}
	for _, bad := range []string{"", "x", id + "x", id[1:]} {
		if _, ok := s.Lookup(bad); ok {
			t.Errorf("Lookup(%q) found a session", bad)
		}
	}
	if !sess.CheckCSRF([]byte(sess.CSRF)) || sess.CheckCSRF([]byte(sess2.CSRF)) || sess.CheckCSRF(nil) || (console.Session{}).CheckCSRF(nil) {
		t.Error("CheckCSRF accepts the wrong token or refuses the right one")
	}
	s.End(id2)
	if _, ok := s.Lookup(id2); ok {
		t.Error("ended session still found")
	}
	c.add(time.Hour - time.Second)
	if _, ok := s.Lookup(id); !ok {
		t.Error("session gone before its expiry")
	}
	c.add(time.Second)
	if _, ok := s.Lookup(id); ok {
		t.Error("session alive at its expiry")
	}
}

// Beyond MaxSessions the session closest to expiry goes.
func TestSessions_Max(t *testing.T) {
	c := newClock()
	s := console.NewSessions(time.Hour, c.Now)
	first, _ := s.Create()
	c.add(time.Second)
	var last string
	for range console.MaxSessions {
		last, _ = s.Create()
	}
	if _, ok := s.Lookup(first); ok {
		t.Error("the oldest session survived the cap")
	}
	if _, ok := s.Lookup(last); !ok {
		t.Error("the newest session is missing")
	}
}

// A token bucket per key: three failures at once, refilled at three per
// half hour, one every ten minutes.
func TestLimiter(t *testing.T) {
	c := newClock()
	l := console.NewLimiter[netip.Prefix](3, 30*time.Minute, c.Now)
	a, b := console.Network(netip.MustParseAddr("198.51.100.7")), console.Network(netip.MustParseAddr("198.51.100.8"))
	for i := range 3 {
		if ok, _ := l.Allow(a); !ok {
			t.Fatalf("refused after %d failures", i)
		}
		l.Fail(a)
		c.add(time.Minute)
	}
	// 3 - 3 + 3 minutes' refill of 0.1 a minute = 0.3 of an attempt.
	ok, wait := l.Allow(a)
	if ok || wait != 7*time.Minute {
		t.Fatalf("after 3 failures: ok %v, wait %v; want refused for the 7 min until the next attempt", ok, wait)
	}
	if ok, _ := l.Allow(b); !ok {
		t.Fatal("a neighbour address is refused")
	}
	if ok, _ := l.Allow(console.Network(netip.MustParseAddr("::ffff:198.51.100.7"))); ok {
		t.Fatal("the same address, IPv4-mapped, is allowed")
	}
	c.add(7 * time.Minute)
	if ok, _ := l.Allow(a); !ok {
		t.Fatal("still refused once an attempt refilled")
	}
	l.Fail(a)
	if ok, wait := l.Allow(a); ok || wait != 10*time.Minute {
		t.Fatalf("a failure after the refill: ok %v, wait %v; want the next attempt in 10 min", ok, wait)
	}
}

// IPv6 addresses count per /64.
func TestNetwork(t *testing.T) {
	n := console.Network(netip.MustParseAddr("2001:db8:1:2::1"))
	if got := console.Network(netip.MustParseAddr("2001:db8:1:2:ffff::9")); got != n {
		t.Errorf("another address of the same /64: %v, want %v", got, n)
	}
	if got := console.Network(netip.MustParseAddr("2001:db8:1:3::1")); got == n {
		t.Errorf("another /64 counts as %v", got)
	}
}

// With MaxTracked keys failing at once, new keys are refused until buckets
// refill.
func TestLimiter_Full(t *testing.T) {
	c := newClock()
	l := console.NewLimiter[netip.Prefix](5, time.Minute, c.Now)
	for i := range console.MaxTracked {
		l.Fail(console.Network(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})))
	}
	fresh := console.Network(netip.MustParseAddr("192.0.2.1"))
	if ok, _ := l.Allow(fresh); ok {
		t.Fatal("a new network is allowed while the limiter is full")
	}
	c.add(12 * time.Second) // one attempt refilled: every bucket full again
	if ok, _ := l.Allow(fresh); !ok {
		t.Fatal("a new network is refused after the buckets refilled")
	}
}

func TestDevices(t *testing.T) {
	d, other := console.NewDevices(), console.NewDevices()
	v := d.New()
	id, ok := d.Check([]byte(v))
	if !ok || id == ([16]byte{}) {
		t.Fatalf("Check(New()) = %x, %v", id, ok)
	}
	if id2, _ := d.Check([]byte(d.New())); id2 == id {
		t.Fatal("two devices share an id")
	}
	flip := []byte(v)
	flip[len(flip)-1] ^= 1
	for name, bad := range map[string][]byte{
		"OtherKey": []byte(v), "FlippedMAC": flip, "Empty": nil, "NoDot": []byte(strings.Replace(v, ".", "x", 1)),
		"Truncated": []byte(v[:len(v)-1]), "Padded": []byte(v + "="),
	} {
		checker := d
		if name == "OtherKey" {
			checker = other
		}
		if _, ok := checker.Check(bad); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestHistory(t *testing.T) {
	var h console.History
	if _, ok := h.Last(); ok || len(h.Samples()) != 0 {
		t.Fatal("empty history has samples")
	}
	at := time.Date(2021, 8, 9, 11, 0, 0, 0, time.UTC)
	for i := range console.HistoryLen + 5 {
		h.Add(console.Sample{At: at.Add(time.Duration(i) * console.SampleEvery), Waiting: int64(i)})
	}
	s := h.Samples()
	if len(s) != console.HistoryLen || s[0].Waiting != 5 || s[len(s)-1].Waiting != int64(console.HistoryLen+4) {
		t.Fatalf("history holds %d samples from %d to %d", len(s), s[0].Waiting, s[len(s)-1].Waiting)
	}
	for i := 1; i < len(s); i++ {
		if !s[i].At.After(s[i-1].At) {
			t.Fatalf("samples out of order at %d", i)
		}
	}
	if last, _ := h.Last(); last != s[len(s)-1] {
		t.Fatalf("Last = %+v", last)
	}
	if got := console.HistoryLen * int(console.SampleEvery/time.Second); got != 3600 {
		t.Fatalf("history covers %d s, want an hour", got)
	}
}

// The ids the browser tests and console.js rely on, each on the page once;
// console.js uses all but the submit buttons, which submit their forms.
var submits = map[string]bool{"rate-apply": true, "message-apply": true}

var ids = []string{
	"signin", "signin-form", "signin-token", "signin-submit", "signin-error", "signout", "session-info", "console", "conn",
	"room", "paused-state", "queue-length", "admitted-per-minute", "rate-target", "rate-per-hour", "tail-wait", "cursor", "issued",
	"store-health", "store-latency", "store-errors", "backend-latency", "backend-errors",
	"window-id", "window-opens", "window-closes", "message-current", "updated", "gateway-self",
	"lights", "lights-none", "gateways", "gateway-count",
	"chart-waiting", "chart-admitted", "chart-latency", "chart-waiting-max", "chart-admitted-max", "chart-latency-max",
	"rate-form", "rate-input", "rate-apply", "pause", "resume",
	"light-form", "light-method", "light-value", "light-apply",
	"message-form", "message-input", "message-count", "message-apply", "message-clear",
	"window-form", "window-opens-input", "window-closes-input", "window-apply",
	"control-result", "audit", "confirm", "confirm-text", "confirm-yes", "confirm-no",
}

func TestPage(t *testing.T) {
	page := console.Page()
	js, _, _ := console.Asset("console.js")
	for _, id := range ids {
		if n := bytes.Count(page, []byte(`id="`+id+`"`)); n != 1 {
			t.Errorf("id %q appears %d times on the page, want 1", id, n)
		}
		if !submits[id] && !bytes.Contains(js, []byte("'"+id+"'")) && !bytes.Contains(js, []byte("'"+strings.TrimSuffix(id, "-max")+"'")) {
			t.Errorf("console.js never uses #%s", id)
		}
	}
	// The sign-in form posts, so even without its script the token never
	// lands in a URL.
	form := regexp.MustCompile(`<form id="signin-form"[^>]*>`).Find(page)
	if !bytes.Contains(form, []byte(`method="post"`)) || !bytes.Contains(form, []byte(`action="/admin/api/signin"`)) {
		t.Errorf("sign-in form %s does not post to /admin/api/signin", form)
	}
	if !regexp.MustCompile(`<input id="signin-token"[^>]* type="password"`).Match(page) {
		t.Error("the token field is not a password field")
	}
	for _, id := range []string{"signin", "console", "confirm"} {
		if tag := regexp.MustCompile(`<[^>]* id="` + id + `"[^>]*>`).Find(page); !bytes.Contains(tag, []byte(" hidden")) {
			t.Errorf("%s shows before the script decides", tag)
		}
	}
	for _, bad := range [][]byte{[]byte("style="), []byte("<style"), []byte("onclick"), []byte("javascript:")} {
		if bytes.Contains(page, bad) {
			t.Errorf("page contains %q, which the CSP blocks", bad)
		}
	}
	for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllIndex(page, -1) {
		tag, after := page[m[0]:m[1]], page[m[1]:]
		if !bytes.Contains(tag, []byte(`src="/admin/static/`)) || !bytes.HasPrefix(after, []byte("</script>")) {
			t.Errorf("script %s is inline or not served by the admin listener", tag)
		}
	}
	if bytes.Contains(js, []byte("innerHTML")) || bytes.Contains(js, []byte("insertAdjacentHTML")) {
		t.Error("console.js writes HTML; everything from the server must be text")
	}
}

func TestPage_NoExternalResources(t *testing.T) {
	bodies := map[string][]byte{"page": console.Page()}
	for _, name := range []string{"console.js", "console.css"} {
		b, _, ok := console.Asset(name)
		if !ok {
			t.Fatalf("no asset %s", name)
		}
		bodies[name] = b
	}
	for name, b := range bodies {
		// The SVG namespace is a name, not a resource.
		b = bytes.ReplaceAll(b, []byte("http://www.w3.org/2000/svg"), nil)
		// The one import allowed: our own web font, beside the style sheet.
		b = bytes.Replace(b, []byte(`@import url("fonts/fonts.css");`), nil, 1)
		for _, bad := range []string{"http://", "https://", "//fonts.", "@import", "cdn", "url("} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
	if _, _, ok := console.Asset("index.html"); ok {
		t.Error("the page is also served as an asset")
	}
	if !strings.Contains(console.ContentSecurityPolicy, "frame-ancestors 'none'") || strings.Contains(console.ContentSecurityPolicy, "unsafe") {
		t.Errorf("CSP %q", console.ContentSecurityPolicy)
	}
}

// Under node, console.js exports its pure helpers; each case is an
// expression over them, run in UTC.
func TestScriptHelpers(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH; console.js not run")
	}
	js, _, _ := console.Asset("console.js")
	path := filepath.Join(t.TempDir(), "console.js")
	if err := os.WriteFile(path, js, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(node, "--check", path).CombinedOutput(); err != nil {
		t.Fatalf("node --check: %v\n%s", err, out)
	}
	cases := []struct{ name, expr, want string }{
		{"num/Thousands", `num(2000000)`, "2,000,000"},
		{"num/Rounds", `num(33333.4)`, "33,333"},
		{"num/NaN", `num(NaN)`, "-"},
		{"num/Missing", `num(undefined)`, "-"},
		{"dur/Seconds", `dur(45)`, "45 s"},
		{"dur/Minutes", `dur(750)`, "12 min 30 s"},
		{"dur/Hours", `dur(7500)`, "2 h 05 min"},
		{"dur/Bad", `dur(-1)`, "-"},
		{"ms/Small", `ms(1.234)`, "1.2 ms"},
		{"ms/Large", `ms(1234.5)`, "1,235 ms"},
		{"localInput", `localInput("2021-08-09T11:00:05Z")`, "2021-08-09T11:00:05"},
		{"localInput/None", `localInput("")`, ""},
		{"fromInput", `fromInput("2021-08-09T20:00")`, "2021-08-09T20:00:00.000Z"},
		{"fromInput/Empty", `fromInput("")`, ""},
		{"fromInput/Bad", `fromInput("tomorrow")`, "null"},
		{"shown", `shown("2021-08-09T11:00:00Z")`, "2021-08-09 11:00:00 UTC+00:00"},
		{"shown/Never", `shown("")`, "never"},
		{"message/OK", `messageProblem("백신 예약 " + "가".repeat(194))`, ""},
		{"message/TooLong", `messageProblem("가".repeat(201))`, "at most 200 characters"},
		{"message/Emoji", `messageProblem("😀".repeat(200))`, ""},
		{"message/Newline", `messageProblem("a\nb")`, "one line of plain text, without control characters"},
		{"message/LineSeparator", `messageProblem("a\u2028b")`, "one line of plain text, without control characters"},
		{"message/Bidi", `messageProblem("a\u202eb")`, "one line of plain text, without control characters"},
		{"nice/1", `nice(0)`, "1"},
		{"nice/Up", `nice(3456)`, "5000"},
		{"nice/Exact", `nice(200)`, "200"},
		{"line/Empty", `line([], 3600000, 1, 600, 120)`, ""},
		{"line/Three", `line([{t: 3570000, v: 0}, {t: 3580000, v: 5}, {t: 3600000, v: 10}], 3600000, 10, 600, 120)`, "M595.0,120.0L596.7,60.0L600.0,0.0"},
		{"line/NotANumber", `line([{t: 3570000, v: 1}, {t: 3580000, v: null}, {t: 3590000, v: 1}], 3600000, 1, 600, 120)`, "M595.0,0.0M598.3,0.0"},
		{"line/Gap", `line([{t: 0, v: 1}, {t: 60000, v: 1}], 3600000, 1, 600, 120)`, "M0.0,0.0M10.0,0.0"},
		{"line/TooOld", `line([{t: -1, v: 1}], 3600000, 1, 600, 120)`, ""},
		{"line/Clipped", `line([{t: 3600000, v: 20}], 3600000, 10, 600, 120)`, "M600.0,0.0"},
	}
	exprs := make([]string, len(cases))
	for i, tc := range cases {
		exprs[i] = tc.expr
	}
	in, _ := json.Marshal(exprs)
	cmd := exec.Command(node, "-e", `
const h = require(process.argv[1]);
const exprs = JSON.parse(require("fs").readFileSync(0, "utf8"));
const f = new Function(...Object.keys(h), "e", "return String(eval(e))");
process.stdout.write(JSON.stringify(exprs.map((e) => f(...Object.values(h), e))));`, path)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	cmd.Stdin = bytes.NewReader(in)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(cases) {
		t.Fatalf("node printed %q (%v)", out, err)
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got[i] != tc.want {
				t.Errorf("%s = %q, want %q", tc.expr, got[i], tc.want)
			}
		})
	}
}
