package config

import (
	"slices"
	"testing"
)

// Production refuses every development convenience, each problem with its
// key, all at once; development and test accept them.
func TestValidate_Production(t *testing.T) {
	identity := func(c *Config) {
		c.Identity.Enabled = true
		c.Identity.Secret = b64(7, 32)
		c.Identity.PublicURL = "https://wait.example"
		c.Identity.Methods = []Method{{Name: "kakao", Label: "카카오", Issuer: "https://kauth.example", ClientID: "waitroom", ClientSecret: "s3cret", Capacity: 10, Enabled: true}}
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"OK", func(*Config) {}, nil},
		{"OKIdentity", identity, nil},
		{"OKDisabledMethodOverHTTP", func(c *Config) {
			identity(c)
			c.Identity.Methods = append(c.Identity.Methods, Method{Name: "phone", Label: "phone", Issuer: "http://idp.example", ClientSecret: DevClientSecret})
		}, nil},
		{"OKTrustedNetwork", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", "::1"} }, nil},
		{"ErrNoTicketKeys", func(c *Config) { c.Ticket.HMACKeys, c.Ticket.SigningKeys = nil, nil }, []string{"ticket.hmac_keys", "ticket.signing_keys"}},
		{"ErrTrustEveryone", func(c *Config) { c.TrustedProxies = []string{"10.0.0.1", "0.0.0.0/0", "::/0"} }, []string{"trusted_proxies[1]", "trusted_proxies[2]"}},
		{"ErrNoIdentitySecret", func(c *Config) { identity(c); c.Identity.Secret = "" }, []string{"identity.secret"}},
		{"ErrNoPublicURL", func(c *Config) { identity(c); c.Identity.PublicURL = "" }, []string{"identity.public_url"}},
		{"ErrHTTPPublicURL", func(c *Config) { identity(c); c.Identity.PublicURL = "http://wait.example" }, []string{"identity.public_url"}},
		{"ErrHTTPIssuer", func(c *Config) { identity(c); c.Identity.Methods[0].Issuer = "http://kauth.example" }, []string{"identity.methods[0].issuer"}},
		{"ErrHTTPLoopbackIssuer", func(c *Config) { identity(c); c.Identity.Methods[0].Issuer = "http://127.0.0.1:8082/kakao" }, []string{"identity.methods[0].issuer"}},
		{"ErrDevClientSecret", func(c *Config) { identity(c); c.Identity.Methods[0].ClientSecret = DevClientSecret }, []string{"identity.methods[0].client_secret"}},
		{"ErrAllAtOnce", func(c *Config) {
			identity(c)
			c.Ticket.HMACKeys = nil
			c.Identity.Secret, c.Identity.PublicURL = "", ""
			c.Identity.Methods[0].Issuer, c.Identity.Methods[0].ClientSecret = "http://127.0.0.1:8082/kakao", DevClientSecret
		}, []string{"ticket.hmac_keys", "identity.secret", "identity.public_url", "identity.methods[0].issuer", "identity.methods[0].client_secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mod(&c)
			if got := problemKeys(t, c.Validate()); !slices.Equal(got, tt.want) {
				t.Fatalf("problem keys = %q, want %q", got, tt.want)
			}
			for _, env := range []string{EnvDevelopment, EnvTest} {
				c.Environment = env
				if err := c.Validate(); err != nil {
					t.Fatalf("environment %s: %v", env, err)
				}
			}
		})
	}
}

// etc/dev.yaml, which make run uses, is a development configuration; with
// environment production the same file is refused, each problem named.
func TestLoad_Production(t *testing.T) {
	t.Setenv("WAITROOM_ADMIN_TOKEN", testToken)
	if _, err := Load(parsedFlags(t, "--config", "../etc/dev.yaml")); err != nil {
		t.Fatalf("etc/dev.yaml: %v", err)
	}
	t.Setenv("WAITROOM_ENVIRONMENT", EnvProduction)
	_, err := Load(parsedFlags(t, "--config", "../etc/dev.yaml"))
	got := problemKeys(t, err)
	for _, want := range []string{"ticket.hmac_keys", "ticket.signing_keys", "identity.secret", "identity.public_url",
		"identity.methods[0].issuer", "identity.methods[0].client_secret", "identity.methods[5].client_secret"} {
		if !slices.Contains(got, want) {
			t.Errorf("etc/dev.yaml in production: problems %q lack %s", got, want)
		}
	}
}

func TestConfig_AdminHostNames(t *testing.T) {
	for _, tt := range []struct {
		listen string
		hosts  []string
		want   []string
	}{
		{"127.0.0.1:8081", nil, []string{"localhost"}},
		{"[::1]:8081", nil, []string{"localhost"}},
		{":8081", nil, []string{"localhost"}},
		{"localhost:8081", nil, []string{"localhost"}},
		{"ops.internal:8081", nil, []string{"localhost", "ops.internal"}},
		{"ops.internal:8081", []string{"ops.example"}, []string{"ops.example"}},
	} {
		c := valid()
		c.AdminListen, c.AdminHosts = tt.listen, tt.hosts
		if got := c.AdminHostNames(); !slices.Equal(got, tt.want) {
			t.Errorf("admin_listen %s, admin_hosts %q: %q, want %q", tt.listen, tt.hosts, got, tt.want)
		}
	}
	c := valid()
	c.AdminHosts = []string{"ops.example", "Ops-1.Example.", "ops.example:8081", "https://ops.example", "*.example", ""}
	if got, want := problemKeys(t, c.Validate()), []string{"admin_hosts[2]", "admin_hosts[3]", "admin_hosts[4]", "admin_hosts[5]"}; !slices.Equal(got, want) {
		t.Errorf("problem keys = %q, want %q", got, want)
	}
}
