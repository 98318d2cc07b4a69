package loadtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Report is everything a run measured. Counts of people are of simulated
// people unless a field says full scale (x crowd scale); times are
// simulated unless they say real.
type Report struct {
	Name        string  `json:"name"`
	Description string  `json:"description,omitempty"`
	StartedAt   string  `json:"started_at"`
	WallSeconds float64 `json:"wall_seconds"`
	Complete    bool    `json:"complete"`
	StopReason  string  `json:"stop_reason,omitempty"`
	Setup       Setup   `json:"setup"`
	People      People  `json:"people"`

	Requests     Requests               `json:"requests"`
	Latency      map[string]Summary     `json:"latency"`
	Errors       map[string]int64       `json:"errors"`
	RequestRate  RequestRate            `json:"request_rate"`
	PerMinute    []MinutePoint          `json:"admitted_per_minute"`
	Queue        []QueuePoint           `json:"queue"`
	Accuracy     Accuracy               `json:"accuracy"`
	Inversions   Inversions             `json:"inversions"`
	LastAdmitted LastAdmitted           `json:"last_admitted"`
	Bypass       map[string]BypassCount `json:"bypass"`
	SecondDevice SecondDevice           `json:"second_device"`
	// Sleepers is how people whose device slept fared (scenarios with sleep).
	Sleepers     *Sleepers      `json:"sleepers,omitempty"`
	SchedulerLag SchedulerLag   `json:"scheduler_lag"`
	Changes      []ChangeResult `json:"changes,omitempty"`
	Faults       []FaultResult  `json:"store_faults,omitempty"`
	// ReleasedPerSecond is the room's release over time, with store faults.
	ReleasedPerSecond []ReleasePoint `json:"released_per_second,omitempty"`
	// Crowd is how many of the crowd got a place (a run with attackers or a
	// shared address), Lights how the traffic lights behaved (identity
	// first), Attack what the attackers did and achieved.
	Crowd  *Crowd  `json:"crowd,omitempty"`
	Lights *Lights `json:"lights,omitempty"`
	Attack *Attack `json:"attack,omitempty"`
	// DuplicatePositions counts places handed to more than one person.
	DuplicatePositions int64 `json:"duplicate_positions"`
	// GatewayEnd is the room as the operator API reported it at the end.
	GatewayEnd *GatewayView `json:"gateway_end,omitempty"`
	Properties []Property   `json:"properties"`
	Passed     bool         `json:"passed"`
}

// Setup is how the run was configured.
type Setup struct {
	People         int64   `json:"people"`
	SimPeople      int64   `json:"simulated_people"`
	RatePerHour    int64   `json:"rate_per_hour"`
	SimRatePerHour int64   `json:"simulated_rate_per_hour"`
	TimeScale      float64 `json:"time_scale"`
	CrowdScale     float64 `json:"crowd_scale"`
	Fleet          string  `json:"fleet"`
	Gateways       int     `json:"gateways"`
	Identity       bool    `json:"identity"`
	Polling        string  `json:"polling"`
	GiveUpShare    float64 `json:"give_up_share"`
	Workers        int     `json:"workers"`
}

// People counts outcomes (simulated people).
type People struct {
	Simulated    int64 `json:"simulated"`
	Joined       int64 `json:"joined"`
	Admitted     int64 `json:"admitted"`
	GaveUp       int64 `json:"gave_up"`
	Failed       int64 `json:"failed"`
	StillWaiting int64 `json:"still_waiting"`
	NotArrived   int64 `json:"not_arrived"`
	// Dropped failed while holding a place; PassedOverPolling were passed
	// over as gone although they kept polling (they came back through the
	// rejoin line: nobody in the simulation leaves and returns).
	Dropped           int64 `json:"dropped"`
	PassedOverPolling int64 `json:"passed_over_while_polling"`
}

