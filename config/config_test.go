package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/admission"
)

const testToken = "0123456789abcdef-admin"

// valid returns a configuration that passes Validate: the defaults
// (environment production) with an admin token and ticket keys.
func valid() Config {
	c := Default()
	c.AdminToken = testToken
	c.Ticket.HMACKeys = []HMACKey{{"k1", b64(1, 32)}}
	c.Ticket.SigningKeys = []EdKey{{ID: "k1", Seed: b64(3, 32)}}
	return c
}

// devValid is what Load gives in this package's tests (see TestMain): the
// defaults in environment development with an admin token, no keys.
func devValid() Config {
	c := Default()
	c.AdminToken = testToken
	c.Environment = EnvDevelopment
	return c
}

// TestMain runs the package's tests with WAITROOM_ENVIRONMENT=development,
// so that the configurations they load need no ticket keys, which no
// environment variable can hold. Production's own checks are
// TestValidate_Production's, and TestLoad_Production loads without it.
func TestMain(m *testing.M) {
	os.Setenv("WAITROOM_ENVIRONMENT", EnvDevelopment)
	os.Exit(m.Run())
}

// b64 returns base64 of n bytes of value b.
func b64(b byte, n int) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, n))
}

// problemKeys returns the keys of a *ValidationError, failing the test for
// any other error.
func problemKeys(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	keys := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		keys[i] = p.Key
	}
	return keys
}

// writeFile writes content to name in dir and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefault(t *testing.T) {
	t.Run("OnlyAdminTokenAndKeysMissing", func(t *testing.T) {
		got, want := problemKeys(t, Default().Validate()), []string{"admin_token", "ticket.hmac_keys", "ticket.signing_keys"}
		if !slices.Equal(got, want) {
			t.Fatalf("Default().Validate() problems = %q, want %q", got, want)
		}
	})
}

