package loadtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimal = `
name: t
people: 1000
rate_per_hour: 36000
time_scale: 10
max_duration: 10m
arrival: {ramp: {over: 1m}}
fleet: {spawn: {gateways: 1, store: memory}}
`

func TestParseScenario_Defaults(t *testing.T) {
	sc, err := ParseScenario([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if sc.CrowdScale != 10 || sc.SimPeople() != 100 || sc.SimRate(sc.RatePerHour) != 3600 {
		t.Errorf("crowd scale %v, people %d, rate %d: want 10, 100, 3600", sc.CrowdScale, sc.SimPeople(), sc.SimRate(sc.RatePerHour))
	}
	if !sc.Polling.Obey || !*sc.VisitBackend || sc.Seed != 1 || sc.RateWindow.D() != 10*time.Second {
		t.Errorf("defaults: polling %+v, visit %v, seed %d, window %v", sc.Polling, *sc.VisitBackend, sc.Seed, sc.RateWindow.D())
	}
	if *sc.Expect.AccuracyWithin != 0.10 || sc.Expect.AccuracyFloor.D() != time.Second {
		t.Errorf("accuracy defaults: %v, %v", *sc.Expect.AccuracyWithin, sc.Expect.AccuracyFloor.D())
	}
	if sl := sc.Sleep; sl.Share != 0 || sl.Grace.D() != 10*time.Minute || len(sl.AtShareOfWait) != 2 {
		t.Errorf("sleep defaults: %+v", sl)
	}
	if got := sc.Real(time.Minute); got != 6*time.Second {
		t.Errorf("Real(1m) at x10 = %v", got)
	}
}

// Every bad file is refused with an error naming the key and what is wrong,
// and all problems of a file are reported at once.
func TestParseScenario_Errors(t *testing.T) {
	for _, tc := range []struct {
		name, edit string
		want       []string
	}{
		{"unknown key", "bogus: 1\n", []string{"field bogus not found"}},
		{"bare number duration", "max_duration: 600\n", []string{`"600" is not a duration`}},
		{"bad duration", "max_duration: 10 minutes\n", []string{`"10 minutes" is not a duration`}},
		{"two arrival curves", "arrival: {ramp: {over: 1m}, at_opening: {spread: 1m}}\n", []string{"arrival: set exactly one"}},
		{"table not summing to 1", "arrival: {table: [{minute: 0, share: 0.5}, {minute: 1, share: 0.4}]}\n", []string{"arrival.table: shares sum to 0.9"}},
		{"table minutes not increasing", "arrival: {table: [{minute: 1, share: 0.5}, {minute: 1, share: 0.5}]}\n", []string{"arrival.table[1].minute"}},
		{"give-up share without distribution", "give_up: {share: 0.1}\n", []string{"give_up: set exactly one"}},
		{"give-up distribution without share", "give_up: {exponential_mean: 5m}\n", []string{"give_up: a distribution without a share"}},
		{"give-up reversed bounds", "give_up: {share: 0.1, uniform_of_wait: [0.9, 0.1]}\n", []string{"give_up.uniform_of_wait"}},
		{"share out of range", "bypass_share: 1.5\n", []string{"bypass_share: 1.5"}},
		{"sleep share without durations", "sleep: {share: 0.2}\n", []string{"sleep.for: want [a, b]"}},
		{"sleep durations without share", "sleep: {for: [1m, 8m]}\n", []string{"sleep: a duration without a share"}},
		{"sleep reversed bounds", "sleep: {share: 0.2, for: [8m, 1m], at_share_of_wait: [0.9, 0.1]}\n", []string{"sleep.for", "sleep.at_share_of_wait"}},
		{"sleep grace out of range", "sleep: {share: 0.2, for: [1m, 8m], grace: 2h}\n", []string{"sleep.grace: 2h0m0s: want 1m..1h"}},
		{"sleep grace set twice", "fleet: {spawn: {config: {queue: {sleep_grace: 5m}}}}\n", []string{"fleet.spawn.config.queue.sleep_grace: set by the loadtest"}},
		{"second device without identity", "second_device_share: 0.1\n", []string{"second_device_share: needs identity.enabled"}},
		{"time scale too high", "time_scale: 500\n", []string{"time_scale: 500: want a whole number 1..50"}},
		{"time scale not whole", "time_scale: 2.5\n", []string{"time_scale: 2.5: want a whole number"}},
		{"crowd scale below 1", "crowd_scale: 0.5\n", []string{"crowd_scale: 0.5"}},
		{"crowd scale leaves nobody", "crowd_scale: 100000\n", []string{"leaves no simulated person"}},
		{"polling both ways", "polling: {obey: true, every: 5s}\n", []string{"polling: set obey or every"}},
		{"change with two actions", "changes: [{at: 1m, pause: true, resume: true}]\n", []string{"changes[0]: set exactly one"}},
		{"changes out of order", "changes: [{at: 2m, pause: true}, {at: 1m, resume: true}]\n", []string{"changes[1].at"}},
		{"memory store with two gateways", "fleet: {spawn: {gateways: 2, store: memory}}\n", []string{"fleet.spawn.store: memory keeps one queue"}},
		{"reserved gateway key", "fleet: {spawn: {config: {rate_per_hour: 5}}}\n", []string{"fleet.spawn.config.rate_per_hour: set by the loadtest"}},
		{"spawn and targets", "fleet: {spawn: {}, targets: {gateways: [\"http://127.0.0.1:1\"]}}\n", []string{"fleet: set exactly one"}},
		{"target not a URL", "fleet: {targets: {gateways: [\"127.0.0.1:8080\"], admin: \"http://127.0.0.1:8081\", admin_token_file: x}}\n",
			[]string{"fleet.targets.gateways[0]"}},
		{"several problems at once", "name: Bad Name\npeople: 0\nrate_per_hour: -1\n", []string{"name:", "people: 0", "rate_per_hour: -1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseScenario([]byte(override(minimal, tc.edit)))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.edit)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

// override replaces the top-level keys of base that edit sets.
func override(base, edit string) string {
	set := map[string]bool{}
	for _, line := range strings.Split(edit, "\n") {
		if k, _, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, " ") {
			set[k] = true
		}
	}
	var out []string
	for _, line := range strings.Split(base, "\n") {
		if k, _, ok := strings.Cut(line, ":"); ok && set[k] {
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n") + edit
}

// The shipped scenarios parse and describe what they claim.
func TestScenarioFiles(t *testing.T) {
	files, err := filepath.Glob("../scenarios/*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("scenarios: %v %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := ParseScenario(b)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if want := strings.TrimSuffix(filepath.Base(f), ".yaml"); sc.Name != want {
			t.Errorf("%s: name %q, want %q", f, sc.Name, want)
		}
	}
	b, err := os.ReadFile("../scenarios/kdca-2021-08-09.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ParseScenario(b)
	if err != nil {
		t.Fatal(err)
	}
	if sc.People != 1_900_000 || sc.RatePerHour != 2_000_000 || sc.GiveUp.Share != 0.10 {
		t.Errorf("kdca: %d people at %d/h, %v give up", sc.People, sc.RatePerHour, sc.GiveUp.Share)
	}
	x := sc.Expect
	if x.LastAdmittedRatioMax == nil || *x.LastAdmittedRatioMax != 1.01 || x.AccuracyShareMin == nil || *x.AccuracyShareMin != 0.9 ||
		*x.AccuracyWithin != 0.10 || x.InversionsMax == nil || *x.InversionsMax != 0 || x.ImpliedRequestRateMax == nil || *x.ImpliedRequestRateMax != 25000 {
		t.Errorf("kdca expectations are not the issue's: %+v", x)
	}
	// Most arrive in the first minutes.
	if q := sc.Arrival.quantile(0.5); q > 3*time.Minute {
		t.Errorf("kdca: half the crowd arrives only after %v", q)
	}
}
