// Package loadtest simulates a crowd of people against a fleet of waitroom
// gateways and reports whether the fleet held: latency per endpoint, errors,
// release against the configured rate, queue length, predicted against
// actual waits, order inversions, bypass attempts and the request rate the
// crowd caused. cmd/loadtest is its command line; docs/LOADTEST.md explains
// the scenario format and what a run proves.
//
// A run is driven by a Scenario (YAML, see Parse). The crowd is one event
// heap of simulated people served by a bounded pool of workers with
// keep-alive fasthttp clients: no goroutine per person, so a million people
// cost memory for their records only.
//
// Time compression. Gateways configured with simulation.time_scale S run a
// clock S times faster than real time. A scenario of N people at R per hour
// runs with crowd scale k: N/k simulated people, each standing for k, at
// R/k per simulated hour. Waits, the release curve, abandonment, order and
// prediction accuracy are those of the full night; the real request rate is
// the full night's times S/k, and the wall time is the night's divided by S.
package loadtest
