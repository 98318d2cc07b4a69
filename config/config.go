// Package config holds the gateway's settings: their defaults (Default), how
// they are read from a YAML file, WAITROOM_* environment variables and
// command-line flags (Load), the rules they must satisfy (Validate) and live
// reload of the settings that may change while running (Watch).
//
// It is the only package that imports viper. Other packages receive plain
// values from a Config and never parse configuration themselves; secrets
// are decoded here (Ticket.DecodedHMACKeys, Ticket.DecodedSigningKeys) and
// hidden from logs by Config.Redacted.
package config

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/waitroom/waitroom/admission"
)

// Config is the gateway's whole configuration. Each field's mapstructure tag
// is its YAML key; nested keys are joined with "." (proxy.max_conns) and
// named in problems that way.
type Config struct {
	// Listen is the public address (host:port) for visitors. Default "127.0.0.1:8080".
	Listen string `mapstructure:"listen"`
	// AdminListen is the operator API's address (host:port); it must differ
	// from Listen. Default "127.0.0.1:8081".
	AdminListen string `mapstructure:"admin_listen"`
	// Backend is the protected site: an absolute http or https URL with a host
	// and no query, fragment or credentials. Default "http://127.0.0.1:8090".
	Backend string `mapstructure:"backend"`
	// Room names the queue in the admission store: 1-64 of [a-z0-9_-].
	// Gateways sharing a store and a room share one queue. Default "default".
	Room string `mapstructure:"room"`
	// RatePerHour is how many people are admitted per hour, in
	// 1..admission.MaxRatePerHour. Reloaded live. Default 2,000,000.
	RatePerHour int64 `mapstructure:"rate_per_hour"`
	// Paused stops all admission while true. Reloaded live. Default false.
	Paused bool `mapstructure:"paused"`
	// AdminToken is the operator API's bearer token, at least 16 characters.
	// Exactly one of AdminToken and AdminTokenFile must be set.
	AdminToken string `mapstructure:"admin_token"`
	// AdminTokenFile names a file holding the admin token; trailing
	// whitespace is trimmed. Load reads it into AdminToken.
	AdminTokenFile string `mapstructure:"admin_token_file"`
	// AdminHosts are the host names the operator listener answers to in
	// the Host header; others get 403 (DNS rebinding: a web page whose
	// name an attacker points at the listener's address). IP addresses
	// always pass. Default empty: "localhost" and admin_listen's host
	// when it is a name (see AdminHostNames).
	AdminHosts []string `mapstructure:"admin_hosts"`
	// SessionDuration is the lifetime of an admission token, 1m..24h. Default 10m.
	SessionDuration time.Duration `mapstructure:"session_duration"`
	// TicketTTL is the lifetime of a queue ticket, 1m..72h. Default 24h.
	TicketTTL time.Duration `mapstructure:"ticket_ttl"`
	// Ticket holds the signing settings for tickets and admission tokens.
	Ticket Ticket `mapstructure:"ticket"`
	// Paths selects which request paths wait in the queue.
	Paths Paths `mapstructure:"paths"`
	// TrustedProxies lists the CIDRs or single IPs (v4 or v6) whose
	// X-Forwarded-For is believed. Default empty: the peer address is the client.
	TrustedProxies []string `mapstructure:"trusted_proxies"`
	// Proxy tunes the reverse proxy.
	Proxy Proxy `mapstructure:"proxy"`
	// Redis selects the admission store.
	Redis Redis `mapstructure:"redis"`
	// Log selects the log output.
	Log Log `mapstructure:"log"`
	// Identity turns on verification before joining.
	Identity Identity `mapstructure:"identity"`
	// Queue tunes polling and the skipping of people who left.
	Queue Queue `mapstructure:"queue"`
	// Environment is production, development or test. Default production,
	// which refuses the simulation settings.
	Environment string `mapstructure:"environment"`
	// Simulation runs on an accelerated clock (tests and simulations only).
	Simulation Simulation `mapstructure:"simulation"`
	// Health turns on health-driven release (see Health).
	Health Health `mapstructure:"health"`
	// Metrics configures GET /metrics on the operator listener.
	Metrics Metrics `mapstructure:"metrics"`
	// Abuse holds the per-device and per-address budgets.
	Abuse Abuse `mapstructure:"abuse"`

	// tokenFromFile records that Load read AdminToken from AdminTokenFile, so
	// that Validate does not report both as set.
	tokenFromFile bool
}

