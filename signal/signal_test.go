package signal_test

import (
	"testing"
	"time"

	"github.com/waitroom/waitroom/signal"
)

// load returns healthy metrics at the given share of a capacity of 1000.
func load(share float64) signal.Metrics {
	return signal.Metrics{InFlight: int(share * 1000), Capacity: 1000, Completions: 100}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		m    signal.Metrics
		want signal.Light
	}{
		{"Idle", load(0), signal.Green},
		{"JustBelowYellow", load(0.599), signal.Green},
		{"Yellow", load(0.6), signal.Yellow},
		{"JustBelowRed", load(0.899), signal.Yellow},
		{"Red", load(0.9), signal.Red},
		{"OverCapacity", load(1.5), signal.Red},
		{"Slow", signal.Metrics{Capacity: 10, P50Latency: 3 * time.Second, TargetLatency: 2 * time.Second}, signal.Yellow},
		{"AtTargetLatency", signal.Metrics{Capacity: 10, P50Latency: 2 * time.Second, TargetLatency: 2 * time.Second}, signal.Green},
		{"NoTargetLatency", signal.Metrics{Capacity: 10, P50Latency: time.Minute}, signal.Green},
		{"Failures20Percent", signal.Metrics{Capacity: 10, Failures: 2, Completions: 8}, signal.Green},
		{"Failures30Percent", signal.Metrics{Capacity: 10, Failures: 3, Completions: 7}, signal.Red},
		{"Failures50Percent", signal.Metrics{Capacity: 10, Failures: 5, Completions: 5}, signal.Red},
		{"Failures60Percent", signal.Metrics{Capacity: 10, Failures: 6, Completions: 4}, signal.Off},
		{"FewAttemptsAllFailed", signal.Metrics{Capacity: 10, Failures: 9}, signal.Green},
		{"Disabled", signal.Metrics{Capacity: 10, Disabled: true}, signal.Off},
		{"ProviderDown", signal.Metrics{Capacity: 10, ProviderDown: true}, signal.Off},
		{"NoCapacity", signal.Metrics{}, signal.Off},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := signal.Classify(tt.m); got != tt.want {
				t.Errorf("Classify(%+v) = %q, want %q", tt.m, got, tt.want)
			}
		})
	}
}

func TestAdmit(t *testing.T) {
	tests := []struct {
		name string
		m    signal.Metrics
		want bool
	}{
		{"Idle", load(0), true},
		{"RedStillAdmits", load(0.95), true},
		{"Full", load(1), false},
		{"ManyFailuresStillAdmit", signal.Metrics{Capacity: 10, Failures: 9, Completions: 1}, true},
		{"Disabled", signal.Metrics{Capacity: 10, Disabled: true}, false},
		{"ProviderDown", signal.Metrics{Capacity: 10, ProviderDown: true}, false},
		{"NoCapacity", signal.Metrics{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := signal.Admit(tt.m); got != tt.want {
				t.Errorf("Admit(%+v) = %v, want %v", tt.m, got, tt.want)
			}
		})
	}
}

// step is one Update: after advancing the clock by wait, metrics m and
// override forced should show want.
type step struct {
	wait   time.Duration
	m      signal.Metrics
	forced signal.Light
	want   signal.Light
}

