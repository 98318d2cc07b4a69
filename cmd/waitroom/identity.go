package main

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/config"
	"github.com/waitroom/waitroom/eligibility"
	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/identity"
	"github.com/waitroom/waitroom/identity/devidp"
)

// identity builds identity-first joining from the configuration.
// The verifier runs on the gateway's clock, simulated or not, so that
// verification times and ID-token lifetimes are read on one clock; a
// simulated gateway needs a provider on the same clock (dev-idp
// --time-scale and --origin).
func (m *Main) identity(cfg config.Config, clock admission.Clock, log *slog.Logger) (*gateway.Identity, *eligibility.Schedule, error) {
	people, ok1 := m.Store.(admission.People)
	stats, ok2 := m.Store.(admission.Verifications)
	if !ok1 || !ok2 {
		return nil, nil, fmt.Errorf("the admission store does not support identity-first joining")
	}
	secret := cfg.IdentitySecret()
	if secret == nil {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
		log.Warn("NO IDENTITY SECRET CONFIGURED: generated a throwaway development secret. Identity hashes differ per process and gateway; set identity.secret before production.")
	}
	var methods []identity.MethodConfig
	for _, mc := range cfg.Identity.Methods {
		methods = append(methods, identity.MethodConfig{
			Name: mc.Name, Label: mc.Label, Issuer: mc.Issuer, ClientID: mc.ClientID, ClientSecret: mc.ClientSecret,
			RedirectURL: cfg.CallbackURL(mc.Name), Capacity: mc.Capacity, Enabled: mc.Enabled,
		})
	}
	v, err := identity.New(methods, identity.Options{Secret: secret, Now: clock.Now})
	if err != nil {
		return nil, nil, err
	}
	var sched *eligibility.Schedule
	if path := cfg.Identity.Schedule; path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("identity.schedule: %w", err)
		}
		if sched, err = eligibility.Parse(b); err != nil {
			return nil, nil, fmt.Errorf("identity.schedule %s: %w", path, err)
		}
	}
	return &gateway.Identity{Verifier: v, People: people, Stats: stats, Schedule: sched,
		Block: cfg.Identity.Block, TargetLatency: cfg.Identity.TargetLatency}, sched, nil
}

// devIdentityProvider runs the development OpenID Connect provider serving
// every verification method, with a latency and capacity per method.
func (m *Main) devIdentityProvider(args []string) error {
	fs := pflag.NewFlagSet("dev-idp", pflag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	addr := fs.String("listen", "127.0.0.1:8082", "address to listen on")
	names := fs.StringSlice("methods", []string{"phone", "ipin", "certificate", "kakao", "naver", "pass"}, "methods to serve")
	latency := fs.Duration("latency", 300*time.Millisecond, "time each login takes")
	capacity := fs.Int("capacity", 200, "concurrent logins per method; more get 503")
	clientSecret := fs.String("client-secret", config.DevClientSecret, "secret of the client \"waitroom\"")
	var sim config.Simulation
	fs.Int64Var(&sim.TimeScale, "time-scale", 1, "simulated seconds per real second, as the gateways' simulation.time_scale (load simulations only)")
	fs.StringVar(&sim.Origin, "origin", "", "the gateways' simulation.origin (RFC 3339)")
	if err := fs.Parse(args); err != nil {
		m.OneShot = true
		return err
	}
	if sim.TimeScale < 1 || sim.TimeScale > 50 {
		m.OneShot = true
		return fmt.Errorf("--time-scale must be 1..50, got %d", sim.TimeScale)
	}
	if _, err := time.Parse(time.RFC3339Nano, sim.Origin); sim.Origin != "" && err != nil {
		m.OneShot = true
		return fmt.Errorf("--origin must be an RFC 3339 time: %w", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *addr, err)
	}
	var ms []devidp.MethodSettings
	for _, n := range *names {
		ms = append(ms, devidp.MethodSettings{Name: strings.TrimSpace(n), Latency: *latency, Capacity: *capacity})
	}
	m.PublicAddr = ln.Addr().String()
	p, err := devidp.New(devidp.Options{BaseURL: "http://" + m.PublicAddr, Methods: ms, Clients: map[string]string{"waitroom": *clientSecret},
		Now: sim.Clock(time.Now()).Now})
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	m.goRun(func() { _ = srv.Serve(ln) })
	m.closers = append(m.closers, srv.Close)
	fmt.Fprintf(m.Stdout, "development identity provider: http://%s/<method>/ for %s\n", m.PublicAddr, strings.Join(*names, ", "))
	return nil
}

// schedule prints a 10-day rotation like August 2021's, starting from a
// given day, so a development run has a window open today.
func (m *Main) schedule(args []string) error {
	m.OneShot = true
	fs := pflag.NewFlagSet("schedule", pflag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	from := fs.String("from", "", "first window's date, YYYY-MM-DD (default: yesterday in Asia/Seoul)")
	opens := fs.String("opens", "20:00", "daily opening time")
	closes := fs.String("closes", "18:00", "closing time the next day")
	if err := fs.Parse(args); err != nil {
		return err
	}
	loc, err := time.LoadLocation(eligibility.DefaultTimezone)
	if err != nil {
		return err
	}
	day := time.Now().In(loc).AddDate(0, 0, -1)
	if *from != "" {
		if day, err = time.ParseInLocation("2006-01-02", *from, loc); err != nil {
			return fmt.Errorf("--from: %w", err)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# A 10-day rotation by birth-date last digit (made by `waitroom schedule`).\ntimezone: %s\nwindows:\n", eligibility.DefaultTimezone)
	for i := range 10 {
		d := day.AddDate(0, 0, i)
		fmt.Fprintf(&b, "  - {id: %s-digit%d, opens: \"%s %s\", closes: \"%s %s\", digits: [%d]}\n",
			d.Format("0102"), d.Day()%10, d.Format("2006-01-02"), *opens, d.AddDate(0, 0, 1).Format("2006-01-02"), *closes, d.Day()%10)
	}
	_, err = fmt.Fprint(m.Stdout, b.String())
	return err
}
