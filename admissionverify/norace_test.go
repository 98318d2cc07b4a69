//go:build !race

package admissionverify_test

const raceEnabled = false
