package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRun_Smoke runs bin/loadtest on scenarios/smoke.yaml against a real
// fleet: two `waitroom serve` processes on a real Redis, the demo backend
// and the development identity provider, compressed in time and crowd. It
// checks the properties the 20:00 scenario must show (last admission close
// to stayed/rate, predictions within ±10% for 90%, no inversions, no bypass
// or second device getting through, no errors) and that nothing outlives
// the run. The loadtest runs as its own (non-race) binary, as operators run
// it, so the race detector's cost does not slow the crowd down.
func TestRun_Smoke(t *testing.T) {
	bins := buildBinaries(t)
	rep, out := runScenarioFile(t, bins, "../scenarios/smoke.yaml")
	if len(rep.Errors) > 0 {
		t.Errorf("errors: %v", rep.Errors)
	}
	if left := survivors(bins); left != "" {
		t.Errorf("processes outlived the run:\n%s", left)
	}

	// The run did what the scenario says, so the properties mean something.
	pp := rep.People
	if pp.Simulated != 2000 || pp.Admitted+pp.GaveUp+pp.Failed != pp.Simulated {
		t.Errorf("people: %+v", pp)
	}
	if share := float64(pp.GaveUp) / float64(pp.Simulated); share < 0.07 || share > 0.13 {
		t.Errorf("%.3f gave up, the scenario says 0.10", share)
	}
	// Everyone admitted is in the accuracy but those whose turn came while
	// their phone slept.
	if rep.Accuracy.People+rep.LastAdmitted.Late != pp.Admitted || rep.LastAdmitted.IdealSeconds < 8*60 {
		t.Errorf("accuracy over %d of %d admitted (%d on waking); ideal finish %vs", rep.Accuracy.People, pp.Admitted, rep.LastAdmitted.Late, rep.LastAdmitted.IdealSeconds)
	}
	if sl := rep.Sleepers; sl == nil || sl.Slept < 100 || sl.Waited+sl.Late < sl.Slept*3/4 || rep.Requests.ByEndpoint["away"] != sl.Slept {
		t.Errorf("sleepers %+v, %d away beacons: want about 10%% of 2,000 asleep, most back, one beacon each", sl, rep.Requests.ByEndpoint["away"])
	}
	checkRefusals(t, rep, 20, 20)
	if n := rep.Requests.ByEndpoint["idp_authorize"]; n < pp.Simulated {
		t.Errorf("%d logins at the identity provider for %d people", n, pp.Simulated)
	}
	for _, f := range []string{"report.md", "queue.svg", "accuracy.svg", "admitted-per-minute.svg", "logs/gateway-2.log"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

// runScenarioFile runs bin/loadtest on a scenario file, fails t for every
// checked property that failed, and returns the report and its directory.
func runScenarioFile(t *testing.T, bins, scenario string) (*Report, string) {
	t.Helper()
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(bins, "loadtest"), "-scenario", scenario, "-out", out, "-quiet")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Log("\n" + stdout.String())
	if err != nil {
		t.Errorf("loadtest: %v\n%s", err, stderr.String())
	}
	var rep Report
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err == nil {
		err = json.Unmarshal(b, &rep)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Properties {
		if p.Checked && !p.Pass {
			t.Errorf("%s: %s, expected %s", p.Name, p.Actual, p.Expected)
		}
	}
	return &rep, out
}

// TestRun_StoreFaults plays short versions of the store's bad night against
// three real gateways: Redis stopped for longer than the heartbeat grace,
// killed and restarted empty (scenarios/redis-blips-short.yaml), and a
// Sentinel failover. Release must not burst when the store is back, nobody
// who kept polling may be passed over, every poll is answered and nobody
// loses their place; the checks are the report's properties.
func TestRun_StoreFaults(t *testing.T) {
	bins := buildBinaries(t)
	failover := writeScenario(t, `
name: redis-failover-short
people: 300
rate_per_hour: 36000
max_duration: 2m
arrival: {ramp: {over: 10s}}
store_faults: [{at: 10s, failover: true}]
fleet: {spawn: {gateways: 3, store: sentinel}}
expect: {fault_recovery_max: 1.8, inversions_max: 0, error_share_max: 0.001}
`)
	for name, file := range map[string]string{"StopAndEmptyRestart": "../scenarios/redis-blips-short.yaml", "SentinelFailover": failover} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rep, _ := runScenarioFile(t, bins, file)
			if len(rep.Faults) == 0 {
				t.Fatalf("no fault was made: %+v", rep)
			}
			if pp := rep.People; pp.Admitted != pp.Simulated {
				t.Errorf("people: %+v, want everyone admitted", pp)
			}
		})
	}
}

