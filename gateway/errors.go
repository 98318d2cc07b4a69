package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"html"
	"log/slog"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/ticket"
)

// Error is an error with the HTTP answer it deserves. Handlers return it (or
// any error, which errorFor translates) and serveError writes it, so one
// table decides every status code.
type Error struct {
	Status     int
	Code       string // stable, machine-readable
	Message    string // for people; never contains internals
	RetryAfter int    // seconds; sent as Retry-After when > 0
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

var (
	errNotFound        = &Error{Status: fasthttp.StatusNotFound, Code: "not_found", Message: "no such page in the waiting room"}
	errMethod          = &Error{Status: fasthttp.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "method not allowed here"}
	errNoTicket        = &Error{Status: fasthttp.StatusUnauthorized, Code: "no_ticket", Message: "no queue ticket: join the queue at /waitroom/"}
	errUnavailable     = &Error{Status: fasthttp.StatusServiceUnavailable, Code: "unavailable", Message: "the queue is briefly unavailable; your place is kept, try again shortly", RetryAfter: 5}
	errBadJSON         = &Error{Status: fasthttp.StatusBadRequest, Code: "bad_request", Message: `body must be JSON like {"return":"/path"}`}
	errCrossSite       = &Error{Status: fasthttp.StatusForbidden, Code: "cross_site", Message: "joining from another site is not allowed"}
	errBackendDown     = &Error{Status: fasthttp.StatusBadGateway, Code: "backend_unavailable", Message: "the booking service did not answer; please try again in a moment"}
	errBackendTimeout  = &Error{Status: fasthttp.StatusGatewayTimeout, Code: "backend_timeout", Message: "the booking service took too long to answer; please try again in a moment"}
	errBackendTooLarge = &Error{Status: fasthttp.StatusBadGateway, Code: "backend_response_too_large", Message: "the booking service sent a response larger than allowed"}
	errAdminAuth       = &Error{Status: fasthttp.StatusUnauthorized, Code: "unauthorized", Message: "missing or wrong admin token"}
	errInternal        = &Error{Status: fasthttp.StatusInternalServerError, Code: "internal", Message: "internal error"}
	errNotInitialized  = &Error{Status: fasthttp.StatusServiceUnavailable, Code: "unavailable", Message: "the queue is being set up; try again shortly", RetryAfter: 5}
	errRateOutOfRange  = &Error{Status: fasthttp.StatusBadRequest, Code: "bad_rate", Message: "per_hour must be an integer between 1 and " + strconv.Itoa(admission.MaxRatePerHour)}
)

// ticketErrors maps every ticket verification failure to a 401 that says
// what is wrong with the ticket, without echoing it. Built once: a flood of
// forged tickets costs no allocation here.
var ticketErrors = func() []struct {
	err  error
	resp *Error
} {
	var out []struct {
		err  error
		resp *Error
	}
	for _, t := range []struct {
		err       error
		code, msg string
	}{
		{ticket.ErrExpired, "ticket_expired", "the ticket has expired"},
		{ticket.ErrDevice, "ticket_other_device", "the ticket belongs to another device"},
		{ticket.ErrStale, "ticket_stale", "the ticket is from a queue that no longer exists"},
		{ticket.ErrTooLarge, "ticket_too_large", "the ticket is too large"},
		{ticket.ErrAlgorithm, "ticket_algorithm", "the ticket uses an algorithm that is not accepted"},
		{ticket.ErrKey, "ticket_key", "the ticket is signed with an unknown key"},
		{ticket.ErrSignature, "ticket_signature", "the ticket's signature is not valid"},
		{ticket.ErrClaims, "ticket_claims", "the ticket is not for this waiting room"},
		{ticket.ErrMalformed, "ticket_malformed", "the ticket is malformed"},
	} {
		out = append(out, struct {
			err  error
			resp *Error
		}{t.err, &Error{Status: fasthttp.StatusUnauthorized, Code: t.code, Message: t.msg + "; join the queue again at /waitroom/"}})
	}
	return out
}()

// errorFor translates err into the answer it deserves.
func errorFor(err error) *Error {
	if e, ok := err.(*Error); ok {
		return e
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	for _, t := range ticketErrors {
		if errors.Is(err, t.err) {
			return t.resp
		}
	}
	switch {
	case errors.Is(err, admission.ErrUnavailable):
		return errUnavailable
	case errors.Is(err, admission.ErrNotInitialized):
		return errNotInitialized
	case errors.Is(err, admission.ErrInvalidRate):
		return errRateOutOfRange
	}
	return errInternal
}

var (
	ctJSON     = []byte("application/json; charset=utf-8")
	ctHTML     = []byte("text/html; charset=utf-8")
	hdrNosniff = []byte("X-Content-Type-Options")
	valNosniff = []byte("nosniff")
)

// serveError writes err as JSON, or as a small HTML page to browsers. The
// page carries the waiting page's security headers (setPageHeaders): a
// refusal must not be the one page another site can frame or that leaks
// the URL it answered; JSON is marked nosniff and not stored either.
func serveError(ctx *fasthttp.RequestCtx, log *slog.Logger, err error) {
	e := errorFor(err)
	logAnswer(ctx, log, e, err)
	ctx.Response.ResetBody()
	ctx.SetStatusCode(e.Status)
	if e.RetryAfter > 0 {
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if wantsHTML(ctx) {
		setPageHeaders(ctx)
		ctx.Response.Header.SetContentTypeBytes(ctHTML)
		ctx.WriteString(`<!doctype html><html lang="ko"><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>`)
		ctx.WriteString(strconv.Itoa(e.Status))
		ctx.WriteString(`</title><body><h1>`)
		ctx.WriteString(html.EscapeString(e.Message))
		ctx.WriteString(`</h1><p><a href="/waitroom/">대기실로 돌아가기 / Back to the waiting room</a></p></body></html>`)
		return
	}
	ctx.Response.Header.SetBytesKV(hdrCacheControl, valNoStore)
	ctx.Response.Header.SetBytesKV(hdrNosniff, valNosniff)
	ctx.Response.Header.SetContentTypeBytes(ctJSON)
	body, _ := json.Marshal(struct {
		Error *Error `json:"error"`
	}{e})
	ctx.Write(body)
}

// MarshalJSON writes the fields a client may rely on.
func (e *Error) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{e.Code, e.Message})
}

// wantsHTML reports whether the client is a browser asking for a page.
func wantsHTML(ctx *fasthttp.RequestCtx) bool {
	return bytes.Contains(ctx.Request.Header.Peek("Accept"), []byte("text/html"))
}
