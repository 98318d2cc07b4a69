package loadtest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Scenario is one load-test scenario as written in its YAML file. Every
// figure is the full night's (people, rates, times in simulated time); the
// crowd scale divides people and rates when the run is set up.
type Scenario struct {
	// Name names the run and its default output directory: [a-z0-9._-]{1,64}.
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// People is the size of the full crowd.
	People int64 `yaml:"people"`
	// RatePerHour is the release rate of the full night.
	RatePerHour int64 `yaml:"rate_per_hour"`
	// TimeScale S: simulated seconds per real second, a whole number 1..50.
	TimeScale float64 `yaml:"time_scale"`
	// CrowdScale k: people one simulated person stands for, >= 1.
	// Default: TimeScale, so the gateways face the full night's request rate.
	CrowdScale float64 `yaml:"crowd_scale"`
	// MaxDuration bounds the run in simulated time (required).
	MaxDuration Duration `yaml:"max_duration"`
	// Seed makes arrivals and choices repeatable; 0 picks 1.
	Seed uint64 `yaml:"seed"`

	Arrival Arrival `yaml:"arrival"`
	GiveUp  GiveUp  `yaml:"give_up"`
	Sleep   Sleep   `yaml:"sleep"`
	Polling Polling `yaml:"polling"`
	// SecondDeviceShare of people verify again from another device, with
	// another method when there are several, which must be refused
	// (identity first only).
	SecondDeviceShare float64 `yaml:"second_device_share"`
	// BypassShare of people try to reach the backend without admission.
	BypassShare float64 `yaml:"bypass_share"`
	// VisitBackend: admitted people open the page they were sent to.
	// Default true.
	VisitBackend *bool `yaml:"visit_backend"`
	// Changes are operator actions at simulated times after the opening.
	Changes []Change `yaml:"changes"`
	// StoreFaults are done to a spawned fleet's Redis at simulated times
	// after the opening, in order.
	StoreFaults []StoreFault `yaml:"store_faults"`
	Identity    Identity     `yaml:"identity"`
	// SharedAddress puts part of the crowd behind one address (a carrier's
	// NAT); everyone else has an address of their own.
	SharedAddress *SharedAddress `yaml:"shared_address"`
	// Attackers flood the gateways while the crowd is there.
	Attackers []Attacker `yaml:"attackers"`
	Fleet     Fleet      `yaml:"fleet"`
	// RateWindow is the window over which request rates are averaged for
	// the peak figure, simulated time. Default 10s.
	RateWindow Duration `yaml:"rate_window"`
	Expect     Expect   `yaml:"expect"`
}

// Arrival is when people arrive, relative to the opening. Exactly one of
// its fields is set.
type Arrival struct {
	// AtOpening: everyone comes at the opening, each delayed by an
	// exponentially distributed time with mean Spread.
	AtOpening *struct {
		Spread Duration `yaml:"spread"`
	} `yaml:"at_opening"`
	// Ramp: arrivals evenly spread over Over (the count rises linearly).
	Ramp *struct {
		Over Duration `yaml:"over"`
	} `yaml:"ramp"`
	// Table: Share of the people arrive, evenly spread, during minute
	// Minute (from the opening). Minutes increase; shares sum to 1.
	Table []TableRow `yaml:"table"`
}

// TableRow is one minute of an arrival table.
type TableRow struct {
	Minute int     `yaml:"minute"`
	Share  float64 `yaml:"share"`
}

// GiveUp is who leaves the queue while waiting, and when. With Share > 0
// exactly one distribution is set.
type GiveUp struct {
	// Share of people who intend to give up.
	Share float64 `yaml:"share"`
	// UniformOfWait [a, b]: they leave after a uniformly distributed share
	// of the wait they were told at joining, 0 <= a <= b.
	UniformOfWait []float64 `yaml:"uniform_of_wait"`
	// Uniform [a, b]: they leave a uniformly distributed time after joining.
	Uniform []Duration `yaml:"uniform"`
	// ExponentialMean: they leave an exponentially distributed time after
	// joining, with this mean.
	ExponentialMean Duration `yaml:"exponential_mean"`
}

