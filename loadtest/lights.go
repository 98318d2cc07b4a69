package loadtest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"
)

// lightSample is every method's light as the gateways showed it, beside
// the crowd's own verifications in flight, at one time.
type lightSample struct {
	t       float64 // simulated seconds since the opening
	methods []lightReading
}

type lightReading struct {
	Name      string `json:"name"`
	Light     string `json:"light"`
	Accepting bool   `json:"accepting"`
	InFlight  int64  `json:"in_flight"`
	Capacity  int64  `json:"capacity"`
	crowd     int64
}

// sampleLights reads the lights from a gateway (as the waiting page does),
// outside the crowd's requests. Called by the monitor, one goroutine.
func (e *engine) sampleLights() {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	c := e.clients[len(e.lights)%len(e.clients)]
	req.SetRequestURI("http://" + c.Addr + "/waitroom/api/signals")
	crowd := make([]int64, len(e.crowdVerifying))
	for i := range crowd {
		crowd[i] = e.crowdVerifying[i].Load()
	}
	if err := c.DoTimeout(req, resp, e.o.RequestTimeout); err != nil || resp.StatusCode() != fasthttp.StatusOK {
		e.fail("signals: unreadable")
		return
	}
	var v struct{ Methods []lightReading }
	if err := json.Unmarshal(resp.Body(), &v); err != nil {
		e.fail("signals: bad JSON")
		return
	}
	for i := range v.Methods {
		for j, m := range e.sc.Identity.Methods {
			if m == v.Methods[i].Name {
				v.Methods[i].crowd = crowd[j]
			}
		}
	}
	e.lights = append(e.lights, lightSample{t: e.simNow().Seconds(), methods: v.Methods})
}

// Lights is how the traffic lights behaved: per method the share of
// readings of each light, and the readings that moved although the crowd
// alone did not call for it.
type Lights struct {
	Readings int64          `json:"readings"`
	Methods  []MethodLights `json:"methods"`
	// Moved counts readings not green, or not accepting, while the crowd's
	// own verifications in flight were under half the capacity.
	Moved      int64   `json:"moved"`
	MovedShare float64 `json:"moved_share"`
}

// MethodLights is one method's lights over the run.
type MethodLights struct {
	Name     string           `json:"name"`
	Capacity int64            `json:"capacity"`
	Shares   map[string]int64 `json:"readings"` // by light, "refusing" for not accepting
	// MaxInFlight is the most the gateways estimated in flight;
	// MaxCrowdInFlight the most the crowd had in flight by its own count.
	MaxInFlight      int64 `json:"max_in_flight"`
	MaxCrowdInFlight int64 `json:"max_crowd_in_flight"`
	Moved            int64 `json:"moved"`
}

func (e *engine) lightsReport() *Lights {
	if len(e.lights) == 0 {
		return nil
	}
	l := &Lights{}
	by := map[string]*MethodLights{}
	for _, s := range e.lights {
		for _, r := range s.methods {
			m := by[r.Name]
			if m == nil {
				m = &MethodLights{Name: r.Name, Capacity: r.Capacity, Shares: map[string]int64{}}
				by[r.Name] = m
			}
			l.Readings++
			m.Shares[r.Light]++
			if !r.Accepting {
				m.Shares["refusing"]++
			}
			m.MaxInFlight, m.MaxCrowdInFlight = max(m.MaxInFlight, r.InFlight), max(m.MaxCrowdInFlight, r.crowd)
			if (r.Light != "green" || !r.Accepting) && 2*r.crowd < r.Capacity {
				m.Moved++
				l.Moved++
			}
		}
	}
	for _, name := range e.sc.Identity.Methods {
		if m := by[name]; m != nil {
			l.Methods = append(l.Methods, *m)
		}
	}
	l.MovedShare = float64(l.Moved) / float64(l.Readings)
	return l
}

// Attack is the attackers' part of a report.
type Attack struct {
	// Seconds is how long the attack lasted, simulated.
	Seconds   float64        `json:"seconds"`
	Attackers []AttackReport `json:"attackers"`
	// Places and BypassesThrough are the attackers' together.
	Places          int64 `json:"places"`
	BypassesThrough int64 `json:"bypasses_through"`
}

// Crowd is how the crowd fared, for runs with attackers or a shared address.
type Crowd struct {
	Arrived     int64   `json:"arrived"`
	Placed      int64   `json:"placed"`
	PlacedShare float64 `json:"placed_share"`
	// Shared* are the people behind the shared address.
	SharedArrived     int64   `json:"shared_arrived"`
	SharedPlaced      int64   `json:"shared_placed"`
	SharedAdmitted    int64   `json:"shared_admitted"`
	SharedPlacedShare float64 `json:"shared_placed_share"`
}

func (e *engine) attackReport() (*Attack, Crowd) {
	var c Crowd
	for i := range e.people {
		p := &e.people[i]
		if p.state == stArriving {
			continue
		}
		placed := p.joined != 0
		c.Arrived++
		if placed {
			c.Placed++
		}
		if p.flags&fShared != 0 {
			c.SharedArrived++
			if placed {
				c.SharedPlaced++
			}
			if p.admitted != 0 {
				c.SharedAdmitted++
			}
		}
	}
	if c.Arrived > 0 {
		c.PlacedShare = float64(c.Placed) / float64(c.Arrived)
	}
	if c.SharedArrived > 0 {
		c.SharedPlacedShare = float64(c.SharedPlaced) / float64(c.SharedArrived)
	}
	if len(e.attackers) == 0 {
		return nil, c
	}
	a := &Attack{Seconds: e.sc.Sim(e.attackEnd - e.attackStart).Seconds()}
	for _, at := range e.attackers {
		r := at.report(e.sc, a.Seconds)
		a.Attackers = append(a.Attackers, r)
		a.Places += r.Places
		a.BypassesThrough += r.BypassesThrough
	}
	return a, c
}

