package config

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestConfig_ValidateHealth(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Health)
		want []string
	}{
		{"OKDefaultOff", func(*Health) {}, nil},
		{"OKEnabled", func(h *Health) { h.Enabled = true }, nil},
		{"OKCeilingAboveRate", func(h *Health) { h.Enabled, h.MaxRatePerHour, h.MinRatePerHour = true, 5_000_000, 3_000_000 }, nil},
		{"ErrErrorRateZero", func(h *Health) { h.MaxErrorRate = 0 }, []string{"health.max_error_rate"}},
		{"ErrErrorRateAboveOne", func(h *Health) { h.MaxErrorRate = 1.5 }, []string{"health.max_error_rate"}},
		{"ErrErrorRateNaN", func(h *Health) { h.MaxErrorRate = math.NaN() }, []string{"health.max_error_rate"}},
		{"ErrFactorOne", func(h *Health) { h.DecreaseFactor = 1 }, []string{"health.decrease_factor"}},
		{"ErrFactorNaN", func(h *Health) { h.DecreaseFactor = math.NaN() }, []string{"health.decrease_factor"}},
		{"ErrLatencyPastBuckets", func(h *Health) { h.MaxLatency = 11 * time.Second }, []string{"health.max_latency"}},
		{"ErrIntervalZero", func(h *Health) { h.Interval = 0 }, []string{"health.interval"}},
		{"ErrWindowBelowInterval", func(h *Health) { h.Window = time.Second }, []string{"health.window"}},
		{"ErrMinRequests", func(h *Health) { h.MinRequests = 0 }, []string{"health.min_requests"}},
		{"ErrFloor", func(h *Health) { h.MinRatePerHour = 0 }, []string{"health.min_rate_per_hour"}},
		{"ErrCeilingNegative", func(h *Health) { h.MaxRatePerHour = -1 }, []string{"health.max_rate_per_hour"}},
		{"ErrIncrease", func(h *Health) { h.IncreasePerHourPerStep = 0 }, []string{"health.increase_per_hour_per_step"}},
		// The floor may sit above the ceiling while the loop is off, since
		// nothing uses them; on, it cannot.
		{"OKFloorAboveCeilingOff", func(h *Health) { h.MinRatePerHour = 3_000_000 }, nil},
		{"ErrFloorAboveCeiling", func(h *Health) { h.Enabled, h.MinRatePerHour = true, 3_000_000 }, []string{"health.min_rate_per_hour"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mod(&c.Health)
			if got := problemKeys(t, c.Validate()); !slices.Equal(got, tt.want) {
				t.Fatalf("problems %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConfig_HealthCeiling(t *testing.T) {
	c := valid()
	if got := c.HealthCeiling(); got != c.RatePerHour {
		t.Errorf("ceiling without max_rate_per_hour = %d, want rate_per_hour %d", got, c.RatePerHour)
	}
	c.Health.MaxRatePerHour = c.RatePerHour / 2
	if got := c.HealthCeiling(); got != c.RatePerHour {
		t.Errorf("ceiling with a lower max_rate_per_hour = %d, want rate_per_hour %d", got, c.RatePerHour)
	}
	c.Health.MaxRatePerHour = c.RatePerHour * 2
	if got := c.HealthCeiling(); got != c.Health.MaxRatePerHour {
		t.Errorf("ceiling with a higher max_rate_per_hour = %d, want it", got)
	}
}

func TestLoad_HealthAndMetrics(t *testing.T) {
	t.Setenv("WAITROOM_ADMIN_TOKEN", testToken)
	t.Setenv("WAITROOM_HEALTH_MAX_ERROR_RATE", "0.2")
	t.Setenv("WAITROOM_METRICS_UNAUTHENTICATED", "true")
	c, err := loadYAML(t, `
health:
  enabled: true
  decrease_factor: 0.5
  window: 1m
`)
	if err != nil {
		t.Fatal(err)
	}
	h := c.Health
	if !h.Enabled || h.DecreaseFactor != 0.5 || h.Window != time.Minute || h.MaxErrorRate != 0.2 || !c.Metrics.Unauthenticated {
		t.Fatalf("loaded %+v, metrics %+v", h, c.Metrics)
	}
	_, err = loadYAML(t, "health:\n  decrease_factor: fast\n  window: 30\n")
	if got, want := problemKeys(t, err), []string{"health.decrease_factor", "health.window"}; !slices.Equal(sorted(got), want) {
		t.Fatalf("problems %q, want %q", got, want)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
