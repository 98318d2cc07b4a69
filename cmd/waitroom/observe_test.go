package main_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The health section starts the health loop, whose ceiling follows
// rate_per_hour edits of the config file, and metrics.unauthenticated opens
// /metrics (only) to scrapers without the admin token.
func TestMain_HealthAndMetrics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "waitroom.yaml")
	write := func(rate string) {
		conf := "rate_per_hour: " + rate + "\nhealth:\n  enabled: true\n  interval: 100ms\n  window: 100ms\nmetrics:\n  unauthenticated: true\n"
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("36000")
	gw, _ := mustGateway(t, "", "--config", path)
	admin := "http://" + gw.AdminAddr

	body := readAll(t, mustDo(t, http.DefaultClient, mustReq(t, "GET", admin+"/metrics", "")))
	if !strings.Contains(body, "\nwaitroom_health_enabled 1\n") {
		t.Fatalf("/metrics without the token:\n%s", body)
	}
	if resp := mustDo(t, http.DefaultClient, mustReq(t, "GET", admin+"/admin/api/state", "")); resp.StatusCode != 401 {
		t.Fatalf("state without the token: %d", resp.StatusCode)
	}

	waitFor := func(action string, ceiling int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			req := mustReq(t, "GET", admin+"/admin/api/state", "")
			req.Header.Set("Authorization", "Bearer "+adminToken)
			var st struct {
				Health struct {
					Action  string `json:"action"`
					Ceiling int64  `json:"ceiling_per_hour"`
				} `json:"health"`
			}
			decode(t, mustDo(t, http.DefaultClient, req), &st)
			if st.Health.Action == action && st.Health.Ceiling == ceiling {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("health %+v; want action %q with ceiling %d", st.Health, action, ceiling)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("at_ceiling", 36000) // no traffic is healthy, and the rate is the ceiling
	write("50000")
	waitFor("at_ceiling", 50000) // the edit moved rate and ceiling alike
}