// Requests counts requests to the gateways.
type Requests struct {
	Total      int64            `json:"total"`
	ByEndpoint map[string]int64 `json:"by_endpoint"`
	Errors     int64            `json:"errors"`
	ErrorShare float64          `json:"error_share"`
}

// RequestRate is the request rate the crowd caused on the gateways, real
// and implied for the full crowd (x crowd scale / time scale).
type RequestRate struct {
	MeanPerSecond        float64     `json:"mean_per_second"`
	PeakPerSecond        float64     `json:"peak_per_second"`
	WindowSeconds        float64     `json:"peak_window_s"`
	ImpliedMeanPerSecond float64     `json:"implied_full_scale_mean_per_second"`
	ImpliedPeakPerSecond float64     `json:"implied_full_scale_peak_per_second"`
	Series               []RatePoint `json:"series"`
}

// RatePoint is the request rate around a simulated time.
type RatePoint struct {
	SimSeconds float64 `json:"t_s"`
	PerSecond  float64 `json:"per_second"`
	Implied    float64 `json:"implied_full_scale"`
}

// QueuePoint is the queue length at a simulated time, full scale: as the
// crowd sees it (holding a place, not admitted, not gone) and as the
// gateway reports it (issued - admitted; -1 unknown).
type QueuePoint struct {
	SimSeconds     float64 `json:"t_s"`
	Waiting        float64 `json:"waiting"`
	GatewayWaiting float64 `json:"gateway_waiting"`
}

// SchedulerLag is how late the loadtest started people's actions (real
// time); a high lag means the client machine could not keep up.
type SchedulerLag struct {
	Summary
	LimitMS float64 `json:"limit_ms"`
	KeptUp  bool    `json:"kept_up"`
}

// ChangeResult is one operator change made during the run.
type ChangeResult struct {
	What          string  `json:"what"`
	AtSeconds     float64 `json:"at_s"`
	DoneAtSeconds float64 `json:"done_at_s"`
	Error         string  `json:"error,omitempty"`
}

// Property is one pass/fail line. Checked properties come from the
// scenario's expect section (or are always checked, like bypasses).
type Property struct {
	Name     string `json:"name"`
	Expected string `json:"expected"`
	Actual   string `json:"actual"`
	Checked  bool   `json:"checked"`
	Pass     bool   `json:"pass"`
}

// defaultLagLimit is the scheduler lag (p99, real) above which a run is
// reported as not kept up, unless expect sets another.
const defaultLagLimit = 50 * time.Millisecond

// maxSeries bounds the points of each time series in a report.
const maxSeries = 600

