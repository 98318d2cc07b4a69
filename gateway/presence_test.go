package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/waitroom/waitroom/gateway"
)

// A person who stops polling is passed over by release once they miss
// their promised poll by the grace, so capacity goes to the people still
// there; when they come back they keep their place, ahead of everyone still
// waiting, and enter within the rate like everyone else.
func TestPresenceSkipsPeopleWhoLeft(t *testing.T) {
	h := mustHarness(t, harnessOptions{rate: 3600, paused: true, opts: func(o *gateway.Options) {
		o.HeartbeatGrace = 5 * time.Second
	}})
	ctx := context.Background()
	gone, b, c := h.person(), h.person(), h.person()
	for i, p := range []*person{gone, b, c} {
		if got := p.join().Position; got != int64(i+1) {
			t.Fatalf("person %d got position %d", i+1, got)
		}
	}
	// For a minute of pause, b and c poll when told to; the first person
	// has left.
	for range 6 {
		h.advance(10 * time.Second)
		for _, p := range []*person{b, c} {
			if code, s := p.status(); code != 200 || s.State != "waiting" {
				t.Fatalf("status = %d %+v", code, s)
			}
		}
		gateway.FlushPresence(h.gw, ctx)
	}
	if _, err := h.store.SetPaused(ctx, "r", false); err != nil {
		t.Fatal(err)
	}
	h.advance(2100 * time.Millisecond) // 3,600/h: two people's worth
	snap := h.ctl.Snapshot()
	if snap.Admitted != 3 || snap.Skipped != 1 {
		t.Fatalf("cursor %d, skipped %d; want 3 and 1 (the person who left passed over)", snap.Admitted, snap.Skipped)
	}
	for i, p := range []*person{b, c} {
		if code, s := p.status(); code != 200 || s.State != "admitted" {
			t.Fatalf("person %d after release: %d %+v", i+2, code, s)
		}
	}
	code, s := gone.status()
	if code != 200 || s.State != "waiting" || !s.Rejoining || s.Ahead != 0 || s.ETASeconds != 1 {
		t.Fatalf("the person who left, back: %d %+v; want waiting, rejoining, first, a second away", code, s)
	}
	h.advance(time.Second) // one more person's worth, theirs
	if code, s := gone.status(); code != 200 || s.State != "admitted" {
		t.Fatalf("the person who came back, a second later: %d %+v", code, s)
	}
	// Three people entered in three seconds of release at one a second:
	// coming back cost capacity like anyone's admission.
	if snap := h.ctl.Snapshot(); snap.Released() != 3 || snap.Rejoined != 1 || snap.RejoinAdmitted != 1 {
		t.Fatalf("released %d, rejoined %d, rejoin admitted %d; want 3, 1, 1", snap.Released(), snap.Rejoined, snap.RejoinAdmitted)
	}
}

// Without polls recorded nobody is skipped: a person counts as present
// until a promise of theirs expires.
func TestPresenceNoPromiseIsPresent(t *testing.T) {
	h := mustHarness(t, harnessOptions{rate: 3600, paused: true})
	for range 3 {
		h.person().join()
	}
	// The joins' promises never reach the store (no flush).
	h.advance(time.Minute)
	if _, err := h.store.SetPaused(context.Background(), "r", false); err != nil {
		t.Fatal(err)
	}
	h.advance(2100 * time.Millisecond)
	if snap := h.ctl.Snapshot(); snap.Admitted != 2 || snap.Skipped != 0 {
		t.Fatalf("cursor %d, skipped %d; want 2 and 0", snap.Admitted, snap.Skipped)
	}
}
