package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// parsedFlags returns a flag set from RegisterFlags, parsed from args.
func parsedFlags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

// loadYAML writes yaml to a temporary file and loads it with args as
// further flags.
func loadYAML(t *testing.T, yaml string, args ...string) (Config, error) {
	t.Helper()
	path := writeFile(t, t.TempDir(), "waitroom.yaml", yaml)
	return Load(parsedFlags(t, append([]string{"--config", path}, args...)...))
}

func TestLoad(t *testing.T) {
	t.Run("Precedence", func(t *testing.T) {
		t.Setenv("WAITROOM_ROOM", "env-room")
		t.Setenv("WAITROOM_BACKEND", "http://env.example")
		t.Setenv("WAITROOM_PROXY_MAX_CONNS", "77")
		t.Setenv("WAITROOM_TICKET_ISSUER", "env-issuer")
		t.Setenv("WAITROOM_PATHS_BYPASS", "/a/, /b/")
		t.Setenv("WAITROOM_REDIS_ADDRS", "r1:6379,r2:6379")
		t.Setenv("WAITROOM_ADMIN_TOKEN", testToken)
		t.Setenv("WAITROOM_PROXY_BACKEND_IDLE", "2s")
		c, err := loadYAML(t, `
listen: 127.0.0.1:9000
room: file-room
backend: http://file.example
rate_per_hour: 100
paused: true
session_duration: 5m
proxy:
  max_conns: 5
  read_timeout: 3s
`, "--room", "flag-room", "--session-duration", "7m", "--log-level", "debug", "--paused=false")
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			key       string
			got, want any
		}{
			{"room: flag over env over file", c.Room, "flag-room"},
			{"session_duration: flag over file", c.SessionDuration, 7 * time.Minute},
			{"paused: flag set to its default still wins", c.Paused, false},
			{"log.level: flag over default", c.Log.Level, "debug"},
			{"backend: env over file", c.Backend, "http://env.example"},
			{"proxy.max_conns: nested env over file", c.Proxy.MaxConns, 77},
			{"proxy.backend_idle: env duration", c.Proxy.BackendIdle, 2 * time.Second},
			{"ticket.issuer: nested env over default", c.Ticket.Issuer, "env-issuer"},
			{"admin_token: env", c.AdminToken, testToken},
			{"listen: file, unset flag's default does not override", c.Listen, "127.0.0.1:9000"},
			{"rate_per_hour: file", c.RatePerHour, int64(100)},
			{"proxy.read_timeout: file", c.Proxy.ReadTimeout, 3 * time.Second},
			{"proxy.write_timeout: default beside file keys", c.Proxy.WriteTimeout, 30 * time.Second},
			{"ticket.audience: default", c.Ticket.Audience, "booking"},
		} {
			if tt.got != tt.want {
				t.Errorf("%s: got %v, want %v", tt.key, tt.got, tt.want)
			}
		}
		if got, want := c.Paths.Bypass, []string{"/a/", "/b/"}; !slices.Equal(got, want) {
			t.Errorf("paths.bypass from env = %q, want %q", got, want)
		}
		if got, want := c.Redis.Addrs, []string{"r1:6379", "r2:6379"}; !slices.Equal(got, want) {
			t.Errorf("redis.addrs from env = %q, want %q", got, want)
		}
	})

	t.Run("OKWithoutFile", func(t *testing.T) {
		t.Setenv("WAITROOM_ADMIN_TOKEN", testToken)
		for name, fs := range map[string]*pflag.FlagSet{"NilFlags": nil, "NoConfigFlag": parsedFlags(t)} {
			c, err := Load(fs)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if diff := changedKeys(c, devValid()); len(diff) > 0 {
				t.Errorf("%s: keys differ from the defaults: %q", name, diff)
			}
		}
	})

	t.Run("OKExampleFileHoldsTheDefaults", func(t *testing.T) {
		t.Setenv("WAITROOM_ADMIN_TOKEN", testToken)
		c, err := Load(parsedFlags(t, "--config", "example.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if diff := changedKeys(c, devValid()); len(diff) > 0 {
			t.Errorf("example.yaml differs from Default() in %q", diff)
		}
		// Each key must be spelt out, not left to the default.
		example, err := os.ReadFile("example.yaml")
		if err != nil {
			t.Fatal(err)
		}
		for key := range leaves(Default()) {
			indent := strings.Repeat("  ", strings.Count(key, "."))
			name := key[strings.LastIndex(key, ".")+1:]
			if !strings.Contains(string(example), "\n"+indent+name+":") {
				t.Errorf("example.yaml does not set key %s", key)
			}
		}
	})

	t.Run("ErrUnknownKeys", func(t *testing.T) {
		t.Setenv("WAITROOM_ADMIN_TOKEN", testToken)
		_, err := loadYAML(t, `
colour: blue
proxy:
  max_conn: 5
ticket:
  hmac_keys:
    - id: k1
      secrte: abc
`)
		got := problemKeys(t, err)
		for _, want := range []string{"colour", "proxy.max_conn", "ticket.hmac_keys[0].secrte"} {
			if !slices.Contains(got, want) {
				t.Errorf("problem keys %q lack %s\nerror:\n%v", got, want, err)
			}
		}
		if !strings.Contains(err.Error(), "proxy.max_conn: unknown key") {
			t.Errorf("error does not name the unknown key:\n%v", err)
		}
	})

	t.Run("ErrAllProblemsAtOnce", func(t *testing.T) {
		_, err := loadYAML(t, `
room: Bad Room
paused: maybe
session_duration: 600
ticket_ttl: "600"
typo_key: 1
proxy:
  max_conns: lots
  max_request_body: 10
paths:
  protect: {a: b}
`)
		got := problemKeys(t, err)
		slices.Sort(got)
		want := []string{
			"admin_token", "paths.protect[0]", "paused", "proxy.max_conns", "proxy.max_request_body",
			"room", "session_duration", "ticket_ttl", "typo_key",
		}
		if !slices.Equal(got, want) {
			t.Fatalf("problem keys = %q, want %q (each once)\nerror:\n%v", got, want, err)
		}
		msg := err.Error()
		for _, want := range []string{
			"proxy.max_conns: must be an integer",
			"session_duration: must be a duration with a unit",
			`ticket_ttl: must be a duration such as "90s" or "10m", got "600"`,
			"paths.protect[0]: must be a string, got a mapping",
			"proxy.max_request_body: must be between 1024 and 1073741824, got 10",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("error lacks %q:\n%s", want, msg)
			}
		}
	})

	t.Run("ErrWrongTypeFromEnv", func(t *testing.T) {
		t.Setenv("WAITROOM_ADMIN_TOKEN", testToken)
		t.Setenv("WAITROOM_PROXY_MAX_CONNS", "many")
		t.Setenv("WAITROOM_PROXY_IDLE_TIMEOUT", "60")
		_, err := Load(nil)
		if got, want := problemKeys(t, err), []string{"proxy.idle_timeout", "proxy.max_conns"}; !slices.Equal(got, want) {
			t.Fatalf("problem keys = %q, want %q\nerror:\n%v", got, want, err)
		}
	})

	t.Run("ErrMissingFile", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "absent.yaml")
		_, err := Load(parsedFlags(t, "--config", path))
		var ve *ValidationError
		if err == nil || errors.As(err, &ve) || !strings.Contains(err.Error(), path) {
			t.Fatalf("Load() error = %v, want a file error naming %s", err, path)
		}
	})

	t.Run("ErrMalformedFile", func(t *testing.T) {
		_, err := loadYAML(t, "listen: [unclosed\n")
		if err == nil || !strings.Contains(err.Error(), "waitroom.yaml") {
			t.Fatalf("Load() error = %v, want a parse error naming the file", err)
		}
	})
}