// report analyses the finished run.
func (e *engine) report(started time.Time, reason string) *Report {
	sc := e.sc
	r := &Report{
		Name: sc.Name, Description: strings.TrimSpace(sc.Description), StartedAt: started.UTC().Format(time.RFC3339),
		WallSeconds: time.Since(started).Seconds(), Complete: reason == "", StopReason: reason,
		Latency: map[string]Summary{}, Errors: e.errs, Bypass: map[string]BypassCount{},
	}
	r.Setup = Setup{People: sc.People, SimPeople: sc.SimPeople(), RatePerHour: sc.RatePerHour, SimRatePerHour: sc.SimRate(sc.RatePerHour),
		TimeScale: sc.TimeScale, CrowdScale: sc.CrowdScale, Gateways: len(e.rig.gateways), Identity: sc.Identity.Enabled,
		GiveUpShare: sc.GiveUp.Share, Workers: e.o.Workers, Fleet: e.rig.store, Polling: "as the gateway says (poll_after_ms)"}
	if !sc.Polling.Obey {
		r.Setup.Polling = "every " + sc.Polling.Every.D().String()
	}
	r.People.Simulated = int64(len(e.people))
	for i := range e.people {
		switch e.people[i].state {
		case stArriving:
			r.People.NotArrived++
		case stWaiting:
			r.People.StillWaiting++
		}
	}
	r.People.Joined, r.People.Admitted, r.People.GaveUp, r.People.Failed = e.joined.Load(), e.admitted.Load(), e.gone.Load(), e.failed.Load()
	r.People.Dropped, r.People.PassedOverPolling = e.dropped.Load(), e.rejoined.Load()
	r.DuplicatePositions = duplicatePositions(e.people)

	r.Requests.ByEndpoint = map[string]int64{}
	for ep := range numEndpoints {
		s := e.lat[ep].Summary()
		if s.Count == 0 {
			continue
		}
		r.Latency[ep.String()] = s
		r.Requests.ByEndpoint[ep.String()] = s.Count
	}
	r.Requests.Total = e.requests.Load()
	for _, n := range e.errs {
		r.Requests.Errors += n
	}
	if r.Requests.Total > 0 {
		r.Requests.ErrorShare = float64(r.Requests.Errors) / float64(r.Requests.Total)
	}

	samples := e.mon.samples
	r.RequestRate = requestRate(samples, sc, lastTime(e.people))
	r.Queue = queueSeries(samples, sc)
	r.PerMinute = admittedPerMinute(e.people, sc)
	r.Accuracy = measureAccuracy(e.people, sc.TimeScale, *sc.Expect.AccuracyWithin, sc.Expect.AccuracyFloor.D())
	r.Inversions = findInversions(e.people, InversionAllowance, sc.TimeScale)
	r.LastAdmitted = lastAdmitted(e.people, sc)
	for k := range numBypassKinds {
		r.Bypass[k.String()] = e.bypass.c[k]
	}
	if sc.Sleep.Share > 0 {
		sl := e.sleepers()
		r.Sleepers = &sl
	}
	r.SecondDevice = e.second.SecondDevice
	r.SecondDevice.Applicable = sc.Identity.Enabled
	limit := cmp.Or(sc.Expect.SchedulerLagP99Max.D(), defaultLagLimit)
	r.SchedulerLag = SchedulerLag{Summary: e.lag.Summary(), LimitMS: ms(limit)}
	r.SchedulerLag.KeptUp = r.SchedulerLag.P99 <= r.SchedulerLag.LimitMS
	r.Changes = e.changes
	r.Faults = e.faultResults()
	if len(r.Faults) > 0 {
		r.ReleasedPerSecond = e.releaseSeries()
	}
	r.Lights = e.lightsReport()
	if a, c := e.attackReport(); a != nil || sc.SharedAddress != nil {
		r.Attack, r.Crowd = a, &c
	}
	r.Properties = properties(r, sc)
	r.Passed = true
	for _, p := range r.Properties {
		if p.Checked && !p.Pass {
			r.Passed = false
		}
	}
	return r
}

// duplicatePositions counts the positions more than one person was given.
func duplicatePositions(ps []person) int64 {
	seen := make(map[int64]bool, len(ps))
	var dup int64
	for i := range ps {
		if pos := ps[i].position; pos > 0 {
			if seen[pos] {
				dup++
			}
			seen[pos] = true
		}
	}
	return dup
}