// Sleep is whose device sleeps once while they wait (a locked phone,
// another app): the page sends the gateway the beacon it sends when it is
// hidden (POST /waitroom/api/away), polls nothing while asleep, and polls
// at once when it wakes. With Share > 0, For is required.
type Sleep struct {
	// Share of people whose device sleeps.
	Share float64 `yaml:"share"`
	// For [a, b]: each sleeps a uniformly drawn time, simulated.
	For []Duration `yaml:"for"`
	// AtShareOfWait [a, b]: they fall asleep after a uniformly drawn share
	// of the wait they were told at joining, 0 <= a <= b. Default [0.05,
	// 0.95]. Whoever is admitted first never sleeps.
	AtShareOfWait []float64 `yaml:"at_share_of_wait"`
	// Grace is the gateways' queue.sleep_grace: nobody who slept less must
	// be passed over. A spawned fleet is configured with it; default 10m,
	// the gateway's default.
	Grace Duration `yaml:"grace"`
}

// Polling is how waiting people poll: as the gateway says (poll_after_ms),
// the default, or Every fixed interval.
type Polling struct {
	Obey  bool     `yaml:"obey"`
	Every Duration `yaml:"every"`
}

// Change is one operator action: exactly one of RatePerHour (full-night
// figure), Pause and Resume.
type Change struct {
	At          Duration `yaml:"at"`
	RatePerHour int64    `yaml:"rate_per_hour"`
	Pause       bool     `yaml:"pause"`
	Resume      bool     `yaml:"resume"`
}

// StoreFault is one thing done to the store: exactly one of Stop,
// RestartEmpty and Failover.
type StoreFault struct {
	At Duration `yaml:"at"`
	// Stop freezes every store process (SIGSTOP) for this long (simulated),
	// then thaws them (SIGCONT): a stalled Redis, or its machine's network.
	Stop Duration `yaml:"stop"`
	// RestartEmpty kills Redis (SIGKILL) and starts it again on its
	// address without data, as a Redis without persistence comes back
	// (store redis only).
	RestartEmpty bool `yaml:"restart_empty"`
	// Failover kills the master (SIGKILL); the Sentinels promote the
	// replica (store sentinel only).
	Failover bool `yaml:"failover"`
}

// Identity switches identity-first joining through the development
// identity provider.
type Identity struct {
	Enabled bool `yaml:"enabled"`
	// Methods people pick from at random. Default [phone].
	Methods []string `yaml:"methods"`
	// ProviderLatency is each login's time at the provider, simulated.
	ProviderLatency Duration `yaml:"provider_latency"`
	// ProviderCapacity is logins in flight per method at the provider;
	// default 100000 (a spawned provider only).
	ProviderCapacity int `yaml:"provider_capacity"`
}

// Fleet is the gateways under test: exactly one of Spawn and Targets.
type Fleet struct {
	Spawn   *Spawn   `yaml:"spawn"`
	Targets *Targets `yaml:"targets"`
}

// Spawn starts a fleet for the run and stops it at the end.
type Spawn struct {
	// Gateways is the number of `waitroom serve` processes, 1..16.
	Gateways int `yaml:"gateways"`
	// Store is memory (one gateway only), redis (a redis-server started
	// for the run) or sentinel (a master, a replica and three Sentinels,
	// which fail over a second after the master stops answering).
	Store string `yaml:"store"`
	// Config is merged into each gateway's generated configuration, for
	// keys the loadtest does not set itself (queue, proxy, log, ...).
	Config map[string]any `yaml:"config"`
}

// Targets are gateways already running, configured with the scenario's
// time scale (and rate R/k, which the loadtest sets at the start).
type Targets struct {
	Gateways       []string `yaml:"gateways"`
	Admin          string   `yaml:"admin"`
	AdminTokenFile string   `yaml:"admin_token_file"`
}

