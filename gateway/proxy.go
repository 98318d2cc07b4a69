package gateway

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/netip"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/ticket"
)

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
	remote, _ := netip.AddrFromSlice(ctx.RemoteIP())
	remote = remote.Unmap()
	g.cleanRequest(ctx, remote, isTrusted(remote, g.o.TrustedProxies))
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
	seen := scanResponse(&ctx.Response.Header)
	stripHopByHop(&ctx.Response.Header, uint32(seen))
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
