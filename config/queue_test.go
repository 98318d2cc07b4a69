package config

import (
	"slices"
	"testing"
	"time"
)

func TestValidate_QueueAndSimulation(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want []string // problem keys; none: valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"simulation in test", func(c *Config) { c.Environment, c.Simulation.TimeScale = EnvTest, 20 }, nil},
		{"simulation in development", func(c *Config) {
			c.Environment, c.Simulation.TimeScale, c.Simulation.Origin = EnvDevelopment, 10, "2026-12-02T10:00:00Z"
		}, nil},
		{"simulation refused in production", func(c *Config) { c.Simulation.TimeScale = 10 }, []string{"simulation.time_scale"}},
		{"scale too large", func(c *Config) { c.Environment, c.Simulation.TimeScale = EnvTest, 51 }, []string{"simulation.time_scale"}},
		{"scale zero", func(c *Config) { c.Environment, c.Simulation.TimeScale = EnvTest, 0 }, []string{"simulation.time_scale"}},
		{"bad origin", func(c *Config) { c.Simulation.Origin = "yesterday" }, []string{"simulation.origin"}},
		{"unknown environment", func(c *Config) { c.Environment = "staging" }, []string{"environment"}},
		{"poll too short", func(c *Config) { c.Queue.MaxPoll = time.Second }, []string{"queue.max_poll"}},
		{"grace zero", func(c *Config) { c.Queue.HeartbeatGrace = 0 }, []string{"queue.heartbeat_grace"}},
		{"sleep grace too short", func(c *Config) { c.Queue.SleepGrace = 30 * time.Second }, []string{"queue.sleep_grace"}},
		{"sleep grace too long", func(c *Config) { c.Queue.SleepGrace = 2 * time.Hour }, []string{"queue.sleep_grace"}},
		{"notice lead zero", func(c *Config) { c.Queue.NoticeLead = 0 }, []string{"queue.notice_lead"}},
		{"notice lead too long", func(c *Config) { c.Queue.NoticeLead = time.Hour }, []string{"queue.notice_lead"}},
		{"leave share", func(c *Config) { c.Queue.ExpectedLeaveShare = 1 }, []string{"queue.expected_leave_share"}},
		{"release step too short", func(c *Config) { c.Queue.MaxReleaseStep = 10 * time.Millisecond }, []string{"queue.max_release_step"}},
		{"release step too long", func(c *Config) { c.Queue.MaxReleaseStep = 2 * time.Second }, []string{"queue.max_release_step"}},
		{"release step too long simulated", func(c *Config) {
			c.Environment, c.Simulation.TimeScale, c.Queue.MaxReleaseStep = EnvTest, 50, time.Second
		}, []string{"queue.max_release_step"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.edit(&c)
			got := problemKeys(t, c.Validate())
			want := slices.Clone(tt.want)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("problems %v, want %v", got, want)
			}
		})
	}
}

func TestQueue_Release(t *testing.T) {
	q := Default().Queue
	o := q.Release(Simulation{TimeScale: 10}.Clock(time.Now()))
	if o.MaxStep != time.Second || o.OutageGrace != 15*time.Second {
		t.Fatalf("release options at time x10 = %+v, want a 1 s step (100 ms real) and the 15 s grace", o)
	}
	if got := q.TickInterval(); got != 80*time.Millisecond {
		t.Fatalf("tick interval %v, want 80ms", got)
	}
}

func TestSimulation_Clock(t *testing.T) {
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	c := Simulation{TimeScale: 10}.Clock(start)
	if got := c.At(start.Add(time.Minute)); !got.Equal(start.Add(10 * time.Minute)) {
		t.Fatalf("a real minute after the origin reads %v", got)
	}
	c = Simulation{TimeScale: 10, Origin: "2026-12-02T09:00:00Z"}.Clock(start)
	if !c.Origin.Equal(start.Add(-time.Hour)) {
		t.Fatalf("origin %v, want the configured one", c.Origin)
	}
	if r := (Simulation{TimeScale: 1}).Clock(start); r.Simulated() || !r.At(start).Equal(start) {
		t.Fatal("time_scale 1 is not real time")
	}
}

func TestValidate_Abuse(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{"defaults", func(*Config) {}, nil},
		{"proofs off", func(c *Config) { c.Abuse.ProofBits = 0 }, nil},
		{"rate zero", func(c *Config) { c.Abuse.DeviceStarts.PerMinute = 0 }, []string{"abuse.device_starts.per_minute"}},
		{"burst zero", func(c *Config) { c.Abuse.AddressPlaces.Burst = 0 }, []string{"abuse.address_places.burst"}},
		{"every problem", func(c *Config) {
			c.Abuse.AddressCountedStarts.PerMinute = -1
			c.Abuse.DevicePlaces.Burst = 2e6
			c.Abuse.ProofBits = 29
			c.Abuse.ChallengeTTL = time.Second
		}, []string{"abuse.address_counted_starts.per_minute", "abuse.challenge_ttl", "abuse.device_places.burst", "abuse.proof_bits"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.edit(&c)
			if got := sorted(problemKeys(t, c.Validate())); !slices.Equal(got, tt.want) {
				t.Fatalf("problems %q, want %q", got, tt.want)
			}
		})
	}
}
