package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/ticket"
)

// hopByHop are the headers that describe one connection, not the message;
// they never cross the proxy in either direction (RFC 9110 7.6.1).
// Connection comes first: scanHeaders reports it as bit 0.
var hopByHop = [...]string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding", "Upgrade"}

// What scanHeaders reports: bit i for hopByHop[i], then headerComplete.
const (
	seenConnection = 1 << 0 // hopByHop[0]
	seenHopByHop   = 1<<len(hopByHop) - 1
	seenComplete   = 1 << len(hopByHop)
)

// scanned are the names scanHeaders looks for, in the order of its bits.
var scanned = append(hopByHop[:len(hopByHop):len(hopByHop)], headerComplete)

// proxy sends an admitted (or bypassed) request to the backend and streams
// the answer back. Anything else is refused here: a browser is sent to the
// waiting room, any other client gets 403.
func (g *Gateway) proxy(ctx *fasthttp.RequestCtx) error {
	path := ctx.Path()
	var session [16]byte
	admitted := false
	if !g.paths.bypassed(path, ctx.Request.Header.RequestURI()) {
		tok, device := cookies(&ctx.Request.Header, cookieAdmission, cookieDevice)
		if len(tok) == 0 {
			return g.refuse(ctx)
		}
		var err error
		if session, err = g.checkAdmission(tok, device); err != nil || g.ended.has(session) {
			return g.refuse(ctx)
		}
		admitted = true
	}
	req := &ctx.Request
	// Every name is deleted from the request unseen: listing a request's
	// headers would first copy each of its cookies into fasthttp's parsed
	// list, which costs more than the deletions.
	stripHopByHop(&req.Header, seenHopByHop)
	g.setForwarded(ctx)
	// Forward exactly the normalised path that was checked, never the raw
	// one a backend might decode differently: the backend client (path
	// normalising on) writes the request line from the parsed URI, the
	// checked path quoted again, and the Host header from its host.
	req.UseHostHeader = false
	req.URI().SetHost(g.host)

	resp := fasthttp.AcquireResponse()
	start := time.Now()
	err := g.backend.DoDeadline(req, resp, start.Add(g.o.BackendTimeout))
	g.metrics.observeBackend(resp.StatusCode(), err, time.Since(start))
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		if isBackendTimeout(err) {
			g.log.Warn("backend timeout", "request_id", requestID(ctx), "err", err)
			return errBackendTimeout
		}
		g.log.Warn("backend unavailable", "request_id", requestID(ctx), "err", err)
		return errBackendDown
	}
	if n := resp.Header.ContentLength(); n > 0 && int64(n) > g.o.MaxResponseBody {
		fasthttp.ReleaseResponse(resp)
		g.metrics.backendErrors[backendTooLarge].Add(1)
		return errBackendTooLarge
	}
	resp.Header.CopyTo(&ctx.Response.Header)
	seen := scanHeaders(&ctx.Response.Header)
	stripHopByHop(&ctx.Response.Header, seen)
	if seen&seenComplete != 0 {
		if admitted && string(ctx.Response.Header.Peek(headerComplete)) == "1" {
			g.endSession(ctx, session)
		}
		ctx.Response.Header.Del(headerComplete)
	}
	if resp.IsBodyStream() {
		ctx.Response.SetBodyStream(&limitedBody{r: resp.BodyStream(), resp: resp, left: g.o.MaxResponseBody}, resp.Header.ContentLength())
		return nil
	}
	ctx.Response.SetBody(resp.Body())
	fasthttp.ReleaseResponse(resp)
	return nil
}

// checkAdmission checks an admission token for the room served now, or
// for the one served before it (see SetRoom), and returns its session id.
func (g *Gateway) checkAdmission(tok, device []byte) ([16]byte, error) {
	now := g.o.Now()
	session, err := g.o.Admission.Check(tok, device, g.Room().Name, now)
	if errors.Is(err, ticket.ErrRoom) {
		if prev := g.prevRoom.Load(); prev != nil {
			return g.o.Admission.Check(tok, device, *prev, now)
		}
	}
	return session, err
}

// headerComplete is the backend's signal that a person's business is done:
// their session ends at once, everywhere, and its token stops working.
const headerComplete = "X-Waitroom-Complete"

// endSession ends session across the fleet and clears the person's
// admission cookie.
func (g *Gateway) endSession(ctx *fasthttp.RequestCtx, session [16]byte) {
	g.ended.add(session, g.o.Now().Add(24*time.Hour))
	g.setCookie(ctx, cookieAdmission, "", "/", -time.Second)
	s, ok := g.o.Store.(admission.Sessions)
	if !ok {
		return
	}
	c, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.EndSession(c, g.Room().Name, base64.RawURLEncoding.EncodeToString(session[:]), g.o.Now().Add(24*time.Hour)); err != nil {
		g.storeFailed(ctx, opSessions, "ended session not shared with other gateways", err)
	}
}

