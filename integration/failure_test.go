package integration

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/internal/redistest"
)

// Redis crashes while people wait and comes back empty: gateways keep
// answering from memory, admit nobody new, refuse joins with Retry-After,
// then reseed the room so that no position is handed out twice, everybody
// keeps their place and admission still follows positions.
func TestFailure_RedisStops(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	// One person a second: release runs slowly while Redis goes away, so a
	// gateway that kept releasing, or forgot the cursor, would show it.
	gws := startFleet(t, fleetOptions{redis: []string{srv.Addr()}, gateways: 2, ratePerHour: 3600, paused: true})

	var before []person
	step(t, "Join", func(t *testing.T) {
		for i := range 50 {
			p, err := gws[i%2].join()
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(i + 1); p.position != want {
				t.Fatalf("join %d got position %d, want %d", i, p.position, want)
			}
			before = append(before, p)
		}
		gws[0].mustOperate(t, "POST", "/admin/api/resume", "")
		time.Sleep(1500 * time.Millisecond) // one or two admitted
	})

	// frozen is each gateway's cursor once it lost Redis.
	var frozen [2]int64
	step(t, "RedisStops", func(t *testing.T) {
		srv.Stop()
		for i, g := range gws {
			err := eventually(time.Now().Add(2*time.Second), 20*time.Millisecond, func() error {
				r, err := do(mustRequest("GET", g.public+"/readyz", "", ""))
				if err == nil && (r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "") {
					err = fmt.Errorf("readyz answered %d %s", r.status, r.body)
				}
				return err
			})
			if err != nil {
				t.Fatalf("%s still ready 2 s after Redis stopped: %v", g.name, err)
			}
			// One truth about why nobody is admitted: the operator API,
			// the metrics and the waiting page all say the store is away.
			st := g.mustOperate(t, "GET", "/admin/api/state", "")
			if st.StoreHealthy || !st.Paused || st.PauseReason != "store_unreachable" {
				t.Fatalf("%s: operator state without Redis: %+v, want paused for store_unreachable", g.name, st)
			}
			r, err := do(mustRequest("GET", g.admin+"/metrics", "", adminToken))
			for _, line := range []string{`waitroom_paused{room="fleet"} 1`, `waitroom_pause_reason{room="fleet",reason="store_unreachable"} 1`, `waitroom_pause_reason{room="fleet",reason="operator"} 0`} {
				if err != nil || !strings.Contains(string(r.body), "\n"+line+"\n") {
					t.Fatalf("%s: /metrics without Redis lacks %q (%v)", g.name, line, err)
				}
			}
			if s, err := g.standingOf(before[len(before)-1]); err != nil || !s.Paused || s.PauseReason != "store_unreachable" {
				t.Fatalf("%s: a poll without Redis answered %+v (%v), want paused for store_unreachable", g.name, s, err)
			}
			frozen[i] = st.Admitted
		}
		t.Logf("cursors when Redis stopped: %v", frozen)
	})

	step(t, "OutageKeepsPlacesAndAdmitsNobody", func(t *testing.T) {
		rounds := 0
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); rounds++ {
			for i, g := range gws {
				for _, p := range before {
					s, err := g.standingOf(p) // a 5xx or 2 s without answer fails here
					if err != nil {
						t.Fatal(err)
					}
					if admitted := p.position <= frozen[i]; !s.Paused || s.Position != p.position || (s.State == "admitted") != admitted {
						t.Fatalf("%s without Redis: position %d answered %+v; want paused, admitted %v (cursor %d)", g.name, p.position, s, admitted, frozen[i])
					}
				}
				r, err := g.tryJoin()
				if err != nil {
					t.Fatal(err)
				}
				if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
					t.Fatalf("%s: join without Redis answered %d, Retry-After %q: %s", g.name, r.status, r.header.Get("Retry-After"), r.body)
				}
			}
		}
		for i, g := range gws {
			if st := g.mustOperate(t, "GET", "/admin/api/state", ""); st.Admitted != frozen[i] || st.StoreHealthy {
				t.Errorf("%s after the outage: %+v, want cursor %d, unhealthy", g.name, st, frozen[i])
			}
		}
		t.Logf("%d rounds of %d polls and a join on each gateway in 3 s without Redis", rounds, len(before))
	})

	var after []person
	step(t, "RedisBackEmpty", func(t *testing.T) {
		srv.Restart(t)
		back := time.Now()
		for _, g := range gws {
			if err := g.waitReady(5 * time.Second); err != nil {
				t.Fatal(err)
			}
		}
		st := gws[0].mustOperate(t, "POST", "/admin/api/resume", "")
		if st.Admitted < max(frozen[0], frozen[1]) || st.Issued < int64(len(before)) {
			t.Fatalf("reseeded room %+v lost people seen before (cursors %v, %d issued)", st, frozen, len(before))
		}
		// Faster release, so the gap of unused positions the reseed leaves
		// (the controller's safety margin) passes in seconds.
		gws[0].mustOperate(t, "PUT", "/admin/api/rate", `{"per_hour":72000}`)
		err := eventually(back.Add(5*time.Second), 50*time.Millisecond, func() error {
			p, err := gws[1].join()
			if err == nil {
				after = append(after, p)
			}
			return err
		})
		if took := time.Since(back); err != nil || took > 5*time.Second {
			t.Fatalf("no join within 5 s of Redis coming back (%v): %v", took, err)
		}
		t.Logf("joins succeed %v after Redis came back; first position %d", time.Since(back).Round(time.Millisecond), after[0].position)
		for i := range 19 {
			p, err := gws[i%2].join()
			if err != nil {
				t.Fatal(err)
			}
			after = append(after, p)
		}
		highest := before[len(before)-1].position
		for i, p := range after {
			if p.position <= highest {
				t.Errorf("join %d after the restart got position %d, handed out before", i, p.position)
			}
			if i > 0 && p.position <= after[i-1].position {
				t.Errorf("join %d after the restart got position %d, not after %d", i, p.position, after[i-1].position)
			}
		}
	})

	step(t, "WaitersKeepTheirPlaces", func(t *testing.T) {
		for _, g := range gws {
			for _, p := range before {
				s, err := g.standingOf(p)
				if err != nil {
					t.Fatal(err)
				}
				if s.Position != p.position {
					t.Errorf("%s: ticket of position %d now says %d", g.name, p.position, s.Position)
				}
			}
		}
	})

	step(t, "AdmissionFollowsPositions", func(t *testing.T) {
		// Release until half the people who joined after the restart are in,
		// then pause so that every snapshot holds one cursor while we look.
		target := after[len(after)/2].position
		err := eventually(time.Now().Add(30*time.Second), 100*time.Millisecond, func() error {
			st, err := gws[0].operate("GET", "/admin/api/state", "")
			if err == nil && st.Admitted < target {
				err = fmt.Errorf("cursor %d, waiting for %d", st.Admitted, target)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		cursor := gws[0].mustOperate(t, "POST", "/admin/api/pause", "").Admitted
		if st := gws[1].mustOperate(t, "GET", "/admin/api/state", ""); st.Admitted != cursor || !st.Paused {
			t.Fatalf("%s: %+v after the pause on %s at cursor %d", gws[1].name, st, gws[0].name, cursor)
		}
		for _, g := range gws {
			lastIn, firstOut := int64(0), int64(-1)
			for _, p := range slices.Concat(before, after) {
				s, err := g.standingOf(p)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case s.State == "admitted" && p.position > cursor, s.State != "admitted" && p.position <= cursor:
					t.Errorf("%s: position %d is %q with the cursor at %d", g.name, p.position, s.State, cursor)
				case s.State == "admitted":
					lastIn = max(lastIn, p.position)
				case firstOut < 0:
					firstOut = p.position
				}
			}
			if firstOut < 0 || lastIn == 0 || lastIn >= firstOut {
				t.Errorf("%s: highest admitted position %d, lowest waiting %d; want people on both sides, admitted ones first", g.name, lastIn, firstOut)
			}
		}
	})
}

// A gateway dies while someone waits; with the same cookies the person
// keeps their place at another gateway and is admitted there in turn.
func TestFailure_GatewayKilled(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	// One person every two seconds: position 5 waits about ten.
	gws := startFleet(t, fleetOptions{redis: []string{srv.Addr()}, gateways: 2, ratePerHour: 1800, paused: true})
	a, b := gws[0], gws[1]

	var ahead []person
	for range 4 {
		p, err := b.join()
		if err != nil {
			t.Fatal(err)
		}
		ahead = append(ahead, p)
	}
	jarA, _ := cookiejar.New(nil)
	browserA := &http.Client{Jar: jarA, Timeout: 2 * time.Second}
	var s standing
	mustJSON(t, browserA, "POST", a.public+"/waitroom/api/join", &s)
	if s.Position != 5 || s.State != "waiting" {
		t.Fatalf("join at %s: %+v, want waiting at position 5", a.name, s)
	}
	b.mustOperate(t, "POST", "/admin/api/resume", "")
	mustJSON(t, browserA, "GET", a.public+"/waitroom/api/status", &s)
	if s.Position != 5 || s.State != "waiting" {
		t.Fatalf("status at %s: %+v, want waiting at position 5", a.name, s)
	}

	a.kill()
	if _, err := client.Get(a.public + "/healthz"); err == nil {
		t.Fatalf("%s answers after SIGKILL", a.name)
	}

	// The browser now reaches b (a load balancer took a out). Cookies are
	// copied by hand: a jar would share them across ports of one host and
	// hide a missing cookie.
	jarB, _ := cookiejar.New(nil)
	urlA, _ := url.Parse(a.public + "/waitroom/")
	for _, c := range jarA.Cookies(urlA) {
		path := "/"
		if c.Name == "wr_ticket" {
			path = "/waitroom/"
		}
		urlB, _ := url.Parse(b.public + path)
		jarB.SetCookies(urlB, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: path}})
	}
	browserB := &http.Client{Jar: jarB, Timeout: 2 * time.Second}
	mustJSON(t, browserB, "GET", b.public+"/waitroom/api/status", &s)
	if s.Position != 5 || s.State != "waiting" {
		t.Fatalf("status at %s with %s's cookies: %+v, want waiting at position 5", b.name, a.name, s)
	}

	// In turn: whenever the person is admitted, the one ahead of them,
	// polled just after (snapshots only move forward), is admitted too.
	deadline := time.Now().Add(20 * time.Second)
	for s.State != "admitted" {
		if time.Now().After(deadline) {
			t.Fatalf("not admitted within 20 s at 1800/h from position 5: %+v", s)
		}
		time.Sleep(200 * time.Millisecond)
		mustJSON(t, browserB, "GET", b.public+"/waitroom/api/status", &s)
		if s.Position != 5 {
			t.Fatalf("position changed at %s: %+v", b.name, s)
		}
		prev, err := b.standingOf(ahead[3])
		if err != nil {
			t.Fatal(err)
		}
		if s.State == "admitted" && prev.State != "admitted" {
			t.Fatalf("position 5 admitted before position 4 (%+v)", prev)
		}
	}
	resp, err := browserB.Get(b.public + "/api/slots")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admitted person's request through %s: %d", b.name, resp.StatusCode)
	}
}

