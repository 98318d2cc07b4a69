package config

import (
	"time"

	"github.com/waitroom/waitroom/admission"
)

// Health turns on health-driven release: the gateway watches the backend's
// answers to the requests it proxies and lowers the room's rate when the
// backend struggles (too many 5xx answers and transport errors, or a slow
// 95th percentile), then raises it again step by step once it recovers.
type Health struct {
	// Enabled turns the loop on. Default false: the rate is the operator's alone.
	Enabled bool `mapstructure:"enabled"`
	// MaxErrorRate is the share of backend answers that may be 5xx or
	// transport errors over Window, in (0, 1]. Default 0.05.
	MaxErrorRate float64 `mapstructure:"max_error_rate"`
	// MaxLatency is the highest acceptable 95th percentile of backend
	// latency over Window, 10ms..10s (below the largest finite histogram
	// bound, 30s, so that latencies past every bound still count as over).
	// Default 2s.
	MaxLatency time.Duration `mapstructure:"max_latency"`
	// Window is how much recent traffic is judged, Interval..1h. Default 30s.
	Window time.Duration `mapstructure:"window"`
	// Interval is the time between two judgements, 100ms..10m. Default 5s.
	Interval time.Duration `mapstructure:"interval"`
	// MinRequests is the least traffic in Window that can lower the rate,
	// 1..1000000, so that one failed request in a quiet minute does not.
	// Default 20.
	MinRequests int64 `mapstructure:"min_requests"`
	// MinRatePerHour is the floor the loop never goes below,
	// 1..admission.MaxRatePerHour. Default 10000.
	MinRatePerHour int64 `mapstructure:"min_rate_per_hour"`
	// MaxRatePerHour is the ceiling the loop may raise the rate to when it
	// is higher than rate_per_hour; 0 (the default) means rate_per_hour is
	// the ceiling.
	MaxRatePerHour int64 `mapstructure:"max_rate_per_hour"`
	// DecreaseFactor multiplies the rate when the backend is unhealthy,
	// 0.01..0.99. Default 0.7.
	DecreaseFactor float64 `mapstructure:"decrease_factor"`
	// IncreasePerHourPerStep is added to the rate at each healthy Interval,
	// 1..admission.MaxRatePerHour. Default 20000.
	IncreasePerHourPerStep int64 `mapstructure:"increase_per_hour_per_step"`
}

// Metrics configures GET /metrics on the operator listener.
type Metrics struct {
	// Unauthenticated lets anyone who reaches admin_listen read /metrics
	// without the admin token. Default false: Prometheus sends the token
	// (authorization.credentials_file in its scrape config).
	Unauthenticated bool `mapstructure:"unauthenticated"`
}

func defaultHealth() Health {
	return Health{
		MaxErrorRate: 0.05, MaxLatency: 2 * time.Second, Window: 30 * time.Second, Interval: 5 * time.Second,
		MinRequests: 20, MinRatePerHour: 10_000, DecreaseFactor: 0.7, IncreasePerHourPerStep: 20_000,
	}
}

// HealthCeiling is the highest rate the health loop raises the room to:
// the operator's rate_per_hour, or health.max_rate_per_hour when higher.
func (c Config) HealthCeiling() int64 { return max(c.RatePerHour, c.Health.MaxRatePerHour) }

func (ps *problems) health(c Config) {
	h := c.Health
	// Written as !(in range) so that a NaN from YAML's .nan fails too.
	if !(h.MaxErrorRate > 0 && h.MaxErrorRate <= 1) {
		ps.add("health.max_error_rate", "must be greater than 0 and at most 1, got %v", h.MaxErrorRate)
	}
	if !(h.DecreaseFactor >= 0.01 && h.DecreaseFactor <= 0.99) {
		ps.add("health.decrease_factor", "must be between 0.01 and 0.99, got %v", h.DecreaseFactor)
	}
	ps.durationRange("health.max_latency", h.MaxLatency, 10*time.Millisecond, 10*time.Second)
	ps.durationRange("health.interval", h.Interval, 100*time.Millisecond, 10*time.Minute)
	if h.Window < h.Interval || h.Window > time.Hour {
		ps.add("health.window", "must be between health.interval (%s) and 1h, got %s", h.Interval, h.Window)
	}
	ps.intRange("health.min_requests", h.MinRequests, 1, 1_000_000)
	ps.intRange("health.min_rate_per_hour", h.MinRatePerHour, 1, admission.MaxRatePerHour)
	if h.MaxRatePerHour != 0 {
		ps.intRange("health.max_rate_per_hour", h.MaxRatePerHour, 1, admission.MaxRatePerHour)
	}
	ps.intRange("health.increase_per_hour_per_step", h.IncreasePerHourPerStep, 1, admission.MaxRatePerHour)
	if h.Enabled && h.MinRatePerHour > c.HealthCeiling() {
		ps.add("health.min_rate_per_hour", "must not exceed the ceiling, rate_per_hour or health.max_rate_per_hour (%d), got %d",
			c.HealthCeiling(), h.MinRatePerHour)
	}
}
