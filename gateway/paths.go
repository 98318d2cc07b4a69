package gateway

import (
	"bytes"
	"net/netip"
	"sort"
	"strings"
)

// pathPolicy decides which backend paths pass without admission. The
// longest matching prefix wins; a path that matches no rule is protected,
// so a forgotten rule fails closed.
type pathPolicy struct {
	rules []pathRule // longest prefix first
}

type pathRule struct {
	prefix []byte
	bypass bool
}

func newPathPolicy(protect, bypass []string) pathPolicy {
	var p pathPolicy
	for _, s := range protect {
		p.rules = append(p.rules, pathRule{prefix: []byte(s)})
	}
	for _, s := range bypass {
		p.rules = append(p.rules, pathRule{prefix: []byte(s), bypass: true})
	}
	sort.SliceStable(p.rules, func(i, j int) bool { return len(p.rules[i].prefix) > len(p.rules[j].prefix) })
	return p
}

// bypassed reports whether path (normalised by fasthttp: percent-decoded,
// dot segments and repeated slashes removed) may pass without admission.
// raw is the request URI as sent. A backslash or an encoded slash, dot or
// backslash in raw never passes: backends disagree on what they mean, and
// the proxy must forward exactly what it checked.
func (p pathPolicy) bypassed(path, raw []byte) bool {
	if bytes.IndexByte(raw, '\\') >= 0 || containsFoldAny(raw, "%2f", "%5c", "%2e", "%25", "%00") {
		return false
	}
	for _, r := range p.rules {
		if bytes.HasPrefix(path, r.prefix) {
			return r.bypass
		}
	}
	return false
}

// containsFoldAny reports whether s contains any of the lower-case needles,
// ignoring ASCII case, without allocating.
func containsFoldAny(s []byte, needles ...string) bool {
	for i := 0; i+3 <= len(s); i++ {
		if s[i] != '%' {
			continue
		}
		for _, n := range needles {
			if (s[i+1]|0x20) == n[1] && (s[i+2]|0x20) == n[2] {
				return true
			}
		}
	}
	return false
}

// clientIP returns the address of the person behind the request: the first
// untrusted hop walking X-Forwarded-For from the right, which a client
// cannot forge past a trusted proxy.
func clientIP(remote netip.Addr, xff []byte, trusted []netip.Prefix) netip.Addr {
	if !isTrusted(remote, trusted) || len(xff) == 0 {
		return remote
	}
	hops := strings.Split(string(xff), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return remote
		}
		a = a.Unmap()
		if !isTrusted(a, trusted) {
			return a
		}
		remote = a
	}
	return remote
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
