package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/admissionverify"
	"github.com/waitroom/waitroom/config"
	"github.com/waitroom/waitroom/demo"
	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/ticket"
)

// Main is the program: main() and the end-to-end tests drive the same Run.
type Main struct {
	Stdout, Stderr io.Writer
	// OneShot is set by Run for commands that finish by themselves.
	OneShot bool
	// PublicAddr and AdminAddr are the listeners' addresses once Run returns
	// (useful with port 0).
	PublicAddr, AdminAddr string

	// Gateway pieces, set by serve; tests reach into them.
	Store   admission.Store
	Gateway *gateway.Gateway
	Admin   *gateway.Admin

	closers []func() error
	wg      sync.WaitGroup
	cancel  context.CancelFunc
}

// NewMain returns a Main writing to the process's stdout and stderr.
func NewMain() *Main { return &Main{Stdout: os.Stdout, Stderr: os.Stderr} }

const usage = `usage: waitroom <command> [flags]

commands:
  serve          run the gateway and the operator API (--check-config validates and exits)
  demo-backend   run the demo booking backend
  dev-idp        run the development identity provider (every verification method)
  schedule       print a 10-day eligibility rotation starting yesterday (for development)
  keygen         print fresh ticket keys as YAML for the config file
`

// Run starts the command named by args[0]. Servers run in the background
// until ctx ends or Close is called; Run returns once they listen.
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		m.OneShot = true
		fmt.Fprint(m.Stderr, usage)
		return errors.New("no command given")
	}
	ctx, m.cancel = context.WithCancel(ctx)
	switch args[0] {
	case "serve":
		return m.serve(ctx, args[1:])
	case "demo-backend":
		return m.demoBackend(args[1:])
	case "dev-idp":
		return m.devIdentityProvider(args[1:])
	case "schedule":
		return m.schedule(args[1:])
	case "keygen":
		m.OneShot = true
		return m.keygen()
	case "-h", "--help", "help":
		m.OneShot = true
		fmt.Fprint(m.Stdout, usage)
		return nil
	}
	m.OneShot = true
	fmt.Fprint(m.Stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// Close stops everything Run started, newest first.
func (m *Main) Close() error {
	if m.cancel != nil {
		m.cancel()
	}
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		errs = append(errs, m.closers[i]())
	}
	m.closers = nil
	m.wg.Wait()
	return errors.Join(errs...)
}