func TestTracker_Update(t *testing.T) {
	down := signal.Metrics{Capacity: 10, ProviderDown: true}
	tests := []struct {
		name  string
		steps []step
	}{
		{"WorseAtOnce", []step{
			{0, load(0.1), "", signal.Green},
			{time.Second, load(0.95), "", signal.Red},
			{time.Second, down, "", signal.Off},
		}},
		{"BetterAfterHold", []step{
			{0, load(0.95), "", signal.Red},
			{time.Second, load(0.7), "", signal.Red},
			{4 * time.Second, load(0.7), "", signal.Red},
			{time.Second, load(0.7), "", signal.Yellow},
		}},
		{"OneStepAtATime", []step{
			{0, load(0.95), "", signal.Red},
			{time.Second, load(0.1), "", signal.Red},
			{5 * time.Second, load(0.1), "", signal.Green},
		}},
		{"RedNeedsLoadBelow08", []step{
			{0, load(0.95), "", signal.Red},
			{time.Second, load(0.85), "", signal.Red},
			{time.Minute, load(0.85), "", signal.Red},
			{time.Second, load(0.79), "", signal.Red},
			{5 * time.Second, load(0.79), "", signal.Yellow},
		}},
		{"YellowNeedsLoadBelow05", []step{
			{0, load(0.65), "", signal.Yellow},
			{time.Second, load(0.55), "", signal.Yellow},
			{time.Minute, load(0.55), "", signal.Yellow},
			{time.Second, load(0.45), "", signal.Yellow},
			{5 * time.Second, load(0.45), "", signal.Green},
		}},
		{"RelapseRestartsHold", []step{
			{0, load(0.7), "", signal.Yellow},
			{time.Second, load(0.1), "", signal.Yellow},
			{4 * time.Second, load(0.1), "", signal.Yellow},
			{time.Second, load(0.55), "", signal.Yellow},
			{time.Second, load(0.1), "", signal.Yellow},
			{4 * time.Second, load(0.1), "", signal.Yellow},
			{time.Second, load(0.1), "", signal.Green},
		}},
		{"ProviderRecovers", []step{
			{0, down, "", signal.Off},
			{time.Second, load(0.1), "", signal.Off},
			{5 * time.Second, load(0.1), "", signal.Green},
		}},
		{"Forced", []step{
			{0, load(0.1), signal.Red, signal.Red},
			{time.Second, load(0.95), signal.Green, signal.Green},
			{time.Second, load(0.95), "", signal.Red},
			{time.Second, load(0.1), signal.Off, signal.Off},
			{5 * time.Second, load(0.1), signal.Off, signal.Off},
			{time.Second, load(0.1), "", signal.Green},
		}},
		{"InvalidForcedIgnored", []step{
			{0, load(0.1), "purple", signal.Green},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2021, 8, 9, 20, 0, 0, 0, time.UTC)
			tr := signal.NewTracker(signal.Options{Now: func() time.Time { return now }})
			for i, s := range tt.steps {
				now = now.Add(s.wait)
				if got := tr.Update(s.m, s.forced); got != s.want {
					t.Fatalf("step %d: Update = %q, want %q", i, got, s.want)
				}
			}
		})
	}
}

// TestTracker_Update_Flapping feeds loads that straddle a threshold every
// second: the light must settle instead of following each sample.
func TestTracker_Update_Flapping(t *testing.T) {
	tests := []struct {
		name       string
		low, high  float64
		maxChanges int
		final      signal.Light
	}{
		{"AroundYellow", 0.58, 0.62, 1, signal.Yellow},
		{"AroundRed", 0.88, 0.92, 1, signal.Red},
		{"GreenAndYellow", 0.3, 0.62, 1, signal.Yellow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2021, 8, 9, 20, 0, 0, 0, time.UTC)
			tr := signal.NewTracker(signal.Options{Now: func() time.Time { return now }})
			var last signal.Light
			changes := -1 // the first light is not a change
			for sec := range 120 {
				now = now.Add(time.Second)
				share := tt.low
				if sec%2 == 1 {
					share = tt.high
				}
				if got := tr.Update(load(share), ""); got != last {
					changes++
					last = got
				}
			}
			if changes > tt.maxChanges || last != tt.final {
				t.Errorf("%d changes ending %q, want at most %d ending %q", changes, last, tt.maxChanges, tt.final)
			}
		})
	}
}

func TestTracker_Update_ZeroValue(t *testing.T) {
	var tr signal.Tracker
	if got := tr.Update(load(0.1), ""); got != signal.Green {
		t.Errorf("first Update = %q, want green", got)
	}
	if got := tr.Update(load(0.95), ""); got != signal.Red {
		t.Errorf("Update = %q, want red", got)
	}
	// The default hold is 5s of real time: the light stays red.
	if got := tr.Update(load(0.1), ""); got != signal.Red {
		t.Errorf("Update = %q, want red until the hold passes", got)
	}
}

func TestKorean(t *testing.T) {
	tests := []struct {
		l    signal.Light
		want string
	}{
		{signal.Green, "원활"},
		{signal.Yellow, "지연"},
		{signal.Red, "혼잡"},
		{signal.Off, "선택불가"},
		{"", ""},
		{"blue", ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.l), func(t *testing.T) {
			if got := signal.Korean(tt.l); got != tt.want {
				t.Errorf("Korean(%q) = %q, want %q", tt.l, got, tt.want)
			}
		})
	}
}

func TestParseForced(t *testing.T) {
	for in, want := range map[string]signal.Light{
		"green": signal.Green, "Yellow": signal.Yellow, " RED ": signal.Red,
		"off": signal.Off, "grey": signal.Off, "gray": signal.Off, "GREY": signal.Off,
		"auto": "", "": "", "Auto": "",
	} {
		if got, err := signal.ParseForced(in); err != nil || got != want {
			t.Errorf("ParseForced(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"blue", "amber", "automatic", "0", "greenish"} {
		if got, err := signal.ParseForced(in); err != signal.ErrForced {
			t.Errorf("ParseForced(%q) = %q, %v; want ErrForced", in, got, err)
		}
	}
}