// faultProperties are the lines of a run with store faults: release never
// bursts after one, nobody who kept polling is passed over, every poll is
// answered, and nobody loses their place.
func faultProperties(r *Report, sc *Scenario, add func(name, expected, actual string, checked, pass bool)) {
	x := sc.Expect
	for i, f := range r.Faults {
		name := fmt.Sprintf("fault %d: %s", i+1, f.What)
		if !f.Measured || f.Error != "" {
			add(name, "made and measured", cmp.Or(f.Error, "the reads around it do not cover it"), true, false)
			continue
		}
		exp := "(not checked)"
		if v := x.FaultRecoveryMax; v != nil {
			exp = fmt.Sprintf("<= %.0f (%.3g x the rate's %.0f)", *v*f.RateBack2s, *v, f.RateBack2s)
		}
		add(name+", to 2 s after", exp, fmt.Sprintf("%s released from the start (%.1fs) to 2 s after the store answered again (%.1fs); peak %s in a second",
			num(f.ReleasedToBack2s), f.AtSeconds, f.BackSeconds, num(f.PeakSecond)),
			x.FaultRecoveryMax != nil, x.FaultRecoveryMax != nil && float64(f.ReleasedToBack2s) <= *x.FaultRecoveryMax*f.RateBack2s)
		exp = "(not checked)"
		if v := x.FaultMinuteMax; v != nil {
			exp = fmt.Sprintf("<= %.0f (%.3g x the rate's %.0f)", *v*f.RateMinute, *v, f.RateMinute)
		}
		actual := fmt.Sprintf("%s released", num(f.ReleasedToBackMinute))
		if !f.MinuteMeasured {
			actual = "not measured: the run ended first"
		}
		add(name+", to a minute after", exp, actual,
			x.FaultMinuteMax != nil, x.FaultMinuteMax != nil && f.MinuteMeasured && float64(f.ReleasedToBackMinute) <= *x.FaultMinuteMax*f.RateMinute)
	}
	var statusErrors int64
	for kind, n := range r.Errors {
		if strings.HasPrefix(kind, epStatus.String()+" ") {
			statusErrors += n
		}
	}
	add("status polls answered", "every poll 200", fmt.Sprintf("%s of %s not 200", num(statusErrors), num(r.Requests.ByEndpoint[epStatus.String()])), true, statusErrors == 0)
	add("nobody polling passed over", "0 people passed over as gone while they kept polling",
		num(r.People.PassedOverPolling), true, r.People.PassedOverPolling == 0)
	add("places kept", "0 people lost their place", fmt.Sprintf("%s failed while holding a place", num(r.People.Dropped)), true, r.People.Dropped == 0)
}

// lastTime is the real time of the last admission or departure.
func lastTime(ps []person) time.Duration {
	var t time.Duration
	for i := range ps {
		t = max(t, ps[i].admitted, ps[i].left)
	}
	return t
}

func requestRate(ss []sample, sc *Scenario, end time.Duration) RequestRate {
	implied := sc.CrowdScale / sc.TimeScale
	window := max(sc.Real(sc.RateWindow.D()), sampleEvery)
	out := RequestRate{WindowSeconds: sc.Sim(window).Seconds(), PeakPerSecond: peakRate(ss, window)}
	out.ImpliedPeakPerSecond = out.PeakPerSecond * implied
	// The mean over the night: from the opening to the last admission or
	// departure, when the crowd was there.
	for i := len(ss) - 1; i >= 0; i-- {
		if ss[i].t <= end && ss[i].t > 0 {
			out.MeanPerSecond = float64(ss[i].requests) / ss[i].t.Seconds()
			break
		}
	}
	out.ImpliedMeanPerSecond = out.MeanPerSecond * implied
	stride := max(1, len(ss)/maxSeries)
	for i := stride; i < len(ss); i += stride {
		a, b := ss[i-stride], ss[i]
		rate := float64(b.requests-a.requests) / (b.t - a.t).Seconds()
		out.Series = append(out.Series, RatePoint{SimSeconds: sc.Sim(b.t).Seconds(), PerSecond: rate, Implied: rate * implied})
	}
	return out
}

func queueSeries(ss []sample, sc *Scenario) []QueuePoint {
	var out []QueuePoint
	stride := max(1, len(ss)/maxSeries)
	for i := 0; i < len(ss); i += stride {
		s := ss[i]
		gw := -1.0
		if s.gwWaiting >= 0 {
			gw = float64(s.gwWaiting) * sc.CrowdScale
		}
		out = append(out, QueuePoint{SimSeconds: sc.Sim(s.t).Seconds(),
			Waiting: float64(s.waiting()) * sc.CrowdScale, GatewayWaiting: gw})
	}
	return out
}

