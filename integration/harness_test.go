package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// adminToken is the operator API token of every fleet the tests start.
const adminToken = "integration-admin-token-0123456789"

var (
	// binDir holds waitroomBin; no process may still run from it after the tests.
	binDir string
	// waitroomBin is bin/waitroom, built once by TestMain.
	waitroomBin string
	// ticketKeys is `waitroom keygen` output, shared by every gateway of a
	// fleet as production gateways share theirs.
	ticketKeys string
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	var err error
	if binDir, err = os.MkdirTemp("", "waitroom-integration-"); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(binDir)
	if err := build(); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	code := m.Run()
	if left := survivors(); left != "" {
		fmt.Fprintf(os.Stderr, "integration: processes outlived the tests:\n%s\n", left)
		code = 1
	}
	return code
}

// build compiles cmd/waitroom from the module root into binDir and asks it
// for the fleet's ticket keys.
func build() error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	waitroomBin = filepath.Join(binDir, "waitroom")
	cmd := exec.Command("go", "build", "-o", waitroomBin, "./cmd/waitroom")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/waitroom: %w\n%s", err, out)
	}
	keys, err := exec.Command(waitroomBin, "keygen").Output()
	if err != nil {
		return fmt.Errorf("waitroom keygen: %w", err)
	}
	ticketKeys = string(keys)
	return nil
}

// survivors lists the processes still running our binary; every test kills
// what it started, so the list must be empty.
func survivors() string {
	out, err := exec.Command("pgrep", "-af", binDir).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 { // pgrep: nothing matched
		return ""
	}
	if err != nil {
		return "(cannot check with pgrep: " + err.Error() + ")"
	}
	return strings.TrimSpace(string(out))
}

// process is a waitroom command running as a child process of one test, in
// its own process group, killed by the test's Cleanup.
type process struct {
	name   string
	cmd    *exec.Cmd
	output syncBuffer // stdout and stderr, shown when the test fails
	exited chan struct{}
}

// addrLine matches the lines in which serve and demo-backend print the
// addresses they listen on.
var addrLine = regexp.MustCompile(`http://([0-9.]+:[0-9]+)/`)

// startProcess runs waitroom with args and env and returns once it printed
// want listening addresses, which it returns in order. Listening on port 0
// and reading the port back avoids racing other processes for free ports.
func startProcess(t *testing.T, name string, env []string, want int, args ...string) (*process, []string) {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(waitroomBin, args...), exited: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.SysProcAttr = sysProcAttr()
	p.cmd.Stderr = &p.output
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	addrs := make(chan string, want)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(&p.output, sc.Text())
			if m := addrLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addrs <- m[1]:
				default:
				}
			}
		}
		_ = p.cmd.Wait() // after the last read, as os/exec requires
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s output (last 8 KiB):\n%s", name, p.output.tail(8<<10))
		}
	})
	var got []string
	// A gateway retries an unreachable store for 15 s before giving up.
	timeout := time.After(20 * time.Second)
	for len(got) < want {
		select {
		case a := <-addrs:
			got = append(got, a)
		case <-p.exited:
			t.Fatalf("%s exited before listening (%v):\n%s", name, p.cmd.ProcessState, p.output.tail(8<<10))
		case <-timeout:
			t.Fatalf("%s did not print %d addresses within 20 s:\n%s", name, want, p.output.tail(8<<10))
		}
	}
	return p, got
}

// kill sends SIGKILL to the process group, as a crash or the OOM killer
// would, and waits for the process to be reaped. Killing twice is harmless.
func (p *process) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// syncBuffer is a bytes.Buffer safe for the writer goroutines of os/exec and
// a reader in the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// tail returns the last n bytes written.
func (s *syncBuffer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b.Bytes()
	return string(b[max(0, len(b)-n):])
}

// childEnv is the environment of a started process: this one's without
// its WAITROOM_ settings (the caller's must not leak in), plus set.
func childEnv(set ...string) []string {
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WAITROOM_") {
			set = append(set, kv)
		}
	}
	return set
}

// fleetOptions describe gateways sharing one Redis, one room and one set of
// ticket keys behind (in production) one load balancer.
type fleetOptions struct {
	redis       []string // one address: standalone; several: Cluster
	gateways    int
	ratePerHour int64
	paused      bool
}

// gateway is one `waitroom serve` process.
type gateway struct {
	*process
	public string // base URL of the waiting room, http://host:port
	admin  string // base URL of the operator API
}

