package gateway

import (
	"bytes"
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"
)

// The proxy's header boundary: what a client's headers may tell the
// backend. docs/BACKEND.md lists, for backend authors, which headers to
// trust; this is where that promise is kept. A request's headers reach the
// backend as sent, except:
//
//   - hop-by-hop headers, and the names Connection lists, are removed
//     (RFC 9110 7.6.1), in both directions;
//   - headers of our own namespace (X-Waitroom-*), path overrides that some
//     frameworks and IIS honour (X-Original-URL, X-Rewrite-URL,
//     X-Original-URI: the gateway admitted the request line, and only it
//     says what the backend serves), Forwarded (not rewritten) and
//     client-address headers other than ours (Client-IP, X-Client-IP,
//     True-Client-IP, CF-Connecting-IP, Fastly-Client-IP,
//     X-Cluster-Client-IP) are removed, whoever sent them, a trusted proxy
//     too: no deployment needs a client's copy of them, and a proxy that
//     does not overwrite them would pass a client's through;
//   - X-Forwarded-For is rebuilt and X-Real-IP set to the client address the
//     gateway believes (through the trusted proxies), every client copy
//     removed first: fasthttp's Set replaces only the first of several;
//   - X-Forwarded-Proto and X-Forwarded-Host are the gateway's, unless a
//     trusted proxy sent them;
//   - X-Forwarded-Port, -Prefix, -Server, -Uri, -Ssl, -Scheme, X-Url-Scheme
//     and Front-End-Https (what frameworks build links and redirects from)
//     are removed unless a trusted proxy sent them;
//   - X-Request-Id is the gateway's (withRequestID).
//
// The X-HTTP-Method-Override family passes: the gateway decides nothing by
// method (a bypass path is bypassed for every method), so a client that can
// send the header can send the method itself.

// hopByHop are the headers that describe one connection, not the message;
// they never cross the proxy in either direction (RFC 9110 7.6.1).
// Connection comes first: scans report it as bit 0.
var hopByHop = [...]string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding", "Upgrade"}

// What the scans report: bit i for hopByHop[i] in both directions, then
// what each direction's names add.
const (
	seenConnection = 1 << 0 // hopByHop[0]
	seenHopByHop   = 1<<len(hopByHop) - 1
	// seenComplete is the response's headerComplete.
	seenComplete = 1 << len(hopByHop)
)

// responseNames are the names a backend's answer is scanned for.
var responseNames = newNameSet(append(hopByHop[:len(hopByHop):len(hopByHop)], headerComplete))

// What the proxy does with a request header a client sent.
type headerRule uint8

const (
	ruleHopByHop  headerRule = iota // stripHopByHop
	ruleDrop                        // removed, whoever sent it
	ruleUntrusted                   // removed unless a trusted proxy sent it
	ruleRewrite                     // setForwarded replaces it
)

// requestHeaders are the names a request is scanned for, with their rules:
// hop-by-hop first, so that bit i is hopByHop[i] as stripHopByHop expects.
var requestHeaders = func() []struct {
	name string
	rule headerRule
} {
	type h = struct {
		name string
		rule headerRule
	}
	var out []h
	for _, n := range hopByHop {
		out = append(out, h{n, ruleHopByHop})
	}
	for _, n := range []string{"Forwarded", "X-Original-URL", "X-Rewrite-URL", "X-Original-URI",
		"Client-IP", "X-Client-IP", "True-Client-IP", "CF-Connecting-IP", "Fastly-Client-IP", "X-Cluster-Client-IP"} {
		out = append(out, h{n, ruleDrop})
	}
	for _, n := range []string{"X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Server", "X-Forwarded-Uri",
		"X-Forwarded-Ssl", "X-Forwarded-Scheme", "X-Url-Scheme", "Front-End-Https"} {
		out = append(out, h{n, ruleUntrusted})
	}
	for _, n := range []string{hdrXFF, hdrXFProto, hdrXFHost, hdrRealIP} {
		out = append(out, h{n, ruleRewrite})
	}
	return out
}()

var requestNames = func() *nameSet {
	names := make([]string, len(requestHeaders))
	for i, h := range requestHeaders {
		names[i] = h.name
	}
	return newNameSet(names)
}()

// Bits of the rewritten names in a request scan.
var seenXFF, seenXFProto, seenXFHost, seenRealIP = requestBit(hdrXFF), requestBit(hdrXFProto), requestBit(hdrXFHost), requestBit(hdrRealIP)

func requestBit(name string) uint64 {
	for i, h := range requestHeaders {
		if h.name == name {
			return 1 << i
		}
	}
	panic("gateway: " + name + " is not a scanned request header")
}

