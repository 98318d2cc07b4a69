package console

import (
	"sync"
	"time"
)

// Sample is the room and the gateway as they were at one instant, a point
// of the console's charts.
type Sample struct {
	At                time.Time `json:"at"`
	Waiting           int64     `json:"waiting"`
	Issued            int64     `json:"issued"`
	Admitted          int64     `json:"admitted"`
	AdmittedPerMinute int64     `json:"admitted_per_minute"`
	TargetPerMinute   float64   `json:"target_per_minute"`
	Paused            bool      `json:"paused"`
	StoreHealthy      bool      `json:"store_healthy"`
	// StoreLatencyMS is the slowest store round trip of the gateway's
	// console work in the interval; StoreErrors counts the failed ones.
	StoreLatencyMS float64 `json:"store_latency_ms"`
	StoreErrors    int     `json:"store_errors"`
	// BackendP95MS is the 95th percentile of the backend's answers in the
	// interval (0 without any); BackendRequests and BackendErrors count
	// them and the ones without a usable answer or with a 5xx.
	BackendP95MS    float64 `json:"backend_p95_ms"`
	BackendRequests uint64  `json:"backend_requests"`
	BackendErrors   uint64  `json:"backend_errors"`
	Gateways        int     `json:"gateways"`
}

// SampleEvery is the interval between samples, and HistoryLen how many are
// kept: one hour.
const (
	SampleEvery = 10 * time.Second
	HistoryLen  = int(time.Hour / SampleEvery)
)

// History is a ring of the last HistoryLen samples.
type History struct {
	mu   sync.Mutex
	ring [HistoryLen]Sample
	n    int // samples held
	next int // index of the next write
}

// Add appends s, dropping the oldest sample when full.
func (h *History) Add(s Sample) {
	h.mu.Lock()
	h.ring[h.next] = s
	h.next = (h.next + 1) % HistoryLen
	h.n = min(h.n+1, HistoryLen)
	h.mu.Unlock()
}

// Samples returns the samples held, oldest first.
func (h *History) Samples() []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Sample, 0, h.n)
	for i := range h.n {
		out = append(out, h.ring[(h.next-h.n+i+HistoryLen)%HistoryLen])
	}
	return out
}

// Last returns the newest sample; ok is false while there is none.
func (h *History) Last() (s Sample, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return Sample{}, false
	}
	return h.ring[(h.next-1+HistoryLen)%HistoryLen], true
}