func (m *Main) serve(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	config.RegisterFlags(fs)
	check := fs.Bool("check-config", false, "validate the configuration, report every problem and exit")
	if err := fs.Parse(args); err != nil {
		m.OneShot = true
		return err
	}
	cfg, err := config.Load(fs)
	if err != nil {
		m.OneShot = true
		return fmt.Errorf("configuration:\n%w", err)
	}
	if *check {
		m.OneShot = true
		fmt.Fprintln(m.Stdout, "configuration OK")
		return nil
	}
	log := newLogger(m.Stderr, cfg.Log)

	queue, adm, err := m.keys(cfg, log)
	if err != nil {
		return err
	}
	clock := cfg.Simulation.Clock(time.Now())
	if clock.Simulated() {
		log.Warn("SIMULATED CLOCK: time runs faster than real time; for tests and load simulations only",
			"time_scale", clock.Scale, "origin", clock.Origin)
	}
	if m.Store, err = openStore(cfg.Redis, clock, cfg.Queue.Release(clock), log); err != nil {
		return err
	}
	m.closers = append(m.closers, m.Store.Close)
	rs := &rooms{store: m.Store, cfg: cfg, keys: queue, log: log, now: clock.Now}
	var ident *gateway.Identity
	if cfg.Identity.Enabled {
		if ident, rs.schedule, err = m.identity(cfg, clock, log); err != nil {
			return err
		}
	}
	room, stopRoom, err := rs.open(ctx, clock.Now())
	if err != nil {
		return err
	}
	ak, err := ticket.NewAdmissionKeys(adm, ticket.AdmissionOptions{Issuer: cfg.Ticket.Issuer, Audience: cfg.Ticket.Audience, TTL: cfg.SessionDuration})
	if err != nil {
		return err
	}
	backend, err := url.Parse(cfg.Backend)
	if err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	gw, err := gateway.New(gateway.Options{
		Room: room, Store: m.Store, Admission: ak, Identity: ident,
		Backend: backend, Protect: cfg.Paths.Protect, Bypass: cfg.Paths.Bypass, TrustedProxies: cfg.TrustedPrefixes(),
		TicketTTL: cfg.TicketTTL, MaxRequestBody: cfg.Proxy.MaxRequestBody, MaxResponseBody: int64(cfg.Proxy.MaxResponseBody),
		MaxHeaderBytes: cfg.Proxy.MaxHeaderBytes, ReadTimeout: cfg.Proxy.ReadTimeout, WriteTimeout: cfg.Proxy.WriteTimeout,
		IdleTimeout: cfg.Proxy.IdleTimeout, BackendTimeout: cfg.Proxy.BackendTimeout, BackendIdle: cfg.Proxy.BackendIdle,
		MaxConns: cfg.Proxy.MaxConns, MaxPoll: cfg.Queue.MaxPoll, HeartbeatGrace: cfg.Queue.HeartbeatGrace,
		SleepGrace: cfg.Queue.SleepGrace, NoticeLead: cfg.Queue.NoticeLead,
		Logger: log, Now: clock.Now, Health: healthOptions(cfg), MetricsUnauthenticated: cfg.Metrics.Unauthenticated,
		AdminHosts: cfg.AdminHostNames(),
		Site:       cfg.Room, // the operator records outlive each window's room
		Abuse:      abuseOptions(cfg.Abuse, queue),
	})
	if err != nil {
		return err
	}
	m.Gateway = gw
	m.goRun(func() { gw.RunBackground(ctx) })
	m.goRun(func() { gw.RunHealth(ctx) })
	m.goRun(func() {
		if rs.schedule != nil {
			rs.follow(ctx, gw, stopRoom)
			return
		}
		<-ctx.Done()
		stopRoom()
	})
	m.Admin = gateway.NewAdmin(gw, cfg.AdminToken, log)

	if m.PublicAddr, err = m.listen(cfg.Listen, gw.Server()); err != nil {
		return err
	}
	if m.AdminAddr, err = m.listen(cfg.AdminListen, m.Admin.Server()); err != nil {
		return err
	}
	if path, _ := fs.GetString("config"); path != "" {
		w, err := config.Watch(fs, log, func(before, after config.Live) {
			m.applyLive(before, after)
		})
		if err != nil {
			return err
		}
		m.closers = append(m.closers, w.Close)
	}
	log.Info("waiting room ready", "room", room.Name, "identity_first", ident != nil, "backend", backend.Redacted())
	fmt.Fprintf(m.Stdout, "waiting room:  http://%s/\noperator console: http://%s/admin/ (sign in with the admin token)\noperator API:  http://%s/admin/api/state (Authorization: Bearer <admin token>)\n",
		m.PublicAddr, m.AdminAddr, m.AdminAddr)
	return nil
}

// applyLive applies rate and pause edits of the config file, as an operator
// would through the API.
func (m *Main) applyLive(before, after config.Live) {
	if before.RatePerHour != after.RatePerHour {
		m.Gateway.SetOperatorRate(after.RatePerHour)
		_, _ = m.Admin.Change("rate", "config file", func(c context.Context) (admission.State, error) {
			return m.Store.SetRate(c, m.Gateway.Room().Name, after.RatePerHour)
		})
	}
	if before.Paused != after.Paused {
		what := map[bool]string{true: "pause", false: "resume"}[after.Paused]
		_, _ = m.Admin.Change(what, "config file", func(c context.Context) (admission.State, error) {
			return m.Store.SetPaused(c, m.Gateway.Room().Name, after.Paused)
		})
	}
}

// keys decodes the configured keys, or makes development keys with a loud
// warning: tickets signed with them die with the process.
func (m *Main) keys(cfg config.Config, log *slog.Logger) ([]ticket.HMACKey, []ticket.EdKey, error) {
	hk, err := cfg.Ticket.DecodedHMACKeys()
	if err != nil {
		return nil, nil, err
	}
	ek, err := cfg.Ticket.DecodedSigningKeys()
	if err != nil {
		return nil, nil, err
	}
	var queue []ticket.HMACKey
	for _, k := range hk {
		queue = append(queue, ticket.HMACKey{ID: k.ID, Secret: k.Secret})
	}
	var adm []ticket.EdKey
	for _, k := range ek {
		adm = append(adm, ticket.EdKey{ID: k.ID, Private: k.Private, SignFrom: k.SignFrom})
	}
	if len(queue) == 0 || len(adm) == 0 {
		devQ, devA := ticket.GenerateDevKeys()
		if len(queue) == 0 {
			queue = devQ
		}
		if len(adm) == 0 {
			adm = devA
		}
		log.Warn("NO TICKET KEYS CONFIGURED: generated throwaway development keys. Tickets die with this process and every gateway has different keys. Run `waitroom keygen` and put the keys in the config file before production.")
	}
	return queue, adm, nil
}