// ownPrefix starts the names of our own namespace.
const ownPrefix = "X-Waitroom-"

// nameSet is up to 64 header names, matched ignoring ASCII case. A header
// is compared only with the names of its length, mostly none.
type nameSet struct {
	names []string
	byLen [maxScannedName + 1][]uint8 // indexes into names
}

// maxScannedName is the longest name a nameSet holds.
const maxScannedName = 32

func newNameSet(names []string) *nameSet {
	if len(names) > 64 {
		panic("gateway: more than 64 scanned header names")
	}
	s := &nameSet{names: names}
	for i, n := range names {
		s.byLen[len(n)] = append(s.byLen[len(n)], uint8(i))
	}
	return s
}

// has returns bit i set when k is names[i], comparing it only with the
// names of its length, without copying or normalising it.
func (s *nameSet) has(k []byte) uint64 {
	var seen uint64
	if len(k) <= maxScannedName {
		for _, i := range s.byLen[len(k)] {
			if equalFoldASCII(k, s.names[i]) {
				seen |= 1 << i
			}
		}
	}
	return seen
}

// Scanning a message once and deleting only the names it holds, mostly
// none, is several times cheaper than a Del for each possible name, which
// normalises it and walks every header.

// scanRequest returns which of requestNames the request holds (bit i for
// requestHeaders[i]) and appends to own the names of headers of our own
// namespace. It reads the names from the header block as received
// (RawHeaders), as fasthttp's parser did: lines end at LF, a name ends at
// the first colon, less trailing blanks, and a line starting with a blank
// continues the one before. Neither All, which first copies every cookie
// into fasthttp's parsed list, nor AllInOrder, which validates every value
// again, is needed for that: with a few cookies either costs more than the
// rest of the boundary. A request not parsed from the wire has no raw
// block, and All serves.
func scanRequest(h *fasthttp.RequestHeader, own [][]byte) (uint64, [][]byte) {
	var seen uint64
	raw := h.RawHeaders()
	if len(raw) == 0 {
		for k := range h.All() {
			seen |= requestNames.has(k)
			if isOwn(k) {
				own = append(own, k)
			}
		}
		return scanTrailer(h, seen, own)
	}
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if len(line) == 0 || line[0] == '\r' {
			break // the blank line that ends the block
		}
		colon := bytes.IndexByte(line, ':')
		if line[0] == ' ' || line[0] == '\t' || colon < 0 {
			continue
		}
		k := line[:colon]
		for len(k) > 0 && (k[len(k)-1] == ' ' || k[len(k)-1] == '\t') {
			k = k[:len(k)-1]
		}
		seen |= requestNames.has(k)
		if isOwn(k) {
			own = append(own, k)
		}
	}
	return scanTrailer(h, seen, own)
}

// scanTrailer adds the trailer fields of a chunked request body to a scan:
// the proxy forwards the body whole, and fasthttp then writes them in the
// header section, so they pass the same rules.
func scanTrailer(h *fasthttp.RequestHeader, seen uint64, own [][]byte) (uint64, [][]byte) {
	for _, k := range h.PeekTrailerKeys() {
		seen |= requestNames.has(k)
		if isOwn(k) {
			own = append(own, k)
		}
	}
	return seen, own
}

// scanResponse returns which of responseNames a backend's answer holds.
func scanResponse(h *fasthttp.ResponseHeader) uint64 {
	var seen uint64
	for k := range h.All() {
		seen |= responseNames.has(k)
	}
	return seen
}

// isOwn reports whether k names a header of our own namespace.
func isOwn(k []byte) bool {
	return len(k) >= len(ownPrefix) && equalFoldASCII(k[:len(ownPrefix)], ownPrefix)
}

// cleanRequest applies the header boundary to a request about to be
// proxied, from the peer remote (trusted: a trusted proxy). ctx.Host() must
// still be the host the client asked for.
func (g *Gateway) cleanRequest(ctx *fasthttp.RequestCtx, remote netip.Addr, trusted bool) {
	h := &ctx.Request.Header
	var buf [4][]byte
	seen, own := scanRequest(h, buf[:0])
	for i := len(hopByHop); i < len(requestHeaders); i++ {
		if seen&(1<<i) != 0 && (requestHeaders[i].rule == ruleDrop || requestHeaders[i].rule == ruleUntrusted && !trusted) {
			h.Del(requestHeaders[i].name)
		}
	}
	for _, k := range own {
		h.DelBytes(k)
	}
	// After the deletions, which may hold names of trailer fields that
	// dropping the Trailer header forgets; before setForwarded, so that
	// what Connection names cannot remove what the gateway sets.
	stripHopByHop(h, uint32(seen&seenHopByHop))
	g.setForwarded(ctx, remote, trusted, seen)
}