// Ticket holds the keys and claims of queue tickets and admission tokens.
// Empty key lists are valid: the caller then generates development keys.
type Ticket struct {
	// Issuer is the iss claim of everything the gateway signs. Default "waitroom".
	Issuer string `mapstructure:"issuer"`
	// Audience is the aud claim of admission tokens, which the backend
	// verifies. Default "booking".
	Audience string `mapstructure:"audience"`
	// HMACKeys sign queue tickets: the first signs, all verify, so a new key
	// is rolled out by prepending it. Default empty.
	HMACKeys []HMACKey `mapstructure:"hmac_keys"`
	// SigningKeys are the Ed25519 keys of admission tokens: the first whose
	// sign_from has passed signs, all are published in the JWKS and verify.
	// Default empty.
	SigningKeys []EdKey `mapstructure:"signing_keys"`
}

// HMACKey is a queue-ticket key. ID is 1-32 of [A-Za-z0-9._-], unique within
// its list; Secret is base64 (standard or URL alphabet, padded or not) of at
// least 32 bytes.
type HMACKey struct {
	ID     string `mapstructure:"id"`
	Secret string `mapstructure:"secret"`
}

// EdKey is an admission-token key. ID follows the HMACKey rules; Seed is
// base64 of exactly 32 bytes, an Ed25519 seed. SignFrom is optional: an RFC
// 3339 time before which the key is only published, so that backends know it
// before it signs (key rotation). A key with SignFrom comes before every key
// that may sign earlier, or it would never sign.
type EdKey struct {
	ID       string `mapstructure:"id"`
	Seed     string `mapstructure:"seed"`
	SignFrom string `mapstructure:"sign_from"`
}

// Paths selects the requests that wait in the queue. Entries are path
// prefixes: they start with "/", contain no "..", "//", "%", "\", "?", "#",
// whitespace or control characters, and are not under /waitroom/ or
// /.well-known/, which the gateway serves itself.
type Paths struct {
	// Protect lists prefixes that need an admission token. The longest
	// matching prefix of either list decides, and a path matching neither is
	// protected (fail closed), so Protect only carves exceptions out of
	// Bypass. Default ["/"].
	Protect []string `mapstructure:"protect"`
	// Bypass lists prefixes that pass without an admission token.
	// Default ["/static/", "/favicon.ico"].
	Bypass []string `mapstructure:"bypass"`
}

// Proxy tunes the reverse proxy. Sizes are in bytes.
type Proxy struct {
	// MaxRequestBody caps a client's request body, 1 KiB..1 GiB. Default 1 MiB.
	MaxRequestBody int `mapstructure:"max_request_body"`
	// MaxResponseBody caps a backend response body, 1 KiB..4 GiB. Default 64 MiB.
	MaxResponseBody int `mapstructure:"max_response_body"`
	// MaxHeaderBytes caps a request's header block, 4 KiB..1 MiB (fasthttp's
	// ReadBufferSize). Default 16 KiB.
	MaxHeaderBytes int `mapstructure:"max_header_bytes"`
	// ReadTimeout bounds reading a client request, > 0. Default 10s.
	ReadTimeout time.Duration `mapstructure:"read_timeout"`
	// WriteTimeout bounds writing a response to a client, > 0. Default 30s.
	WriteTimeout time.Duration `mapstructure:"write_timeout"`
	// IdleTimeout is how long a client keep-alive connection may idle, > 0. Default 60s.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// BackendTimeout bounds a whole backend call, > 0. Default 30s.
	BackendTimeout time.Duration `mapstructure:"backend_timeout"`
	// BackendIdle is how long an idle backend connection is kept, > 0. It must
	// stay below the backend's own keep-alive timeout, or requests race the
	// backend closing the connection. Default 4s.
	BackendIdle time.Duration `mapstructure:"backend_idle"`
	// MaxConns caps connections to the backend, 1..100000. Default 1024.
	MaxConns int `mapstructure:"max_conns"`
}

