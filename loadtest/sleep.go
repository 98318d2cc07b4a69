package loadtest

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// sleepState is how a person's sleep went.
type sleepState uint8

const (
	sleepNone    sleepState = iota // their device never slept (yet)
	sleepAsleep                    // asleep now
	sleepWoke                      // woke and was told to wait on, in their place
	sleepLate                      // woke to find their turn had come meanwhile
	sleepSkipped                   // woke to find release had passed them over
)

// late reports whether the person's admission waited for their device to
// wake: release reached them while they slept, so their admission time is
// their own lateness, not the release schedule's, nor the estimate's.
func (p *person) late() bool { return p.sleep == sleepLate }

// sleepCounts are the sleepers' outcomes (simulated people).
type sleepCounts struct {
	asleep, woke, late, skipped atomic.Int64
	// skippedShort counts those passed over who slept less than the
	// gateways' sleep grace: each is a fault.
	skippedShort atomic.Int64
}

// planSleep draws, at a sleeper's first answer, when their device falls
// asleep: after a share of the wait they were told.
func (w *worker) planSleep(p *person, recv time.Duration, etaSeconds int64) {
	sl := w.e.sc.Sleep
	f := sl.AtShareOfWait[0] + (sl.AtShareOfWait[1]-sl.AtShareOfWait[0])*w.rng.Float64()
	p.sleepAt = recv + max(w.e.sc.Real(time.Duration(f*float64(etaSeconds)*float64(time.Second))), 1)
}

// fallAsleep sends the beacon a page sends as it is hidden and returns when
// the device wakes; it polls nothing meanwhile. A beacon that fails is
// counted as an error and the device sleeps all the same, as a phone would.
func (w *worker) fallAsleep(p *person) time.Duration {
	e := w.e
	c := w.gw()
	req := w.request(c, fasthttp.MethodPost, "/waitroom/api/away")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.SetCookie("wr_ticket", p.ticket)
	req.Header.SetCookie("wr_device", p.device)
	if _, _, f := w.do(epAway, c); f != nil {
		e.fail(f.kind)
	} else if st := w.resp.StatusCode(); st != fasthttp.StatusNoContent {
		e.fail(w.httpFailure(epAway).kind)
	}
	p.sleep = sleepAsleep
	e.slept.asleep.Add(1)
	return p.sleepAt + p.sleepFor
}

// woke records how a sleeper found their place on the first answer after
// waking.
func (w *worker) woke(p *person, s standing) {
	e := w.e
	switch {
	case s.State == "admitted":
		p.sleep = sleepLate
		e.slept.late.Add(1)
	case s.Rejoining:
		p.sleep = sleepSkipped
		e.slept.skipped.Add(1)
		if e.sc.Sim(p.sleepFor) < e.sc.Sleep.Grace.D() {
			e.slept.skippedShort.Add(1)
			e.fail(fmt.Sprintf("slept %v, less than the sleep grace, and was passed over", e.sc.Sim(p.sleepFor).Round(time.Second)))
		}
	default:
		p.sleep = sleepWoke
		e.slept.woke.Add(1)
	}
}

// Sleepers is how the people whose device slept fared (simulated people).
type Sleepers struct {
	Planned int64 `json:"planned"`
	// Slept fell asleep while waiting; the others were admitted or gave up
	// first.
	Slept int64 `json:"slept"`
	// Waited woke to wait on in their place; Late woke to find their turn
	// had come while they slept, and went straight in.
	Waited int64 `json:"woke_waiting"`
	Late   int64 `json:"woke_admitted"`
	// PassedOver woke to find themselves passed over as gone (sent to the
	// rejoin line); PassedOverShort of them slept less than GraceSeconds.
	PassedOver      int64   `json:"passed_over"`
	PassedOverShort int64   `json:"passed_over_within_grace"`
	GraceSeconds    float64 `json:"grace_s"`
}

func (e *engine) sleepers() Sleepers {
	out := Sleepers{Slept: e.slept.asleep.Load(), Waited: e.slept.woke.Load(), Late: e.slept.late.Load(),
		PassedOver: e.slept.skipped.Load(), PassedOverShort: e.slept.skippedShort.Load(), GraceSeconds: e.sc.Sleep.Grace.D().Seconds()}
	for i := range e.people {
		if e.people[i].sleepFor > 0 {
			out.Planned++
		}
	}
	return out
}
