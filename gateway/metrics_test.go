package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/gateway"
)

// exposition is a parsed /metrics answer: each series ("name{labels}" as
// written) with its value, and each family with its type.
type exposition struct {
	series map[string]float64
	types  map[string]string
}

var (
	reHelp   = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) [^\n]+$`)
	reType   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$`)
	reLabel  = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"`
	reSample = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{` + reLabel + `(?:,` + reLabel + `)*\})? (\S+)$`)
	reLe     = regexp.MustCompile(`,?le="([^"]*)"`)
)

// parseExposition checks text against the Prometheus text format 0.0.4 as
// the gateway writes it (HELP and TYPE before every family, each family
// once and its samples together, no duplicate series, counters ending in
// _total, cumulative histogram buckets ending at +Inf = _count) and
// returns what it holds.
func parseExposition(t *testing.T, text string) exposition {
	t.Helper()
	e := exposition{series: map[string]float64{}, types: map[string]string{}}
	if !strings.HasSuffix(text, "\n") {
		t.Fatalf("exposition does not end with a newline")
	}
	var family, help string
	buckets := map[string][]float64{} // histogram series without le -> bucket values in order
	lastLe := map[string]string{}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if m := reHelp.FindStringSubmatch(line); m != nil {
			if _, dup := e.types[m[1]]; dup || help != "" {
				t.Fatalf("line %d: HELP %s repeated or without TYPE", i+1, m[1])
			}
			help = m[1]
			continue
		}
		if m := reType.FindStringSubmatch(line); m != nil {
			if m[1] != help {
				t.Fatalf("line %d: TYPE %s not after its HELP", i+1, m[1])
			}
			if m[2] == "counter" && !strings.HasSuffix(m[1], "_total") {
				t.Errorf("line %d: counter %s does not end in _total", i+1, m[1])
			}
			family, help, e.types[m[1]] = m[1], "", m[2]
			continue
		}
		m := reSample.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("line %d is not HELP, TYPE or a sample: %q", i+1, line)
		}
		name, labels, value := m[1], m[2], m[3]
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("line %d: value %q: %v", i+1, value, err)
		}
		belongs := name == family
		if e.types[family] == "histogram" {
			belongs = slices.Contains([]string{family + "_bucket", family + "_sum", family + "_count"}, name)
		}
		if !belongs {
			t.Fatalf("line %d: sample %s outside its family (current %q)", i+1, name, family)
		}
		key := name + labels
		if _, dup := e.series[key]; dup {
			t.Fatalf("line %d: series %s repeated", i+1, key)
		}
		e.series[key] = v
		switch {
		case name == family+"_bucket":
			rest := reLe.ReplaceAllString(labels, "")
			rest = strings.Replace(rest, "{,", "{", 1)
			if rest == "{}" {
				rest = ""
			}
			buckets[family+rest] = append(buckets[family+rest], v)
			lastLe[family+rest] = reLe.FindStringSubmatch(labels)[1]
			if n := len(buckets[family+rest]); n > 1 && v < buckets[family+rest][n-2] {
				t.Errorf("line %d: bucket %s below the previous one", i+1, key)
			}
		case name == family+"_count":
			b := buckets[family+labels]
			if len(b) == 0 || b[len(b)-1] != v || lastLe[family+labels] != "+Inf" {
				t.Errorf("line %d: %s = %v, buckets %v ending at le=%q", i+1, key, v, b, lastLe[family+labels])
			}
		}
	}
	if help != "" {
		t.Fatalf("HELP %s without TYPE at the end", help)
	}
	return e
}

