package main

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
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
	for i, mc := range cfg.Identity.Methods {
		methods = append(methods, identity.MethodConfig{
			Name: mc.Name, Label: mc.Label, LabelEn: mc.LabelEn, Issuer: mc.Issuer, ClientID: mc.ClientID, ClientSecret: mc.ClientSecret,
			RedirectURL: cfg.CallbackURL(mc.Name), PersonClaim: mc.PersonClaim, Capacity: mc.Capacity, Enabled: mc.Enabled,
		})
		if mc.PersonClaim == "sub" {
			log.Warn(fmt.Sprintf("IDENTITY METHOD %q IS KEYED BY sub (identity.methods[%d].person_claim): a provider's subject does not span providers, so a person who verifies with this method and another one gets two places. Key it by the provider's CI (ci) unless it is the only method; see docs/IDENTITY.md.", mc.Name, i))
		}
	}
	v, err := identity.New(methods, identity.Options{Secret: secret, Now: clock.Now})
	if err != nil {
		return nil, nil, err
	}
	sched, err := loadSchedule(cfg.Identity.Schedule)
	if err != nil {
		return nil, nil, fmt.Errorf("identity.schedule: %w", err)
	}
	return &gateway.Identity{Verifier: v, People: people, Stats: stats, Schedule: sched,
		Block: cfg.Identity.Block, TargetLatency: cfg.Identity.TargetLatency}, sched, nil
}

// loadSchedule reads the eligibility schedule at path; "" is none (nil).
func loadSchedule(path string) (*eligibility.Schedule, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := eligibility.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ciKeyEnv names the environment variable holding the development
// provider's CI key (a secret: no flag).
const ciKeyEnv = "WAITROOM_DEV_IDP_CI_KEY"

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
	withoutCI := fs.StringSlice("without-ci", nil, "methods whose ID tokens carry no ci claim, like a login without identity verification")
	schedulePath := fs.String("schedule", "", "the gateways' eligibility schedule: the login form fills in a birth date whose window is open")
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
	for _, list := range []*[]string{names, withoutCI} {
		for i, n := range *list {
			(*list)[i] = strings.TrimSpace(n)
		}
	}
	for _, n := range *withoutCI {
		if !slices.Contains(*names, n) {
			m.OneShot = true
			return fmt.Errorf("--without-ci %q: not among --methods", n)
		}
	}
	var ciKey []byte // nil: random, this process's own
	if k := os.Getenv(ciKeyEnv); k != "" {
		if len(k) < 16 {
			m.OneShot = true
			return fmt.Errorf("%s must be at least 16 characters", ciKeyEnv)
		}
		ciKey = []byte(k)
	}
	sched, err := loadSchedule(*schedulePath)
	if err != nil {
		m.OneShot = true
		return fmt.Errorf("--schedule: %w", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *addr, err)
	}
	var ms []devidp.MethodSettings
	for _, n := range *names {
		ms = append(ms, devidp.MethodSettings{Name: n, Latency: *latency, Capacity: *capacity, WithoutCI: slices.Contains(*withoutCI, n)})
	}
	m.PublicAddr = ln.Addr().String()
	p, err := devidp.New(devidp.Options{BaseURL: "http://" + m.PublicAddr, Methods: ms, Clients: map[string]string{"waitroom": *clientSecret},
		CIKey: ciKey, Schedule: sched, Now: sim.Clock(time.Now()).Now, Logger: devLogger(m.Stderr, "dev-idp")})
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	m.goRun(func() { _ = srv.Serve(ln) })
	m.closers = append(m.closers, srv.Close)
	fmt.Fprintf(m.Stdout, "development identity provider: http://%s/<method>/ for %s\n", m.PublicAddr, strings.Join(*names, ", "))
	if ciKey == nil {
		fmt.Fprintf(m.Stdout, "  ci claims keyed by a random key of this process (set %s to share one with other providers)\n", ciKeyEnv)
	}
	return nil
}

// schedule prints a 10-day rotation like August 2021's (eligibility.Rotation)
// as a schedule file, and says on stderr which window is open now.
func (m *Main) schedule(args []string) error {
	m.OneShot = true
	fs := pflag.NewFlagSet("schedule", pflag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	from := fs.String("from", "", "first window's date, YYYY-MM-DD (default: yesterday in "+eligibility.DefaultTimezone+")")
	var o eligibility.RotationOptions
	fs.StringVar(&o.Opens, "opens", "20:00", "daily opening time")
	fs.StringVar(&o.Closes, "closes", "20:00", "closing time the next day (2021's was 18:00, leaving two hours a day with no window open)")
	fs.IntVar(&o.MinAge, "min-age", 18, "youngest age admitted, on 31 December of the first window's year")
	fs.IntVar(&o.MaxAge, "max-age", 49, "oldest age admitted, likewise")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from != "" {
		loc, err := time.LoadLocation(eligibility.DefaultTimezone)
		if err != nil {
			return err
		}
		if o.From, err = time.ParseInLocation(time.DateOnly, *from, loc); err != nil {
			return fmt.Errorf("--from: %w", err)
		}
	}
	f, err := eligibility.Rotation(o)
	if err != nil {
		return err
	}
	body, err := f.YAML()
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "# A 10-day rotation by birth-date last digit, ages %d-%d (made by `waitroom schedule`).\n%s", o.MinAge, o.MaxAge, body)
	sched, _ := eligibility.New(f) // Rotation checked it
	if w, ok := sched.Current(time.Now()); ok {
		fmt.Fprintf(m.Stderr, "window open now: %s, birth dates ending in %v, aged %d-%d, until %s\n",
			w.ID, w.Rule.Digits, o.MinAge, o.MaxAge, w.Closes.Format("2006-01-02 15:04 MST"))
	} else {
		fmt.Fprintln(m.Stderr, "no window of this rotation is open now")
	}
	return nil
}