// refuse answers a request that is neither admitted nor bypassed.
func (g *Gateway) refuse(ctx *fasthttp.RequestCtx) error {
	ctx.Response.Header.SetBytesKV(hdrCacheControl, valNoStore)
	if wantsHTML(ctx) && (ctx.IsGet() || ctx.IsHead()) {
		a := fasthttp.AcquireArgs()
		defer fasthttp.ReleaseArgs(a)
		a.Set("return", string(ctx.RequestURI()))
		// A relative Location: the gateway may sit behind a proxy that
		// knows its public name better than it does.
		ctx.Response.Header.Set("Location", "/waitroom/?"+a.String())
		ctx.SetStatusCode(fasthttp.StatusSeeOther)
		return nil
	}
	return &Error{Status: fasthttp.StatusForbidden, Code: "not_admitted", Message: "not admitted yet: wait your turn in the waiting room at /waitroom/"}
}

var (
	hdrXFF      = []byte("X-Forwarded-For")
	hdrXFProto  = []byte("X-Forwarded-Proto")
	hdrXFHost   = []byte("X-Forwarded-Host")
	commaSpace  = []byte(", ")
	schemeHTTP  = []byte("http")
	schemeHTTPS = []byte("https")
)

// setForwarded sets X-Forwarded-For/-Proto/-Host (the host the client
// asked for, so it runs before the proxy rewrites it). Values sent by the
// client are kept only when it is a trusted proxy.
func (g *Gateway) setForwarded(ctx *fasthttp.RequestCtx) {
	h := &ctx.Request.Header
	remote, _ := netip.AddrFromSlice(ctx.RemoteIP())
	remote = remote.Unmap()
	trusted := isTrusted(remote, g.o.TrustedProxies)
	// Built on the stack: an address is at most 45 bytes, and only a
	// trusted proxy's list of earlier hops can outgrow the buffer.
	var buf [128]byte
	xff := buf[:0]
	if trusted {
		if prev := h.PeekBytes(hdrXFF); len(prev) > 0 {
			xff = append(append(xff, prev...), commaSpace...)
		}
	}
	h.SetCanonical(hdrXFF, remote.AppendTo(xff))
	if !trusted || len(h.PeekBytes(hdrXFProto)) == 0 {
		proto := schemeHTTP
		if ctx.IsTLS() {
			proto = schemeHTTPS
		}
		h.SetCanonical(hdrXFProto, proto)
	}
	if !trusted || len(h.PeekBytes(hdrXFHost)) == 0 {
		h.SetCanonical(hdrXFHost, ctx.Host())
	}
	h.Del("Forwarded") // the one header we do not rewrite must not pass unchecked
}

// isHTTPS reports whether the person reached us over HTTPS, directly or
// through a trusted proxy.
func (g *Gateway) isHTTPS(ctx *fasthttp.RequestCtx) bool {
	if ctx.IsTLS() {
		return true
	}
	remote, _ := netip.AddrFromSlice(ctx.RemoteIP())
	return isTrusted(remote, g.o.TrustedProxies) && bytes.EqualFold(ctx.Request.Header.Peek("X-Forwarded-Proto"), []byte("https"))
}

// headers is what request and response headers share for stripping.
type headers interface {
	Peek(key string) []byte
	Del(key string)
}

// scanHeaders returns which of the scanned names a backend's answer holds,
// as bits (see seenConnection), in one pass that neither copies nor
// normalises a key. An answer usually holds none of them, and then the
// proxy deletes nothing: a Del per possible name normalises it and walks
// every header, five times the cost of this pass.
func scanHeaders(h *fasthttp.ResponseHeader) uint32 {
	var seen uint32
	for k := range h.All() {
		for i, name := range scanned {
			if equalFoldASCII(k, name) {
				seen |= 1 << i
			}
		}
	}
	return seen
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

// stripHopByHop removes the hop-by-hop headers seen (bits as from
// scanHeaders; seenHopByHop: whichever there are) and every header that
// Connection names.
func stripHopByHop(h headers, seen uint32) {
	if seen&seenConnection != 0 {
		// Copied: deleting headers may move the bytes Peek points into.
		for name := range strings.SplitSeq(string(h.Peek("Connection")), ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for i, name := range hopByHop {
		if seen&(1<<i) != 0 {
			h.Del(name)
		}
	}
}

// limitedBody streams a backend body, cutting it off past the limit, and
// returns the backend connection when the server is done with it.
type limitedBody struct {
	r    io.Reader
	resp *fasthttp.Response
	left int64
}

var errBodyTooLarge = errors.New("backend response body over the limit")

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, err := l.r.Read(one[:]); n == 0 && err == io.EOF {
			return 0, io.EOF
		}
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *limitedBody) Close() error {
	err := l.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(l.resp)
	return err
}