func TestConfig_Validate(t *testing.T) {
	ca := writeCA(t)
	notPEM := writeFile(t, t.TempDir(), "ca.txt", "not a certificate")
	long := strings.Repeat("a", 64)

	tests := []struct {
		name string
		mod  func(*Config)
		want []string // problem keys, in order
	}{
		{"OK", func(*Config) {}, nil},
		{"OKPortZeroTwice", func(c *Config) { c.Listen, c.AdminListen = "127.0.0.1:0", "127.0.0.1:0" }, nil},
		{"OKAllInterfaces", func(c *Config) { c.Listen = ":80" }, nil},
		{"ErrListenNoPort", func(c *Config) { c.Listen = "localhost" }, []string{"listen"}},
		{"ErrListenNamedPort", func(c *Config) { c.Listen = "localhost:http" }, []string{"listen"}},
		{"ErrAdminListenBadPort", func(c *Config) { c.AdminListen = "127.0.0.1:70000" }, []string{"admin_listen"}},
		{"ErrAdminListenSame", func(c *Config) { c.AdminListen = c.Listen }, []string{"admin_listen"}},
		{"ErrAdminListenOverlapsWildcard", func(c *Config) { c.Listen, c.AdminListen = ":9000", "127.0.0.1:9000" }, []string{"admin_listen"}},
		{"OKSamePortOtherHost", func(c *Config) { c.Listen, c.AdminListen = "10.0.0.1:9000", "127.0.0.1:9000" }, nil},

		{"OKBackendHTTPSWithPath", func(c *Config) { c.Backend = "https://booking.example:8443/api" }, nil},
		{"ErrBackendScheme", func(c *Config) { c.Backend = "ftp://booking.example" }, []string{"backend"}},
		{"ErrBackendRelative", func(c *Config) { c.Backend = "/booking" }, []string{"backend"}},
		{"ErrBackendNoHost", func(c *Config) { c.Backend = "http://" }, []string{"backend"}},
		{"ErrBackendQuery", func(c *Config) { c.Backend = "http://b.example/?x=1" }, []string{"backend"}},
		{"ErrBackendFragment", func(c *Config) { c.Backend = "http://b.example/#top" }, []string{"backend"}},
		{"ErrBackendCredentials", func(c *Config) { c.Backend = "http://u:p@b.example/" }, []string{"backend"}},
		{"ErrBackendUnparsable", func(c *Config) { c.Backend = "http://b.example:port/" }, []string{"backend"}},

		{"OKRoomMaxLength", func(c *Config) { c.Room = long }, nil},
		{"ErrRoomEmpty", func(c *Config) { c.Room = "" }, []string{"room"}},
		{"ErrRoomUpper", func(c *Config) { c.Room = "Sales" }, []string{"room"}},
		{"ErrRoomTooLong", func(c *Config) { c.Room = long + "a" }, []string{"room"}},

		{"OKRateMax", func(c *Config) { c.RatePerHour = admission.MaxRatePerHour }, nil},
		{"ErrRateZero", func(c *Config) { c.RatePerHour = 0 }, []string{"rate_per_hour"}},
		{"ErrRateTooHigh", func(c *Config) { c.RatePerHour = admission.MaxRatePerHour + 1 }, []string{"rate_per_hour"}},

		{"ErrAdminTokenMissing", func(c *Config) { c.AdminToken = "" }, []string{"admin_token"}},
		{"ErrAdminTokenShort", func(c *Config) { c.AdminToken = "0123456789abcde" }, []string{"admin_token"}},
		{"ErrAdminTokenAndFile", func(c *Config) { c.AdminTokenFile = "/run/secrets/token" }, []string{"admin_token"}},
		{"ErrAdminTokenFileUnread", func(c *Config) { c.AdminToken, c.AdminTokenFile = "", "/run/secrets/token" }, []string{"admin_token_file"}},

		{"ErrSessionDurationShort", func(c *Config) { c.SessionDuration = 59 * time.Second }, []string{"session_duration"}},
		{"ErrSessionDurationLong", func(c *Config) { c.SessionDuration = 25 * time.Hour }, []string{"session_duration"}},
		{"OKTicketTTLMax", func(c *Config) { c.TicketTTL = 72 * time.Hour }, nil},
		{"ErrTicketTTLLong", func(c *Config) { c.TicketTTL = 73 * time.Hour }, []string{"ticket_ttl"}},

		{"ErrIssuerEmpty", func(c *Config) { c.Ticket.Issuer = "" }, []string{"ticket.issuer"}},
		{"ErrAudienceEmpty", func(c *Config) { c.Ticket.Audience = "" }, []string{"ticket.audience"}},
		{"OKKeys", func(c *Config) {
			c.Ticket.HMACKeys = []HMACKey{{"k1", b64(1, 32)}, {"k.2_x-Y", b64(2, 64)}}
			c.Ticket.SigningKeys = []EdKey{{ID: "k1", Seed: b64(3, 32)}}
		}, nil},
		{"ErrHMACKeys", func(c *Config) {
			c.Ticket.HMACKeys = []HMACKey{
				{"k1", b64(1, 32)},
				{"k1", b64(1, 32)},                    // duplicate id
				{"bad id", b64(1, 32)},                // space in id
				{"k4", "not base64!"},                 // not base64
				{"k5", b64(1, 31)},                    // too short
				{strings.Repeat("k", 33), b64(1, 32)}, // id too long
			}
		}, []string{"ticket.hmac_keys[1].id", "ticket.hmac_keys[2].id", "ticket.hmac_keys[3].secret", "ticket.hmac_keys[4].secret", "ticket.hmac_keys[5].id"}},
		{"ErrSigningKeys", func(c *Config) {
			c.Ticket.SigningKeys = []EdKey{{ID: "", Seed: b64(1, 32)}, {ID: "k2", Seed: b64(1, 31)}, {ID: "k3", Seed: b64(1, 33)}}
		}, []string{"ticket.signing_keys[0].id", "ticket.signing_keys[1].seed", "ticket.signing_keys[2].seed"}},
		{"OKSigningKeyRotation", func(c *Config) {
			c.Ticket.SigningKeys = []EdKey{{ID: "next", Seed: b64(2, 32), SignFrom: "2999-01-01T00:00:00Z"}, {ID: "now", Seed: b64(3, 32)}}
		}, nil},
		{"OKSigningKeyRotated", func(c *Config) {
			c.Ticket.SigningKeys = []EdKey{{ID: "next", Seed: b64(2, 32), SignFrom: "2021-08-26T20:00:00+09:00"}, {ID: "old", Seed: b64(3, 32)}}
		}, nil},
		{"ErrSigningKeysNoneSignsNow", func(c *Config) {
			c.Ticket.SigningKeys = []EdKey{{ID: "next", Seed: b64(2, 32), SignFrom: "2999-01-01T00:00:00Z"}}
		}, []string{"ticket.signing_keys"}},
		{"ErrSigningKeySignFrom", func(c *Config) {
			c.Ticket.SigningKeys = []EdKey{{ID: "k1", Seed: b64(2, 32), SignFrom: "2025-03-01 09:00"}, {ID: "k2", Seed: b64(3, 32)}}
		}, []string{"ticket.signing_keys[0].sign_from"}},
		{"ErrSigningKeyNeverSigns", func(c *Config) {
			c.Ticket.SigningKeys = []EdKey{
				{ID: "now", Seed: b64(1, 32)},
				{ID: "next", Seed: b64(2, 32), SignFrom: "2999-01-01T00:00:00Z"}, // "now" signs first, always
			}
		}, []string{"ticket.signing_keys[1].sign_from"}},
		{"ErrSigningKeyOrder", func(c *Config) {
			c.Ticket.SigningKeys = []EdKey{
				{ID: "next", Seed: b64(1, 32), SignFrom: "2999-01-01T00:00:00Z"},
				{ID: "later", Seed: b64(2, 32), SignFrom: "2999-06-01T00:00:00Z"},     // "next" signs first from June
				{ID: "same", Seed: b64(3, 32), SignFrom: "2999-01-01T09:00:00+09:00"}, // the instant "next" starts
				{ID: "now", Seed: b64(4, 32)},
			}
		}, []string{"ticket.signing_keys[1].sign_from", "ticket.signing_keys[2].sign_from"}},

		{"OKPaths", func(c *Config) { c.Paths.Protect = []string{"/", "/book/", "/waitroomx"}; c.Paths.Bypass = nil }, nil},
		{"ErrPaths", func(c *Config) {
			c.Paths.Protect = []string{"book", "/a/../b", "/a//b", "/a%2f", `/a\b`, "/a?b", "/a#b", "/a b", "/a\tb", "/a\x00", "/a\xff"}
			c.Paths.Bypass = []string{"/waitroom/", "/waitroom", "/.well-known/jwks.json", "/ok/"}
		}, []string{
			"paths.protect[0]", "paths.protect[1]", "paths.protect[2]", "paths.protect[3]", "paths.protect[4]", "paths.protect[5]",
			"paths.protect[6]", "paths.protect[7]", "paths.protect[8]", "paths.protect[9]", "paths.protect[10]",
			"paths.bypass[0]", "paths.bypass[1]", "paths.bypass[2]",
		}},

		{"OKTrustedProxies", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1"} }, nil},
		{"ErrTrustedProxies", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/33", "host.example", "fe80::1%eth0"} },
			[]string{"trusted_proxies[0]", "trusted_proxies[1]", "trusted_proxies[2]"}},

		{"OKProxyLimits", func(c *Config) {
			c.Proxy.MaxRequestBody, c.Proxy.MaxResponseBody, c.Proxy.MaxHeaderBytes, c.Proxy.MaxConns = 1<<30, 4<<30, 1<<20, 100_000
		}, nil},
		{"ErrProxy", func(c *Config) {
			c.Proxy = Proxy{MaxRequestBody: 1<<30 + 1, MaxResponseBody: 1023, MaxHeaderBytes: 4<<10 - 1, ReadTimeout: -time.Second, MaxConns: 100_001}
		}, []string{
			"proxy.max_request_body", "proxy.max_response_body", "proxy.max_header_bytes",
			"proxy.read_timeout", "proxy.write_timeout", "proxy.idle_timeout", "proxy.backend_timeout", "proxy.backend_idle",
			"proxy.max_conns",
		}},

		{"OKRedisStandalone", func(c *Config) { c.Redis = Redis{Addrs: []string{"redis.example:6379"}, DB: 15} }, nil},
		{"OKRedisSentinelDB", func(c *Config) { c.Redis = Redis{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "m", DB: 3} }, nil},
		{"OKRedisTLS", func(c *Config) {
			c.Redis = Redis{Addrs: []string{"r:6380"}, TLS: true, TLSCAFile: ca, TLSServerName: "r"}
		}, nil},
		{"ErrRedisAddrs", func(c *Config) { c.Redis.Addrs = []string{"redis.example", ":6379", "r:0"} },
			[]string{"redis.addrs[0]", "redis.addrs[1]", "redis.addrs[2]"}},
		{"ErrRedisMasterWithoutAddrs", func(c *Config) { c.Redis.MasterName = "m" }, []string{"redis.master_name"}},
		{"ErrRedisDB", func(c *Config) { c.Redis.DB = 16 }, []string{"redis.db"}},
		{"ErrRedisClusterDB", func(c *Config) { c.Redis = Redis{Addrs: []string{"a:1", "b:1"}, DB: 1} }, []string{"redis.db"}},
		{"ErrRedisCAMissing", func(c *Config) { c.Redis.TLS, c.Redis.TLSCAFile = true, ca+".missing" }, []string{"redis.tls_ca_file"}},
		{"ErrRedisCANotPEM", func(c *Config) { c.Redis.TLS, c.Redis.TLSCAFile = true, notPEM }, []string{"redis.tls_ca_file"}},
		{"ErrRedisTLSOptionsWithoutTLS", func(c *Config) { c.Redis.TLSCAFile, c.Redis.TLSServerName = ca, "r" },
			[]string{"redis.tls_ca_file", "redis.tls_server_name"}},

		{"OKIdentityMethod", func(c *Config) {
			c.Identity.Methods = []Method{{Name: "kakao", Label: "카카오 인증", LabelEn: "Kakao", PersonClaim: "ci",
				Issuer: "https://kauth.example/", ClientID: "c", ClientSecret: "s", Capacity: 10, Enabled: true}}
		}, nil},
		{"ErrPersonClaim", func(c *Config) {
			c.Identity.Methods = []Method{{Name: "kakao", Label: "카카오 인증", PersonClaim: "kakao_account.ci"}}
		}, []string{"identity.methods[0].person_claim"}},

		{"ErrLogLevel", func(c *Config) { c.Log.Level = "INFO" }, []string{"log.level"}},
		{"ErrLogFormat", func(c *Config) { c.Log.Format = "yaml" }, []string{"log.format"}},

		{"ErrSeveralAtOnce", func(c *Config) {
			c.Room, c.Proxy.MaxConns, c.Log.Format, c.AdminToken = "", 0, "", ""
		}, []string{"room", "admin_token", "proxy.max_conns", "log.format"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mod(&c)
			err := c.Validate()
			if got := problemKeys(t, err); !slices.Equal(got, tt.want) {
				t.Fatalf("problem keys = %q, want %q\nerror:\n%v", got, tt.want, err)
			}
		})
	}
}

func TestValidationError_Error(t *testing.T) {
	c := valid()
	c.Proxy.MaxConns = 0
	c.Room = "Bad Room"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want problems")
	}
	got := err.Error()
	want := "room: must be 1-64 characters of a-z, 0-9, _ and -, got \"Bad Room\"\n" +
		"proxy.max_conns: must be between 1 and 100000, got 0"
	if got != want {
		t.Fatalf("Error() =\n%s\nwant\n%s", got, want)
	}
}