// Redis selects the admission store. No Addrs means the embedded in-memory
// store, which only works with a single gateway.
type Redis struct {
	// Addrs are host:port addresses: one is a standalone server, several are
	// a Cluster, or the Sentinels when MasterName is set. Default empty.
	Addrs []string `mapstructure:"addrs"`
	// MasterName selects Sentinel mode and names the monitored master.
	MasterName string `mapstructure:"master_name"`
	// Username and Password authenticate (Redis ACL); Password is a secret.
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
	// DB is the database number, 0..15; a Cluster only has 0.
	DB int `mapstructure:"db"`
	// TLS turns on TLS to Redis.
	TLS bool `mapstructure:"tls"`
	// TLSCAFile optionally names a PEM bundle of CAs to trust instead of the
	// system roots. Requires TLS.
	TLSCAFile string `mapstructure:"tls_ca_file"`
	// TLSServerName overrides the name verified in the server certificate.
	// Requires TLS.
	TLSServerName string `mapstructure:"tls_server_name"`
}

// Log selects the log output.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `mapstructure:"level"`
	// Format is json or text. Default json.
	Format string `mapstructure:"format"`
}

// DecodedHMAC is an HMACKey with its secret decoded.
type DecodedHMAC struct {
	ID     string
	Secret []byte
}

// DecodedEd is an EdKey with its private key derived from the seed.
type DecodedEd struct {
	ID       string
	Private  ed25519.PrivateKey
	SignFrom time.Time // zero: signs at once
}

// Default returns the configuration used for every key that is not set. It
// has no admin token, so it does not validate on its own.
func Default() Config {
	return Config{
		Listen:          "127.0.0.1:8080",
		AdminListen:     "127.0.0.1:8081",
		Backend:         "http://127.0.0.1:8090",
		Room:            "default",
		RatePerHour:     2_000_000,
		SessionDuration: 10 * time.Minute,
		TicketTTL:       24 * time.Hour,
		Ticket:          Ticket{Issuer: "waitroom", Audience: "booking"},
		Paths: Paths{
			Protect: []string{"/"},
			Bypass:  []string{"/static/", "/favicon.ico"},
		},
		Proxy: Proxy{
			MaxRequestBody:  1 << 20,
			MaxResponseBody: 64 << 20,
			MaxHeaderBytes:  16 << 10,
			ReadTimeout:     10 * time.Second,
			WriteTimeout:    30 * time.Second,
			IdleTimeout:     60 * time.Second,
			BackendTimeout:  30 * time.Second,
			BackendIdle:     4 * time.Second,
			MaxConns:        1024,
		},
		Log:         Log{Level: "info", Format: "json"},
		Identity:    Identity{Block: 10 * time.Minute, TargetLatency: 5 * time.Second},
		Queue:       defaultQueue(),
		Environment: EnvProduction,
		Simulation:  Simulation{TimeScale: 1},
		Health:      defaultHealth(),
		Abuse:       defaultAbuse(),
	}
}

// Problem is one configuration error: the key it concerns (as in YAML,
// nested keys joined with ".", list items as key[i]) and what is wrong.
type Problem struct {
	Key, Message string
}

// ValidationError lists every problem found in a configuration.
type ValidationError struct {
	Problems []Problem
}

// Error returns the problems one per line, each as "key: message".
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Message
		if p.Key != "" {
			lines[i] = p.Key + ": " + p.Message
		}
	}
	return strings.Join(lines, "\n")
}

// problems collects Problems while checking a configuration.
type problems []Problem

func (ps *problems) add(key, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

// addErr adds the problems of a *ValidationError returned by a check.
func (ps *problems) addErr(err error) {
	if ve, ok := err.(*ValidationError); ok {
		*ps = append(*ps, ve.Problems...)
	}
}

func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps}
}

func (ps *problems) intRange(key string, got, lo, hi int64) {
	if got < lo || got > hi {
		ps.add(key, "must be between %d and %d, got %d", lo, hi, got)
	}
}

func (ps *problems) durationRange(key string, got, lo, hi time.Duration) {
	if got < lo || got > hi {
		ps.add(key, "must be between %s and %s, got %s", lo, hi, got)
	}
}

func (ps *problems) positive(key string, got time.Duration) {
	if got <= 0 {
		ps.add(key, "must be greater than 0, got %s", got)
	}
}

var (
	roomPattern  = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)
	keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)
)