// properties lists the pass/fail lines of a report.
func properties(r *Report, sc *Scenario) []Property {
	x := sc.Expect
	var ps []Property
	add := func(name, expected, actual string, checked, pass bool) {
		ps = append(ps, Property{Name: name, Expected: expected, Actual: actual, Checked: checked, Pass: pass || !checked})
	}
	add("complete", "every person admitted, gone or failed within the bounds",
		cmp.Or(r.StopReason, "complete"), true, r.Complete)
	var bypassTried, bypassIn int64
	for _, b := range r.Bypass {
		bypassTried += b.Tried
		bypassIn += b.Succeeded
	}
	add("bypass refused", "no 2xx on any bypass attempt", fmt.Sprintf("%s of %s attempts got through", num(bypassIn), num(bypassTried)), true, bypassIn == 0)
	if r.SecondDevice.Applicable {
		add("second device refused", "no place for a second device of a placed person",
			fmt.Sprintf("%s of %s got a place (%s refused, %s errors)", num(r.SecondDevice.GotPlace), num(r.SecondDevice.Tried), num(r.SecondDevice.Refused), num(r.SecondDevice.Errors)),
			true, r.SecondDevice.GotPlace == 0)
	}
	la := r.LastAdmitted
	if v := x.LastAdmittedRatioMax; v != nil || la.IdealSeconds > 0 {
		exp := "(not checked)"
		if v != nil {
			exp = fmt.Sprintf("<= %.3g x stayed/rate", *v)
		}
		add("last admitted", exp, fmt.Sprintf("%.4f x (%s after the opening; stayed/rate %s)", la.Ratio,
			fmtSim(time.Duration(la.LastSeconds*float64(time.Second))), fmtSim(time.Duration(la.IdealSeconds*float64(time.Second)))),
			v != nil, v != nil && la.IdealSeconds > 0 && la.Ratio <= *v)
	}
	a := r.Accuracy
	exp := "(not checked)"
	if v := x.AccuracyShareMin; v != nil {
		exp = fmt.Sprintf(">= %.1f%% within ±%.0f%% (or ±%gs)", 100**v, 100*a.Tolerance, a.FloorSeconds)
	}
	add("predicted wait", exp, fmt.Sprintf("%.2f%% of %s within ±%.0f%% (or ±%gs)", 100*a.Share, num(a.People), 100*a.Tolerance, a.FloorSeconds),
		x.AccuracyShareMin != nil, x.AccuracyShareMin != nil && a.People > 0 && a.Share >= *x.AccuracyShareMin)
	exp = "(not checked)"
	if v := x.InversionsMax; v != nil {
		exp = fmt.Sprintf("<= %d", *v)
	}
	add("order inversions", exp, num(r.Inversions.People), x.InversionsMax != nil, x.InversionsMax != nil && r.Inversions.People <= *x.InversionsMax)
	exp = "(not checked)"
	if v := x.ImpliedRequestRateMax; v != nil {
		exp = fmt.Sprintf("<= %s req/s", num(int64(*v)))
	}
	rr := r.RequestRate
	add("request rate (full scale)", exp, fmt.Sprintf("peak %s req/s over %gs, mean %s (measured peak %s, mean %s real req/s)",
		num(round(rr.ImpliedPeakPerSecond)), rr.WindowSeconds, num(round(rr.ImpliedMeanPerSecond)), num(round(rr.PeakPerSecond)), num(round(rr.MeanPerSecond))),
		x.ImpliedRequestRateMax != nil, x.ImpliedRequestRateMax != nil && rr.ImpliedPeakPerSecond <= *x.ImpliedRequestRateMax)
	exp = "(not checked)"
	if v := x.ErrorShareMax; v != nil {
		exp = fmt.Sprintf("<= %.3g%%", 100**v)
	}
	add("errors", exp, fmt.Sprintf("%s of %s requests (%.3g%%)", num(r.Requests.Errors), num(r.Requests.Total), 100*r.Requests.ErrorShare),
		x.ErrorShareMax != nil, x.ErrorShareMax != nil && r.Requests.ErrorShare <= *x.ErrorShareMax)
	add("positions unique", "no place handed to two people", fmt.Sprintf("%s duplicates", num(r.DuplicatePositions)), true, r.DuplicatePositions == 0)
	if sl := r.Sleepers; sl != nil {
		add("sleepers kept their place", fmt.Sprintf("0 people who slept less than %s passed over", fmtSim(secs(sl.GraceSeconds))),
			fmt.Sprintf("%s of %s who slept (%s woke to wait on, %s to find their turn had come)", num(sl.PassedOverShort), num(sl.Slept), num(sl.Waited), num(sl.Late)),
			true, sl.PassedOverShort == 0)
	}
	if len(sc.StoreFaults) > 0 {
		faultProperties(r, sc, add)
	}
	if r.Crowd != nil {
		attackProperties(r, sc, add)
	}
	lag := r.SchedulerLag
	add("loadtest kept up", fmt.Sprintf("scheduler lag p99 <= %.0f ms (real)", lag.LimitMS),
		fmt.Sprintf("p99 %.1f ms, max %.0f ms", lag.P99, lag.Max), x.SchedulerLagP99Max != 0, lag.KeptUp)
	return ps
}

