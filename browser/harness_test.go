package browser_test

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waitroom/waitroom/internal/browsertest"
)

// adminToken is the operator token of every gateway the tests start.
const adminToken = "browser-admin-token-0123456789"

// waitroomBin is cmd/waitroom, built once by TestMain.
var waitroomBin string

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	if os.Getenv(browsertest.SkipEnv) != "1" { // skipped tests need no binary
		dir, err := os.MkdirTemp("", "waitroom-browser-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "browser:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		waitroomBin = filepath.Join(dir, "waitroom")
		build := exec.Command("go", "build", "-o", waitroomBin, "./cmd/waitroom")
		build.Dir = ".." // the module root
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "browser: go build ./cmd/waitroom: %v\n%s", err, out)
			return 1
		}
	}
	return m.Run()
}

// addrLine matches the lines in which every waitroom command prints the
// address it listens on.
var addrLine = regexp.MustCompile(`http://([0-9.]+:[0-9]+)/`)

// start runs `waitroom args...` until the test ends and returns the first
// want addresses it prints. Listening on port 0 and reading the port back
// avoids racing other tests for free ports.
func start(t *testing.T, want int, env []string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(waitroomBin, args...)
	cmd.Env = env
	var logs syncBuffer
	cmd.Stderr = &logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start waitroom %s: %v", args[0], err)
	}
	addrs, exited := make(chan string, want), make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := addrLine.FindStringSubmatch(sc.Text()); m != nil && len(addrs) < want {
				addrs <- m[1]
			}
		}
		_ = cmd.Wait() // after the last read, as os/exec requires
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("waitroom %s log:\n%s", args[0], logs.String())
		}
	})
	var got []string
	timeout := time.After(20 * time.Second)
	for len(got) < want {
		select {
		case a := <-addrs:
			got = append(got, a)
		case <-exited:
			t.Fatalf("waitroom %s exited before listening: %v\n%s", args[0], cmd.ProcessState, logs.String())
		case <-timeout:
			t.Fatalf("waitroom %s printed no address within 20 s:\n%s", args[0], logs.String())
		}
	}
	return got
}

// syncBuffer is a bytes.Buffer for the process's writer goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// room is a gateway with the demo booking backend behind it.
type room struct {
	t      *testing.T
	public string // base URL of the gateway, http://host:port
	admin  string // base URL of the operator API (and console)
}

type roomOptions struct {
	ratePerHour int64
	paused      bool
	// identity turns identity first on, against a development identity
	// provider, with one window open now for birth dates ending in
	// eligibleDigit.
	identity bool
	// addressPlaces is the places one address takes before each further
	// one needs a proof of work; 0: a million (every visitor of these
	// tests comes from 127.0.0.1, a crowd behind one address).
	addressPlaces int
	// env adds WAITROOM_ settings of the gateway (KEY=value).
	env []string
}

// eligibleDigit is the birth-date last digit of the open window.
const eligibleDigit = 7