// Redis comes back with an older copy of the room, as after a failover to
// a replica that had not caught up, or a restart from an older RDB or AOF:
// the gateways must raise the counters to what they saw, as they reseed an
// empty Redis, so that no position is handed out twice.
func TestFailure_RedisRollsBack(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	gws := startFleet(t, fleetOptions{redis: []string{srv.Addr()}, gateways: 2, ratePerHour: 3600, paused: true})
	join := func(i int) person {
		t.Helper()
		p, err := gws[i%2].join()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for i := range 10 {
		join(i)
	}
	// The copy Redis will come back with: 10 issued, nobody admitted, paused.
	if _, err := redistest.Do(srv.Addr(), "SAVE"); err != nil {
		t.Fatal(err)
	}
	gws[0].mustOperate(t, "POST", "/admin/api/resume", "")
	var last person
	for i := range 10 {
		last = join(i)
	}
	time.Sleep(2500 * time.Millisecond) // two admitted
	seen := gws[0].mustOperate(t, "POST", "/admin/api/pause", "")

	srv.Stop()
	for _, g := range gws {
		err := eventually(time.Now().Add(2*time.Second), 20*time.Millisecond, func() error {
			if g.waitReady(0) == nil {
				return fmt.Errorf("%s still ready without Redis", g.name)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	srv.Restart(t) // loads the saved copy
	for _, g := range gws {
		if err := g.waitReady(5 * time.Second); err != nil {
			t.Errorf("after Redis came back with an older copy: %v", err)
		}
		if p := join(0); p.position <= last.position {
			t.Errorf("join at %s after the rollback got position %d, handed out before (up to %d)", g.name, p.position, last.position)
		}
		if st := g.mustOperate(t, "GET", "/admin/api/state", ""); st.Admitted < seen.Admitted || st.Issued <= last.position {
			t.Errorf("%s after the rollback: %+v, want at least %d admitted and more than %d issued", g.name, st, seen.Admitted, last.position)
		}
	}
	if s, err := gws[1].standingOf(last); err != nil || s.Position != last.position {
		t.Errorf("position %d after the rollback: %+v, %v", last.position, s, err)
	}
}

// mustJSON sends a body-less request with c, a browser with its cookie
// jar, and decodes a 200 answer into s.
func mustJSON(t *testing.T, c *http.Client, method, url string, s *standing) {
	t.Helper()
	r, err := send(c, mustRequest(method, url, "", ""))
	if err == nil {
		*s, err = r.standing()
	}
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
}
