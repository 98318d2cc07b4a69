package gateway_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waitroom/waitroom/gateway"
)

// logBuffer collects log output from concurrent handlers.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns each JSON log line decoded.
func (l *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(l.b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func withDebugLog(buf *logBuffer) func(*gateway.Options) {
	return func(o *gateway.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{16}$`)

func TestRequestID(t *testing.T) {
	h := mustHarness(t, harnessOptions{rate: 3_600_000})
	p := h.person()
	p.join()
	h.advance(time.Second)
	p.status()
	lastSeen := func() []string {
		reqs := h.backend.requests()
		return reqs[len(reqs)-1].header.Values("X-Request-Id")
	}
	t.Run("OKSafeKept", func(t *testing.T) {
		for _, id := range []string{"lb-42.abc:1", "0f8fad5b-d9cb-469f-a165-70867728950e", strings.Repeat("a", 64)} {
			resp, _ := p.do("GET", "/book", "", map[string]string{"X-Request-Id": id})
			if got := resp.Header.Get("X-Request-Id"); got != id {
				t.Errorf("sent %q, answer carries %q", id, got)
			}
			if got := lastSeen(); len(got) != 1 || got[0] != id {
				t.Errorf("sent %q, backend saw %q", id, got)
			}
		}
	})
	t.Run("UnsafeReplaced", func(t *testing.T) {
		for _, id := range []string{"", "has space", strings.Repeat("a", 65), `quote"`, "semi;colon", "ütf"} {
			resp, _ := p.do("GET", "/book", "", map[string]string{"X-Request-Id": id})
			got := resp.Header.Get("X-Request-Id")
			if !generatedID.MatchString(got) {
				t.Errorf("sent %q, answer carries %q: want a generated id", id, got)
			}
			if seen := lastSeen(); len(seen) != 1 || seen[0] != got {
				t.Errorf("backend saw %q, answer carries %q", seen, got)
			}
		}
	})
	t.Run("OneForwarded", func(t *testing.T) {
		req, _ := http.NewRequest("GET", h.url+"/book", nil)
		req.Header["X-Request-Id"] = []string{"first", "second one"}
		resp, err := p.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if seen := lastSeen(); len(seen) != 1 || seen[0] != "first" || resp.Header.Get("X-Request-Id") != "first" {
			t.Fatalf("two ids sent: backend saw %q, answer carries %q", seen, resp.Header.Get("X-Request-Id"))
		}
	})
	t.Run("UniqueOnEveryAnswer", func(t *testing.T) {
		seen := map[string]bool{}
		for _, path := range []string{"/waitroom/api/status", "/healthz", "/waitroom/api/nope", "/book", "/book"} {
			resp, _ := h.person().do("GET", path, "", nil)
			id := resp.Header.Get("X-Request-Id")
			if !generatedID.MatchString(id) || seen[id] {
				t.Errorf("GET %s: id %q (repeated: %v)", path, id, seen[id])
			}
			seen[id] = true
		}
	})
	t.Run("Admin", func(t *testing.T) {
		req, _ := http.NewRequest("GET", h.adminURL+"/admin/api/state", nil)
		req.Header.Set("X-Request-Id", "ops-7")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("X-Request-Id") != "ops-7" {
			t.Fatalf("operator API: %d, id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
		}
	})
}

// Log lines about a request carry its id; no line carries a ticket, a
// token or a cookie, and a waiting person's polls are not logged.
func TestRequestLogs(t *testing.T) {
	var buf logBuffer
	h := mustHarness(t, harnessOptions{rate: 3_600, opts: withDebugLog(&buf)})
	p, q := h.person(), h.person()
	joined := p.join()
	q.join()
	h.advance(time.Second) // 3,600/h: p only
	_, admitted := p.status()
	if admitted.State != "admitted" {
		t.Fatalf("not admitted: %+v", admitted)
	}
	p.do("GET", "/book", "", nil)
	buf.mu.Lock()
	before := buf.b.Len()
	buf.mu.Unlock()
	for range 5 {
		if _, s := q.status(); s.State != "waiting" {
			t.Fatalf("q: %+v", s)
		}
	}
	if buf.String()[before:] != "" {
		t.Fatalf("waiting polls were logged: %s", buf.String()[before:])
	}
	forged, _ := h.person().do("GET", "/waitroom/api/status", "", map[string]string{"Authorization": "Bearer x.y.z"})
	notAdmitted, _ := q.do("GET", "/book", "", map[string]string{"Accept": "application/json", "X-Request-Id": "q-403"})
	if forged.StatusCode != 401 || notAdmitted.StatusCode != 403 {
		t.Fatalf("forged ticket %d, not admitted %d", forged.StatusCode, notAdmitted.StatusCode)
	}

	byID := map[string][]map[string]any{}
	for _, l := range buf.lines(t) {
		id, _ := l["request_id"].(string)
		byID[id] = append(byID[id], l)
	}
	want := func(id, msg string, fields map[string]any) {
		t.Helper()
		for _, l := range byID[id] {
			if l["msg"] != msg {
				continue
			}
			for k, v := range fields {
				if l[k] != v {
					t.Errorf("%q line for %s: %s = %v, want %v", msg, id, k, l[k], v)
				}
			}
			return
		}
		t.Errorf("no %q line with request_id %q; lines: %v", msg, id, byID)
	}
	want(forged.Header.Get("X-Request-Id"), "request refused", map[string]any{"code": "ticket_malformed", "status": 401.0, "level": "DEBUG"})
	want("q-403", "request refused", map[string]any{"code": "not_admitted", "path": "/book"})
	if len(byID[""]) > 0 {
		t.Errorf("log lines without a request id: %v", byID[""])
	}
	var joins, admissions int
	for _, ls := range byID {
		for _, l := range ls {
			switch l["msg"] {
			case "joined":
				joins++
			case "admitted":
				admissions++
				if l["position"] != 1.0 || l["room"] != "r" {
					t.Errorf("admission line %v", l)
				}
			}
		}
	}
	if joins != 2 || admissions != 1 {
		t.Errorf("%d join and %d admission lines, want 2 and 1", joins, admissions)
	}
	all := buf.String()
	for name, secret := range map[string]string{"ticket": joined.Ticket, "admission token": admitted.Admission, "device cookie": p.cookie("wr_device")} {
		if secret == "" || strings.Contains(all, secret) {
			t.Errorf("the log holds the %s (or the test has none: %q)", name, secret)
		}
	}
}
