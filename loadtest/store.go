package loadtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/waitroom/waitroom/internal/redistest"
)

// sentinelMaster is the master set of a sentinel store.
const sentinelMaster = "waitroom"

// storeNode is one Redis process of a spawned store: a server or a
// Sentinel, started with args on port.
type storeNode struct {
	name string
	port int
	args []string
	log  string
	p    *proc
	down bool // killed on purpose: not a failure of the run
}

func (n *storeNode) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port)) }

// storeNodes are a spawned store's processes; the first is the master.
// Store faults act on them while the monitor checks them, hence the lock.
type storeNodes struct {
	mu    sync.Mutex
	nodes []*storeNode
}

// startRedis runs a redis-server without persistence on a free port and
// returns its address.
func (s *storeNodes) startRedis(dir, logDir string) (string, error) {
	n, err := s.start("redis", dir, logDir, nil)
	if err != nil {
		return "", err
	}
	return n.addr(), nil
}

// startSentinel runs a master, its replica and three Sentinels that fail
// over a second after the master stops answering, and returns the
// Sentinels' addresses once they see the replica.
func (s *storeNodes) startSentinel(dir, logDir string) ([]string, error) {
	master, err := s.start("redis-master", dir, logDir, nil)
	if err != nil {
		return nil, err
	}
	replica, err := s.start("redis-replica", dir, logDir, func(int) []string { return []string{"--replicaof", "127.0.0.1", strconv.Itoa(master.port)} })
	if err != nil {
		return nil, err
	}
	var addrs []string
	for i := range 3 {
		name := fmt.Sprintf("sentinel-%d", i+1)
		n, err := s.start(name, dir, logDir, func(port int) []string {
			conf := filepath.Join(dir, name+".conf")
			// A Sentinel rewrites its configuration file, so each has its own.
			body := fmt.Sprintf("port %d\nbind 127.0.0.1\nsentinel monitor %s 127.0.0.1 %d 2\nsentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 10000\n",
				port, sentinelMaster, master.port, sentinelMaster, sentinelMaster)
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				return nil
			}
			return []string{conf, "--sentinel"}
		})
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, n.addr())
	}
	want := fmt.Sprintf("status=ok,address=%s,slaves=1,sentinels=3", master.addr())
	deadline := time.Now().Add(startTimeout)
	for _, a := range addrs {
		for {
			info, err := redistest.Do(a, "INFO", "sentinel")
			if err == nil && strings.Contains(info, want) {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("sentinel %s does not see %s with its replica %s: %q %v", a, master.addr(), replica.addr(), info, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return addrs, nil
}

// start runs one redis-server (a Sentinel when args say so) on a free
// port, retrying with another if it lost a race for it.
func (s *storeNodes) start(name, dir, logDir string, args func(port int) []string) (*storeNode, error) {
	var lastErr error
	for range 3 {
		port, err := redistest.FreePort()
		if err != nil {
			return nil, err
		}
		var extra []string
		if args != nil {
			if extra = args(port); extra == nil {
				return nil, fmt.Errorf("%s: cannot write its configuration in %s", name, dir)
			}
		}
		n := &storeNode{name: name, port: port, log: filepath.Join(logDir, name+".log"),
			args: append(extra, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)}
		if lastErr = n.launch(); lastErr == nil {
			s.mu.Lock()
			s.nodes = append(s.nodes, n)
			s.mu.Unlock()
			return n, nil
		}
	}
	return nil, lastErr
}

// launch starts n's process and waits for it to answer PING.
func (n *storeNode) launch() error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return fmt.Errorf("the store needs redis-server (apt-get install redis-server): %w", err)
	}
	p, err := startProc(n.name, n.log, childEnv(), bin, n.args...)
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(startTimeout); time.Now().Before(deadline) && p.running() == nil; time.Sleep(20 * time.Millisecond) {
		if reply, err := redistest.Do(n.addr(), "PING"); err == nil && reply == "PONG" {
			n.p = p
			return nil
		}
	}
	p.stop(stopGrace)
	return fmt.Errorf("%s did not answer PING: see %s", n.name, n.log)
}

// signal sends sig to every running store process.
func (s *storeNodes) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.nodes {
		if !n.down {
			_ = syscall.Kill(-n.p.cmd.Process.Pid, sig)
		}
	}
}

// kill kills the master (SIGKILL). It stays down.
func (s *storeNodes) kill() *storeNode {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.nodes[0]
	m.down = true
	_ = syscall.Kill(-m.p.cmd.Process.Pid, syscall.SIGKILL)
	<-m.p.exited
	m.p.logf.Close()
	return m
}

// restartEmpty kills the master and starts it again on its port without
// data, as a Redis without persistence comes back after a crash.
func (s *storeNodes) restartEmpty() error {
	m := s.kill()
	m.log = strings.TrimSuffix(m.log, ".log") + "-restarted.log"
	var err error
	for deadline := time.Now().Add(startTimeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		// The port may linger for a moment after the kill.
		if err = m.launch(); err == nil {
			s.mu.Lock()
			m.down = false
			s.mu.Unlock()
			return nil
		}
	}
	return err
}

// healthy reports the first store process that ended by itself.
func (s *storeNodes) healthy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.nodes {
		if !n.down {
			if err := n.p.running(); err != nil {
				return err
			}
		}
	}
	return nil
}

// stop thaws and stops every store process.
func (s *storeNodes) stop() {
	s.signal(syscall.SIGCONT)
	s.mu.Lock()
	nodes := s.nodes
	s.nodes = nil
	s.mu.Unlock()
	for i := len(nodes) - 1; i >= 0; i-- {
		if !nodes[i].down {
			nodes[i].p.stop(stopGrace)
		}
	}
}
