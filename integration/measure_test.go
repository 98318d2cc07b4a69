package integration

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/internal/redistest"
)

const (
	// phaseLength is how long each load phase runs.
	phaseLength = 5 * time.Second
	// measureClients is the number of concurrent clients in a phase.
	measureClients = 64
	// measurePeople is how many joins the memory figure is taken over.
	measurePeople = 100_000
)

// TestMeasure_Fleet drives one gateway on Redis with many concurrent
// fasthttp clients and reports joins/s, polls/s, Redis commands per join and
// per poll (from INFO commandstats, net of the release controller's own
// calls measured while idle) and Redis memory per waiting person. It checks
// nothing but that requests succeed: speed depends on the machine, and the
// load generator shares it.
func TestMeasure_Fleet(t *testing.T) {
	if os.Getenv("WAITROOM_MEASURE") != "1" {
		t.Skip("set WAITROOM_MEASURE=1 to measure joins/s, polls/s and Redis cost per request (about 20 s)")
	}
	srv := redistest.Start(t)
	// Paused: every poll is a waiting person's, the common case.
	g := startFleet(t, fleetOptions{redis: []string{srv.Addr()}, gateways: 1, ratePerHour: fleetRate, paused: true})[0]
	hc := &fasthttp.HostClient{Addr: strings.TrimPrefix(g.public, "http://"), MaxConns: measureClients, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}

	idle := measurePhase(t, srv, hc, nil)
	t.Logf("idle: %d Redis commands and %v Redis CPU in %v from the release controller (%v)", idle.commands, idle.cpu, idle.elapsed.Round(time.Millisecond), idle.calls)

	join := func(req *fasthttp.Request) {
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetRequestURI(g.public + "/waitroom/api/join")
	}
	joins := measurePhase(t, srv, hc, join)
	joins.report(t, "join", idle)

	var people []person
	for range measureClients * 16 {
		p, err := g.join()
		if err != nil {
			t.Fatal(err)
		}
		people = append(people, p)
	}
	var next atomic.Int64
	polls := measurePhase(t, srv, hc, func(req *fasthttp.Request) {
		p := people[next.Add(1)%int64(len(people))]
		req.SetRequestURI(g.public + "/waitroom/api/status")
		req.Header.SetCookie("wr_ticket", p.ticket)
		req.Header.SetCookie("wr_device", p.device)
	})
	polls.report(t, "poll", idle)

	before, roomBefore := usedMemory(t, srv), memoryUsage(t, srv, "waitroom:{fleet}")
	issued := g.mustOperate(t, "GET", "/admin/api/state", "").Issued
	start := time.Now()
	load(t, hc, join, func(sent int64, _ time.Duration) bool { return sent >= measurePeople })
	after, roomAfter := usedMemory(t, srv), memoryUsage(t, srv, "waitroom:{fleet}")
	n := g.mustOperate(t, "GET", "/admin/api/state", "").Issued - issued
	t.Logf("memory: %d joins in %v; Redis used_memory %d -> %d bytes (%.2f per person, connection buffers included); the room's hash %s -> %s bytes: positions are counters, not stored per person",
		n, time.Since(start).Round(time.Millisecond), before, after, float64(after-before)/float64(n), roomBefore, roomAfter)
}

// phaseResult is one load phase as Redis and the clients saw it.
type phaseResult struct {
	requests int64
	elapsed  time.Duration
	commands int64            // every command Redis ran, scripts' inner calls included
	calls    map[string]int64 // commands by name
	cpu      time.Duration    // Redis main thread CPU time, user and system
}

// measurePhase resets Redis's command statistics, sends requests built by
// build through hc for phaseLength (none when build is nil: the idle phase)
// and reads the statistics back.
func measurePhase(t *testing.T, srv *redistest.Server, hc *fasthttp.HostClient, build func(*fasthttp.Request)) phaseResult {
	t.Helper()
	if _, err := redistest.Do(srv.Addr(), "CONFIG", "RESETSTAT"); err != nil {
		t.Fatal(err)
	}
	start, cpu := time.Now(), redisCPU(t, srv)
	var r phaseResult
	if build == nil {
		time.Sleep(phaseLength)
	} else {
		r.requests = load(t, hc, build, func(_ int64, took time.Duration) bool { return took >= phaseLength })
	}
	r.elapsed, r.cpu = time.Since(start), redisCPU(t, srv)-cpu
	r.calls = commandStats(t, srv)
	for _, n := range r.calls {
		r.commands += n
	}
	return r
}

