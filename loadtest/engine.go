package loadtest

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Options are the run's settings that are not part of the scenario.
type Options struct {
	// Waitroom is the waitroom binary a spawned fleet runs.
	Waitroom string
	// Out is the report directory; gateway logs go to Out/logs.
	Out string
	// Workers bounds the requests in flight. Default 512.
	Workers int
	// Timeout bounds the whole run in real time, on top of the scenario's
	// max_duration. Default 30 minutes.
	Timeout time.Duration
	// MaxPeople refuses scenarios that simulate more people. Default 5 M.
	MaxPeople int64
	// AllowRemote lets targets be on other hosts than this one.
	AllowRemote bool
	// RequestTimeout bounds one request. Default 10 s.
	RequestTimeout time.Duration
	// Progress receives a progress line every ProgressEvery (default 5 s).
	Progress      io.Writer
	ProgressEvery time.Duration
}

func (o *Options) defaults() {
	setDefault(&o.Workers, 512)
	setDefault(&o.Timeout, 30*time.Minute)
	setDefault(&o.MaxPeople, 5_000_000)
	setDefault(&o.RequestTimeout, 10*time.Second)
	setDefault(&o.ProgressEvery, 5*time.Second)
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

func setDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// Person states.
const (
	stArriving uint8 = iota // before their first request
	stWaiting               // holds a place, polls
	stDone                  // admitted (and visited the backend)
	stGone                  // gave up
	stFailed                // stopped by errors
)

// Person flags.
const (
	fGivesUp     uint8 = 1 << iota // intends to give up while waiting
	fBypass                        // tries bypasses while waiting
	fBypassDone                    // ... and has
	fSecond                        // verifies again from a second device
	fStolenTried                   // tried another person's admission token
	fRejoined                      // was told it had been passed over as gone
	fShared                        // comes from the scenario's shared address
)

// person is one simulated person. Times are real time since the opening;
// zero means "not yet" (every recorded event follows a request, so it is
// later than the opening).
type person struct {
	arrive   time.Duration
	joined   time.Duration // first answer with a place
	admitted time.Duration // first "admitted" answer
	lastWait time.Duration // when the last request answered "waiting" was sent
	giveUp   time.Duration // planned; zero: stays
	left     time.Duration // when they gave up
	position int64
	eta      int32 // seconds of (simulated) wait told at joining
	ticket   string
	device   string
	state    uint8
	flags    uint8
	tries    uint8
	method   uint8 // index in the scenario's identity.methods of the verification that gave the place

	// sleepFor is how long the device sleeps (real), zero for people whose
	// device never does; sleepAt when it falls asleep, planned at joining
	// (zero: not yet planned, or admitted first); sleep how it went.
	sleepFor, sleepAt time.Duration
	sleep             sleepState
}

// event is a person's next action, due at a real time since the opening.
type event struct {
	at time.Duration
	id int32
}

// eventHeap is a binary min-heap of events by time.
type eventHeap []event

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p].at <= s[i].at {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *eventHeap) pop() event {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(s) && s[l].at < s[m].at {
			m = l
		}
		if r := l + 1; r < len(s) && s[r].at < s[m].at {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// engine runs one scenario's crowd against a rig.
type engine struct {
	sc      *Scenario
	o       Options
	rig     *rig
	clients []*fasthttp.HostClient
	byHost  map[string]*fasthttp.HostClient
	idp     *fasthttp.HostClient
	people  []person
	start   time.Time // the opening
	runID   string    // random name of this run

	mu   sync.Mutex
	heap eventHeap
	next int // next person to arrive (people are in arrival order)
	wake chan struct{}
	jobs chan event

	finished atomic.Int64
	joined   atomic.Int64
	admitted atomic.Int64
	gone     atomic.Int64
	failed   atomic.Int64
	dropped  atomic.Int64 // failed while holding a place
	rejoined atomic.Int64 // passed over as gone while still polling
	slept    sleepCounts
	requests atomic.Int64 // requests to the gateways
	lagMax   atomic.Int64 // largest lateness since the last sample, ns

	lat     [numEndpoints]*Histogram
	lag     *Histogram
	errMu   sync.Mutex
	errs    map[string]int64
	tokens  tokenRing
	bypass  bypassCounts
	second  secondCounts
	changes []ChangeResult
	mon     *monitor
	faults  faultLog

	// crowdVerifying counts the crowd's verifications in flight, per
	// identity method (see verifying).
	crowdVerifying []atomic.Int64
	// lights are the traffic lights sampled every second (identity first).
	lights    []lightSample
	attackers []*attacker
	// attackStart and attackEnd bound the attack (real time since the opening).
	attackStart, attackEnd time.Duration
}

// newEngine lays out the crowd: arrival times, who gives up, who tries
// bypasses, who has a second device, all from the scenario's seed.
func newEngine(sc *Scenario, o Options, r *rig) *engine {
	e := &engine{sc: sc, o: o, rig: r, byHost: map[string]*fasthttp.HostClient{}, wake: make(chan struct{}, 1),
		jobs: make(chan event, o.Workers), errs: map[string]int64{}, lag: NewHistogram(), runID: randomToken()[:8]}
	for i := range e.lat {
		e.lat[i] = NewHistogram()
	}
	for _, g := range r.gateways {
		c := e.hostClient(g)
		e.clients = append(e.clients, c)
		e.byHost[g] = c
	}
	if r.idp != "" {
		e.idp = e.hostClient(r.idp)
	}
	e.crowdVerifying = make([]atomic.Int64, len(sc.Identity.Methods))
	rng := rand.New(rand.NewPCG(sc.Seed, 0x10ad7e57))
	n := sc.SimPeople()
	times := sc.Arrival.Times(n, rng)
	e.people = make([]person, n)
	for i := range e.people {
		p := &e.people[i]
		// Arrival times are simulated; the heap runs on real time.
		p.arrive = sc.Real(times[i])
		if rng.Float64() < sc.GiveUp.Share {
			p.flags |= fGivesUp
		}
		if rng.Float64() < sc.BypassShare {
			p.flags |= fBypass
		}
		if rng.Float64() < sc.SecondDeviceShare {
			p.flags |= fSecond
		}
		if sl := sc.Sleep; sl.Share > 0 && rng.Float64() < sl.Share {
			p.sleepFor = sc.Real(sl.For[0].D() + time.Duration(float64(sl.For[1]-sl.For[0])*rng.Float64()))
		}
	}
	if sa := sc.SharedAddress; sa != nil {
		for j := range sa.People { // evenly over the arrival order
			e.people[j*n/sa.People].flags |= fShared
		}
	}
	return e
}

func (e *engine) hostClient(addr string) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                          addr,
		Name:                          "waitroom-loadtest",
		MaxConns:                      e.o.Workers,
		MaxIdleConnDuration:           30 * time.Second,
		ReadTimeout:                   e.o.RequestTimeout,
		WriteTimeout:                  e.o.RequestTimeout,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		MaxResponseBodySize:           1 << 20,
	}
}

