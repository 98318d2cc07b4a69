package admissionverify

import (
	"bytes"
	"context"
	"net/http"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/ticket"
)

// personKey is the context key of the verified claims. fasthttp's
// RequestCtx.Value reads user values, so one key serves both middlewares.
type personKey struct{}

// FromContext returns the person the middleware admitted: pass the
// request's context (r.Context()) with net/http, the *fasthttp.RequestCtx
// itself with fasthttp. ok is false outside the middleware.
func FromContext(ctx context.Context) (p Person, ok bool) {
	a, ok := ctx.Value(personKey{}).(*ticket.Admission)
	if !ok {
		return Person{}, false
	}
	return personOf(a), true
}

// Handler lets through requests that carry a valid admission token, with
// the person in the request's context (FromContext), and refuses the
// others with a JSON error.
func (v *Verifier) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var token, device []byte
		if c, err := r.Cookie(AdmissionCookie); err == nil {
			token = []byte(c.Value)
		}
		if len(token) == 0 {
			token = bearer([]byte(r.Header.Get("Authorization")))
		}
		if c, err := r.Cookie(DeviceCookie); err == nil {
			device = []byte(c.Value)
		}
		a, e := v.check(token, device)
		if e != nil {
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "no-store")
			setRefusalHeaders(e, h.Set)
			w.WriteHeader(e.Status)
			_, _ = w.Write(e.body)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), personKey{}, a)))
	})
}

// FastHTTP is Handler for fasthttp: FromContext(ctx) gives the person. A
// request with a token verified before does not allocate here.
func (v *Verifier) FastHTTP(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		token := ctx.Request.Header.Cookie(AdmissionCookie)
		if len(token) == 0 {
			token = bearer(ctx.Request.Header.Peek("Authorization"))
		}
		a, e := v.check(token, ctx.Request.Header.Cookie(DeviceCookie))
		if e != nil {
			ctx.Response.Header.Set("Cache-Control", "no-store")
			setRefusalHeaders(e, ctx.Response.Header.Set)
			ctx.SetContentType("application/json")
			ctx.SetStatusCode(e.Status)
			ctx.SetBody(e.body)
			return
		}
		ctx.SetUserValue(personKey{}, a)
		next(ctx)
	}
}

func setRefusalHeaders(e *Error, set func(k, v string)) {
	switch e.Status {
	case http.StatusUnauthorized:
		set("WWW-Authenticate", `Bearer realm="waitroom"`)
	case http.StatusServiceUnavailable:
		set("Retry-After", strconv.Itoa(int(noKeysRetry.Seconds())))
	}
}

// bearer returns the token of an "Authorization: Bearer <token>" header
// (the scheme is case-insensitive, RFC 9110 11.1), or nil.
func bearer(h []byte) []byte {
	const scheme = "bearer "
	if len(h) <= len(scheme) || !bytes.EqualFold(h[:len(scheme)], []byte(scheme)) {
		return nil
	}
	return bytes.TrimSpace(h[len(scheme):])
}

// Complete marks the response as the end of the person's business (a
// booking made): the gateway ends their session everywhere. Call it before
// writing the status or body.
func Complete(w http.ResponseWriter) { w.Header().Set(CompleteHeader, "1") }

// CompleteFast is Complete for fasthttp.
func CompleteFast(ctx *fasthttp.RequestCtx) { ctx.Response.Header.Set(CompleteHeader, "1") }