// scrape reads /metrics from the operator listener with the admin token.
func scrape(t *testing.T, h *harness) exposition {
	t.Helper()
	req, _ := http.NewRequest("GET", h.adminURL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("GET /metrics: %d %q %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return parseExposition(t, string(b))
}

func (e exposition) want(t *testing.T, series string, v float64) {
	t.Helper()
	got, ok := e.series[series]
	if !ok || got != v {
		t.Errorf("%s = %v (present %v), want %v", series, got, ok, v)
	}
}

func TestMetrics(t *testing.T) {
	b := mustFlakyBackend(t)
	h := mustHarness(t, harnessOptions{rate: 36_000, backendAddr: b.addr})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		resp, err := http.Get(h.adminURL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("scrape without the token: %d, want 401", resp.StatusCode)
		}
	})
	p, q := h.person(), h.person()
	p.join()
	q.join()
	h.advance(100 * time.Millisecond) // 36,000/h: one person in 100 ms
	for range 3 {
		p.status()
	}
	q.status()
	p.do("GET", "/book", "", nil)
	b.mode.Store(modeFail)
	p.do("GET", "/book", "", nil)
	b.mode.Store(modeOK)
	p.do("GET", "/missing", "", nil)
	q.do("GET", "/book", "", map[string]string{"Accept": "application/json"}) // not admitted: never forwarded
	e := scrape(t, h)
	e.want(t, "waitroom_up", 1)
	e.want(t, `waitroom_store_healthy{room="r"}`, 1)
	e.want(t, "waitroom_joins_total", 2)
	e.want(t, "waitroom_status_polls_total", 4)
	e.want(t, "waitroom_admissions_total", 3) // every poll of an admitted person re-issues the token
	e.want(t, `waitroom_queue_issued{room="r"}`, 2)
	e.want(t, `waitroom_queue_admitted{room="r"}`, 1)
	e.want(t, `waitroom_queue_waiting{room="r"}`, 1)
	e.want(t, `waitroom_rate_per_hour{room="r"}`, 36_000)
	e.want(t, `waitroom_tail_wait_seconds{room="r"}`, 0.1) // one person at 10 a second
	e.want(t, `waitroom_proxy_requests_total{class="2xx"}`, 1)
	e.want(t, `waitroom_proxy_requests_total{class="4xx"}`, 1)
	e.want(t, `waitroom_proxy_requests_total{class="5xx"}`, 1)
	e.want(t, `waitroom_proxy_requests_total{class="error"}`, 0)
	e.want(t, `waitroom_proxy_backend_seconds_count`, 3)
	e.want(t, `waitroom_store_errors_total{op="request"}`, 0)
	e.want(t, "waitroom_health_enabled", 0)
	if _, ok := e.series["waitroom_verification_light"]; ok {
		t.Error("verification metrics without identity first")
	}

	t.Run("BackendDown", func(t *testing.T) {
		h := mustHarness(t, harnessOptions{rate: 3_600_000, backendAddr: "127.0.0.1:1"})
		p := h.person()
		p.join()
		h.advance(time.Second)
		p.status()
		p.do("GET", "/book", "", nil)
		e := scrape(t, h)
		e.want(t, `waitroom_proxy_requests_total{class="error"}`, 1)
		e.want(t, `waitroom_backend_errors_total{kind="unavailable"}`, 1)
		e.want(t, `waitroom_backend_errors_total{kind="timeout"}`, 0)
	})
	t.Run("Unauthenticated", func(t *testing.T) {
		h := mustHarness(t, harnessOptions{opts: func(o *gateway.Options) { o.MetricsUnauthenticated = true }})
		resp, err := http.Get(h.adminURL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("open scrape: %d", resp.StatusCode)
		}
		parseExposition(t, string(body))
		// The rest of the operator API still needs the token.
		resp, err = http.Get(h.adminURL + "/admin/api/state")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("state without the token while metrics are open: %d", resp.StatusCode)
		}
	})
}

// Verification methods get counters, a latency histogram and their light.
func TestMetrics_Verification(t *testing.T) {
	h := mustIdentityHarness(t, opening.Add(time.Minute), 3_600_000)
	p := h.person()
	if resp, _ := p.verify("kakao", "1990-03-19", "Kim"); resp.StatusCode != 303 {
		t.Fatalf("verify: %d", resp.StatusCode)
	}
	h.person().call("GET", "/waitroom/auth/kakao/callback?code=x&state=y", "", nil) // forged: never started
	if resp, _ := h.person().verify("naver", "1990-03-19", "Kim"); resp.StatusCode != 403 {
		t.Fatalf("verify without ci: %d", resp.StatusCode)
	}
	refresh(t, h)
	admin(t, h, "PUT", "/admin/api/signals/phone", `{"light":"red"}`, 200)
	e := scrape(t, h)
	e.want(t, `waitroom_verification_starts_total{method="kakao"}`, 1)
	e.want(t, `waitroom_verification_starts_total{method="phone"}`, 0)
	e.want(t, `waitroom_verification_completions_total{method="kakao",outcome="ok"}`, 1)
	e.want(t, `waitroom_verification_completions_total{method="kakao",outcome="failed"}`, 0)
	e.want(t, `waitroom_verification_completions_total{method="naver",outcome="no_person_claim"}`, 1)
	e.want(t, `waitroom_verification_completions_total{method="naver",outcome="failed"}`, 0)
	e.want(t, `waitroom_verification_completions_total{method="naver",outcome="ok"}`, 0)
	e.want(t, `waitroom_verification_seconds_count{method="kakao"}`, 1)
	e.want(t, `waitroom_verification_light{method="kakao"}`, 0)
	e.want(t, `waitroom_verification_light{method="phone"}`, 2)
	e.want(t, "waitroom_joins_total", 1)
}

// The Grafana dashboard may only chart metrics the gateway exposes.
func TestMetrics_DashboardNamesExist(t *testing.T) {
	raw, err := os.ReadFile("../deploy/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "query") {
					exprs = append(exprs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(dash)
	if len(exprs) < 10 {
		t.Fatalf("dashboard has %d queries; want a panel per topic", len(exprs))
	}
	types := mustIdentityHarnessWithHealth(t)
	names := regexp.MustCompile(`waitroom_[a-z0-9_]+`)
	for _, expr := range exprs {
		for _, n := range names.FindAllString(expr, -1) {
			base := n
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(n, suffix); ok && types[b] == "histogram" {
					base = b
				}
			}
			if types[base] == "" {
				t.Errorf("dashboard query %q uses %s, which /metrics does not expose", expr, n)
			}
		}
	}
}

// mustIdentityHarnessWithHealth returns every family a gateway with
// identity first and health-driven release exposes, with its type.
func mustIdentityHarnessWithHealth(t *testing.T) map[string]string {
	types := scrape(t, mustIdentityHarness(t, opening.Add(time.Minute), 3_600_000)).types
	h := mustHarness(t, harnessOptions{opts: func(o *gateway.Options) { o.Health = testHealthOptions(nil) }})
	for k, v := range scrape(t, h).types {
		types[k] = v
	}
	return types
}