// startRoom starts the demo backend, the identity provider when asked, and
// a gateway configured by etc/dev.yaml, as `make run` does, with the test's
// addresses, rate and pause.
func startRoom(t *testing.T, o roomOptions) *room {
	t.Helper()
	env := []string{"WAITROOM_ADMIN_TOKEN=" + adminToken, "WAITROOM_LOG_LEVEL=warn",
		"WAITROOM_ABUSE_ADDRESS_PLACES_BURST=" + strconv.Itoa(cmp.Or(o.addressPlaces, 1_000_000))}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WAITROOM_") { // the caller's settings must not leak in
			env = append(env, kv)
		}
	}
	backend := start(t, 1, env, "demo-backend", "--listen", "127.0.0.1:0")[0]
	dev, err := os.ReadFile("../etc/dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	listen := "127.0.0.1:0"
	if o.identity {
		const devIdP = "http://127.0.0.1:8082/" // where etc/dev.yaml expects `make run`'s provider
		if !bytes.Contains(dev, []byte(devIdP)) {
			t.Fatalf("etc/dev.yaml names no issuer under %s: update startRoom", devIdP)
		}
		schedule := writeSchedule(t)
		idp := start(t, 1, env, "dev-idp", "--listen", "127.0.0.1:0", "--latency", "0s", "--schedule", schedule)[0]
		dev = bytes.ReplaceAll(dev, []byte(devIdP), []byte("http://"+idp+"/"))
		env = append(env, "WAITROOM_IDENTITY_SCHEDULE="+schedule)
		// Callbacks go to http://<listen>/..., so the port must be known
		// before the gateway starts.
		listen = freeAddr(t)
	} else {
		env = append(env, "WAITROOM_IDENTITY_ENABLED=false")
	}
	env = append(env, o.env...)
	config := filepath.Join(t.TempDir(), "waitroom.yaml")
	if err := os.WriteFile(config, dev, 0o600); err != nil {
		t.Fatal(err)
	}
	addrs := start(t, 2, env, "serve", "--config", config, "--listen", listen, "--admin-listen", "127.0.0.1:0",
		"--backend", "http://"+backend, "--rate-per-hour", strconv.FormatInt(o.ratePerHour, 10), "--paused="+strconv.FormatBool(o.paused))
	return &room{t: t, public: "http://" + addrs[0], admin: "http://" + addrs[1]}
}

// writeSchedule writes a schedule with one window, open from an hour ago
// for two hours, for birth dates ending in eligibleDigit.
func writeSchedule(t *testing.T) string {
	t.Helper()
	seoul := time.FixedZone("KST", 9*3600) // Korea has no daylight saving
	now := time.Now().In(seoul)
	yaml := fmt.Sprintf("timezone: Asia/Seoul\nwindows:\n  - {id: now, opens: %q, closes: %q, digits: [%d]}\n",
		now.Add(-time.Hour).Format("2006-01-02 15:04"), now.Add(2*time.Hour).Format("2006-01-02 15:04"), eligibleDigit)
	path := filepath.Join(t.TempDir(), "schedule.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// client talks to the gateways from the test, without following redirects.
var client = &http.Client{
	Timeout:       5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// call sends one request and returns the status and body.
func (r *room) call(method, url, body string) (int, []byte) {
	r.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if strings.HasPrefix(url, r.admin) {
		req.Header.Set("Authorization", "Bearer "+adminToken)
	}
	resp, err := client.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp.StatusCode, b
}

// roomState is the part of GET /admin/api/state the tests read.
type roomState struct {
	RatePerHour int64 `json:"rate_per_hour"`
	Paused      bool  `json:"paused"`
	Issued      int64 `json:"issued"`
	Admitted    int64 `json:"admitted"`
	// Skipped counts the places release passed over as gone.
	Skipped int64 `json:"skipped"`
}

// operate calls the operator API and returns the room's state after it
// (every call but the light override answers with it).
func (r *room) operate(method, path, body string) roomState {
	r.t.Helper()
	status, b := r.call(method, r.admin+path, body)
	if status != http.StatusOK {
		r.t.Fatalf("%s %s: %d %s", method, path, status, b)
	}
	var st roomState
	_ = json.Unmarshal(b, &st) // the light override answers with the lights
	return st
}

// state reads the room's state from the operator API.
func (r *room) state() roomState { r.t.Helper(); return r.operate("GET", "/admin/api/state", "") }

// fill joins n anonymous people, each a new visitor without cookies.
func (r *room) fill(n int) {
	r.t.Helper()
	for range n {
		if status, b := r.call("POST", r.public+"/waitroom/api/join", ""); status != http.StatusOK {
			r.t.Fatalf("join: %d %s", status, b)
		}
	}
}

// shot writes the page to docs/screenshots/name when WAITROOM_SCREENSHOTS=1
// (`make screenshots`), so ordinary runs leave the committed files alone.
func shot(b *browsertest.Browser, name string) {
	if os.Getenv("WAITROOM_SCREENSHOTS") == "1" {
		b.Screenshot(filepath.Join("..", "docs", "screenshots", name))
	}
}