// abuseOptions are the gateway's budgets from a, with device keys derived
// from the queue ticket keys, which every gateway of a fleet shares (and
// rotates) already.
func abuseOptions(a config.Abuse, queue []ticket.HMACKey) gateway.Abuse {
	o := gateway.Abuse{
		DeviceStarts:         gateway.Budget(a.DeviceStarts),
		AddressCountedStarts: gateway.Budget(a.AddressCountedStarts),
		DevicePlaces:         gateway.Budget(a.DevicePlaces),
		AddressPlaces:        gateway.Budget(a.AddressPlaces),
		ProofBits:            a.ProofBits,
		ChallengeTTL:         a.ChallengeTTL,
	}
	if o.ProofBits == 0 {
		o.ProofBits = -1 // off
	}
	for _, k := range queue {
		mac := hmac.New(sha256.New, k.Secret)
		mac.Write([]byte("waitroom device key"))
		o.DeviceKeys = append(o.DeviceKeys, mac.Sum(nil))
	}
	return o
}

func (m *Main) demoBackend(args []string) error {
	fs := pflag.NewFlagSet("demo-backend", pflag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	addr := fs.String("listen", "127.0.0.1:8090", "address to listen on")
	jwks := fs.String("jwks", "", "the gateway's JWKS URL (http://gateway/.well-known/jwks.json): verify every admission token; empty trusts the gateway blindly")
	issuer := fs.String("issuer", config.Default().Ticket.Issuer, "the gateway's ticket.issuer, with --jwks")
	audience := fs.String("audience", config.Default().Ticket.Audience, "the gateway's ticket.audience, with --jwks")
	room := fs.String("room", config.Default().Room, "the gateway's room, with --jwks: its tokens and those of its eligibility windows (<room>-<window>) are accepted")
	session := fs.Duration("session-duration", config.Default().SessionDuration, "the gateway's session_duration, with --jwks: tokens that last longer are refused")
	if err := fs.Parse(args); err != nil {
		m.OneShot = true
		return err
	}
	log := devLogger(m.Stderr, "demo-backend")
	o := demo.Options{Logger: log}
	if *jwks != "" {
		v, err := admissionverify.New(admissionverify.Options{JWKSURL: *jwks, Issuer: *issuer, Audience: *audience,
			Rooms: []string{*room, *room + "-*"}, MaxLifetime: *session, Logger: log})
		if err != nil {
			m.OneShot = true
			return err
		}
		o.Verifier = v
	}
	srv := &fasthttp.Server{Handler: demo.Handler(o), Name: "demo-backend", ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	var err error
	if m.PublicAddr, err = m.listen(*addr, srv); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "demo booking backend: http://%s/\n", m.PublicAddr)
	if o.Verifier == nil {
		log.Warn("not verifying admission tokens (no --jwks): whoever reaches the demo backend directly can book")
	}
	return nil
}

func (m *Main) keygen() error {
	hq, ha := ticket.GenerateDevKeys()
	var b strings.Builder
	b.WriteString("# Keep this file private (chmod 600). The first key of each list signs; all verify.\nticket:\n  hmac_keys:\n")
	for _, k := range hq {
		fmt.Fprintf(&b, "    - id: %s\n      secret: %s\n", strings.Replace(k.ID, "dev-", "k-", 1), base64.RawURLEncoding.EncodeToString(k.Secret))
	}
	b.WriteString("  signing_keys:\n")
	for _, k := range ha {
		fmt.Fprintf(&b, "    - id: %s\n      seed: %s\n", strings.Replace(k.ID, "dev-", "k-", 1), base64.RawURLEncoding.EncodeToString(k.Private.Seed()))
	}
	_, err := io.WriteString(m.Stdout, b.String())
	return err
}

// listen binds addr and serves srv on it in the background.
func (m *Main) listen(addr string, srv *fasthttp.Server) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen %s: %w", addr, err)
	}
	m.goRun(func() { _ = srv.Serve(ln) })
	m.closers = append(m.closers, func() error {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.ShutdownWithContext(c)
	})
	return ln.Addr().String(), nil
}

func (m *Main) goRun(f func()) {
	m.wg.Add(1)
	go func() { defer m.wg.Done(); f() }()
}

// devLogger is the logger of the development helpers (demo-backend,
// dev-idp): the gateway's text format at level info, each line naming the
// service, so that `make run`'s one terminal reads as one log.
func devLogger(w io.Writer, service string) *slog.Logger {
	return newLogger(w, config.Log{Level: "info", Format: "text"}).With("service", service)
}

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