// startFleet starts a demo backend and o.gateways gateways in front of it,
// all configured by one YAML file, and returns once every gateway is ready.
func startFleet(t *testing.T, o fleetOptions) []*gateway {
	t.Helper()
	env := childEnv("WAITROOM_ADMIN_TOKEN="+adminToken, "WAITROOM_REDIS_ADDRS="+strings.Join(o.redis, ","))
	_, backend := startProcess(t, "demo-backend", env, 1, "demo-backend", "--listen", "127.0.0.1:0")

	config := filepath.Join(t.TempDir(), "fleet.yaml")
	// Every person of these tests comes from 127.0.0.1: its address budget
	// is that of a crowd behind one address.
	yaml := fmt.Sprintf("room: fleet\nrate_per_hour: %d\npaused: %t\nlog:\n  level: info\n  format: json\nabuse:\n  address_places: {per_minute: 1000000, burst: 1000000}\n%s", o.ratePerHour, o.paused, ticketKeys)
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	gws := make([]*gateway, o.gateways)
	for i := range gws {
		name := fmt.Sprintf("gateway %d", i+1)
		p, addrs := startProcess(t, name, env, 2, "serve", "--config", config,
			"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--backend", "http://"+backend[0])
		gws[i] = &gateway{process: p, public: "http://" + addrs[0], admin: "http://" + addrs[1]}
	}
	for _, g := range gws {
		if err := g.waitReady(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return gws
}

// waitReady polls /readyz until it answers 200 (the gateway reached its
// store on its last tick) or timeout passes.
func (g *gateway) waitReady(timeout time.Duration) error {
	return eventually(time.Now().Add(timeout), 20*time.Millisecond, func() error {
		r, err := do(mustRequest("GET", g.public+"/readyz", "", ""))
		if err == nil && r.status != http.StatusOK {
			err = fmt.Errorf("%d %s", r.status, r.body)
		}
		if err != nil {
			return fmt.Errorf("%s not ready: %w", g.name, err)
		}
		return nil
	})
}

// eventually calls f every interval until it returns nil, and returns nil,
// or until deadline, and returns f's last error.
func eventually(deadline time.Time, interval time.Duration, f func() error) error {
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(interval)
	}
}

// client is every test's HTTP client. Its 2 s timeout is the "never hang"
// bound: a gateway must answer well within it even when Redis is down.
var client = &http.Client{
	Timeout:       2 * time.Second,
	Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// reply is a whole HTTP answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends req with client.
func do(req *http.Request) (reply, error) { return send(client, req) }

// send sends req with c and reads the whole answer.
func send(c *http.Client, req *http.Request) (reply, error) {
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: body}, err
}

func mustRequest(method, url, body, auth string) *http.Request {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		panic(err) // only the tests' own URLs get here
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	return req
}

// person is someone in the queue: a ticket and the device it is bound to.
type person struct {
	position int64
	ticket   string
	device   string
}

// standing is the answer to a join or a status poll.
type standing struct {
	Ticket      string `json:"ticket"`
	State       string `json:"state"` // "waiting" or "admitted"
	Position    int64  `json:"position"`
	Ahead       int64  `json:"ahead"`
	PollAfterMS int64  `json:"poll_after_ms"`
	Paused      bool   `json:"paused"`
	PauseReason string `json:"pause_reason"`
	RatePerHour int64  `json:"rate_per_hour"`
}

// tryJoin sends a cookie-less join, as a new visitor does.
func (g *gateway) tryJoin() (reply, error) {
	return do(mustRequest("POST", g.public+"/waitroom/api/join", "", ""))
}

// join takes a place in the queue and returns its holder.
func (g *gateway) join() (person, error) {
	r, err := g.tryJoin()
	if err != nil {
		return person{}, fmt.Errorf("join at %s: %w", g.name, err)
	}
	s, err := r.standing()
	if err != nil {
		return person{}, fmt.Errorf("join at %s: %w", g.name, err)
	}
	p := person{position: s.Position, ticket: s.Ticket}
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "wr_device" {
			p.device = c.Value
		}
	}
	if p.device == "" || p.ticket == "" || p.position <= 0 {
		return person{}, fmt.Errorf("join at %s: no device cookie, ticket or position: %s", g.name, r.body)
	}
	return p, nil
}

// status polls p's standing with p's cookies.
func (g *gateway) status(p person) (reply, error) {
	req := mustRequest("GET", g.public+"/waitroom/api/status", "", "")
	req.Header.Set("Cookie", "wr_ticket="+p.ticket+"; wr_device="+p.device)
	r, err := do(req)
	if err != nil {
		return r, fmt.Errorf("status of position %d at %s: %w", p.position, g.name, err)
	}
	return r, nil
}

// standingOf polls p's standing and requires a 200.
func (g *gateway) standingOf(p person) (standing, error) {
	r, err := g.status(p)
	if err != nil {
		return standing{}, err
	}
	s, err := r.standing()
	if err != nil {
		return s, fmt.Errorf("status of position %d at %s: %w", p.position, g.name, err)
	}
	return s, nil
}

// standing decodes a 200 answer; any other status is an error.
func (r reply) standing() (standing, error) {
	var s standing
	if r.status != http.StatusOK {
		return s, fmt.Errorf("status %d: %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &s); err != nil {
		return s, fmt.Errorf("%w: %s", err, r.body)
	}
	return s, nil
}

// roomState is the operator API's view of the room.
type roomState struct {
	RatePerHour  int64     `json:"rate_per_hour"`
	Paused       bool      `json:"paused"`
	PauseReason  string    `json:"pause_reason"`
	Issued       int64     `json:"issued"`
	Admitted     int64     `json:"admitted"`
	Skipped      int64     `json:"skipped"`
	StoreHealthy bool      `json:"store_healthy"`
	StoreTime    time.Time `json:"store_time"`
}

// operate calls the operator API (GET /admin/api/state, POST
// /admin/api/resume, ...) and returns the room's state from its answer.
func (g *gateway) operate(method, path, body string) (roomState, error) {
	var st roomState
	r, err := do(mustRequest(method, g.admin+path, body, adminToken))
	if err == nil && r.status != http.StatusOK {
		err = fmt.Errorf("status %d: %s", r.status, r.body)
	}
	if err == nil {
		err = json.Unmarshal(r.body, &st)
	}
	if err != nil {
		return st, fmt.Errorf("%s %s at %s: %w", method, path, g.name, err)
	}
	return st, nil
}

// mustOperate is operate for the test goroutine.
func (g *gateway) mustOperate(t *testing.T, method, path, body string) roomState {
	t.Helper()
	st, err := g.operate(method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// step runs one stage of a scenario as a subtest and stops the scenario if
// it fails: later stages build on what earlier ones established.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, f) {
		t.FailNow()
	}
}
