package redistest_test

import (
	"strings"
	"testing"

	"github.com/waitroom/waitroom/internal/redistest"
)

func TestServer_Restart(t *testing.T) {
	s := redistest.Start(t, "--maxmemory", "16mb")
	if _, err := redistest.Do(s.Addr(), "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if info, err := redistest.Do(s.Addr(), "INFO", "memory"); err != nil || !strings.Contains(info, "maxmemory:16777216") {
		t.Fatalf("extra arguments not applied: INFO memory = %q, %v", info, err)
	}
	if got, err := redistest.Do(s.Addr(), "GET", "k"); err != nil || got != "v" {
		t.Fatalf("GET k = %q, %v", got, err)
	}

	addr := s.Addr()
	s.Stop()
	if _, err := redistest.Do(addr, "PING"); err == nil {
		t.Fatal("server answers after Stop")
	}
	s.Stop() // stopping twice is harmless

	s.Restart(t)
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", s.Addr(), addr)
	}
	if got, err := redistest.Do(addr, "DBSIZE"); err != nil || got != "0" {
		t.Fatalf("DBSIZE after restart = %q, %v, want an empty server", got, err)
	}
}

func TestStartCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	if got := len(c.Addrs()); got != 3 {
		t.Fatalf("%d addresses, want 3", got)
	}
	for _, addr := range c.Addrs() {
		info, err := redistest.Do(addr, "CLUSTER", "INFO")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"cluster_state:ok", "cluster_known_nodes:3", "cluster_size:3"} {
			if !strings.Contains(info, want) {
				t.Errorf("node %s: CLUSTER INFO lacks %q:\n%s", addr, want, info)
			}
		}
	}
}
