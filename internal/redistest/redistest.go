// Package redistest starts real redis-server processes for tests: a
// standalone server or a Cluster, each on free ports in its own temporary
// directory, without persistence, killed when the test ends.
//
// It never skips: a machine without redis-server fails the test with a hint
// on how to install it, so a missing dependency cannot pass unnoticed.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// startTimeout bounds how long a server may take to answer PING, and a
	// cluster to report cluster_state:ok on every node.
	startTimeout = 10 * time.Second
	// bindAttempts is how often a start is retried with fresh ports when the
	// server exits early, which happens when another process took a port
	// between our probe and the server's bind.
	bindAttempts = 5
	logTailLines = 20
)

// Server is a redis-server process started for one test on a free port,
// stopped by tb.Cleanup.
type Server struct {
	bin  string
	dir  string
	port int
	args []string // everything after --port, kept for Restart

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// Start starts a standalone redis-server on a free 127.0.0.1 port with
// `--save "" --appendonly no` in its own temporary directory, appends args
// (e.g. "--maxmemory", "1mb"), and returns once it answers PING.
func Start(tb testing.TB, args ...string) *Server {
	tb.Helper()
	return start(tb, func() ([]string, error) { return args, nil })
}

// start launches a server, retrying with fresh ports if it exits before
// answering. extra returns the arguments for one attempt; it may pick ports.
func start(tb testing.TB, extra func() ([]string, error)) *Server {
	tb.Helper()
	bin := lookPath(tb, "redis-server")
	dir := tb.TempDir() // before Cleanup(Stop): cleanups run last-in first-out
	s := &Server{bin: bin, dir: dir}
	tb.Cleanup(s.Stop)
	var err error
	for range bindAttempts {
		var args []string
		if s.port, err = FreePort(); err != nil {
			break
		}
		if args, err = extra(); err != nil {
			break
		}
		s.args = append([]string{
			"--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--logfile", s.logPath(),
		}, args...)
		if err = s.launch(); err == nil {
			return s
		}
	}
	tb.Fatalf("redistest: start redis-server: %v\n%s", err, s.logTail())
	return nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Stop kills the server with SIGKILL, as a crash would, and waits for it to
// exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	// The negative pid names the process group the server leads (Setpgid),
	// so anything it forked dies with it.
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// Restart stops the server if it runs and starts it again on the same port
// with the same arguments. Without persistence it comes back empty, like a
// Redis that crashed and lost its data.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Stop()
	if err := s.launch(); err != nil {
		tb.Fatalf("redistest: restart redis-server on %s: %v\n%s", s.Addr(), err, s.logTail())
	}
}

// launch runs the server and waits until it answers PING, or kills it.
func (s *Server) launch() error {
	cmd := exec.Command(s.bin, append([]string{"--port", strconv.Itoa(s.port)}, s.args...)...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = sysProcAttr()
	// redis-server writes to --logfile; anything before it opens the file
	// (bad arguments) goes to stderr, which we keep for the failure message.
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	deadline := time.Now().Add(startTimeout)
	for {
		reply, err := Do(s.Addr(), "PING")
		if err == nil && reply == "PONG" {
			return nil
		}
		select {
		case <-exited:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("exited early (%v) %s", cmd.ProcessState, strings.TrimSpace(stderr.String()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("no PONG within %v: last reply %q, error %v", startTimeout, reply, err)
		}
	}
}

func (s *Server) logPath() string { return filepath.Join(s.dir, "redis.log") }

// logTail returns the last lines of the server's log for failure messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return "(no redis log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return "redis log tail:\n" + strings.Join(lines, "\n")
}

// Cluster is a Redis Cluster of masters only, started for one test.
type Cluster struct {
	servers []*Server
}

// StartCluster starts masters redis-server processes with cluster mode on
// free ports, joins them with `redis-cli --cluster create` (no replicas;
// Redis needs at least 3 masters) and returns once every node reports
// cluster_state:ok.
func StartCluster(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	cli := lookPath(tb, "redis-cli")
	c := &Cluster{}
	for range masters {
		c.servers = append(c.servers, start(tb, func() ([]string, error) {
			// The bus port defaults to port+10000, which may be taken or
			// beyond 65535 for a high ephemeral port: pick it too.
			bus, err := FreePort()
			return []string{
				"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-port", strconv.Itoa(bus),
			}, err
		}))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	out, err := exec.Command(cli, append(args, "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(startTimeout)
	for _, s := range c.servers {
		for {
			info, err := Do(s.Addr(), "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("redistest: cluster node %s not ok within %v: %v %s\n%s", s.Addr(), startTimeout, err, info, s.logTail())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// Addrs are the masters' host:port addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.servers))
	for i, s := range c.servers {
		addrs[i] = s.Addr()
	}
	return addrs
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. The
// port is released before returning, so a caller that binds it may race
// another process: retry on failure.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Do sends one command to addr on a fresh connection and returns the reply
// of a simple, bulk or integer type as a string; an error reply is an error.
// It is enough to probe a server without the client under test.
func Do(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	var req strings.Builder
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, req.String()); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("bad bulk reply %q", line)
		}
		b := make([]byte, n+2) // payload and its CRLF
		if _, err := io.ReadFull(r, b); err != nil {
			return "", err
		}
		return string(b[:n]), nil
	}
	return "", fmt.Errorf("unsupported reply %q", line)
}

func lookPath(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		tb.Fatalf("%s not found: run `make test` (installs it) or `apt-get install redis-server`", name)
	}
	return p
}