// attackProperties are the lines of a run with attackers or a shared
// address: the crowd got through, the lights moved only with the crowd,
// the attackers held few places and got nothing past the gateways.
func attackProperties(r *Report, sc *Scenario, add func(name, expected, actual string, checked, pass bool)) {
	x := sc.Expect
	c := r.Crowd
	minShare := func(v *float64) string {
		if v == nil {
			return "(not checked)"
		}
		return fmt.Sprintf(">= %.2f%%", 100**v)
	}
	verb := "got a place"
	if sc.Identity.Enabled {
		verb = "verified and got a place"
	}
	add("crowd placed", minShare(x.PlacedShareMin), fmt.Sprintf("%s of %s who arrived %s (%.3f%%)", num(c.Placed), num(c.Arrived), verb, 100*c.PlacedShare),
		x.PlacedShareMin != nil, x.PlacedShareMin != nil && c.PlacedShare >= *x.PlacedShareMin)
	if sc.SharedAddress != nil {
		add("shared address placed", minShare(x.SharedPlacedShareMin), fmt.Sprintf("%s of %s behind %s %s (%.2f%%), %s admitted", num(c.SharedPlaced), num(c.SharedArrived),
			sc.SharedAddress.Address, verb, 100*c.SharedPlacedShare, num(c.SharedAdmitted)),
			x.SharedPlacedShareMin != nil, x.SharedPlacedShareMin != nil && c.SharedPlacedShare >= *x.SharedPlacedShareMin)
	}
	if l := r.Lights; l != nil {
		exp := "(not checked)"
		if v := x.LightsMovedMax; v != nil {
			exp = fmt.Sprintf("<= %.2f%% of readings", 100**v)
		}
		add("lights moved only by the crowd", exp, fmt.Sprintf("%s of %s readings not green or refusing while the crowd had under half the capacity in flight (%.2f%%)",
			num(l.Moved), num(l.Readings), 100*l.MovedShare), x.LightsMovedMax != nil, x.LightsMovedMax != nil && l.MovedShare <= *x.LightsMovedMax)
	}
	if a := r.Attack; a != nil {
		exp := "(not checked)"
		if v := x.AttackerPlacesMax; v != nil {
			exp = fmt.Sprintf("<= %d", *v)
		}
		add("attacker places", exp, num(a.Places), x.AttackerPlacesMax != nil, x.AttackerPlacesMax != nil && a.Places <= *x.AttackerPlacesMax)
		add("attacker bypasses refused", "no 2xx", fmt.Sprintf("%s got through", num(a.BypassesThrough)), true, a.BypassesThrough == 0)
	}
}

// attackMarkdown is the report's section on attackers and lights.
func (r *Report) attackMarkdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	if a := r.Attack; a != nil {
		p("## Attackers\n\nFor %.0f s (simulated) while the crowd was there. Rates are per simulated second; each attacker is one client, not scaled by the crowd scale.\n\n", a.Seconds)
		p("| attacker | from | kind | asked /s | reached /s | sent | answers |\n|---|---|---|---:|---:|---:|---|\n")
		for _, at := range a.Attackers {
			for _, k := range attackKindNames {
				c, ok := at.Kinds[k]
				if !ok {
					continue
				}
				var ans []string
				for _, o := range sortedKeys(c.Answers) {
					ans = append(ans, fmt.Sprintf("%s: %s", o, num(c.Answers[o])))
				}
				p("| %s | %s | %s | %.0f | %.0f | %s | %s |\n", at.Name, strings.Join(at.From, ", "), k, c.AskedPerSecond, c.PerSecond, num(c.Sent), strings.Join(ans, "; "))
			}
		}
		p("\nPlaces the attackers held: **%s**. Their bypasses that got through: %s.\n\n", num(a.Places), num(a.BypassesThrough))
	}
	if c := r.Crowd; c != nil {
		p("The crowd: %s of %s people who arrived got a place (%.3f%%)", num(c.Placed), num(c.Arrived), 100*c.PlacedShare)
		if c.SharedArrived > 0 {
			p("; behind the shared address %s of %s (%.2f%%), %s of them admitted", num(c.SharedPlaced), num(c.SharedArrived), 100*c.SharedPlacedShare, num(c.SharedAdmitted))
		}
		p(".\n\n")
	}
	if l := r.Lights; l != nil {
		p("## Traffic lights\n\nRead from a gateway every second (real), as the waiting page reads them, beside the crowd's own verifications in flight (counted by the loadtest: started, callback not yet answered).\n\n")
		p("| method | capacity | green | yellow | red | off | refusing | max in flight (gateways' estimate) | max in flight (crowd's own) | moved |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, m := range l.Methods {
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", m.Name, num(m.Capacity), num(m.Shares["green"]), num(m.Shares["yellow"]), num(m.Shares["red"]),
				num(m.Shares["off"]), num(m.Shares["refusing"]), num(m.MaxInFlight), num(m.MaxCrowdInFlight), num(m.Moved))
		}
		p("\n\"Moved\": readings not green or refusing while the crowd's own verifications in flight were under half the capacity.\n\n")
	}
	return b.String()
}
