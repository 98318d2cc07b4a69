//go:build race

package admissionverify_test

// raceEnabled skips allocation counts, which the race detector inflates.
const raceEnabled = true
