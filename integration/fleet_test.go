package integration

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waitroom/waitroom/internal/redistest"
)

// The fleet scenario: three gateways, one queue.
const (
	fleetGateways = 3
	fleetJoins    = 3000
	fleetWorkers  = 30
	fleetRate     = 72000 // per hour: 20 people a second
	fleetMeasure  = 60 * time.Second
	// fleetTolerance is the brief's bound on the released total; the store
	// clock makes release exact to a person, checked separately.
	fleetTolerance = 0.02
	// propagation bounds how long an operator's change on one gateway may
	// take to show on the others (each ticks every 100 ms).
	propagation = time.Second
)

func TestFleet_Standalone(t *testing.T) {
	t.Parallel()
	testFleet(t, []string{redistest.Start(t).Addr()})
}

func TestFleet_Cluster(t *testing.T) {
	t.Parallel()
	testFleet(t, redistest.StartCluster(t, 3).Addrs())
}

// testFleet checks that gateways sharing redisAddrs hand out one sequence of
// positions, release the configured rate once in total, and show an
// operator's change made on any of them on all of them within a second.
func testFleet(t *testing.T, redisAddrs []string) {
	gws := startFleet(t, fleetOptions{redis: redisAddrs, gateways: fleetGateways, ratePerHour: fleetRate, paused: true})

	// byPosition[p] holds the person at position p.
	var byPosition []person
	step(t, "JoinsGetOneSequence", func(t *testing.T) {
		byPosition = joinRoundRobin(t, gws)
	})
	// The last in line waits through the whole scenario: polls with their
	// ticket show what each gateway's snapshot says.
	last := byPosition[fleetJoins]

	var resumed roomState
	var resumedAt time.Time
	step(t, "ResumeReachesEveryGateway", func(t *testing.T) {
		resumed = gws[0].mustOperate(t, "POST", "/admin/api/resume", "")
		resumedAt = time.Now()
		if resumed.Paused {
			t.Fatalf("resume answered %+v", resumed)
		}
		checkEveryGateway(t, gws, time.Now().Add(propagation), last, func(paused bool, _ int64) error {
			if paused {
				return errors.New("still paused")
			}
			return nil
		})
	})

	step(t, "ReleaseIsTheRateOnceInTotal", func(t *testing.T) {
		time.Sleep(time.Until(resumedAt.Add(fleetMeasure)))
		end := gws[0].mustOperate(t, "GET", "/admin/api/state", "")
		// People who joined and never polled again are passed over as gone
		// once their promised poll is overdue (admission.Presence): they
		// use no capacity, so the rate is what reached people still there.
		released := (end.Admitted - end.Skipped) - (resumed.Admitted - resumed.Skipped)
		t.Logf("cursor moved %d, over %d people who left", end.Admitted-resumed.Admitted, end.Skipped-resumed.Skipped)
		elapsed := end.StoreTime.Sub(resumed.StoreTime)
		want := float64(fleetRate) * fleetMeasure.Hours()
		exact := float64(fleetRate) * elapsed.Hours()
		t.Logf("released %d in %v of Redis time: %.1f expected for that time, %.0f for %v", released, elapsed, exact, want, fleetMeasure)
		if math.Abs(float64(released)-want) > want*fleetTolerance {
			t.Errorf("released %d, want %.0f ± %.0f%%", released, want, fleetTolerance*100)
		}
		// Release counts Redis time to the microsecond and carries fractions
		// of a person, so it is exact up to the one person not yet whole.
		if math.Abs(float64(released)-exact) > 1.5 {
			t.Errorf("released %d in %v of Redis time, want %.1f ± 1", released, elapsed, exact)
		}
		if end.Issued != fleetJoins {
			t.Errorf("issued %d, want %d", end.Issued, fleetJoins)
		}
		// Every gateway's snapshot follows the shared cursor: whoever it
		// reached is admitted everywhere by the gateway's next tick, and
		// people 3 s of release behind it wait everywhere.
		reached, behind := byPosition[end.Admitted], byPosition[end.Admitted+3*fleetRate/3600]
		deadline := time.Now().Add(propagation)
		for _, g := range gws {
			err := eventually(deadline, 10*time.Millisecond, func() error {
				if s, err := g.standingOf(reached); err != nil || s.State != "admitted" || s.Position != reached.position {
					return fmt.Errorf("position %d reached by the cursor: %+v, %v", reached.position, s, err)
				}
				return nil
			})
			if err != nil {
				t.Errorf("%s: %v", g.name, err)
			}
			if s, err := g.standingOf(behind); err != nil || s.State != "waiting" || s.Position != behind.position {
				t.Errorf("%s: position %d behind the cursor %d: %+v, %v", g.name, behind.position, end.Admitted, s, err)
			}
		}
	})

	step(t, "RateChangeReachesEveryGateway", func(t *testing.T) {
		const rate = fleetRate / 2
		changed := gws[2].mustOperate(t, "PUT", "/admin/api/rate", fmt.Sprintf(`{"per_hour":%d}`, rate))
		if changed.RatePerHour != rate {
			t.Fatalf("rate change answered %+v", changed)
		}
		checkEveryGateway(t, gws[:2], time.Now().Add(propagation), last, func(_ bool, got int64) error {
			if got != rate {
				return fmt.Errorf("rate %d, want %d", got, rate)
			}
			return nil
		})
		// Dashboards see it too: every gateway's /metrics within a second.
		line := fmt.Sprintf("waitroom_rate_per_hour{room=%q} %d\n", "fleet", rate)
		for _, g := range gws {
			err := eventually(time.Now().Add(propagation), 10*time.Millisecond, func() error {
				r, err := do(mustRequest("GET", g.admin+"/metrics", "", adminToken))
				if err != nil {
					return err
				}
				if r.status != http.StatusOK || !strings.Contains(string(r.body), line) {
					return fmt.Errorf("/metrics answered %d without %q", r.status, line)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %v", g.name, err)
			}
		}
	})
}

// joinRoundRobin has fleetWorkers workers send fleetJoins cookie-less joins,
// each worker one after another and round robin over gws, and checks that
// the positions are exactly 1..fleetJoins, each once, and that each worker's
// positions rise in the order it got its answers: a join sent after another
// was answered, by any gateway, comes later in the queue. That covers the
// order of each gateway's answers to one worker. It returns the people by
// position (index 0 unused).
func joinRoundRobin(t *testing.T, gws []*gateway) []person {
	t.Helper()
	type joined struct {
		gateway int
		person
	}
	perWorker := make([][]joined, fleetWorkers)
	errs := make([]error, fleetWorkers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range fleetWorkers {
		wg.Go(func() {
			for i := range fleetJoins / fleetWorkers {
				g := (w + i) % len(gws)
				p, err := gws[g].join()
				if err != nil {
					errs[w] = fmt.Errorf("worker %d, join %d: %w", w, i, err)
					return
				}
				perWorker[w] = append(perWorker[w], joined{g, p})
			}
		})
	}
	wg.Wait()
	t.Logf("%d joins over %d gateways by %d workers in %v", fleetJoins, len(gws), fleetWorkers, time.Since(start).Round(time.Millisecond))
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	byPosition := make([]person, fleetJoins+1)
	answeredBy := make([]int, fleetJoins+1)
	for w, js := range perWorker {
		for i, j := range js {
			if j.position < 1 || j.position > fleetJoins {
				t.Fatalf("worker %d got position %d from gateway %d, outside 1..%d", w, j.position, j.gateway+1, fleetJoins)
			}
			if byPosition[j.position].ticket != "" {
				t.Fatalf("position %d handed out twice: by gateway %d and gateway %d", j.position, answeredBy[j.position]+1, j.gateway+1)
			}
			byPosition[j.position], answeredBy[j.position] = j.person, j.gateway
			if i > 0 && j.position <= js[i-1].position {
				t.Errorf("worker %d: join %d answered by gateway %d got position %d, not after %d of its previous join (gateway %d)",
					w, i, j.gateway+1, j.position, js[i-1].position, js[i-1].gateway+1)
			}
		}
	}
	return byPosition
}

// checkEveryGateway waits until want accepts the pause and rate that every
// gateway's answer to a status poll of p shows, or fails at deadline, then
// requires the same of the gateway's operator state. Polls come first: they
// show the gateway's snapshot, which only its background ticks refresh, and
// which is what visitors see; reading the operator state ticks.
func checkEveryGateway(t *testing.T, gws []*gateway, deadline time.Time, p person, want func(paused bool, ratePerHour int64) error) {
	t.Helper()
	start := time.Now()
	for _, g := range gws {
		err := eventually(deadline, 10*time.Millisecond, func() error {
			s, err := g.standingOf(p)
			if err != nil {
				return err
			}
			return want(s.Paused, s.RatePerHour)
		})
		if err != nil {
			t.Fatalf("%s, status poll after %v: %v", g.name, time.Since(start).Round(time.Millisecond), err)
		}
		t.Logf("%s shows it to visitors after %v", g.name, time.Since(start).Round(time.Millisecond))
		st, err := g.operate("GET", "/admin/api/state", "")
		if err == nil {
			err = want(st.Paused, st.RatePerHour)
		}
		if err != nil {
			t.Fatalf("%s, operator state: %v", g.name, err)
		}
	}
}