// since is the real time since the opening.
func (e *engine) since() time.Duration { return time.Since(e.start) }

// simNow is the simulated time since the opening.
func (e *engine) simNow() time.Duration { return e.sc.Sim(e.since()) }

// run plays the crowd until everyone is done or ctx ends, and reports why
// it stopped ("" when everyone finished).
func (e *engine) run(ctx context.Context) string {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	e.start = time.Now()
	e.mon = &monitor{e: e}
	var wg sync.WaitGroup
	for i := range e.o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWorker(e, uint64(i))
			for ev := range e.jobs {
				w.handle(ev)
				if e.finished.Load() == int64(len(e.people)) {
					cancel(nil)
				}
			}
		}()
	}
	var aux sync.WaitGroup
	aux.Add(4)
	go func() { defer aux.Done(); e.operate(ctx) }()
	go func() { defer aux.Done(); e.attack(ctx) }()
	go func() { defer aux.Done(); e.mon.run(ctx, cancel) }()
	go func() { defer aux.Done(); e.injectFaults(ctx, cancel) }()
	e.schedule(ctx)
	close(e.jobs)
	wg.Wait()
	cancel(nil)
	aux.Wait()
	if e.finished.Load() == int64(len(e.people)) {
		return ""
	}
	return context.Cause(ctx).Error()
}

