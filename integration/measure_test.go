package integration

import (
	"bufio"
	"bytes"
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
	// measurePeople is how many people join for the memory figures, in
	// memorySteps equal steps.
	measurePeople = 1_000_000
	memorySteps   = 4
	// beatSample is how many of the last people to join poll once, so
	// that the heartbeat string reaches the end of the queue.
	beatSample = 1_000
)

// TestMeasure_Fleet drives one gateway on Redis with many concurrent
// fasthttp clients and reports joins/s, polls/s, the gateway's CPU per
// request, Redis commands per join and per poll (from INFO commandstats,
// net of the release controller's own calls measured while idle), then
// joins a million people and reports the gateway's resident memory as the
// queue grows (it must not grow: tickets live with the people) and Redis
// memory per waiting person (the heartbeat deadlines polls write, 4 bytes
// a position). It checks nothing but that requests succeed: speed depends
// on the machine, and the load generator shares it. With
// WAITROOM_MEASURE_OUT set it also writes the figures there as Markdown
// (scripts/bench.sh puts them in docs/PERFORMANCE.md).
func TestMeasure_Fleet(t *testing.T) {
	if os.Getenv("WAITROOM_MEASURE") != "1" {
		t.Skip("set WAITROOM_MEASURE=1 to measure joins/s, polls/s, Redis cost per request and memory with a million people waiting (a few minutes)")
	}
	srv := redistest.Start(t)
	// Paused: every poll is a waiting person's, the common case.
	g := startFleet(t, fleetOptions{redis: []string{srv.Addr()}, gateways: 1, ratePerHour: fleetRate, paused: true})[0]
	hc := &fasthttp.HostClient{Addr: strings.TrimPrefix(g.public, "http://"), MaxConns: measureClients, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
	gw := gatewayProc{pid: g.cmd.Process.Pid}
	var out report

	idle := measurePhase(t, srv, hc, gw, nil)
	t.Logf("idle: %d Redis commands and %v Redis CPU in %v from the release controller (%v)", idle.commands, idle.cpu, idle.elapsed.Round(time.Millisecond), idle.calls)

	join := func(req *fasthttp.Request) {
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetRequestURI(g.public + "/waitroom/api/join")
	}
	joins := measurePhase(t, srv, hc, gw, join)
	out.phase("join, first visit", joins.report(t, "join", idle))

	people := joinPeople(t, g, measureClients*16)
	polls := measurePhase(t, srv, hc, gw, pollEach(g, people))
	out.phase("status poll, waiting", polls.report(t, "poll", idle))

	// The queue grows by measurePeople; the gateway's memory is read after
	// each step, once it stops moving, and Redis's at both ends.
	usedBefore, roomBefore, beatsBefore := usedMemory(t, srv), memoryUsage(t, srv, fleetKey), memoryUsage(t, srv, fleetKey+":hb")
	first := g.mustOperate(t, "GET", "/admin/api/state", "").Issued
	rss := []memPoint{{queue: first, rss: gw.settledRSS(t)}}
	var bulkTook, bulkCPU time.Duration
	for range memorySteps {
		start, cpu := time.Now(), gw.cpu(t)
		load(t, hc, join, func(sent int64, _ time.Duration) bool { return sent >= measurePeople/memorySteps })
		bulkTook, bulkCPU = bulkTook+time.Since(start), bulkCPU+gw.cpu(t)-cpu
		p := memPoint{queue: g.mustOperate(t, "GET", "/admin/api/state", "").Issued, rss: gw.settledRSS(t)}
		rss = append(rss, p)
		t.Logf("memory: %d people joined; gateway RSS %s", p.queue-first, mib(p.rss))
	}
	joined := rss[len(rss)-1].queue - first

	// The last people to join poll once each, so that the heartbeat string
	// covers the whole queue, and the gateway hands the promises to Redis
	// within a flush (250 ms).
	last := joinPeople(t, g, beatSample)
	load(t, hc, pollEach(g, last), func(sent int64, _ time.Duration) bool { return sent >= beatSample })
	time.Sleep(time.Second)
	usedAfter, roomAfter, beatsAfter := usedMemory(t, srv), memoryUsage(t, srv, fleetKey), memoryUsage(t, srv, fleetKey+":hb")
	queue := last[len(last)-1].position
	if beatsAfter < 4*queue {
		t.Errorf("heartbeat string %d bytes, less than 4 bytes x %d positions: the last people's polls did not reach Redis", beatsAfter, queue)
	}

	growth := float64(rss[len(rss)-1].rss-rss[0].rss) / float64(joined)
	t.Logf("memory: %d joins in %v (%.0f/s, gateway CPU %.1f µs a join); gateway RSS %v at queue lengths %v: %+.2f bytes per person joined",
		joined, bulkTook.Round(time.Millisecond), float64(joined)/bulkTook.Seconds(), float64(bulkCPU.Microseconds())/float64(joined),
		rssList(rss), rssQueues(rss), growth)
	t.Logf("memory: Redis used_memory %d -> %d bytes over %d people (%.2f per person, connection buffers included); the room's hash %d -> %d bytes; heartbeat string %d -> %d bytes for %d positions (%.2f per person)",
		usedBefore, usedAfter, queue-first, float64(usedAfter-usedBefore)/float64(queue-first), roomBefore, roomAfter,
		beatsBefore, beatsAfter, queue, float64(beatsAfter)/float64(queue))
	out.memory(rss, growth, joined, bulkTook, bulkCPU, queue, usedBefore, usedAfter, first, roomAfter, beatsAfter)
	if path := os.Getenv("WAITROOM_MEASURE_OUT"); path != "" {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fleetKey is the fleet room's key in Redis (the store's default prefix).
const fleetKey = "waitroom:{fleet}"

// joinPeople joins n people one at a time and returns them.
func joinPeople(t *testing.T, g *gateway, n int) []person {
	t.Helper()
	people := make([]person, 0, n)
	for range n {
		p, err := g.join()
		if err != nil {
			t.Fatal(err)
		}
		people = append(people, p)
	}
	return people
}

// pollEach builds status polls of people in turn.
func pollEach(g *gateway, people []person) func(*fasthttp.Request) {
	var next atomic.Int64
	return func(req *fasthttp.Request) {
		p := people[(next.Add(1)-1)%int64(len(people))]
		req.SetRequestURI(g.public + "/waitroom/api/status")
		req.Header.SetCookie("wr_ticket", p.ticket)
		req.Header.SetCookie("wr_device", p.device)
	}
}

// phaseResult is one load phase as Redis, the gateway and the clients saw it.
type phaseResult struct {
	requests   int64
	elapsed    time.Duration
	commands   int64            // every command Redis ran, scripts' inner calls included
	calls      map[string]int64 // commands by name
	cpu        time.Duration    // Redis main thread CPU time, user and system
	gatewayCPU time.Duration    // the gateway process's CPU time, user and system
}

// measurePhase resets Redis's command statistics, sends requests built by
// build through hc for phaseLength (none when build is nil: the idle phase)
// and reads the statistics back.
func measurePhase(t *testing.T, srv *redistest.Server, hc *fasthttp.HostClient, gw gatewayProc, build func(*fasthttp.Request)) phaseResult {
	t.Helper()
	if _, err := redistest.Do(srv.Addr(), "CONFIG", "RESETSTAT"); err != nil {
		t.Fatal(err)
	}
	start, cpu, gwCPU := time.Now(), redisCPU(t, srv), gw.cpu(t)
	var r phaseResult
	if build == nil {
		time.Sleep(phaseLength)
	} else {
		r.requests = load(t, hc, build, func(_ int64, took time.Duration) bool { return took >= phaseLength })
	}
	r.elapsed, r.cpu, r.gatewayCPU = time.Since(start), redisCPU(t, srv)-cpu, gw.cpu(t)-gwCPU
	r.calls = commandStats(t, srv)
	for _, n := range r.calls {
		r.commands += n
	}
	return r
}

// roundTrips are the commands a gateway sends itself; commandstats counts
// the calls scripts make inside them too.
var roundTrips = []string{"evalsha", "eval", "bitfield"}

// phaseFigures are a phase's figures per request, net of what the
// controller costs in the same time while idle.
type phaseFigures struct {
	perSecond, gatewayCPUus, redisTrips, redisCommands, redisCPUus float64
}

// report logs a phase's throughput, the gateway's CPU per request and the
// Redis commands per request, net of what the controller sends in the same
// time while idle, and returns them.
func (r phaseResult) report(t *testing.T, what string, idle phaseResult) phaseFigures {
	t.Helper()
	scale := r.elapsed.Seconds() / idle.elapsed.Seconds()
	var trips, idleTrips int64
	for _, c := range roundTrips {
		trips, idleTrips = trips+r.calls[c], idleTrips+idle.calls[c]
	}
	n := float64(r.requests)
	f := phaseFigures{
		perSecond:     n / r.elapsed.Seconds(),
		gatewayCPUus:  float64(r.gatewayCPU-time.Duration(float64(idle.gatewayCPU)*scale)) / float64(time.Microsecond) / n,
		redisTrips:    max(0, float64(trips)-float64(idleTrips)*scale) / n,
		redisCommands: max(0, float64(r.commands)-float64(idle.commands)*scale) / n,
		redisCPUus:    max(0, float64(r.cpu)-float64(idle.cpu)*scale) / float64(time.Microsecond) / n,
	}
	t.Logf("%s: %d in %v = %.0f/s; gateway CPU %.1f µs per %s; Redis per %s: %.3f round trips, %.3f commands with the scripts' inner calls, %.1f µs main-thread CPU; raw %v",
		what, r.requests, r.elapsed.Round(time.Millisecond), f.perSecond, f.gatewayCPUus, what, what,
		f.redisTrips, f.redisCommands, f.redisCPUus, r.calls)
	return f
}

// gatewayProc is the gateway's process, read through /proc (Linux).
type gatewayProc struct{ pid int }

// cpu is the user and system CPU time the process has used, from
// /proc/<pid>/stat in clock ticks (USER_HZ, 100 a second on Linux).
func (p gatewayProc) cpu(t *testing.T) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		t.Fatalf("gateway CPU time: %v (the measurement needs Linux's /proc)", err)
	}
	// After the command name in parentheses (which may hold spaces):
	// state is field 3, utime and stime fields 14 and 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("cannot read /proc/%d/stat: %s", p.pid, b)
	}
	return time.Duration(utime+stime) * (time.Second / 100)
}