// TestRun_UnderAttack plays short nights with attackers against two real
// gateways: identity first (scenarios/storm-under-attack-short.yaml: starts,
// joins, forged polls and bypasses from one address, three stolen
// identities from another, 300 people behind one address), and anonymous
// joins flooded from one address (100 a simulated second, 1,000 a real one)
// while 100 people share another. The rates are far above every budget and
// low enough to leave CPU to the other packages' tests. The
// crowd must get through, the lights move only with the crowd, and the
// attackers hold no more places than their budgets allow; the checks are
// the report's properties.
func TestRun_UnderAttack(t *testing.T) {
	bins := buildBinaries(t)
	anonymous := writeScenario(t, `
name: join-flood-short
people: 3000
rate_per_hour: 72000
time_scale: 10
crowd_scale: 10
max_duration: 10m
arrival: {ramp: {over: 1m}}
shared_address: {address: 100.64.0.9, people: 100}
attackers:
  - {name: join-flood, from: [203.0.113.77], joins_per_second: 100}
fleet: {spawn: {gateways: 2, store: redis}}
# Each gateway lets one address take 5 places at once and 0.2 a minute
# without a proof of work: at most 2 x (5 + 0.2 x 5) in the 5 minutes the
# night lasts at most (10 people over the budget of the two gateways).
expect: {placed_share_min: 1, shared_placed_share_min: 1, attacker_places_max: 12, inversions_max: 0, error_share_max: 0.001}
`)
	for name, file := range map[string]string{"IdentityFirst": "../scenarios/storm-under-attack-short.yaml", "Anonymous": anonymous} {
		t.Run(name, func(t *testing.T) { // one at a time: an attack takes what CPU it finds
			rep, _ := runScenarioFile(t, bins, file)
			a := rep.Attack
			if a == nil || rep.Crowd == nil {
				t.Fatalf("no attack reported: %+v", rep)
			}
			// The attack happened: every kind asked for was sent, beyond
			// every budget.
			for _, at := range a.Attackers {
				for kind, c := range at.Kinds {
					if c.Sent < 20 {
						t.Errorf("%s sent %d %s", at.Name, c.Sent, kind)
					}
				}
			}
			if rep.Setup.Identity && (rep.Lights == nil || rep.Lights.Readings < 20) {
				t.Errorf("lights: %+v", rep.Lights)
			}
			if rep.Crowd.SharedArrived == 0 {
				t.Errorf("nobody behind the shared address: %+v", rep.Crowd)
			}
		})
	}
}

// writeScenario writes a scenario for one test and returns its path.
func writeScenario(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scenario.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkRefusals requires enough bypass and second-device attempts, all
// refused.
func checkRefusals(t *testing.T, rep *Report, minBypass, minSecond int64) {
	t.Helper()
	var tried, refused int64
	for _, c := range rep.Bypass {
		tried += c.Tried
		refused += c.Refused
	}
	if tried < minBypass || refused != tried {
		t.Errorf("bypass: %d tried, %d refused: %+v", tried, refused, rep.Bypass)
	}
	if sd := rep.SecondDevice; sd.Tried < minSecond || sd.Refused != sd.Tried {
		t.Errorf("second devices: %+v", sd)
	}
}

// A small crowd played in-process (under the race detector in make test),
// identity first on one gateway with the in-memory store.
func TestRun_Small(t *testing.T) {
	bins := buildBinaries(t)
	sc, err := ParseScenario([]byte(`
name: small
people: 300
rate_per_hour: 36000
time_scale: 10
crowd_scale: 1
max_duration: 5m
arrival: {ramp: {over: 10s}}
give_up: {share: 0.1, uniform_of_wait: [0.1, 0.9]}
bypass_share: 0.1
second_device_share: 0.1
identity: {enabled: true, methods: [phone, pass]}
fleet: {spawn: {gateways: 1, store: memory}}
expect: {inversions_max: 0, error_share_max: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	rep, err := Run(context.Background(), sc, Options{Waitroom: filepath.Join(bins, "waitroom"), Out: out, Progress: &testWriter{t: t}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.Summary())
	for _, p := range rep.Properties {
		if p.Checked && !p.Pass {
			t.Errorf("%s: %s, expected %s", p.Name, p.Actual, p.Expected)
		}
	}
	if pp := rep.People; pp.Admitted+pp.GaveUp != 300 || pp.GaveUp == 0 {
		t.Errorf("people: %+v", pp)
	}
	checkRefusals(t, rep, 10, 10)
	if err := rep.Write(out); err != nil {
		t.Fatal(err)
	}
	if left := survivors(bins); left != "" {
		t.Errorf("processes outlived the run:\n%s", left)
	}
}

// Ctrl-C stops the run and the fleet at once, and the report says so.
func TestRun_Interrupted(t *testing.T) {
	bins := buildBinaries(t)
	sc, err := ParseScenario([]byte(override(minimal, "max_duration: 1h\nfleet: {spawn: {gateways: 1, store: redis}}\n")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(3*time.Second, cancel)
	start := time.Now()
	rep, err := Run(ctx, sc, Options{Waitroom: filepath.Join(bins, "waitroom"), Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Complete || rep.StopReason != "interrupted" || rep.Passed || time.Since(start) > 20*time.Second {
		t.Errorf("complete %v, reason %q, passed %v after %v", rep.Complete, rep.StopReason, rep.Passed, time.Since(start))
	}
	if left := survivors(bins); left != "" {
		t.Errorf("processes outlived the run:\n%s", left)
	}
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// buildBinaries compiles cmd/waitroom and cmd/loadtest once per test
// binary, into one directory (the loadtest finds waitroom beside itself).
func buildBinaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "loadtest-bin-"); buildErr != nil {
			return
		}
		for _, c := range []string{"waitroom", "loadtest"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, c), "./cmd/"+c)
			cmd.Dir = ".."
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = errors.New("go build ./cmd/" + c + ": " + err.Error() + "\n" + string(out))
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// survivors lists processes still running a binary from dir.
func survivors(dir string) string {
	out, _ := exec.Command("pgrep", "-af", dir).Output()
	return strings.TrimSpace(string(out))
}

// testWriter sends progress lines to the test log.
type testWriter struct {
	t  *testing.T
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	for {
		line, err := w.b.ReadString('\n')
		if err != nil {
			w.b.WriteString(line)
			return len(p), nil
		}
		w.t.Log(strings.TrimRight(line, "\n"))
	}
}
