package main

import (
	"github.com/waitroom/waitroom/config"
	"github.com/waitroom/waitroom/gateway"
)

// healthOptions turns the health section into the gateway's options; nil
// when health-driven release is off.
func healthOptions(cfg config.Config) *gateway.HealthOptions {
	h := cfg.Health
	if !h.Enabled {
		return nil
	}
	return &gateway.HealthOptions{
		MaxErrorRate: h.MaxErrorRate, MaxLatency: h.MaxLatency, Window: h.Window, Interval: h.Interval,
		MinRequests: uint64(h.MinRequests), MinRatePerHour: h.MinRatePerHour, MaxRatePerHour: h.MaxRatePerHour,
		RatePerHour: cfg.RatePerHour, DecreaseFactor: h.DecreaseFactor, IncreasePerStep: h.IncreasePerHourPerStep,
	}
}