// rss is the process's resident set size in bytes (VmRSS).
func (p gatewayProc) rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		t.Fatalf("gateway RSS: %v (the measurement needs Linux's /proc)", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", p.pid)
	return 0
}

// settledRSS waits until the gateway's resident set stops moving after a
// load (the Go runtime returns freed memory gradually): it samples every
// 500 ms and returns once two samples in a row are within 1 MiB, or after
// 15 s.
func (p gatewayProc) settledRSS(t *testing.T) int64 {
	t.Helper()
	prev := p.rss(t)
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); {
		time.Sleep(500 * time.Millisecond)
		cur := p.rss(t)
		if cur-prev < 1<<20 && prev-cur < 1<<20 {
			return cur
		}
		prev = cur
	}
	return prev
}

// memPoint is the gateway's settled RSS at one queue length.
type memPoint struct{ queue, rss int64 }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func rssList(ps []memPoint) []string {
	var s []string
	for _, p := range ps {
		s = append(s, mib(p.rss))
	}
	return s
}

func rssQueues(ps []memPoint) []int64 {
	var s []int64
	for _, p := range ps {
		s = append(s, p.queue)
	}
	return s
}

// report collects the figures as Markdown for docs/PERFORMANCE.md.
type report struct{ bytes.Buffer }

func (r *report) phase(what string, f phaseFigures) {
	if r.Len() == 0 {
		r.WriteString("| with Redis, 64 clients | req/s | gateway CPU µs/req | Redis round trips/req | Redis commands/req | Redis CPU µs/req |\n|---|---|---|---|---|---|\n")
	}
	fmt.Fprintf(r, "| %s | %.0f | %.1f | %.3f | %.3f | %.1f |\n", what, f.perSecond, f.gatewayCPUus, f.redisTrips, f.redisCommands, f.redisCPUus)
}

