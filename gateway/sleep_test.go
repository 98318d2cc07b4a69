package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/waitroom/waitroom/gateway"
)

// A page that says it goes to sleep (a beacon as it is hidden, or polls
// marked away=1 while hidden) counts as present for the sleep grace:
// release does not pass over it, and on waking it goes straight in. A page
// that was closed (its last beacon says left=1) is passed over after the
// heartbeat grace, and so is one asleep longer than the sleep grace.
func TestPresence_SleepingPagesKeepTheirPlace(t *testing.T) {
	h := mustHarness(t, harnessOptions{rate: 3600, paused: true, opts: func(o *gateway.Options) {
		o.HeartbeatGrace = 5 * time.Second
		o.SleepGrace = 3 * time.Minute
	}})
	ctx := context.Background()
	left, beacon, hidden := h.person(), h.person(), h.person()
	for i, p := range []*person{left, beacon, hidden} {
		if got := p.join().Position; got != int64(i+1) {
			t.Fatalf("person %d got position %d", i+1, got)
		}
	}
	// Closing a tab hides it, then unloads it: the second beacon says the
	// person left.
	for _, q := range []string{"", "?left=1"} {
		if resp, b := left.do("POST", "/waitroom/api/away"+q, "", nil); resp.StatusCode != 204 || len(b) != 0 {
			t.Fatalf("away%s beacon: %d %q, want 204 and no body", q, resp.StatusCode, b)
		}
	}
	if resp, _ := beacon.do("POST", "/waitroom/api/away", "", nil); resp.StatusCode != 204 {
		t.Fatalf("away beacon: %d, want 204", resp.StatusCode)
	}
	if code, s := hidden.call("GET", "/waitroom/api/status?away=1", "", nil); code != 200 || s.State != "waiting" {
		t.Fatalf("hidden poll: %d %+v", code, s)
	}
	flushBeacons(h, ctx)
	h.advance(2 * time.Minute) // asleep two minutes: within the sleep grace
	if _, err := h.store.SetPaused(ctx, "r", false); err != nil {
		t.Fatal(err)
	}
	h.advance(2100 * time.Millisecond) // 3,600/h: two people's worth
	if snap := h.ctl.Snapshot(); snap.Admitted != 3 || snap.Skipped != 1 {
		t.Fatalf("cursor %d, skipped %d; want 3 and 1 (only the person who left passed over)", snap.Admitted, snap.Skipped)
	}
	for name, p := range map[string]*person{"beacon": beacon, "hidden poll": hidden} {
		if code, s := p.status(); code != 200 || s.State != "admitted" || s.Rejoining {
			t.Errorf("%s, awake again: %d %+v; want admitted at once", name, code, s)
		}
	}

	// Someone who said they went to sleep but stays away longer than the
	// sleep grace is passed over like anyone gone, and rejoins.
	if _, err := h.store.SetPaused(ctx, "r", true); err != nil {
		t.Fatal(err)
	}
	late := h.person()
	late.join()
	if resp, _ := late.do("POST", "/waitroom/api/away", "", nil); resp.StatusCode != 204 {
		t.Fatalf("away beacon: %d", resp.StatusCode)
	}
	flushBeacons(h, ctx)
	h.advance(3*time.Minute + 10*time.Second) // past the sleep grace and the heartbeat grace
	if _, err := h.store.SetPaused(ctx, "r", false); err != nil {
		t.Fatal(err)
	}
	h.advance(1100 * time.Millisecond)
	if snap := h.ctl.Snapshot(); snap.Admitted != 4 || snap.Skipped != 2 {
		t.Fatalf("cursor %d, skipped %d; want 4 and 2", snap.Admitted, snap.Skipped)
	}
	if code, s := late.status(); code != 200 || s.State != "waiting" || !s.Rejoining {
		t.Fatalf("asleep past the grace, back: %d %+v; want waiting in the rejoin line", code, s)
	}
}

// flushBeacons flushes presence until beacons, which wait a few flushes,
// have reached the store.
func flushBeacons(h *harness, ctx context.Context) {
	for range 4 {
		gateway.FlushPresence(h.gw, ctx)
	}
}

// The away beacon is for waiting pages only, and answers bad input as
// every endpoint does.
func TestAway_Refusals(t *testing.T) {
	h := mustHarness(t, harnessOptions{})
	p := h.person()
	p.join()
	for _, tc := range []struct {
		name, method string
		header       map[string]string
		want         int
	}{
		{"GET", "GET", nil, 405},
		{"CrossSite", "POST", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"ForgedTicket", "POST", map[string]string{"Cookie": "wr_ticket=x.y.z"}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := p
			if tc.name == "ForgedTicket" {
				client = h.person()
			}
			if resp, _ := client.do(tc.method, "/waitroom/api/away", "", tc.header); resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	t.Run("NoTicket", func(t *testing.T) {
		if resp, _ := h.person().do("POST", "/waitroom/api/away", "", nil); resp.StatusCode != 401 {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
	})
}

// Status answers say "soon" once the estimated wait is under the notice
// lead, and never while release is paused (there is no estimate then).
func TestStatus_Soon(t *testing.T) {
	h := mustHarness(t, harnessOptions{rate: 3600, paused: true, opts: func(o *gateway.Options) {
		o.NoticeLead = time.Minute
	}})
	var people []*person
	for range 100 {
		p := h.person()
		p.join()
		people = append(people, p)
	}
	if _, s := people[10].status(); s.Soon {
		t.Fatalf("paused: %+v says soon", s)
	}
	if _, err := h.store.SetPaused(context.Background(), "r", false); err != nil {
		t.Fatal(err)
	}
	h.advance(100 * time.Millisecond)
	for _, tc := range []struct {
		i    int
		soon bool
	}{{10, true}, {58, true}, {62, false}, {99, false}} { // at one a second, position i+1 waits about i+1 s
		if _, s := people[tc.i].status(); s.Soon != tc.soon {
			t.Errorf("position %d, %d s away: soon = %v, want %v", s.Position, s.ETASeconds, s.Soon, tc.soon)
		}
	}
}
