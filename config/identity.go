package config

import (
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Identity turns on identity-first joining: people verify with one of the
// Methods (each an OpenID Connect provider) before they get a place, and
// the Schedule decides whose window it is.
type Identity struct {
	// Enabled requires verification before joining. Default false: anyone
	// may join anonymously.
	Enabled bool `mapstructure:"enabled"`
	// Secret keys the identity hash and seals verification state: base64
	// of at least 32 bytes, the same on every gateway. Empty: a throwaway
	// development secret, with a loud warning.
	Secret string `mapstructure:"secret"`
	// PublicURL is the gateway's public base URL; each method's callback is
	// PublicURL + "/waitroom/auth/<name>/callback". Default "http://" + listen.
	PublicURL string `mapstructure:"public_url"`
	// Schedule is a YAML file of eligibility windows (etc/schedule-2021-08.yaml
	// is the August 2021 one). Empty: everyone may queue at any time.
	Schedule string `mapstructure:"schedule"`
	// Block is how long after a person verified another device is refused
	// their place, 1m..24h. Default 10m.
	Block time.Duration `mapstructure:"block"`
	// TargetLatency is the verification time above which a method's light
	// turns yellow, 100ms..1m. Default 5s.
	TargetLatency time.Duration `mapstructure:"target_latency"`
	// Methods are the verification methods, in the order shown.
	Methods []Method `mapstructure:"methods"`
}

// Method is one verification method: an OpenID Connect provider.
type Method struct {
	// Name is 1-32 of [a-z0-9_-], unique: phone, ipin, certificate, kakao, naver, pass.
	Name string `mapstructure:"name"`
	// Label is what people see, e.g. "카카오 인증".
	Label string `mapstructure:"label"`
	// LabelEn is what English pages show, e.g. "Kakao". Default: Label.
	LabelEn string `mapstructure:"label_en"`
	// Issuer is the provider's issuer URL (http or https).
	Issuer string `mapstructure:"issuer"`
	// ClientID and ClientSecret are the gateway's credentials; the secret is a secret.
	ClientID     string `mapstructure:"client_id"`
	ClientSecret string `mapstructure:"client_secret"`
	// PersonClaim is the ID token claim that identifies a person across
	// every provider, 1-64 of [A-Za-z0-9_-]. Default "ci" (Korea's
	// connecting information). "sub" identifies a person at this provider
	// only: the gateway warns loudly, since the same person verifying with
	// another method then gets another place. See docs/IDENTITY.md.
	PersonClaim string `mapstructure:"person_claim"`
	// Capacity is the verifications in flight the provider takes; beyond
	// it new ones are held back. 1..10000000.
	Capacity int `mapstructure:"capacity"`
	// Enabled methods can be used; disabled ones show as unavailable.
	Enabled bool `mapstructure:"enabled"`
}

var (
	methodPattern = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
	claimPattern  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

func (ps *problems) identity(c Config) {
	id := c.Identity
	ps.durationRange("identity.block", id.Block, time.Minute, 24*time.Hour)
	ps.durationRange("identity.target_latency", id.TargetLatency, 100*time.Millisecond, time.Minute)
	if id.Secret != "" {
		if b, err := decodeBase64(id.Secret); err != nil || len(b) < 32 {
			ps.add("identity.secret", "must be base64 of at least 32 bytes")
		}
	}
	if id.PublicURL != "" {
		if u, err := url.Parse(id.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" && u.Path != "/" {
			ps.add("identity.public_url", "must be an http or https URL without a path, got %q", id.PublicURL)
		}
	}
	if id.Enabled && len(id.Methods) == 0 {
		ps.add("identity.methods", "must list at least one method when identity is enabled")
	}
	seen := map[string]bool{}
	for i, m := range id.Methods {
		key := fmt.Sprintf("identity.methods[%d]", i)
		if !methodPattern.MatchString(m.Name) {
			ps.add(key+".name", "must be 1-32 of a-z, 0-9, _ and -, got %q", m.Name)
		} else if seen[m.Name] {
			ps.add(key+".name", "duplicate method %q", m.Name)
		}
		seen[m.Name] = true
		if m.Label == "" {
			ps.add(key+".label", "must not be empty")
		}
		if m.PersonClaim != "" && !claimPattern.MatchString(m.PersonClaim) {
			ps.add(key+".person_claim", "must be a top-level claim name, 1-64 of A-Z, a-z, 0-9, _ and -, got %q", m.PersonClaim)
		}
		if !m.Enabled {
			continue
		}
		if u, err := url.Parse(m.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.add(key+".issuer", "must be an http or https URL, got %q", m.Issuer)
		}
		if m.ClientID == "" {
			ps.add(key+".client_id", "must not be empty")
		}
		ps.intRange(key+".capacity", int64(m.Capacity), 1, 10_000_000)
	}
}

// CallbackURL is where method's provider sends people back.
func (c Config) CallbackURL(method string) string {
	base := c.Identity.PublicURL
	if base == "" {
		base = "http://" + c.Listen
	}
	u, _ := url.Parse(base)
	return u.JoinPath("/waitroom/auth", method, "callback").String()
}

// IdentitySecret decodes identity.secret (nil when empty).
func (c Config) IdentitySecret() []byte {
	if c.Identity.Secret == "" {
		return nil
	}
	b, _ := decodeBase64(c.Identity.Secret)
	return b
}