func TestLoad_AdminTokenFile(t *testing.T) {
	dir := t.TempDir()
	tokenFile := writeFile(t, dir, "token", testToken+" \n")
	shortFile := writeFile(t, dir, "short", "short\n")
	emptyFile := writeFile(t, dir, "empty", "\n")
	tests := []struct {
		name      string
		yaml      string
		wantKeys  []string
		wantToken string
	}{
		{"OK", "admin_token_file: " + tokenFile, nil, testToken},
		{"ErrUnreadable", "admin_token_file: " + filepath.Join(dir, "absent"), []string{"admin_token_file"}, ""},
		{"ErrEmpty", "admin_token_file: " + emptyFile, []string{"admin_token_file"}, ""},
		{"ErrShort", "admin_token_file: " + shortFile, []string{"admin_token_file"}, ""},
		{"ErrBoth", "admin_token_file: " + tokenFile + "\nadmin_token: " + testToken, []string{"admin_token"}, ""},
		{"ErrNeither", "", []string{"admin_token"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadYAML(t, tt.yaml)
			if got := problemKeys(t, err); !slices.Equal(got, tt.wantKeys) {
				t.Fatalf("problem keys = %q, want %q\nerror:\n%v", got, tt.wantKeys, err)
			}
			if c.AdminToken != tt.wantToken {
				t.Fatalf("AdminToken = %q, want %q", c.AdminToken, tt.wantToken)
			}
			if err != nil && strings.Contains(err.Error(), testToken) {
				t.Fatalf("error reveals the token:\n%v", err)
			}
		})
	}
	t.Run("OKRevalidates", func(t *testing.T) {
		c, err := loadYAML(t, "admin_token_file: "+tokenFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate() of a loaded config = %v", err)
		}
	})
}

func TestRegisterFlags(t *testing.T) {
	fs := parsedFlags(t)
	d := Default()
	want := map[string]string{
		"config":           "",
		"listen":           d.Listen,
		"admin-listen":     d.AdminListen,
		"backend":          d.Backend,
		"room":             d.Room,
		"rate-per-hour":    "2000000",
		"paused":           "false",
		"session-duration": d.SessionDuration.String(),
		"log-level":        d.Log.Level,
		"log-format":       d.Log.Format,
	}
	var got []string
	fs.VisitAll(func(f *pflag.Flag) {
		got = append(got, f.Name)
		if w, ok := want[f.Name]; !ok || f.DefValue != w {
			t.Errorf("flag --%s default %q, want %q (known %v)", f.Name, f.DefValue, w, ok)
		}
		if strings.Contains(f.Name, "token") || strings.Contains(f.Name, "password") || strings.Contains(f.Name, "secret") {
			t.Errorf("flag --%s would show a secret in ps", f.Name)
		}
	})
	if len(got) != len(want) {
		t.Errorf("flags = %q, want %d flags", got, len(want))
	}
}