// Expect lists the properties a run must show; an unset one is reported
// but not checked. Bypasses and second devices are always checked: any
// success fails the run.
type Expect struct {
	// LastAdmittedRatioMax bounds the last admission's time after the
	// opening over the time the configured rate needs for the people who
	// stayed.
	LastAdmittedRatioMax *float64 `yaml:"last_admitted_ratio_max"`
	// AccuracyWithin is the tolerance of a prediction, as a share of the
	// actual wait (default 0.10); AccuracyFloor an absolute tolerance
	// for short waits (default 1s: the gateway rounds eta up to seconds
	// and polls at most once a second).
	AccuracyWithin *float64 `yaml:"accuracy_within"`
	AccuracyFloor  Duration `yaml:"accuracy_floor"`
	// AccuracyShareMin is the share of admitted people whose prediction
	// must be within tolerance.
	AccuracyShareMin *float64 `yaml:"accuracy_share_min"`
	// InversionsMax bounds the people told "waiting" after someone behind
	// them was admitted.
	InversionsMax *int64 `yaml:"inversions_max"`
	// ImpliedRequestRateMax bounds the peak request rate scaled to the
	// full crowd (measured x k / S), over RateWindow.
	ImpliedRequestRateMax *float64 `yaml:"implied_request_rate_max"`
	// ErrorShareMax bounds errors over requests.
	ErrorShareMax *float64 `yaml:"error_share_max"`
	// SchedulerLagP99Max bounds the loadtest's own lateness (real time):
	// beyond it the client could not keep up and the run proves little.
	SchedulerLagP99Max Duration `yaml:"scheduler_lag_p99_max"`
	// PlacedShareMin bounds the share of the people who arrived that got a
	// place (identity first: verified and placed); SharedPlacedShareMin the
	// same for the people behind the shared address.
	PlacedShareMin       *float64 `yaml:"placed_share_min"`
	SharedPlacedShareMin *float64 `yaml:"shared_placed_share_min"`
	// LightsMovedMax bounds the share of traffic-light readings (every
	// method, every second) that were not green and accepting while the
	// crowd's own verifications in flight were under half the method's
	// capacity: lights moved by something else than the crowd.
	LightsMovedMax *float64 `yaml:"lights_moved_max"`
	// AttackerPlacesMax bounds the places the attackers held together.
	AttackerPlacesMax *int64 `yaml:"attacker_places_max"`
	// FaultRecoveryMax bounds, for each store fault, the people released
	// from its start to 2 s (simulated) after the store answers again, as
	// a multiple of what the rate releases in 2 s: release missed during
	// the fault must not come out in a burst.
	FaultRecoveryMax *float64 `yaml:"fault_recovery_max"`
	// FaultMinuteMax bounds the people released from each fault's start to
	// a minute after the store answers again, as a multiple of what the
	// rate releases in a minute.
	FaultMinuteMax *float64 `yaml:"fault_minute_max"`
}

