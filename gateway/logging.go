package gateway

import (
	"context"
	"log/slog"
	"math/rand/v2"

	"github.com/valyala/fasthttp"
)

// Request ids and the log lines about requests. Every request on the public
// and the operator listener carries an id in X-Request-Id: the caller's
// (a load balancer's) when it is short and safe, else a new one. It is
// forwarded to the backend, echoed in the response and carried by every log
// line about the request, so one id follows a request from the load
// balancer to the backend's logs.
//
// Log lines never carry tickets, tokens, cookies, query strings or a
// visitor's address; about a person they say at most their queue position
// and verification method.

var hdrRequestID = []byte("X-Request-Id")

// maxRequestID bounds an id taken from a request: a UUID is 36 characters.
const maxRequestID = 64

// withRequestID gives each request handled by h its id.
func withRequestID(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		var buf [maxRequestID]byte
		id := append(buf[:0], ctx.Request.Header.PeekBytes(hdrRequestID)...)
		if !safeRequestID(id) {
			id = appendNewRequestID(buf[:0])
		}
		// Del then set, so that a second X-Request-Id cannot pass unchecked.
		ctx.Request.Header.DelBytes(hdrRequestID)
		ctx.Request.Header.SetBytesKV(hdrRequestID, id)
		h(ctx)
		// After h: a proxied answer brings the backend's headers.
		ctx.Response.Header.SetBytesKV(hdrRequestID, id)
	}
}

// safeRequestID accepts 1-64 characters of A-Z, a-z, 0-9, '-', '_', '.'
// and ':', which cannot break a log line or a header.
func safeRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > maxRequestID {
		return false
	}
	for _, c := range id {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// appendNewRequestID appends 16 random hex digits: ids only tell requests
// apart, they guard nothing, so the fast generator will do.
func appendNewRequestID(b []byte) []byte {
	const hex = "0123456789abcdef"
	v := rand.Uint64()
	for i := 0; i < 16; i++ {
		b = append(b, hex[v>>60])
		v <<= 4
	}
	return b
}

// requestID returns the id of the request in ctx ("" without one).
func requestID(ctx *fasthttp.RequestCtx) string {
	if ctx == nil {
		return ""
	}
	return string(ctx.Request.Header.PeekBytes(hdrRequestID))
}

// logAnswer logs an error answer: internal errors at error level with the
// error, a wrong admin token at warn, every other refusal (bad tickets,
// not admitted, store or backend trouble, which are logged where they
// happen) at debug, since a crowd or a flood of forged tickets would drown
// the log.
func logAnswer(ctx *fasthttp.RequestCtx, log *slog.Logger, e *Error, err error) {
	level := slog.LevelDebug
	switch e {
	case errInternal:
		level = slog.LevelError
	case errAdminAuth:
		level = slog.LevelWarn
	}
	if !log.Enabled(context.Background(), level) {
		return
	}
	msg := "request refused"
	attrs := []slog.Attr{slog.String("request_id", requestID(ctx)), slog.String("method", string(ctx.Method())),
		slog.String("path", string(ctx.Path())), slog.Int("status", e.Status), slog.String("code", e.Code)}
	switch e {
	case errInternal:
		msg = "internal error"
		attrs = append(attrs, slog.Any("err", err))
	case errAdminAuth:
		attrs = append(attrs, slog.String("from", ctx.RemoteAddr().String())) // someone probing the operator API
	}
	log.LogAttrs(context.Background(), level, msg, attrs...)
}

// storeFailed counts a failed store call and logs it at warn level with
// the request's id (ctx nil for background work).
func (g *Gateway) storeFailed(ctx *fasthttp.RequestCtx, op storeOp, msg string, err error) {
	g.metrics.storeErrors[op].Add(1)
	if ctx == nil {
		g.log.Warn(msg, "err", err)
		return
	}
	g.log.Warn(msg, "request_id", requestID(ctx), "err", err)
}
