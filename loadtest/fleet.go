package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/waitroom/waitroom/internal/redistest"
)

// rig is the fleet under test: the gateways' public addresses, one
// operator API, and, for a spawned fleet, the processes to stop.
type rig struct {
	gateways []string // host:port
	admin    string   // http://host:port
	token    string
	idp      string // host:port of the identity provider (identity first)
	store    string // "memory", "redis", "sentinel" or "targets"
	procs    []*proc
	tmp      string // configuration and keys of a spawned fleet
	redis    storeNodes
}

const (
	// startTimeout bounds each spawned process's start.
	startTimeout = 20 * time.Second
	// stopGrace is how long a process may take to stop before it is killed.
	stopGrace = 5 * time.Second
	// room is the room a spawned fleet serves.
	room = "loadtest"
	// clientID is the gateways' client at the development identity provider.
	clientID = "waitroom"
)

// close stops every process, newest first, and removes the keys.
func (r *rig) close() {
	for i := len(r.procs) - 1; i >= 0; i-- {
		r.procs[i].stop(stopGrace)
	}
	r.procs = nil
	r.redis.stop()
	if r.tmp != "" {
		os.RemoveAll(r.tmp)
	}
}

// healthy reports the first spawned process that ended.
func (r *rig) healthy() error {
	for _, p := range r.procs {
		if err := p.running(); err != nil {
			return err
		}
	}
	return r.redis.healthy()
}

// targetRig uses gateways that are already running. Unless allowRemote,
// every address must be on this machine.
func targetRig(t *Targets, allowRemote bool) (*rig, error) {
	r := &rig{store: "targets", admin: strings.TrimSuffix(t.Admin, "/")}
	all := append([]string{t.Admin}, t.Gateways...)
	for i, g := range all {
		u, _ := url.Parse(g) // checked by the scenario
		if !allowRemote && !loopback(u.Hostname()) {
			return nil, fmt.Errorf("%s is not on this machine: pass -allow-remote to load another host", g)
		}
		if i > 0 {
			r.gateways = append(r.gateways, u.Host)
		}
	}
	b, err := os.ReadFile(t.AdminTokenFile)
	if err != nil {
		return nil, fmt.Errorf("fleet.targets.admin_token_file: %w", err)
	}
	if r.token = strings.TrimSpace(string(b)); r.token == "" {
		return nil, fmt.Errorf("fleet.targets.admin_token_file %s is empty", t.AdminTokenFile)
	}
	return r, nil
}

