//go:build race

package ticket_test

// raceEnabled skips allocation counts: under the race detector sync.Pool
// drops items at random, so pooled code allocates.
const raceEnabled = true