// schedule hands due events to the workers until ctx ends. A full job
// queue blocks it, and the lateness that follows is measured by the
// workers: the loadtest's own lag.
func (e *engine) schedule(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := e.since()
		e.mu.Lock()
		ev, ok := e.due(now)
		var wait time.Duration
		if !ok {
			wait = e.nextAt() - now
		}
		e.mu.Unlock()
		if ok {
			select {
			case e.jobs <- ev:
				continue
			case <-ctx.Done():
				return
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-timer.C:
		}
	}
}

// due pops the earliest event due by now: an arrival or a heap event.
// Called with mu held.
func (e *engine) due(now time.Duration) (event, bool) {
	arrival := e.next < len(e.people) && e.people[e.next].arrive <= now
	heaped := len(e.heap) > 0 && e.heap[0].at <= now
	switch {
	case arrival && (!heaped || e.people[e.next].arrive <= e.heap[0].at):
		e.next++
		return event{at: e.people[e.next-1].arrive, id: int32(e.next - 1)}, true
	case heaped:
		return e.heap.pop(), true
	}
	return event{}, false
}

// nextAt is when the next event is due (an hour away if none is known).
// Called with mu held.
func (e *engine) nextAt() time.Duration {
	at := e.since() + time.Hour
	if e.next < len(e.people) {
		at = min(at, e.people[e.next].arrive)
	}
	if len(e.heap) > 0 {
		at = min(at, e.heap[0].at)
	}
	return at
}

// later schedules person id's next action at real time at.
func (e *engine) later(id int32, at time.Duration) {
	e.mu.Lock()
	first := len(e.heap) == 0 || at < e.heap[0].at
	e.heap.push(event{at: at, id: id})
	e.mu.Unlock()
	if first {
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
}

// noteLag records how late an action started.
func (e *engine) noteLag(d time.Duration) {
	e.lag.Record(d)
	for {
		cur := e.lagMax.Load()
		if int64(d) <= cur || e.lagMax.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// fail counts one error of a kind ("status 401 ticket_expired").
func (e *engine) fail(kind string) {
	e.errMu.Lock()
	e.errs[kind]++
	e.errMu.Unlock()
}

// operate makes the scenario's operator changes at their simulated times.
func (e *engine) operate(ctx context.Context) {
	for _, c := range e.sc.Changes {
		t := time.NewTimer(time.Until(e.start.Add(e.sc.Real(c.At.D()))))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		res := ChangeResult{AtSeconds: c.At.D().Seconds(), DoneAtSeconds: e.simNow().Seconds()}
		var err error
		switch {
		case c.Pause:
			res.What = "pause"
			err = e.admin(ctx, "POST", "/admin/api/pause", "", nil)
		case c.Resume:
			res.What = "resume"
			err = e.admin(ctx, "POST", "/admin/api/resume", "", nil)
		default:
			res.What = fmt.Sprintf("rate %d/h (%d/h simulated)", c.RatePerHour, e.sc.SimRate(c.RatePerHour))
			err = e.admin(ctx, "PUT", "/admin/api/rate", fmt.Sprintf(`{"per_hour":%d}`, e.sc.SimRate(c.RatePerHour)), nil)
		}
		if err != nil {
			res.Error = err.Error()
			e.fail("admin " + res.What)
		}
		e.mu.Lock()
		e.changes = append(e.changes, res)
		e.mu.Unlock()
	}
}

// tokenRing keeps recent admission tokens of admitted people, for the
// bypass that uses another person's token from another device.
type tokenRing struct {
	mu   sync.Mutex
	toks [256]string
	n    int
}

func (r *tokenRing) add(t string) {
	r.mu.Lock()
	r.toks[r.n%len(r.toks)] = t
	r.n++
	r.mu.Unlock()
}

func (r *tokenRing) pick(rng *rand.Rand) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		return ""
	}
	return r.toks[rng.IntN(min(r.n, len(r.toks)))]
}