// report logs a phase's throughput and its Redis commands per request, net
// of what the controller sends in the same time while idle.
func (r phaseResult) report(t *testing.T, what string, idle phaseResult) {
	t.Helper()
	background := float64(idle.commands) * r.elapsed.Seconds() / idle.elapsed.Seconds()
	scripts := r.calls["evalsha"] + r.calls["eval"]
	idleScripts := float64(idle.calls["evalsha"]+idle.calls["eval"]) * r.elapsed.Seconds() / idle.elapsed.Seconds()
	idleCPU := float64(idle.cpu) * r.elapsed.Seconds() / idle.elapsed.Seconds()
	t.Logf("%s: %d in %v = %.0f/s; Redis per %s: %.3f round trips (scripts), %.3f commands with the scripts' inner calls, %v main-thread CPU; raw %v",
		what, r.requests, r.elapsed.Round(time.Millisecond), float64(r.requests)/r.elapsed.Seconds(), what,
		max(0, float64(scripts)-idleScripts)/float64(r.requests), max(0, float64(r.commands)-background)/float64(r.requests),
		time.Duration(max(0, float64(r.cpu)-idleCPU)/float64(r.requests)), r.calls)
}

// load sends requests built by build from measureClients goroutines until
// done says so, requires every answer to be a 200 and returns how many
// were sent.
func load(t *testing.T, hc *fasthttp.HostClient, build func(*fasthttp.Request), done func(int64, time.Duration) bool) int64 {
	t.Helper()
	var sent, failed atomic.Int64
	var first sync.Once
	var firstErr error
	start := time.Now()
	var wg sync.WaitGroup
	for range measureClients {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for !done(sent.Load(), time.Since(start)) {
				req.Reset()
				build(req)
				err := hc.Do(req, resp)
				sent.Add(1)
				if err == nil && resp.StatusCode() != fasthttp.StatusOK {
					err = fmt.Errorf("status %d: %s", resp.StatusCode(), resp.Body())
				}
				if err != nil {
					failed.Add(1)
					first.Do(func() { firstErr = err })
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed; first: %v", n, sent.Load(), firstErr)
	}
	return sent.Load()
}

// commandStats reads INFO commandstats: calls by command name, leaving out
// the INFO and CONFIG calls the measurement itself makes.
func commandStats(t *testing.T, srv *redistest.Server) map[string]int64 {
	t.Helper()
	info, err := redistest.Do(srv.Addr(), "INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		// cmdstat_evalsha:calls=52,usec=1234,usec_per_call=23.73,...
		name, rest, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "cmdstat_"), ":calls=")
		if !ok || name == "info" || name == "config" || name == "config|resetstat" {
			continue
		}
		n, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
		calls[name] = n
	}
	return calls
}

// memoryUsage is MEMORY USAGE of key in bytes, as Redis prints it.
func memoryUsage(t *testing.T, srv *redistest.Server, key string) string {
	t.Helper()
	n, err := redistest.Do(srv.Addr(), "MEMORY", "USAGE", key)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// usedMemory is INFO memory's used_memory in bytes.
func usedMemory(t *testing.T, srv *redistest.Server) int64 {
	t.Helper()
	return int64(infoField(t, srv, "memory", "used_memory"))
}

// redisCPU is the CPU time Redis's main thread, which runs every command,
// has used since it started.
func redisCPU(t *testing.T, srv *redistest.Server) time.Duration {
	t.Helper()
	s := infoField(t, srv, "cpu", "used_cpu_user_main_thread") + infoField(t, srv, "cpu", "used_cpu_sys_main_thread")
	return time.Duration(s * float64(time.Second))
}

// infoField reads one numeric field of an INFO section.
func infoField(t *testing.T, srv *redistest.Server, section, field string) float64 {
	t.Helper()
	info, err := redistest.Do(srv.Addr(), "INFO", section)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in INFO %s:\n%s", field, section, info)
	return 0
}
