package config

import (
	"time"

	"github.com/waitroom/waitroom/admission"
)

// Environments. Production refuses settings meant for tests and load
// simulations only.
const (
	EnvProduction  = "production"
	EnvDevelopment = "development"
	EnvTest        = "test"
)

// Queue tunes how waiting people poll and when release passes over people
// who left.
type Queue struct {
	// MaxPoll is the longest interval a waiting person is told to poll at,
	// 10s..10m: far from the front everyone polls this often, so it sets
	// most of the load a big crowd causes. Default 120s.
	MaxPoll time.Duration `mapstructure:"max_poll"`
	// HeartbeatGrace is how late a waiting person may be for the poll they
	// were told to make before release passes over them as gone, 1s..10m
	// (if they come back they keep their place, in the rejoin line). After
	// a store outage nobody is passed over for this long either. Default 15s.
	HeartbeatGrace time.Duration `mapstructure:"heartbeat_grace"`
	// SleepGrace is how long a waiting page that said it went to sleep
	// (hidden, frozen or offline: a locked phone, another tab) counts as
	// present, 1m..1h: release does not pass over a person asleep for less
	// than this plus heartbeat_grace. Each honest sleeper who never comes
	// back costs one release slot, as anyone does who leaves within
	// heartbeat_grace of their turn. Default 10m.
	SleepGrace time.Duration `mapstructure:"sleep_grace"`
	// NoticeLead is the estimated wait under which the waiting page tells
	// the person their turn is near (title, sound, vibration, system
	// notification), 10s..30m. Default 2m.
	NoticeLead time.Duration `mapstructure:"notice_lead"`
	// MaxReleaseStep is the most release time one step of the cursor
	// accounts for, 50ms..1s: release missed while the store was
	// unreachable (an outage, a failover, the whole fleet stopped) is lost
	// beyond it, never released in one burst, so no second admits more than
	// rate x (1 s + max_release_step). Gateways tick every 80% of it.
	// Every gateway of a fleet needs the same. Default 100ms.
	MaxReleaseStep time.Duration `mapstructure:"max_release_step"`
	// ExpectedLeaveShare is the share of waiting people expected to leave
	// before their turn, 0..0.9, from earlier nights. It shapes the first
	// wait estimates until the queue has measured its own. Default 0.
	ExpectedLeaveShare float64 `mapstructure:"expected_leave_share"`
}

// Simulation runs the gateway on an accelerated clock, for tests and load
// simulations only: every gateway and the store then read time as
// origin + time_scale x (now - origin). Refused with environment production.
type Simulation struct {
	// TimeScale is simulated seconds per real second, 1..50. Default 1 (real
	// time). The release step scales with it: at 50 a 100 ms
	// queue.max_release_step is 5 simulated seconds.
	TimeScale int64 `mapstructure:"time_scale"`
	// Origin is the real instant (RFC 3339) at which the simulated clock
	// reads real time; every gateway of a fleet needs the same one. Empty:
	// when the process starts (fine for a single gateway).
	Origin string `mapstructure:"origin"`
}

func defaultQueue() Queue {
	return Queue{MaxPoll: 120 * time.Second, HeartbeatGrace: 15 * time.Second, SleepGrace: 10 * time.Minute,
		NoticeLead: 2 * time.Minute, MaxReleaseStep: admission.DefaultMaxStep}
}

func (ps *problems) queue(c Config) {
	q := c.Queue
	ps.durationRange("queue.max_poll", q.MaxPoll, 10*time.Second, 10*time.Minute)
	ps.durationRange("queue.heartbeat_grace", q.HeartbeatGrace, time.Second, 10*time.Minute)
	ps.durationRange("queue.sleep_grace", q.SleepGrace, time.Minute, time.Hour)
	ps.durationRange("queue.notice_lead", q.NoticeLead, 10*time.Second, 30*time.Minute)
	ps.durationRange("queue.max_release_step", q.MaxReleaseStep, 50*time.Millisecond, time.Second)
	if !(q.ExpectedLeaveShare >= 0 && q.ExpectedLeaveShare <= 0.9) {
		ps.add("queue.expected_leave_share", "must be between 0 and 0.9, got %v", q.ExpectedLeaveShare)
	}
	switch c.Environment {
	case EnvProduction, EnvDevelopment, EnvTest:
	default:
		ps.add("environment", "must be production, development or test, got %q", c.Environment)
	}
	s := c.Simulation
	ps.intRange("simulation.time_scale", s.TimeScale, 1, 50)
	if step := q.MaxReleaseStep * time.Duration(max(s.TimeScale, 1)); step > admission.MaxAdvanceStep {
		ps.add("queue.max_release_step", "%v at time_scale %d is %v of store time, over the %v one step may take", q.MaxReleaseStep, s.TimeScale, step, admission.MaxAdvanceStep)
	}
	if s.TimeScale != 1 && c.Environment == EnvProduction {
		ps.add("simulation.time_scale", "an accelerated clock is for tests and simulations only: refused with environment production")
	}
	if s.Origin != "" {
		if _, err := time.Parse(time.RFC3339Nano, s.Origin); err != nil {
			ps.add("simulation.origin", "must be an RFC 3339 time, got %q", s.Origin)
		}
	}
}

// Clock is the clock the simulation settings describe, with start standing
// for an empty origin.
func (s Simulation) Clock(start time.Time) admission.Clock {
	origin := start
	if t, err := time.Parse(time.RFC3339Nano, s.Origin); err == nil {
		origin = t
	}
	return admission.Clock{Scale: s.TimeScale, Origin: origin}
}

// Release is the stores' release options: the release step and the grace
// after an outage, in store time on clock.
func (q Queue) Release(clock admission.Clock) admission.ReleaseOptions {
	return admission.ReleaseOptions{MaxStep: clock.Sim(q.MaxReleaseStep), OutageGrace: q.HeartbeatGrace}
}

// TickInterval is how often every gateway advances the cursor, in real
// time: within the release step, with a fifth of it to spare for a late tick.
func (q Queue) TickInterval() time.Duration { return q.MaxReleaseStep * 4 / 5 }
