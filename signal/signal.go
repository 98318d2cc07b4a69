// Package signal computes the traffic light shown for each identity
// verification method, so that people pick an uncongested one: green 원활
// (smooth), yellow 지연 (delayed), red 혼잡 (congested), off 선택불가
// (unavailable).
//
// A method's light follows from its Metrics (Classify), checked in order:
//
//	off     Disabled, ProviderDown, Capacity <= 0, or more than 50% of the
//	        last minute's attempts failed (with at least 10 attempts)
//	red     load >= 0.9, or more than 20% of attempts failed (at least 10)
//	yellow  load >= 0.6, or P50Latency > TargetLatency (when a target is set)
//	green   otherwise
//
// where load = InFlight / Capacity and attempts = Failures + Completions.
// The minimum of 10 attempts keeps one early failure from greying a method.
//
// A Tracker adds hysteresis so the light does not flicker: a worse light
// shows at once, a better one only after the better condition has held for
// Options.Hold, measured with load thresholds lowered by 0.1 (red turns
// yellow only below 0.8 load, yellow turns green only below 0.5).
//
// The light is advice. Whether a method takes a new verification is Admit,
// which refuses only what cannot work: a disabled or failed provider, or a
// method at capacity. A red method still admits.
package signal

import (
	"errors"
	"strings"
	"sync"
	"time"
)

// Light is a traffic light's colour.
type Light string

// The lights, from best to worst. The empty Light is no light: in
// Tracker.Update it means no operator override.
const (
	Green  Light = "green"
	Yellow Light = "yellow"
	Red    Light = "red"
	Off    Light = "off"
)

// Thresholds of Classify; see the package documentation.
const (
	yellowLoad      = 0.6
	redLoad         = 0.9
	redFailShare    = 0.2
	offFailShare    = 0.5
	minAttempts     = 10
	improveMargin   = 0.1
	defaultHoldTime = 5 * time.Second
)

// severity orders the lights; an invalid Light ranks below Green.
func (l Light) severity() int {
	switch l {
	case Green:
		return 1
	case Yellow:
		return 2
	case Red:
		return 3
	case Off:
		return 4
	}
	return 0
}

// Valid reports whether l is one of Green, Yellow, Red and Off.
func (l Light) Valid() bool { return l.severity() > 0 }

// ErrForced is ParseForced's error: the words it accepts.
var ErrForced = errors.New(`light must be "green", "yellow", "red", "grey" (or "gray", "off": unavailable), or "auto" (or "") to stop forcing`)

// ParseForced reads the light an operator forces, as people type it: a
// colour in any case, "grey", "gray" or "off" for Off (the page's 선택불가),
// and "auto" or "" for no override (the empty Light).
func ParseForced(s string) (Light, error) {
	switch l := Light(strings.ToLower(strings.TrimSpace(s))); l {
	case Green, Yellow, Red, Off:
		return l, nil
	case "grey", "gray":
		return Off, nil
	case "auto", "":
		return "", nil
	}
	return "", ErrForced
}

// Korean is the label shown for l: 원활, 지연, 혼잡 or 선택불가; "" for an
// invalid Light.
func Korean(l Light) string {
	switch l {
	case Green:
		return "원활"
	case Yellow:
		return "지연"
	case Red:
		return "혼잡"
	case Off:
		return "선택불가"
	}
	return ""
}

// Metrics describe one verification method now.
type Metrics struct {
	// InFlight counts verifications started and not finished.
	InFlight int
	// Capacity is how many verifications the method may have in flight;
	// <= 0 means it takes none.
	Capacity int
	// P50Latency is the median verification time; TargetLatency the time
	// above which the method counts as delayed, 0 for no target.
	P50Latency, TargetLatency time.Duration
	// Failures and Completions count verifications that failed and that
	// succeeded in the last minute.
	Failures, Completions int
	// ProviderDown reports that the verification provider is unreachable.
	ProviderDown bool
	// Disabled reports that an operator turned the method off.
	Disabled bool
}

// Admit reports whether the method may start one more verification: it is
// enabled, its provider is up and InFlight < Capacity.
func Admit(m Metrics) bool {
	return !m.Disabled && !m.ProviderDown && m.InFlight < m.Capacity
}

// Classify returns the light for m without hysteresis.
func Classify(m Metrics) Light { return classify(m, 0) }

// classify is Classify with the load thresholds lowered by margin.
func classify(m Metrics, margin float64) Light {
	attempts := m.Failures + m.Completions
	failShare := 0.0
	if attempts >= minAttempts {
		failShare = float64(m.Failures) / float64(attempts)
	}
	if m.Disabled || m.ProviderDown || m.Capacity <= 0 || failShare > offFailShare {
		return Off
	}
	load := float64(m.InFlight) / float64(m.Capacity)
	switch {
	case load >= redLoad-margin || failShare > redFailShare:
		return Red
	case load >= yellowLoad-margin || (m.TargetLatency > 0 && m.P50Latency > m.TargetLatency):
		return Yellow
	}
	return Green
}

// Options configure a Tracker. The zero value is the default.
type Options struct {
	// Hold is how long a better light's condition must hold before the
	// light improves. Default (0 or less) 5s.
	Hold time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Tracker holds one method's light between updates. The zero value is ready
// to use with default Options. It is safe for concurrent use.
type Tracker struct {
	opts Options

	mu        sync.Mutex
	shown     Light // "" before the first Update
	improving bool  // a better light's condition holds, since since
	since     time.Time
}

// NewTracker returns a Tracker with o.
func NewTracker(o Options) *Tracker { return &Tracker{opts: o} }

// Update feeds the method's current metrics and returns the light to show
// now. A valid forced Light (an operator override) is returned as is, while
// the metrics keep being tracked underneath, so that clearing the override
// shows the light the metrics call for; "" or an invalid Light is no override.
func (t *Tracker) Update(m Metrics, forced Light) Light {
	clock := time.Now
	if t.opts.Now != nil {
		clock = t.opts.Now
	}
	hold := t.opts.Hold
	if hold <= 0 {
		hold = defaultHoldTime
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	now := clock()
	strict, relaxed := classify(m, 0), classify(m, improveMargin)
	switch {
	case t.shown == "" || strict.severity() > t.shown.severity():
		t.shown, t.improving = strict, false
	case relaxed.severity() < t.shown.severity():
		if !t.improving {
			t.improving, t.since = true, now
		}
		if now.Sub(t.since) >= hold {
			t.shown, t.improving = relaxed, false
		}
	default:
		t.improving = false
	}
	if forced.Valid() {
		return forced
	}
	return t.shown
}