// Duration is a YAML duration written as a Go duration string ("90s",
// "1h30m"); a bare number is an error, as in the gateway's configuration.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return fmt.Errorf("line %d: %q is not a duration: write it like \"90s\" or \"1h30m\"", n.Line, n.Value)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration: write it like \"90s\" or \"1h30m\"", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Limits of a scenario.
const (
	maxTimeScale = 50 // the gateway's simulation.time_scale limit
	maxGateways  = 16
	maxMethods   = 32 // a person keeps the index of their method in a byte
	// defaultRateWindow is the default RateWindow.
	defaultRateWindow = 10 * time.Second
)

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9._-]{1,64}$`)
	methodRE = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
)

// ParseScenario reads a scenario file (YAML; unknown keys are errors),
// fills defaults and reports every problem at once, each with its key.
func ParseScenario(b []byte) (*Scenario, error) {
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if err := s.normalize(); err != nil {
		return nil, err
	}
	return &s, nil
}

// normalize fills defaults and validates.
func (s *Scenario) normalize() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if !nameRE.MatchString(s.Name) {
		bad("name", "%q: want 1-64 of [a-z0-9._-]", s.Name)
	}
	if s.People < 1 {
		bad("people", "%d: want at least 1", s.People)
	}
	if s.RatePerHour < 1 {
		bad("rate_per_hour", "%d: want at least 1", s.RatePerHour)
	}
	if s.TimeScale == 0 {
		s.TimeScale = 1
	}
	if !(s.TimeScale >= 1 && s.TimeScale <= maxTimeScale) || s.TimeScale != math.Trunc(s.TimeScale) {
		bad("time_scale", "%v: want a whole number 1..%d (the gateways' clock runs a whole number of times faster)", s.TimeScale, maxTimeScale)
	}
	if s.CrowdScale == 0 {
		s.CrowdScale = s.TimeScale
	}
	if !(s.CrowdScale >= 1) || math.IsInf(s.CrowdScale, 0) {
		bad("crowd_scale", "%v: want at least 1", s.CrowdScale)
	} else {
		if s.People > 0 && s.SimPeople() < 1 {
			bad("crowd_scale", "%v leaves no simulated person of %d", s.CrowdScale, s.People)
		}
		if s.RatePerHour > 0 && s.SimRate(s.RatePerHour) < 1 {
			bad("crowd_scale", "%v makes rate_per_hour %d less than 1 per hour", s.CrowdScale, s.RatePerHour)
		}
	}
	if s.MaxDuration <= 0 {
		bad("max_duration", "required: the longest the run may take, simulated time, e.g. \"75m\"")
	}
	if s.Seed == 0 {
		s.Seed = 1
	}
	s.Arrival.validate(bad)
	s.GiveUp.validate(bad)
	s.Sleep.validate(bad)
	if s.Polling.Obey && s.Polling.Every != 0 {
		bad("polling", "set obey or every, not both")
	}
	if s.Polling.Every < 0 || (s.Polling.Every > 0 && s.Polling.Every.D() < time.Millisecond) {
		bad("polling.every", "%v: want at least 1ms", s.Polling.Every.D())
	}
	s.Polling.Obey = s.Polling.Every == 0
	share := func(key string, v float64) {
		if !(v >= 0 && v <= 1) {
			bad(key, "%v: want a share in [0, 1]", v)
		}
	}
	share("second_device_share", s.SecondDeviceShare)
	share("bypass_share", s.BypassShare)
	if s.SecondDeviceShare > 0 && !s.Identity.Enabled {
		bad("second_device_share", "needs identity.enabled: without verification there is no second device of the same person")
	}
	if s.VisitBackend == nil {
		t := true
		s.VisitBackend = &t
	}
	for i, c := range s.Changes {
		key := fmt.Sprintf("changes[%d]", i)
		n := 0
		if c.RatePerHour != 0 {
			n++
			if c.RatePerHour < 0 || s.SimRate(c.RatePerHour) < 1 {
				bad(key+".rate_per_hour", "%d: want at least 1 per hour after crowd scaling", c.RatePerHour)
			}
		}
		if c.Pause {
			n++
		}
		if c.Resume {
			n++
		}
		if n != 1 {
			bad(key, "set exactly one of rate_per_hour, pause: true, resume: true")
		}
		if c.At < 0 || (i > 0 && c.At < s.Changes[i-1].At) {
			bad(key+".at", "%v: want >= 0 and not before the previous change", c.At.D())
		}
	}
	s.Identity.validate(bad)
	s.validateAttack(bad)
	s.Fleet.validate(bad)
	s.validateFaults(bad)
	if s.RateWindow == 0 {
		s.RateWindow = Duration(defaultRateWindow)
	}
	if s.RateWindow < 0 {
		bad("rate_window", "%v: want a positive duration", s.RateWindow.D())
	}
	s.Expect.validate(bad)
	return errors.Join(errs...)
}

// SimPeople is the number of simulated people: People / CrowdScale.
func (s *Scenario) SimPeople() int64 { return int64(math.Round(float64(s.People) / s.CrowdScale)) }

// SimRate is a full-night rate as configured on the gateways: rate / CrowdScale.
func (s *Scenario) SimRate(rate int64) int64 { return int64(math.Round(float64(rate) / s.CrowdScale)) }

// Real converts a simulated duration into real time.
func (s *Scenario) Real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / s.TimeScale)
}

// Sim converts a real duration into simulated time.
func (s *Scenario) Sim(d time.Duration) time.Duration { return time.Duration(float64(d) * s.TimeScale) }

func (a *Arrival) validate(bad func(string, string, ...any)) {
	n := 0
	if a.AtOpening != nil {
		n++
		if a.AtOpening.Spread < 0 {
			bad("arrival.at_opening.spread", "%v: want >= 0", a.AtOpening.Spread.D())
		}
	}
	if a.Ramp != nil {
		n++
		if a.Ramp.Over <= 0 {
			bad("arrival.ramp.over", "%v: want a positive duration", a.Ramp.Over.D())
		}
	}
	if a.Table != nil {
		n++
		sum := 0.0
		for i, r := range a.Table {
			if r.Minute < 0 || (i > 0 && r.Minute <= a.Table[i-1].Minute) {
				bad(fmt.Sprintf("arrival.table[%d].minute", i), "%d: minutes must be >= 0 and increase", r.Minute)
			}
			if !(r.Share > 0 && r.Share <= 1) {
				bad(fmt.Sprintf("arrival.table[%d].share", i), "%v: want a share in (0, 1]", r.Share)
			}
			sum += r.Share
		}
		if len(a.Table) == 0 || math.Abs(sum-1) > 1e-6 {
			bad("arrival.table", "shares sum to %v: they must sum to 1", sum)
		}
	}
	if n != 1 {
		bad("arrival", "set exactly one of at_opening, ramp and table")
	}
}

func (g *GiveUp) validate(bad func(string, string, ...any)) {
	if !(g.Share >= 0 && g.Share <= 1) {
		bad("give_up.share", "%v: want a share in [0, 1]", g.Share)
	}
	n := 0
	if g.UniformOfWait != nil {
		n++
		if len(g.UniformOfWait) != 2 || !(g.UniformOfWait[0] >= 0 && g.UniformOfWait[0] <= g.UniformOfWait[1]) {
			bad("give_up.uniform_of_wait", "%v: want [a, b] with 0 <= a <= b (shares of the predicted wait)", g.UniformOfWait)
		}
	}
	if g.Uniform != nil {
		n++
		if len(g.Uniform) != 2 || !(g.Uniform[0] >= 0 && g.Uniform[0] <= g.Uniform[1]) {
			bad("give_up.uniform", "want [a, b] with 0 <= a <= b, durations like [\"1m\", \"20m\"]")
		}
	}
	if g.ExponentialMean != 0 {
		n++
		if g.ExponentialMean < 0 {
			bad("give_up.exponential_mean", "%v: want a positive duration", g.ExponentialMean.D())
		}
	}
	switch {
	case g.Share > 0 && n != 1:
		bad("give_up", "set exactly one of uniform_of_wait, uniform and exponential_mean")
	case g.Share == 0 && n != 0:
		bad("give_up", "a distribution without a share: set give_up.share")
	}
}

// defaultSleepGrace is the gateway's default queue.sleep_grace.
const defaultSleepGrace = 10 * time.Minute

func (sl *Sleep) validate(bad func(string, string, ...any)) {
	if !(sl.Share >= 0 && sl.Share <= 1) {
		bad("sleep.share", "%v: want a share in [0, 1]", sl.Share)
	}
	if sl.Share > 0 && (len(sl.For) != 2 || !(sl.For[0] > 0 && sl.For[0] <= sl.For[1])) {
		bad("sleep.for", "want [a, b] with 0 < a <= b, durations like [\"1m\", \"8m\"]")
	}
	if sl.Share == 0 && sl.For != nil {
		bad("sleep", "a duration without a share: set sleep.share")
	}
	if sl.AtShareOfWait == nil {
		sl.AtShareOfWait = []float64{0.05, 0.95}
	}
	if len(sl.AtShareOfWait) != 2 || !(sl.AtShareOfWait[0] >= 0 && sl.AtShareOfWait[0] <= sl.AtShareOfWait[1]) {
		bad("sleep.at_share_of_wait", "%v: want [a, b] with 0 <= a <= b (shares of the predicted wait)", sl.AtShareOfWait)
	}
	if sl.Grace == 0 {
		sl.Grace = Duration(defaultSleepGrace)
	}
	if sl.Grace < Duration(time.Minute) || sl.Grace > Duration(time.Hour) {
		bad("sleep.grace", "%v: want 1m..1h, as the gateway's queue.sleep_grace", sl.Grace.D())
	}
}

func (id *Identity) validate(bad func(string, string, ...any)) {
	if !id.Enabled {
		if len(id.Methods) > 0 || id.ProviderLatency != 0 || id.ProviderCapacity != 0 {
			bad("identity", "methods and provider settings need enabled: true")
		}
		return
	}
	if len(id.Methods) == 0 {
		id.Methods = []string{"phone"}
	}
	if len(id.Methods) > maxMethods {
		bad("identity.methods", "%d methods: want at most %d", len(id.Methods), maxMethods)
	}
	for i, m := range id.Methods {
		if !methodRE.MatchString(m) || slices.Index(id.Methods, m) != i {
			bad(fmt.Sprintf("identity.methods[%d]", i), "%q: want distinct names of [a-z0-9_-]{1,32}", m)
		}
	}
	if id.ProviderLatency < 0 {
		bad("identity.provider_latency", "%v: want >= 0", id.ProviderLatency.D())
	}
	if id.ProviderCapacity == 0 {
		id.ProviderCapacity = 100000
	}
	if id.ProviderCapacity < 0 {
		bad("identity.provider_capacity", "%d: want >= 1", id.ProviderCapacity)
	}
}

// reservedConfig are the gateway configuration keys the loadtest sets
// itself; spawn.config may not override them.
var reservedConfig = []string{"listen", "admin_listen", "backend", "room", "rate_per_hour", "paused",
	"admin_token", "admin_token_file", "environment", "simulation", "ticket", "redis"}

func (f *Fleet) validate(bad func(string, string, ...any)) {
	switch {
	case (f.Spawn == nil) == (f.Targets == nil):
		bad("fleet", "set exactly one of spawn and targets")
	case f.Spawn != nil:
		sp := f.Spawn
		if sp.Gateways == 0 {
			sp.Gateways = 1
		}
		if sp.Gateways < 1 || sp.Gateways > maxGateways {
			bad("fleet.spawn.gateways", "%d: want 1..%d", sp.Gateways, maxGateways)
		}
		if sp.Store == "" {
			sp.Store = "redis"
		}
		switch sp.Store {
		case "redis", "sentinel":
		case "memory":
			if sp.Gateways > 1 {
				bad("fleet.spawn.store", "memory keeps one queue per process: several gateways need redis")
			}
		default:
			bad("fleet.spawn.store", "%q: want memory, redis or sentinel", sp.Store)
		}
		for k := range sp.Config {
			if slices.Contains(reservedConfig, k) {
				bad("fleet.spawn.config."+k, "set by the loadtest itself")
			}
		}
		if q, ok := sp.Config["queue"].(map[string]any); ok {
			if _, set := q["sleep_grace"]; set {
				bad("fleet.spawn.config.queue.sleep_grace", "set by the loadtest itself from sleep.grace")
			}
		}
		if id, ok := sp.Config["identity"].(map[string]any); ok {
			for _, k := range []string{"enabled", "methods", "secret", "public_url"} {
				if _, set := id[k]; set {
					bad("fleet.spawn.config.identity."+k, "set by the loadtest itself (see the scenario's identity section)")
				}
			}
		}
	default:
		t := f.Targets
		if len(t.Gateways) == 0 {
			bad("fleet.targets.gateways", "list at least one gateway URL")
		}
		for i, g := range t.Gateways {
			if err := checkBaseURL(g); err != nil {
				bad(fmt.Sprintf("fleet.targets.gateways[%d]", i), "%v", err)
			}
		}
		if err := checkBaseURL(t.Admin); err != nil {
			bad("fleet.targets.admin", "%v", err)
		}
		if t.AdminTokenFile == "" {
			bad("fleet.targets.admin_token_file", "required: the file holding the operator API token")
		}
	}
}

func (s *Scenario) validateFaults(bad func(string, string, ...any)) {
	store := ""
	if s.Fleet.Spawn != nil {
		store = s.Fleet.Spawn.Store
	}
	for i, f := range s.StoreFaults {
		key := fmt.Sprintf("store_faults[%d]", i)
		if store != "redis" && store != "sentinel" {
			bad(key, "store faults need a spawned fleet with store redis or sentinel")
			break
		}
		n := 0
		if f.Stop != 0 {
			n++
			if f.Stop < 0 {
				bad(key+".stop", "%v: want a positive duration", f.Stop.D())
			}
		}
		if f.RestartEmpty {
			n++
			if store != "redis" {
				bad(key+".restart_empty", "needs store redis")
			}
		}
		if f.Failover {
			n++
			if store != "sentinel" {
				bad(key+".failover", "needs store sentinel")
			}
			if slices.IndexFunc(s.StoreFaults[:i], func(g StoreFault) bool { return g.Failover }) >= 0 {
				bad(key+".failover", "one failover a run: the old master stays down")
			}
		}
		if n != 1 {
			bad(key, "set exactly one of stop, restart_empty: true, failover: true")
		}
		if f.At < 0 || (i > 0 && f.At < s.StoreFaults[i-1].At+s.StoreFaults[i-1].Stop) {
			bad(key+".at", "%v: want >= 0 and after the previous fault ended", f.At.D())
		}
	}
}

// checkBaseURL accepts http://host:port with no path beyond "/".
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.Port() == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("%q: want http://host:port", s)
	}
	return nil
}

func (e *Expect) validate(bad func(string, string, ...any)) {
	if e.AccuracyWithin == nil {
		v := 0.10
		e.AccuracyWithin = &v
	}
	if !(*e.AccuracyWithin > 0 && *e.AccuracyWithin < 10) {
		bad("expect.accuracy_within", "%v: want a share like 0.10", *e.AccuracyWithin)
	}
	if e.AccuracyFloor == 0 {
		e.AccuracyFloor = Duration(time.Second)
	}
	if e.AccuracyFloor < 0 {
		bad("expect.accuracy_floor", "%v: want >= 0", e.AccuracyFloor.D())
	}
	if v := e.AccuracyShareMin; v != nil && !(*v >= 0 && *v <= 1) {
		bad("expect.accuracy_share_min", "%v: want a share in [0, 1]", *v)
	}
	if v := e.LastAdmittedRatioMax; v != nil && !(*v > 0) {
		bad("expect.last_admitted_ratio_max", "%v: want > 0", *v)
	}
	if v := e.InversionsMax; v != nil && *v < 0 {
		bad("expect.inversions_max", "%v: want >= 0", *v)
	}
	if v := e.ImpliedRequestRateMax; v != nil && !(*v > 0) {
		bad("expect.implied_request_rate_max", "%v: want > 0", *v)
	}
	if v := e.ErrorShareMax; v != nil && !(*v >= 0 && *v <= 1) {
		bad("expect.error_share_max", "%v: want a share in [0, 1]", *v)
	}
	for key, v := range map[string]*float64{"expect.fault_recovery_max": e.FaultRecoveryMax, "expect.fault_minute_max": e.FaultMinuteMax} {
		if v != nil && !(*v > 0) {
			bad(key, "%v: want > 0", *v)
		}
	}
	if e.SchedulerLagP99Max < 0 {
		bad("expect.scheduler_lag_p99_max", "%v: want >= 0", e.SchedulerLagP99Max.D())
	}
}