// Validate reports every problem in c at once as a *ValidationError, or
// returns nil. It reads Redis.TLSCAFile to check that it holds certificates.
// Messages never contain secret values.
func (c Config) Validate() error {
	var ps problems
	ps.listenAddrs(c.Listen, c.AdminListen)
	ps.backend(c.Backend)
	if !roomPattern.MatchString(c.Room) {
		ps.add("room", "must be 1-64 characters of a-z, 0-9, _ and -, got %q", c.Room)
	}
	ps.intRange("rate_per_hour", c.RatePerHour, 1, admission.MaxRatePerHour)
	ps.adminToken(c)
	ps.durationRange("session_duration", c.SessionDuration, time.Minute, 24*time.Hour)
	ps.durationRange("ticket_ttl", c.TicketTTL, time.Minute, 72*time.Hour)

	if c.Ticket.Issuer == "" {
		ps.add("ticket.issuer", "must not be empty")
	}
	if c.Ticket.Audience == "" {
		ps.add("ticket.audience", "must not be empty")
	}
	_, err := c.Ticket.DecodedHMACKeys()
	ps.addErr(err)
	ek, err := c.Ticket.DecodedSigningKeys()
	ps.addErr(err)
	// Checked at load: time only makes more keys able to sign.
	if len(ek) > 0 && !slices.ContainsFunc(ek, func(k DecodedEd) bool { return !k.SignFrom.After(time.Now()) }) {
		ps.add("ticket.signing_keys", "no key may sign now: at least one needs no sign_from or one in the past")
	}

	ps.paths("paths.protect", c.Paths.Protect)
	ps.paths("paths.bypass", c.Paths.Bypass)
	for i, s := range c.TrustedProxies {
		if _, err := parsePrefix(s); err != nil {
			ps.add(fmt.Sprintf("trusted_proxies[%d]", i), "must be a CIDR or an IP address: %v", err)
		}
	}

	p := c.Proxy
	ps.intRange("proxy.max_request_body", int64(p.MaxRequestBody), 1<<10, 1<<30)
	ps.intRange("proxy.max_response_body", int64(p.MaxResponseBody), 1<<10, 4<<30)
	ps.intRange("proxy.max_header_bytes", int64(p.MaxHeaderBytes), 4<<10, 1<<20)
	ps.positive("proxy.read_timeout", p.ReadTimeout)
	ps.positive("proxy.write_timeout", p.WriteTimeout)
	ps.positive("proxy.idle_timeout", p.IdleTimeout)
	ps.positive("proxy.backend_timeout", p.BackendTimeout)
	ps.positive("proxy.backend_idle", p.BackendIdle)
	ps.intRange("proxy.max_conns", int64(p.MaxConns), 1, 100_000)

	ps.redis(c.Redis)
	ps.identity(c)
	ps.queue(c)
	ps.health(c)
	ps.adminHosts(c.AdminHosts)
	ps.production(c)
	ps.abuse(c.Abuse)

	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		ps.add("log.level", "must be one of debug, info, warn, error, got %q", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		ps.add("log.format", "must be json or text, got %q", c.Log.Format)
	}
	return ps.err()
}

func (ps *problems) listenAddrs(listen, admin string) {
	ps.hostPort("listen", listen, false)
	ps.hostPort("admin_listen", admin, false)
	lh, lp, err1 := net.SplitHostPort(listen)
	ah, ap, err2 := net.SplitHostPort(admin)
	if err1 != nil || err2 != nil || lp != ap || lp == "0" {
		return // port 0 picks a free port, so two of them never collide
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	if lh == ah || wildcard(lh) || wildcard(ah) {
		ps.add("admin_listen", "must not use the same address as listen (%s)", listen)
	}
}

// hostPort checks a host:port address with a numeric port. Listen addresses
// may leave the host empty (all interfaces) and use port 0 (any free port);
// addresses to dial (needHost) may not.
func (ps *problems) hostPort(key, addr string, needHost bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		ps.add(key, "must be host:port, got %q", addr)
		return
	}
	n, err := strconv.ParseUint(port, 10, 16)
	switch {
	case err != nil:
		ps.add(key, "port must be a number from 0 to 65535, got %q", port)
	case needHost && host == "":
		ps.add(key, "must name a host, got %q", addr)
	case needHost && n == 0:
		ps.add(key, "port must not be 0, got %q", addr)
	}
}

