package gateway_test

import (
	"testing"
	"time"
)

// A join's answer hands out the ticket; a status poll's answer leaves it
// out, waiting or admitted: whoever polls holds it already (in the cookie
// or the Authorization header), and the waiting answer is a third of the
// size without it.
func TestStatusAnswerLeavesTicketOut(t *testing.T) {
	h := mustHarness(t, harnessOptions{paused: true})
	p := h.person()
	joined := p.join()
	if joined.Ticket == "" {
		t.Fatalf("join answer without the ticket: %+v", joined)
	}
	code, s := p.status()
	if code != 200 || s.State != "waiting" || s.Position != joined.Position {
		t.Fatalf("status = %d %+v", code, s)
	}
	if s.Ticket != "" {
		t.Errorf("waiting status answer repeats the ticket")
	}
	if again := p.join(); again.Ticket != joined.Ticket || again.Position != joined.Position {
		t.Errorf("joining again: %+v, want the same ticket and place", again)
	}

	h = mustHarness(t, harnessOptions{})
	p = h.person()
	p.join()
	h.advance(time.Second)
	code, s = p.status()
	if code != 200 || s.State != "admitted" || s.Admission == "" {
		t.Fatalf("status once admitted = %d %+v", code, s)
	}
	if s.Ticket != "" {
		t.Errorf("admitted status answer repeats the ticket")
	}
}