var (
	bHdrXFF     = []byte(hdrXFF)
	bHdrXFProto = []byte(hdrXFProto)
	bHdrXFHost  = []byte(hdrXFHost)
	bHdrRealIP  = []byte(hdrRealIP)
	commaSpace  = []byte(", ")
	schemeHTTP  = []byte("http")
	schemeHTTPS = []byte("https")
)

const (
	hdrXFF     = "X-Forwarded-For"
	hdrXFProto = "X-Forwarded-Proto"
	hdrXFHost  = "X-Forwarded-Host"
	hdrRealIP  = "X-Real-IP"
)

// setForwarded sets X-Forwarded-For (a trusted proxy's list, then the
// peer), X-Real-IP (the client as clientIP finds it), and X-Forwarded-Proto
// and -Host (the scheme and the host the client asked for, so it runs
// before the proxy rewrites the host) unless a trusted proxy sent them.
// seen is the request scan: a client's copies of what is replaced are
// deleted, all of them, before it is set.
func (g *Gateway) setForwarded(ctx *fasthttp.RequestCtx, remote netip.Addr, trusted bool, seen uint64) {
	h := &ctx.Request.Header
	// Built on the stack: an address is at most 45 bytes, and only a
	// trusted proxy's list of earlier hops can outgrow the buffer.
	var buf [128]byte
	xff := buf[:0]
	client := remote
	if trusted {
		for i, v := range h.PeekAll(hdrXFF) {
			if i > 0 {
				xff = append(xff, commaSpace...)
			}
			xff = append(xff, v...)
		}
		if len(xff) > 0 {
			client = clientIP(remote, xff, g.o.TrustedProxies)
			xff = append(xff, commaSpace...)
		}
	}
	if seen&seenXFF != 0 {
		h.DelBytes(bHdrXFF)
	}
	h.SetCanonical(bHdrXFF, remote.AppendTo(xff))
	if seen&seenRealIP != 0 {
		h.DelBytes(bHdrRealIP)
	}
	h.SetCanonical(bHdrRealIP, client.AppendTo(buf[:0]))
	// A trusted proxy's -Proto and -Host are looked up, not taken from the
	// scan: the names Connection listed are gone by now.
	if !trusted || len(h.PeekBytes(bHdrXFProto)) == 0 {
		if seen&seenXFProto != 0 {
			h.DelBytes(bHdrXFProto)
		}
		proto := schemeHTTP
		if ctx.IsTLS() {
			proto = schemeHTTPS
		}
		h.SetCanonical(bHdrXFProto, proto)
	}
	if !trusted || len(h.PeekBytes(bHdrXFHost)) == 0 {
		if seen&seenXFHost != 0 {
			h.DelBytes(bHdrXFHost)
		}
		h.SetCanonical(bHdrXFHost, ctx.Host())
	}
}

// isHTTPS reports whether the person reached us over HTTPS, directly or
// through a trusted proxy.
func (g *Gateway) isHTTPS(ctx *fasthttp.RequestCtx) bool {
	if ctx.IsTLS() {
		return true
	}
	remote, _ := netip.AddrFromSlice(ctx.RemoteIP())
	return isTrusted(remote, g.o.TrustedProxies) && bytes.EqualFold(ctx.Request.Header.PeekBytes(bHdrXFProto), schemeHTTPS)
}

// headers is what request and response headers share for stripping.
type headers interface {
	Peek(key string) []byte
	Del(key string)
}

// equalFoldASCII reports whether b and s are equal ignoring ASCII case.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// stripHopByHop removes the hop-by-hop headers seen (bits as from a scan;
// seenHopByHop: whichever there are) and every header that Connection
// names.
func stripHopByHop(h headers, seen uint32) {
	if seen&seenConnection != 0 {
		// What browsers send names nothing beyond hopByHop.
		if list := h.Peek("Connection"); !equalFoldASCII(list, "keep-alive") && !equalFoldASCII(list, "close") {
			// Copied: deleting headers may move the bytes Peek points into.
			for name := range strings.SplitSeq(string(list), ",") {
				if name = strings.TrimSpace(name); name != "" {
					h.Del(name)
				}
			}
		}
	}
	for i, name := range hopByHop {
		if seen&(1<<i) != 0 {
			h.Del(name)
		}
	}
}