func TestConfig_Validate_NoSecretsInMessages(t *testing.T) {
	const secret = "s3cr3t-short"
	c := valid()
	c.AdminToken = secret
	c.Ticket.HMACKeys = []HMACKey{{"k1", secret}}
	c.Ticket.SigningKeys = []EdKey{{ID: "k1", Seed: secret}}
	c.Backend = "http://user:" + secret + "@b.example/"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want problems")
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error reveals a secret:\n%v", err)
	}
}

func TestTicket_DecodedHMACKeys(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		secret := bytes.Repeat([]byte{0xfb, 0xff}, 20) // '+' and '/' in std, '-' and '_' in url
		tk := Ticket{HMACKeys: []HMACKey{
			{"std", base64.StdEncoding.EncodeToString(secret)},
			{"url", base64.URLEncoding.EncodeToString(secret)},
			{"rawstd", base64.RawStdEncoding.EncodeToString(secret)},
			{"rawurl", base64.RawURLEncoding.EncodeToString(secret)},
		}}
		got, err := tk.DecodedHMACKeys()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 {
			t.Fatalf("got %d keys, want 4", len(got))
		}
		for i, k := range got {
			if k.ID != tk.HMACKeys[i].ID || !bytes.Equal(k.Secret, secret) {
				t.Errorf("key %d = %q %x, want %q %x", i, k.ID, k.Secret, tk.HMACKeys[i].ID, secret)
			}
		}
	})
	t.Run("OKEmpty", func(t *testing.T) {
		got, err := Ticket{}.DecodedHMACKeys()
		if err != nil || len(got) != 0 {
			t.Fatalf("DecodedHMACKeys() = %v, %v; want empty, nil", got, err)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		_, err := Ticket{HMACKeys: []HMACKey{{"k1", b64(1, 16)}}}.DecodedHMACKeys()
		if got, want := problemKeys(t, err), []string{"ticket.hmac_keys[0].secret"}; !slices.Equal(got, want) {
			t.Fatalf("problem keys = %q, want %q", got, want)
		}
	})
}