func (ps *problems) backend(raw string) {
	const key = "backend"
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		// url errors quote the URL, which could carry credentials.
		ps.add(key, "must be a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		ps.add(key, "must be an http:// or https:// URL, got scheme %q", u.Scheme)
	case u.Host == "":
		ps.add(key, "must name a host")
	case u.User != nil:
		ps.add(key, "must not contain credentials; they would show in logs")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		ps.add(key, "must not have a query or fragment")
	}
}

func (ps *problems) adminToken(c Config) {
	switch {
	case c.AdminToken != "" && c.AdminTokenFile != "" && !c.tokenFromFile:
		ps.add("admin_token", "set either admin_token or admin_token_file, not both")
	case c.AdminTokenFile != "" && c.AdminToken == "":
		ps.add("admin_token_file", "holds no token")
	case c.AdminToken == "":
		ps.add("admin_token", "must be set (or admin_token_file)")
	case utf8.RuneCountInString(c.AdminToken) < 16:
		key := "admin_token"
		if c.tokenFromFile {
			key = "admin_token_file"
		}
		ps.add(key, "token must be at least 16 characters, got %d", utf8.RuneCountInString(c.AdminToken))
	}
}

func (ps *problems) paths(key string, list []string) {
	for i, p := range list {
		if msg := pathProblem(p); msg != "" {
			ps.add(fmt.Sprintf("%s[%d]", key, i), "%s, got %q", msg, p)
		}
	}
}

// pathProblem says what is wrong with a path prefix, or returns "". The
// rules keep prefix matching on raw request paths unambiguous: no encoded or
// alternative spellings of a path can match differently than intended.
func pathProblem(p string) string {
	bad := func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }
	switch {
	case !strings.HasPrefix(p, "/"):
		return `must start with "/"`
	case !utf8.ValidString(p) || strings.ContainsFunc(p, bad):
		return "must be UTF-8 without whitespace or control characters"
	case strings.ContainsAny(p, `%\?#`):
		return `must not contain "%", "\", "?" or "#"`
	case strings.Contains(p, ".."), strings.Contains(p, "//"):
		return `must not contain ".." or "//"`
	case p == "/waitroom" || strings.HasPrefix(p, "/waitroom/") ||
		p == "/.well-known" || strings.HasPrefix(p, "/.well-known/"):
		return "must not be under /waitroom/ or /.well-known/, which the gateway serves"
	}
	return ""
}

func (ps *problems) redis(r Redis) {
	for i, a := range r.Addrs {
		ps.hostPort(fmt.Sprintf("redis.addrs[%d]", i), a, true)
	}
	if r.MasterName != "" && len(r.Addrs) == 0 {
		ps.add("redis.master_name", "needs the Sentinel addresses in redis.addrs")
	}
	ps.intRange("redis.db", int64(r.DB), 0, 15)
	if r.DB != 0 && len(r.Addrs) > 1 && r.MasterName == "" {
		ps.add("redis.db", "must be 0 for a Redis Cluster (several addrs), got %d", r.DB)
	}
	if r.TLSCAFile != "" {
		switch pem, err := os.ReadFile(r.TLSCAFile); {
		case err != nil:
			ps.add("redis.tls_ca_file", "cannot read: %v", err)
		case !x509.NewCertPool().AppendCertsFromPEM(pem):
			ps.add("redis.tls_ca_file", "holds no PEM certificate: %s", r.TLSCAFile)
		}
	}
	if !r.TLS && r.TLSCAFile != "" {
		ps.add("redis.tls_ca_file", "is set but redis.tls is false")
	}
	if !r.TLS && r.TLSServerName != "" {
		ps.add("redis.tls_server_name", "is set but redis.tls is false")
	}
}