func (r *report) memory(rss []memPoint, growth float64, joined int64, took, cpu time.Duration, queue, usedBefore, usedAfter, first, room, beats int64) {
	fmt.Fprintf(r, "| %d joins in a row (memory run) | %.0f | %.1f | | | |\n\n", joined, float64(joined)/took.Seconds(), float64(cpu.Microseconds())/float64(joined))
	r.WriteString("| queue length | gateway RSS (settled) |\n|---|---|\n")
	for _, p := range rss {
		fmt.Fprintf(r, "| %d | %s |\n", p.queue, mib(p.rss))
	}
	fmt.Fprintf(r, "\n- Gateway memory with the queue: %+.2f bytes per person joined (RSS %s with %d people waiting, %s with %d).\n",
		growth, mib(rss[len(rss)-1].rss), rss[len(rss)-1].queue, mib(rss[0].rss), rss[0].queue)
	fmt.Fprintf(r, "- Redis memory per waiting person: %.2f bytes (`used_memory` %d -> %d bytes over %d people, connection buffers included); "+
		"the room's hash is %d bytes whatever the queue; the heartbeat string is %d bytes for %d positions, %.2f bytes a position.\n",
		float64(usedAfter-usedBefore)/float64(queue-first), usedBefore, usedAfter, queue-first, room, beats, queue, float64(beats)/float64(queue))
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

// memoryUsage is MEMORY USAGE of key in bytes, 0 when there is no key.
func memoryUsage(t *testing.T, srv *redistest.Server, key string) int64 {
	t.Helper()
	if n, err := redistest.Do(srv.Addr(), "EXISTS", key); err != nil || n == "0" {
		if err != nil {
			t.Fatal(err)
		}
		return 0
	}
	v, err := redistest.Do(srv.Addr(), "MEMORY", "USAGE", key)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("MEMORY USAGE %s = %q: %v", key, v, err)
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