func TestTicket_DecodedSigningKeys(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
		tk := Ticket{SigningKeys: []EdKey{{ID: "a", Seed: base64.RawURLEncoding.EncodeToString(seed)}}}
		got, err := tk.DecodedSigningKeys()
		if err != nil {
			t.Fatal(err)
		}
		want := ed25519.NewKeyFromSeed(seed)
		if len(got) != 1 || got[0].ID != "a" || !got[0].Private.Equal(want) {
			t.Fatalf("DecodedSigningKeys() = %+v, want one key a", got)
		}
	})
	t.Run("OKSignFrom", func(t *testing.T) {
		tk := Ticket{SigningKeys: []EdKey{{ID: "next", Seed: b64(1, 32), SignFrom: "2025-03-01T09:00:00+09:00"}, {ID: "old", Seed: b64(2, 32)}}}
		got, err := tk.DecodedSigningKeys()
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC); len(got) != 2 || !got[0].SignFrom.Equal(want) || !got[1].SignFrom.IsZero() {
			t.Fatalf("DecodedSigningKeys() = %+v, want next from %v, old at once", got, want)
		}
	})
	t.Run("OKEmpty", func(t *testing.T) {
		got, err := Ticket{}.DecodedSigningKeys()
		if err != nil || len(got) != 0 {
			t.Fatalf("DecodedSigningKeys() = %v, %v; want empty, nil", got, err)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		_, err := Ticket{SigningKeys: []EdKey{{ID: "a", Seed: b64(1, 32)}, {ID: "a", Seed: "%%%"}}}.DecodedSigningKeys()
		if got, want := problemKeys(t, err), []string{"ticket.signing_keys[1].id", "ticket.signing_keys[1].seed"}; !slices.Equal(got, want) {
			t.Fatalf("problem keys = %q, want %q", got, want)
		}
	})
}

