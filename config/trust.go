package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
)

// DevClientSecret is the development identity provider's client secret
// (`waitroom dev-idp`), which etc/dev.yaml uses: known to everyone, so
// refused with environment production.
const DevClientSecret = "dev-secret"

// production reports, with environment production (the default), every
// convenience meant for development that a production gateway must not
// rely on: keys and secrets made up at start (each gateway would have its
// own, and a restart would void every ticket and identity), the
// development provider's known client secret, plain-http identity
// providers and callbacks (an authorization code or ID token readable on
// the way), and trusting every address as a proxy (any client could then
// set X-Forwarded-For and the rest). The accelerated clock is refused in
// queue.
func (ps *problems) production(c Config) {
	if c.Environment != EnvProduction {
		return
	}
	const why = "refused with environment production"
	if len(c.Ticket.HMACKeys) == 0 {
		ps.add("ticket.hmac_keys", "must be set (%s: without keys every gateway makes its own at start and tickets die with it; run `waitroom keygen`)", why)
	}
	if len(c.Ticket.SigningKeys) == 0 {
		ps.add("ticket.signing_keys", "must be set (%s: without keys every gateway makes its own at start and admissions die with it; run `waitroom keygen`)", why)
	}
	for i, s := range c.TrustedProxies {
		if p, err := parsePrefix(s); err == nil && p.Bits() == 0 {
			ps.add(fmt.Sprintf("trusted_proxies[%d]", i), "%q trusts every address, so any client could set X-Forwarded-For and the rest: list the load balancers (%s)", s, why)
		}
	}
	id := c.Identity
	if id.Enabled && id.Secret == "" {
		ps.add("identity.secret", "must be set (%s: a secret made up at start hashes identities differently on every gateway and after a restart)", why)
	}
	if id.Enabled {
		if u, err := url.Parse(id.PublicURL); id.PublicURL == "" || err == nil && u.Scheme != "https" {
			ps.add("identity.public_url", "must be the gateway's public https URL (%s: providers send people back with an authorization code), got %q", why, id.PublicURL)
		}
	}
	for i, m := range id.Methods {
		if !m.Enabled {
			continue
		}
		key := fmt.Sprintf("identity.methods[%d]", i)
		if u, err := url.Parse(m.Issuer); err == nil && u.Scheme == "http" {
			ps.add(key+".issuer", "must be https (%s: ID tokens and keys would travel in the clear), got %q", why, m.Issuer)
		}
		if m.ClientSecret == DevClientSecret {
			ps.add(key+".client_secret", "is the development provider's secret (%s)", why)
		}
	}
}

// hostNamePattern is a DNS name: labels of letters, digits and hyphens.
var hostNamePattern = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$`)

func (ps *problems) adminHosts(hosts []string) {
	for i, h := range hosts {
		if !hostNamePattern.MatchString(h) {
			ps.add(fmt.Sprintf("admin_hosts[%d]", i), "must be a host name without port or scheme, such as ops.example.com, got %q", h)
		}
	}
}

// AdminHostNames are the host names the operator listener answers to:
// AdminHosts, or by default "localhost" and admin_listen's host when it is
// a name.
func (c Config) AdminHostNames() []string {
	if len(c.AdminHosts) > 0 {
		return c.AdminHosts
	}
	names := []string{"localhost"}
	if h, _, err := net.SplitHostPort(c.AdminListen); err == nil && h != "" && h != "localhost" {
		if _, err := netip.ParseAddr(h); err != nil {
			names = append(names, h)
		}
	}
	return names
}
