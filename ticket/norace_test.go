//go:build !race

package ticket_test

const raceEnabled = false