// YAML reads an unquoted sign_from as a timestamp; it must still arrive as
// the text DecodedSigningKeys parses.
func TestLoad_SignFrom(t *testing.T) {
	t.Setenv("WAITROOM_ADMIN_TOKEN", testToken)
	c, err := loadYAML(t, `
ticket:
  signing_keys:
    - id: next
      seed: `+b64(1, 32)+`
      sign_from: 2025-03-01T09:00:00+09:00
    - id: old
      seed: `+b64(2, 32)+`
`)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := c.Ticket.DecodedSigningKeys()
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC); len(keys) != 2 || !keys[0].SignFrom.Equal(want) || !keys[1].SignFrom.IsZero() {
		t.Fatalf("keys %+v, want next from %v, old at once", keys, want)
	}
}

func TestConfig_TrustedPrefixes(t *testing.T) {
	c := Config{TrustedProxies: []string{"10.1.2.3/8", "192.0.2.7", "2001:db8::1", "::ffff:192.0.2.8", "2001:db8::/32", "junk"}}
	got := c.TrustedPrefixes()
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("2001:db8::1/128"),
		netip.MustParsePrefix("192.0.2.8/32"),
		netip.MustParsePrefix("2001:db8::/32"),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("TrustedPrefixes() = %v, want %v", got, want)
	}
}