// loopback reports whether host is a loopback address or localhost.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// spawnRig starts a fleet on 127.0.0.1: Redis (if the scenario asks), the
// demo backend, the development identity provider (identity first) and
// the gateways, sharing one set of ticket keys, one admin token and one
// simulated clock. Logs go to logDir. On error everything started is
// stopped.
func spawnRig(ctx context.Context, sc *Scenario, waitroom, logDir string) (r *rig, err error) {
	sp := sc.Fleet.Spawn
	r = &rig{store: sp.Store}
	defer func() {
		if err != nil {
			r.close()
			r = nil
		}
	}()
	if r.tmp, err = os.MkdirTemp("", "waitroom-loadtest-"); err != nil {
		return r, err
	}
	env := childEnv()
	cfg := map[string]any{
		"room":          room,
		"rate_per_hour": sc.SimRate(sc.RatePerHour),
		"paused":        false,
		"log":           map[string]any{"level": "info", "format": "json"},
		// The loadtest is the fleet's load balancer: it names each
		// person's and attacker's address in X-Forwarded-For.
		"trusted_proxies": []string{"127.0.0.1/32"},
		"queue":           map[string]any{"sleep_grace": sc.Sleep.Grace.D().String()},
	}
	// One simulated clock for the whole fleet, the identity provider too
	// (it signs ID tokens the gateways check against their clock).
	origin := time.Now().UTC().Format(time.RFC3339Nano)
	var simArgs []string
	if sc.TimeScale != 1 {
		cfg["environment"] = "test"
		cfg["simulation"] = map[string]any{"time_scale": int64(sc.TimeScale), "origin": origin}
		simArgs = []string{"--time-scale", strconv.FormatInt(int64(sc.TimeScale), 10), "--origin", origin}
	}

	switch sp.Store {
	case "redis":
		addr, err := r.redis.startRedis(r.tmp, logDir)
		if err != nil {
			return r, err
		}
		cfg["redis"] = map[string]any{"addrs": []string{addr}}
	case "sentinel":
		addrs, err := r.redis.startSentinel(r.tmp, logDir)
		if err != nil {
			return r, err
		}
		cfg["redis"] = map[string]any{"addrs": addrs, "master_name": sentinelMaster}
	}

	keys, err := exec.CommandContext(ctx, waitroom, "keygen").Output()
	if err != nil {
		return r, fmt.Errorf("%s keygen: %w", waitroom, err)
	}
	var keyCfg map[string]any
	if err := yaml.Unmarshal(keys, &keyCfg); err != nil {
		return r, fmt.Errorf("%s keygen printed no YAML: %w", waitroom, err)
	}
	mergeConfig(cfg, keyCfg)

	r.token = randomToken()
	tokenFile := filepath.Join(r.tmp, "admin-token")
	if err := os.WriteFile(tokenFile, []byte(r.token+"\n"), 0o600); err != nil {
		return r, err
	}
	cfg["admin_token_file"] = tokenFile

	backend, err := r.start("demo-backend", logDir, env, waitroom, "demo-backend", "--listen", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	cfg["backend"] = "http://" + backend

	if sc.Identity.Enabled {
		secret := randomToken()
		args := append([]string{"dev-idp", "--listen", "127.0.0.1:0",
			"--methods", strings.Join(sc.Identity.Methods, ","),
			"--latency", sc.Real(sc.Identity.ProviderLatency.D()).String(),
			"--capacity", strconv.Itoa(sc.Identity.ProviderCapacity),
			"--client-secret", secret}, simArgs...)
		idp, err := r.start("dev-idp", logDir, env, waitroom, args...)
		if err != nil {
			return r, err
		}
		r.idp = idp
		var methods []any
		for _, m := range sc.Identity.Methods {
			methods = append(methods, map[string]any{"name": m, "label": m, "issuer": "http://" + idp + "/" + m,
				"client_id": clientID, "client_secret": secret, "capacity": sc.Identity.ProviderCapacity, "enabled": true})
		}
		secretBytes := make([]byte, 32)
		_, _ = rand.Read(secretBytes)
		cfg["identity"] = map[string]any{"enabled": true, "secret": base64.StdEncoding.EncodeToString(secretBytes), "methods": methods}
	}
	mergeConfig(cfg, sp.Config)

	cfgFile := filepath.Join(r.tmp, "gateway.yaml")
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return r, err
	}
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		return r, err
	}
	for i := range sp.Gateways {
		if err := r.startGateway(i+1, logDir, env, waitroom, cfgFile); err != nil {
			return r, err
		}
	}
	for _, g := range r.gateways {
		if err := waitReady(ctx, "http://"+g+"/readyz", startTimeout); err != nil {
			return r, err
		}
	}
	return r, nil
}

// startGateway starts gateway i on free ports, retrying with others if it
// lost a race for a port. Identity first needs the public address in the
// configuration (callbacks), so the ports are chosen here, not by the
// gateway.
func (r *rig) startGateway(i int, logDir string, env []string, waitroom, cfgFile string) error {
	var err error
	for range 3 {
		var pub, adm int
		if pub, err = redistest.FreePort(); err != nil {
			return err
		}
		if adm, err = redistest.FreePort(); err != nil {
			return err
		}
		public := net.JoinHostPort("127.0.0.1", strconv.Itoa(pub))
		admin := net.JoinHostPort("127.0.0.1", strconv.Itoa(adm))
		name := fmt.Sprintf("gateway-%d", i)
		var p *proc
		p, err = startProc(name, filepath.Join(logDir, name+".log"), append(env, "WAITROOM_IDENTITY_PUBLIC_URL=http://"+public),
			waitroom, "serve", "--config", cfgFile, "--listen", public, "--admin-listen", admin)
		if err != nil {
			return err
		}
		r.procs = append(r.procs, p)
		if _, err = p.addr(startTimeout); err == nil {
			r.gateways = append(r.gateways, public)
			if r.admin == "" {
				r.admin = "http://" + admin
			}
			return nil
		}
		r.procs = r.procs[:len(r.procs)-1]
		p.stop(stopGrace)
	}
	return err
}

// start runs one waitroom command that prints its address and returns it.
func (r *rig) start(name, logDir string, env []string, bin string, args ...string) (string, error) {
	p, err := startProc(name, filepath.Join(logDir, name+".log"), env, bin, args...)
	if err != nil {
		return "", err
	}
	r.procs = append(r.procs, p)
	return p.addr(startTimeout)
}

// waitReady polls url until it answers 200.
func waitReady(ctx context.Context, u string, timeout time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := c.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %v: %w", u, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// childEnv is this process's environment without WAITROOM_ settings, which
// would override the generated configuration.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WAITROOM_") {
			env = append(env, kv)
		}
	}
	return env
}

// mergeConfig merges src into dst: maps recursively, anything else replaced.
func mergeConfig(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeConfig(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// randomToken is 24 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