// DecodedHMACKeys returns the queue-ticket keys with their secrets decoded, in
// order (the first signs). It fails with a *ValidationError if any key is
// invalid. An empty list gives an empty result and no error.
func (t Ticket) DecodedHMACKeys() ([]DecodedHMAC, error) {
	var ps problems
	ids := make(map[string]bool)
	out := make([]DecodedHMAC, 0, len(t.HMACKeys))
	for i, k := range t.HMACKeys {
		key := fmt.Sprintf("ticket.hmac_keys[%d]", i)
		ps.keyID(key+".id", k.ID, ids)
		secret, err := decodeBase64(k.Secret)
		switch {
		case err != nil:
			ps.add(key+".secret", "must be base64")
		case len(secret) < 32:
			ps.add(key+".secret", "must decode to at least 32 bytes, got %d", len(secret))
		}
		out = append(out, DecodedHMAC{ID: k.ID, Secret: secret})
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// DecodedSigningKeys returns the admission-token keys as Ed25519 private
// keys with their sign_from, in order (the first that may sign does). It
// fails with a *ValidationError if any key is invalid. An empty list gives
// an empty result and no error.
func (t Ticket) DecodedSigningKeys() ([]DecodedEd, error) {
	var ps problems
	ids := make(map[string]bool)
	out := make([]DecodedEd, 0, len(t.SigningKeys))
	froms := make([]time.Time, len(t.SigningKeys))
	for i, k := range t.SigningKeys {
		key := fmt.Sprintf("ticket.signing_keys[%d]", i)
		ps.keyID(key+".id", k.ID, ids)
		from, err := time.Parse(time.RFC3339, k.SignFrom)
		switch {
		case k.SignFrom == "":
		case err != nil:
			ps.add(key+".sign_from", "must be an RFC 3339 time such as 2025-03-01T09:00:00+09:00, got %q", k.SignFrom)
		default:
			froms[i] = from
			// Issue takes the first key that may sign, so a key whose
			// sign_from is not before every earlier key's would never sign.
			if j := slices.IndexFunc(froms[:i], func(f time.Time) bool { return !f.After(from) }); j >= 0 {
				ps.add(key+".sign_from", "this key would never sign: signing_keys[%d] before it may already sign then; list keys that start signing later first", j)
			}
		}
		seed, err := decodeBase64(k.Seed)
		switch {
		case err != nil:
			ps.add(key+".seed", "must be base64")
		case len(seed) != ed25519.SeedSize:
			ps.add(key+".seed", "must decode to exactly %d bytes, got %d", ed25519.SeedSize, len(seed))
		default:
			out = append(out, DecodedEd{ID: k.ID, Private: ed25519.NewKeyFromSeed(seed), SignFrom: froms[i]})
		}
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// keyID checks a key ID's form and that it is not in seen, then adds it.
func (ps *problems) keyID(key, id string, seen map[string]bool) {
	switch {
	case !keyIDPattern.MatchString(id):
		ps.add(key, "must be 1-32 characters of A-Z, a-z, 0-9, '.', '_' and '-', got %q", id)
	case seen[id]:
		ps.add(key, "duplicate key id %q", id)
	}
	seen[id] = true
}

// decodeBase64 accepts the standard and URL-safe alphabets, padded or not,
// since key generators differ.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// TrustedPrefixes returns TrustedProxies as prefixes; a single address
// becomes a /32 or /128. Entries that do not parse are skipped: Validate
// reports them.
func (c Config) TrustedPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(c.TrustedProxies))
	for _, s := range c.TrustedProxies {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("address %q has a zone", s)
	}
	// Clients connecting over IPv4 are seen as IPv4, so "::ffff:10.0.0.1"
	// must match them as 10.0.0.1.
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Redacted returns a copy of c with every secret (admin token, HMAC secrets,
// Ed25519 seeds, Redis password) replaced by "REDACTED", for logging and
// printing. Empty secrets stay empty, so a missing one remains visible.
func (c Config) Redacted() Config {
	r := c
	r.AdminToken = redact(c.AdminToken)
	r.Redis.Password = redact(c.Redis.Password)
	r.Identity.Secret = redact(c.Identity.Secret)
	r.Identity.Methods = slices.Clone(c.Identity.Methods)
	for i := range r.Identity.Methods {
		r.Identity.Methods[i].ClientSecret = redact(r.Identity.Methods[i].ClientSecret)
	}
	r.Ticket.HMACKeys = slices.Clone(c.Ticket.HMACKeys)
	for i := range r.Ticket.HMACKeys {
		r.Ticket.HMACKeys[i].Secret = redact(r.Ticket.HMACKeys[i].Secret)
	}
	r.Ticket.SigningKeys = slices.Clone(c.Ticket.SigningKeys)
	for i := range r.Ticket.SigningKeys {
		r.Ticket.SigningKeys[i].Seed = redact(r.Ticket.SigningKeys[i].Seed)
	}
	return r
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "REDACTED"
}

// String formats the redacted configuration, so that printing a Config by
// accident never shows a secret.
func (c Config) String() string {
	type plain Config // without the String method, to avoid recursion
	return fmt.Sprintf("%+v", plain(c.Redacted()))
}