// Write puts report.json, report.md and the SVG charts into dir.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(r.Markdown()), 0o644); err != nil {
		return err
	}
	for name, svg := range r.charts() {
		if err := os.WriteFile(filepath.Join(dir, name), svg, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Summary is the pass/fail lines and headline figures, for a terminal.
func (r *Report) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s in %.0fs\n", r.Name, map[bool]string{true: "PASSED", false: "FAILED"}[r.Passed], r.WallSeconds)
	for _, p := range r.Properties {
		mark := "info"
		if p.Checked {
			mark = map[bool]string{true: "PASS", false: "FAIL"}[p.Pass]
		}
		fmt.Fprintf(&b, "  %-4s %-26s %s   [expected %s]\n", mark, p.Name, p.Actual, p.Expected)
	}
	if !r.SchedulerLag.KeptUp {
		fmt.Fprintf(&b, "  WARNING: the loadtest could not keep up (scheduler lag p99 %.0f ms): people polled late, so waits and rates are distorted\n", r.SchedulerLag.P99)
	}
	return b.String()
}

// Markdown is the human report.
func (r *Report) Markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	s := r.Setup
	p("# Load test: %s\n\n", r.Name)
	if r.Description != "" {
		p("%s\n\n", r.Description)
	}
	p("%s, %.0f s wall time. %s people (%s simulated, each standing for %g) at %s/h (%s/h simulated); time x%g; %d gateway(s), store %s; identity first: %v; polling %s; %d workers.\n\n",
		r.StartedAt, r.WallSeconds, num(s.People), num(s.SimPeople), s.CrowdScale, num(s.RatePerHour), num(s.SimRatePerHour), s.TimeScale,
		s.Gateways, s.Fleet, s.Identity, s.Polling, s.Workers)
	if !r.Complete {
		p("**Incomplete: %s.**\n\n", r.StopReason)
	}
	p("## Properties: %s\n\n| | property | measured | expected |\n|---|---|---|---|\n", map[bool]string{true: "all passed", false: "FAILED"}[r.Passed])
	for _, pr := range r.Properties {
		mark := "info"
		if pr.Checked {
			mark = map[bool]string{true: "PASS", false: "**FAIL**"}[pr.Pass]
		}
		p("| %s | %s | %s | %s |\n", mark, pr.Name, pr.Actual, pr.Expected)
	}
	k := s.CrowdScale
	pp := r.People
	p("\n## People\n\n| | simulated | full scale |\n|---|---:|---:|\n")
	for _, row := range []struct {
		name string
		n    int64
	}{{"crowd", pp.Simulated}, {"joined", pp.Joined}, {"admitted", pp.Admitted}, {"gave up while waiting", pp.GaveUp},
		{"failed (errors)", pp.Failed}, {"still waiting at the end", pp.StillWaiting}, {"never arrived", pp.NotArrived}} {
		p("| %s | %s | %s |\n", row.name, num(row.n), num(int64(math.Round(float64(row.n)*k))))
	}
	la := r.LastAdmitted
	p("\n## Release\n\nThe last person was admitted %s after the opening; the configured rate needs %s for the %s people who stayed (%s simulated): ratio **%.4f**.\n\n",
		fmtSim(secs(la.LastSeconds)), fmtSim(secs(la.IdealSeconds)), num(la.StayedFullScale), num(la.Stayed), la.Ratio)
	if g := r.GatewayEnd; g != nil {
		p("At the end the gateways had issued %s places and admitted %s", num(g.Issued), num(g.Admitted))
		if g.Skipped != nil {
			p(", passing over %s positions whose holders had left (%s people gave up)", num(*g.Skipped), num(pp.GaveUp))
		}
		p(" (simulated people).\n\n")
	}
	p("![admitted per minute](admitted-per-minute.svg)\n\n![queue length](queue.svg)\n\n")
	if sl := r.Sleepers; sl != nil {
		p("## Sleeping devices\n\n%s people (simulated) were to put their device to sleep while waiting; %s did (the others were admitted or gave up first), sending the beacon a hidden page sends and polling nothing until they woke. Release passed over %s of them (%s of whom slept less than the gateways' sleep grace of %s). %s woke to wait on in their place, %s gave up while asleep, and %s woke to find their turn had come while they slept and went straight in: their admissions (the last %s after the opening) are when they chose to come back, so they are left out of the last admission and of the predicted-wait figures.\n\n",
			num(sl.Planned), num(sl.Slept), num(sl.PassedOver), num(sl.PassedOverShort), fmtSim(secs(sl.GraceSeconds)), num(sl.Waited),
			num(sl.Slept-sl.Waited-sl.Late-sl.PassedOver), num(sl.Late), fmtSim(secs(la.LateLastSeconds)))
	}
	if len(r.Faults) > 0 {
		p("## Store faults\n\nThe room's release count was read through the operator API every %v (real); \"back\" is the first read that reached the store after the fault ended.\n\n", faultSampleEvery)
		p("| fault | at | ended | back | released to back + 2 s (rate: %s) | to back + 1 min (rate: %s) | peak in a second |\n|---|---:|---:|---:|---:|---:|---:|\n",
			num(round(r.Faults[0].RateBack2s)), num(round(r.Faults[0].RateMinute)))
		for _, f := range r.Faults {
			p("| %s | %.1fs | %.1fs | %.1fs | %s | %s | %s |\n", f.What, f.AtSeconds, f.EndedSeconds, f.BackSeconds, num(f.ReleasedToBack2s), num(f.ReleasedToBackMinute), num(f.PeakSecond))
		}
		p("\n%s people were passed over as gone while they kept polling; %s lost their place; %s places were handed out twice.\n\n![released per second](released-per-second.svg)\n\n",
			num(pp.PassedOverPolling), num(pp.Dropped), num(r.DuplicatePositions))
	}
	if len(r.Changes) > 0 {
		p("Operator changes:\n\n")
		for _, c := range r.Changes {
			p("- at %s (made at %s): %s %s\n", fmtSim(secs(c.AtSeconds)), fmtSim(secs(c.DoneAtSeconds)), c.What, c.Error)
		}
		p("\n")
	}
	if r.Lights != nil || r.Attack != nil {
		p("%s", r.attackMarkdown())
	}
	a := r.Accuracy
	p("## Predicted against actual wait\n\n%s of %s admitted people (%.2f%%) waited within ±%.0f%% (or ±%gs) of the wait they were told at joining. Mean absolute error %.1f s. Error (predicted - actual) / actual by percentile:\n\n",
		num(a.Within), num(a.People), 100*a.Share, 100*a.Tolerance, a.FloorSeconds, a.MeanAbsErrorS)
	p("| p1 | p5 | p10 | p25 | p50 | p75 | p90 | p95 | p99 |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n|")
	for _, q := range []string{"p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99"} {
		p(" %+.1f%% |", 100*a.ErrorPercentiles[q])
	}
	p("\n\n![predicted against actual](accuracy.svg)\n\n![error distribution](accuracy-error.svg)\n\n")
	inv := r.Inversions
	p("## Order\n\n%d people were told \"waiting\" more than %.0f ms (real) after someone behind them was admitted.\n\n", inv.People, inv.AllowanceMS)
	for _, w := range inv.Worst {
		p("- position %d told waiting at %.1fs, %.0f ms after position %d was admitted at %.1fs\n", w.Position, w.WaitingAt, w.LateMS, w.Behind, w.AdmittedAt)
	}
	if len(inv.Worst) > 0 {
		p("\n")
	}
	rr := r.RequestRate
	p("## Request rate\n\nMeasured on the gateways: mean %s req/s, peak %s req/s (over %g s simulated). Implied for the full crowd (x %g / %g): **mean %s req/s, peak %s req/s**.\n\n![request rate](request-rate.svg)\n\n",
		num(round(rr.MeanPerSecond)), num(round(rr.PeakPerSecond)), rr.WindowSeconds, k, s.TimeScale, num(round(rr.ImpliedMeanPerSecond)), num(round(rr.ImpliedPeakPerSecond)))
	p("## Latency (real time)\n\n| endpoint | requests | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, name := range endpointNames {
		if l, ok := r.Latency[name]; ok {
			p("| %s | %s | %.2f | %.2f | %.2f | %.2f | %.1f |\n", name, num(l.Count), l.P50, l.P90, l.P99, l.P999, l.Max)
		}
	}
	p("\n![latency](latency.svg)\n\n## Errors\n\n")
	if len(r.Errors) == 0 {
		p("None.\n\n")
	} else {
		p("| kind | count |\n|---|---:|\n")
		for _, kind := range sortedKeys(r.Errors) {
			p("| %s | %s |\n", kind, num(r.Errors[kind]))
		}
		p("\n")
	}
	p("## Bypass attempts\n\n| kind | tried | refused | got through | errors | not tried |\n|---|---:|---:|---:|---:|---:|\n")
	for _, name := range bypassNames {
		c := r.Bypass[name]
		p("| %s | %d | %d | %d | %d | %d |\n", name, c.Tried, c.Refused, c.Succeeded, c.Errored, c.NotTried)
	}
	sd := r.SecondDevice
	if sd.Applicable {
		p("\nSecond devices of placed people: %d tried, %d refused, %d got a place, %d errors.\n", sd.Tried, sd.Refused, sd.GotPlace, sd.Errors)
	} else {
		p("\nSecond devices: n/a (identity first is off: without verification a second device is just another person).\n")
	}
	lag := r.SchedulerLag
	p("\n## The loadtest itself\n\nScheduler lag (how late people's actions started, real time): p50 %.2f ms, p99 %.2f ms, max %.0f ms. ", lag.P50, lag.P99, lag.Max)
	if lag.KeptUp {
		p("The client kept up (p99 within %.0f ms).\n", lag.LimitMS)
	} else {
		p("**The client could not keep up** (p99 above %.0f ms): people polled late, which lengthens actual waits and lowers the measured request rate.\n", lag.LimitMS)
	}
	return b.String()
}

func round(f float64) int64 { return int64(math.Round(f)) }

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// num formats n with thousands separators.
func num(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