func TestConfig_Redacted(t *testing.T) {
	c := valid()
	c.Redis.Password = "redis-password"
	c.Ticket.HMACKeys = []HMACKey{{"h1", b64(1, 32)}}
	c.Ticket.SigningKeys = []EdKey{{ID: "e1", Seed: b64(2, 32)}}
	orig := c
	orig.Ticket.HMACKeys = slices.Clone(c.Ticket.HMACKeys)
	orig.Ticket.SigningKeys = slices.Clone(c.Ticket.SigningKeys)

	r := c.Redacted()
	for name, got := range map[string]string{
		"admin_token":    r.AdminToken,
		"redis.password": r.Redis.Password,
		"hmac secret":    r.Ticket.HMACKeys[0].Secret,
		"ed seed":        r.Ticket.SigningKeys[0].Seed,
	} {
		if got != "REDACTED" {
			t.Errorf("%s = %q, want REDACTED", name, got)
		}
	}
	if r.Ticket.HMACKeys[0].ID != "h1" || r.Ticket.SigningKeys[0].ID != "e1" || r.Room != c.Room {
		t.Errorf("Redacted() changed non-secret values: %+v", r)
	}
	if !reflect.DeepEqual(c, orig) {
		t.Errorf("Redacted() modified the original")
	}
	if got := (Config{}).Redacted().AdminToken; got != "" {
		t.Errorf("empty admin token redacted to %q, want empty", got)
	}

	printed := fmt.Sprint(c) + fmt.Sprintf("%v %+v %s", c, c, c)
	for _, secret := range []string{testToken, "redis-password", b64(1, 32), b64(2, 32)} {
		if strings.Contains(printed, secret) {
			t.Errorf("printing a Config reveals %q:\n%s", secret, printed)
		}
	}
	if !strings.Contains(printed, "REDACTED") || !strings.Contains(printed, c.Backend) {
		t.Errorf("printed Config lacks the redacted values:\n%s", printed)
	}
}

// writeCA writes a freshly made self-signed CA certificate as PEM and
// returns its path.
func writeCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, t.TempDir(), "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
}
