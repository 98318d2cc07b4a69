package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/ticket"
)

// Cookie names. The ticket cookie is scoped to the waiting room; the device
// and admission cookies go to the backend too, so it can check the binding.
const (
	cookieTicket    = "wr_ticket"
	cookieDevice    = "wr_device"
	cookieAdmission = "wr_admission"
)

// minPoll is the shortest poll interval, near the front; the longest is
// Options.MaxPoll.
const (
	minPoll = time.Second
	// joinTimeout bounds the store round trip of a join.
	joinTimeout = 2 * time.Second
	// admitTimeout bounds the store round trip that confirms an admission:
	// the person polls again soon if it fails.
	admitTimeout = 500 * time.Millisecond
	// maxReturnPath bounds the remembered return path.
	maxReturnPath = 512
)

var (
	hdrCacheControl = []byte("Cache-Control")
	valNoStore      = []byte("no-store")
	bearerPrefix    = []byte("Bearer ")
)

// status answers a poll from memory: one ticket check, one snapshot read,
// no store round trip, no allocation while waiting.
func (g *Gateway) status(ctx *fasthttp.RequestCtx) error {
	if !ctx.IsGet() && !ctx.IsHead() {
		return errMethod
	}
	g.metrics.statusPolls.Add(1)
	var q ticket.Queue
	r, tok, now, err := g.readTicket(ctx, &q)
	if err != nil {
		return err
	}
	return g.respond(ctx, r, tok, &q, now, false)
}

// readTicket verifies the request's ticket (the ticket cookie, or a bearer
// header) into q, for the room served now and at the gateway's time now.
func (g *Gateway) readTicket(ctx *fasthttp.RequestCtx, q *ticket.Queue) (r *Room, tok []byte, now time.Time, err error) {
	tok, device := cookies(&ctx.Request.Header, cookieTicket, cookieDevice)
	if tok = ticketFrom(ctx, tok); len(tok) == 0 {
		return nil, nil, now, errNoTicket
	}
	r, now = g.Room(), g.o.Now()
	return r, tok, now, r.Queue.Verify(tok, device, now, q)
}

// crossSite reports whether the browser says the request comes from
// another site's page: such a page must not join or speak for anyone.
func crossSite(ctx *fasthttp.RequestCtx) bool {
	return bytes.Equal(ctx.Request.Header.Peek("Sec-Fetch-Site"), []byte("cross-site"))
}

// join hands out a place, or the same place again to a device that holds a
// valid ticket: a refresh never costs a place. A place whose admission ran
// out (see admit) is answered as such, unless the body asks for a new one
// ({"again":true}): then it takes a new place at the back of the line, or in
// identity mode verifies again (see authCallback). A new place is within
// the device's and the address's budgets (see allowPlace).
func (g *Gateway) join(ctx *fasthttp.RequestCtx) error {
	if !ctx.IsPost() {
		return errMethod
	}
	if crossSite(ctx) {
		return errCrossSite
	}
	now := g.o.Now()
	r := g.Room()
	d := g.deviceOf(ctx)
	in, bodyErr := joinBody(ctx)
	if tok := ticketFrom(ctx, cookie(&ctx.Request.Header, cookieTicket)); len(tok) > 0 {
		var q ticket.Queue
		if r.Queue.Verify(tok, d.id, now, &q) == nil {
			over := false
			if in.Again {
				var err error
				if over, err = g.admissionOver(r, q.Position, now); err != nil {
					return err
				}
			}
			if !over {
				return g.respond(ctx, r, tok, &q, now, true)
			}
		}
	}
	if g.o.Identity != nil {
		return errVerifyFirst
	}
	if bodyErr != nil {
		return bodyErr
	}
	if err := g.allowPlace(ctx, d, in.Proof, now); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	pos, err := g.o.Store.Join(sctx, r.Name)
	if err != nil {
		return err
	}
	r.Controller.NoteIssued(pos)
	g.noteJoin(ctx, r.Name, pos)
	q := ticket.Queue{Subject: ticket.NewSubject(), Device: ticket.DeviceHash(d.id), Position: pos}
	tok, err := g.issueTicket(ctx, r, q, in.Return, now)
	if err != nil {
		return err
	}
	return g.respond(ctx, r, tok, &q, now, true)
}

// away records that a waiting page is going to sleep: hidden or frozen
// (the page sends it with navigator.sendBeacon as it goes). Its holder
// counts as present for SleepGrace, so that release does not pass over a
// phone that was locked for a few minutes; their next poll replaces the
// promise. With left=1 the page is being unloaded (closed, reloaded, or
// navigated away): its holder is held to the heartbeat grace from now,
// like anyone who stops polling. It answers 204 and never touches the store.
func (g *Gateway) away(ctx *fasthttp.RequestCtx) error {
	if !ctx.IsPost() {
		return errMethod
	}
	if crossSite(ctx) {
		return errCrossSite
	}
	var q ticket.Queue
	r, _, now, err := g.readTicket(ctx, &q)
	if err != nil {
		return err
	}
	if g.presence != nil && g.o.SleepGrace > 0 && q.Rejoin == 0 && q.Position > r.Controller.Snapshot().Admitted {
		until, delay := now.Add(g.o.SleepGrace), sleepDelay
		if bytes.Equal(ctx.QueryArgs().Peek("left"), []byte("1")) {
			until, delay = now, leftDelay
		}
		g.presence.noteLater(r.Name, q.Position, until, delay)
	}
	ctx.Response.Header.SetBytesKV(hdrCacheControl, valNoStore)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// asleep reports whether a status poll comes from a page that is hidden
// (away=1 in the query): a hidden page's timers are throttled to a minute
// or stopped, so it promises what a sleeping page promises (see away).
func asleep(ctx *fasthttp.RequestCtx) bool {
	return ctx.IsGet() && bytes.Equal(ctx.QueryArgs().Peek("away"), []byte("1"))
}

// issueTicket signs q and sets it as the ticket cookie.
func (g *Gateway) issueTicket(ctx *fasthttp.RequestCtx, r *Room, q ticket.Queue, ret string, now time.Time) ([]byte, error) {
	tok, err := r.Queue.Issue(q, ret, now)
	if err != nil {
		return nil, err
	}
	g.setCookie(ctx, cookieTicket, tok, "/waitroom/", g.o.TicketTTL)
	return []byte(tok), nil
}

// respond writes a person's standing: admitted once the cursor has reached
// their position, otherwise their place, the people ahead and the wait. The
// answer carries the ticket only when issued is set or respond issues a new
// one (a join, a drawn pre-queue place): whoever polls holds the ticket
// already, and a waiting poll's answer is then a third of the size.
func (g *Gateway) respond(ctx *fasthttp.RequestCtx, r *Room, tok []byte, q *ticket.Queue, now time.Time, issued bool) error {
	snap := r.Controller.Snapshot()
	if q.Position == 0 {
		// A pre-queue ticket: wait for the opening, then take the place
		// the draw gives.
		if !snap.Draw.Drawn {
			return g.preQueue(ctx, tok, q, snap)
		}
		var err error
		if tok, err = g.drawn(ctx, r, tok, q, snap); err != nil {
			return err
		}
		issued = true
	}
	if closes := snap.Window.Closes; !closes.IsZero() && !snap.Now.Before(closes) {
		return errWindowClosed
	}
	if q.Rejoin == 0 && q.Position <= snap.Admitted {
		rejoin, err := g.rejoinIndex(r, q.Position, snap)
		if err != nil {
			// Whether this person was passed over cannot be told now: wait,
			// as everyone does while the store is unreachable.
			g.storeFailed(ctx, opAdmit, "cannot confirm an admission", err)
			return g.writeWaiting(ctx, r, tok, q, issued, admission.PausedStoreUnreachable, snap, now)
		}
		if rejoin > 0 {
			q.Rejoin = rejoin
			if tok, err = g.issueTicket(ctx, r, *q, r.Queue.ReturnPath(tok), now); err != nil {
				return err
			}
			issued = true
		}
	}
	if q.Rejoin > 0 && q.Rejoin <= snap.RejoinAdmitted || q.Rejoin == 0 && q.Position <= snap.Admitted {
		echo := tok
		if !issued {
			echo = nil
		}
		return g.admit(ctx, r, tok, echo, q, snap, now)
	}
	return g.writeWaiting(ctx, r, tok, q, issued, snap.PauseReason(), snap, now)
}

// rejoinIndex tells how the holder of pos, which the cursor has passed,
// enters (admission.Presence.Admit): 0 at once, else at that index of the
// rejoin line. A room whose release never passed anyone over needs no store
// round trip: snap's cursor passed pos, so its count of passes covers pos.
func (g *Gateway) rejoinIndex(r *Room, pos int64, snap *admission.Snapshot) (int64, error) {
	if g.presence == nil || snap.Skipped == 0 {
		return 0, nil
	}
	c, cancel := context.WithTimeout(context.Background(), admitTimeout)
	defer cancel()
	return g.presence.store.Admit(c, r.Name, pos)
}

// writeWaiting answers a person who waits: in the main line, or in the
// rejoin line after being passed over. paused is the snapshot's
// PauseReason, or why this answer cannot admit anyone now.
func (g *Gateway) writeWaiting(ctx *fasthttp.RequestCtx, r *Room, tok []byte, q *ticket.Queue, issued bool, paused string, snap *admission.Snapshot, now time.Time) error {
	echo := tok
	if !issued {
		echo = nil
	}
	var (
		ahead int64
		wait  time.Duration
	)
	switch {
	case q.Rejoin > 0:
		ahead, wait = max(q.Rejoin-snap.RejoinAdmitted-1, 0), snap.RejoinWait(q.Rejoin)
	case q.Position > snap.Admitted:
		ahead, wait = q.Position-snap.Admitted-1+snap.Rejoined-snap.RejoinAdmitted, snap.Wait(q.Position)
	}
	poll := g.pollAfter(wait)
	if g.presence != nil && q.Rejoin == 0 && q.Position > snap.Admitted {
		promise := poll
		if g.o.SleepGrace > 0 && asleep(ctx) {
			promise = max(poll, g.o.SleepGrace)
		}
		g.presence.note(r.Name, q.Position, now.Add(promise))
	}
	var buf [1024]byte
	b := appendStanding(buf[:0], echo, "waiting", q.Position, ahead, wait, poll, paused, snap)
	if q.Rejoin > 0 {
		b = append(b, `,"rejoining":true`...)
	}
	if paused == "" && wait <= g.o.NoticeLead {
		// The page tells the person, even in another tab, that their
		// turn is near.
		b = append(b, `,"soon":true`...)
	}
	ctx.Response.Header.SetContentTypeBytes(ctJSON)
	ctx.Response.Header.SetBytesKV(hdrCacheControl, valNoStore)
	ctx.Write(b)
	// The operator's message goes beside buf, so that however long it is
	// the poll allocates nothing.
	ctx.Write(g.messageField())
	ctx.WriteString("}")
	return nil
}

// errAdmissionExpired answers a person whose time to enter ran out.
var errAdmissionExpired = &Error{Status: fasthttp.StatusGone, Code: "admission_expired",
	Message: "your time to enter has run out: take a new place in line at /waitroom/"}

// admit issues the admission token the backend and the proxy check. tok is
// the verified ticket, echo what the answer repeats of it (nil: nothing).
// An admission lasts the token's lifetime (session_duration) from the first
// instant the holder was let in (admission.Entries): within it every
// answer gives a token expiring at the same instant, so a person who comes
// back goes straight in; after it the answer is errAdmissionExpired.
func (g *Gateway) admit(ctx *fasthttp.RequestCtx, r *Room, tok, echo []byte, q *ticket.Queue, snap *admission.Snapshot, now time.Time) error {
	// One session per place, so one per person: every token issued for this
	// place carries the same session id, and ending the session ends them all.
	sid := sessionOf(r.Name, q.Subject)
	if g.ended.has(sid) {
		return errSessionEnded
	}
	first, err := g.entered(r, q.Position, now)
	if err != nil {
		// The cursor's grant stands without the store; only when this
		// admission began cannot be read. Count it from now: at worst it
		// ends later than it should by as long as the store is away.
		g.storeFailed(ctx, opAdmit, "cannot read when an admission began; counting it from now", err)
		first = now
	}
	if !first.Add(g.o.Admission.TTL()).After(now) {
		return errAdmissionExpired
	}
	token, claims, err := g.o.Admission.Issue(ticket.Admission{
		Subject:  base64.RawURLEncoding.EncodeToString(q.Subject[:]),
		Device:   base64.RawURLEncoding.EncodeToString(q.Device[:]),
		Room:     r.Name,
		Position: q.Position,
		Method:   g.methodName(q.Method),
		ID:       base64.RawURLEncoding.EncodeToString(sid[:]),
	}, first)
	if err != nil {
		return err
	}
	left := claims.Expiry.Sub(now)
	g.setCookie(ctx, cookieAdmission, token, "/", left)
	g.noteAdmission(ctx, r.Name, q.Position, claims.Method)
	redirect := r.Queue.ReturnPath(tok)
	if redirect == "" {
		redirect = "/"
	}
	b := appendStanding(make([]byte, 0, 1024), echo, "admitted", q.Position, 0, 0, 0, snap.PauseReason(), snap)
	b = append(b, `,"admission":`...)
	b = strconv.AppendQuote(b, token) // base64url and dots only
	b = append(b, `,"admission_seconds":`...)
	b = strconv.AppendInt(b, int64(left/time.Second), 10)
	b = append(b, `,"redirect":`...)
	rj, _ := json.Marshal(redirect)
	b = append(append(b, rj...), '}')
	ctx.Response.Header.SetContentTypeBytes(ctJSON)
	ctx.Response.Header.SetBytesKV(hdrCacheControl, valNoStore)
	ctx.Write(b)
	return nil
}

// entered returns the first instant the holder of pos, which the cursor
// has passed, was let in: now, for a store that does not keep it.
func (g *Gateway) entered(r *Room, pos int64, now time.Time) (time.Time, error) {
	e, ok := g.o.Store.(admission.Entries)
	if !ok {
		return now, nil
	}
	c, cancel := context.WithTimeout(context.Background(), admitTimeout)
	defer cancel()
	return e.Enter(c, r.Name, pos, now)
}

// admissionOver reports whether the holder of pos was let in longer than
// an admission lasts ago: their place is spent. A place the cursor has not
// reached is not.
func (g *Gateway) admissionOver(r *Room, pos int64, now time.Time) (bool, error) {
	if pos < 1 || pos > r.Controller.Snapshot().Admitted {
		return false, nil
	}
	first, err := g.entered(r, pos, now)
	if err != nil {
		return false, err
	}
	return !first.Add(g.o.Admission.TTL()).After(now), nil
}

// appendStanding appends the fields every join and status answer shares,
// leaving the object open. tok, when not nil, is a verified ticket
// (base64url and dots) to hand to the person; paused says why nobody is
// admitted now ("" when release runs), as Snapshot.PauseReason.
func appendStanding(b, tok []byte, state string, pos, ahead int64, wait, poll time.Duration, paused string, snap *admission.Snapshot) []byte {
	b = append(b, '{')
	if tok != nil {
		b = append(b, `"ticket":"`...)
		b = append(b, tok...)
		b = append(b, `",`...)
	}
	b = append(b, `"state":"`...)
	b = append(b, state...)
	b = append(b, `","position":`...)
	b = strconv.AppendInt(b, pos, 10)
	b = append(b, `,"ahead":`...)
	b = strconv.AppendInt(b, ahead, 10)
	b = append(b, `,"eta_seconds":`...)
	b = strconv.AppendInt(b, int64((wait+time.Second-1)/time.Second), 10)
	b = append(b, `,"poll_after_ms":`...)
	b = strconv.AppendInt(b, poll.Milliseconds(), 10)
	b = append(b, `,"paused":`...)
	b = strconv.AppendBool(b, paused != "")
	if paused != "" {
		b = append(b, `,"pause_reason":"`...)
		b = append(b, paused...)
		b = append(b, '"')
	}
	b = append(b, `,"rate_per_hour":`...)
	b = strconv.AppendInt(b, snap.RatePerHour, 10)
	return b
}

// pollAfter chooses when a person should ask again: half their remaining
// wait, within [minPoll, MaxPoll], jittered by ±20% so that a crowd that
// joined together does not poll together. Far from the front people poll
// every MaxPoll, near it every second or two: with 1.9 M people waiting and
// 2 M/hour released that is about 1.9 M / MaxPoll plus 555/s x 2 x
// ln(MaxPoll / 1 s) requests a second (about 21k with MaxPoll 120 s), not
// the 95k of everyone polling every 20 s. Polling at half the wait keeps
// the wait shown fresh and, as a heartbeat, tells within seconds that
// somebody left (see presence).
func (g *Gateway) pollAfter(wait time.Duration) time.Duration {
	p := min(max(wait/2, minPoll), g.o.MaxPoll)
	return time.Duration(float64(p) * (0.8 + 0.4*rand.Float64()))
}

// ticketFrom returns the queue ticket: fromCookie, the ticket cookie's
// value, when there is one, else a bearer header's.
func ticketFrom(ctx *fasthttp.RequestCtx, fromCookie []byte) []byte {
	if len(fromCookie) > 0 {
		return fromCookie
	}
	if a := ctx.Request.Header.Peek("Authorization"); bytes.HasPrefix(a, bearerPrefix) {
		return a[len(bearerPrefix):]
	}
	return nil
}

// cookies returns the values of the first cookies called a and b, as
// RequestHeader.Cookie does (key and value trimmed of spaces and tabs, one
// pair of double quotes around the value removed, a value holding '"', ';'
// or '\' ignored), read in place in one pass over the Cookie headers.
// RequestHeader.Cookie first copies every cookie of the request into a
// parsed list: with a ticket or an admission token in it, half a
// microsecond a request, more than checking the ticket's HMAC.
func cookies(h *fasthttp.RequestHeader, a, b string) (va, vb []byte) {
	for _, line := range h.PeekAll(fasthttp.HeaderCookie) {
		for len(line) > 0 && (va == nil || vb == nil) {
			var pair []byte
			pair, line, _ = bytes.Cut(line, semicolon)
			k, v, ok := bytes.Cut(pair, equals)
			if !ok {
				continue
			}
			k = trimSpaceTab(k)
			if string(k) != a && string(k) != b {
				continue
			}
			if v = trimSpaceTab(v); len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if bytes.IndexByte(v, '"') >= 0 || bytes.IndexByte(v, '\\') >= 0 {
				continue
			}
			if string(k) == a && va == nil {
				va = v
			}
			if string(k) == b && vb == nil {
				vb = v
			}
		}
	}
	return va, vb
}

// cookie returns the value of the first cookie called name (see cookies).
func cookie(h *fasthttp.RequestHeader, name string) []byte {
	v, _ := cookies(h, name, name)
	return v
}

var (
	semicolon = []byte{';'}
	equals    = []byte{'='}
)

// trimSpaceTab trims spaces and tabs, the blanks of a Cookie header.
func trimSpaceTab(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// validDevice accepts the 22-character base64url ids ticket.NewDeviceID makes.
func validDevice(d []byte) bool {
	if len(d) != 22 {
		return false
	}
	for _, c := range d {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// joinRequest is what a join asks: where the person wanted to go, whether
// they want a new place because their admission ran out, and a proof of
// work when their address needs one (see challenge).
type joinRequest struct {
	Return string `json:"return"`
	Again  bool   `json:"again"`
	Proof  string `json:"proof"`
}

// joinBody reads a join's JSON body {"return":"/path","again":true} (both
// optional), or without a body the return query parameter. An unusable path (not local,
// too long, or inside the waiting room) becomes "/"; a body that is not
// JSON is an error, reported with what could be read.
func joinBody(ctx *fasthttp.RequestCtx) (joinRequest, error) {
	in := joinRequest{Return: string(ctx.QueryArgs().Peek("return"))}
	var err error
	if body := bytes.TrimSpace(ctx.PostBody()); len(body) > 0 {
		in = joinRequest{}
		if len(body) > 4096 || json.Unmarshal(body, &in) != nil {
			in, err = joinRequest{}, errBadJSON
		}
	}
	in.Return = localPath(in.Return)
	return in, err
}

// localPath returns p if it is a path on this site outside the waiting
// room, else "/". It refuses "//host" and "/\host", which browsers treat
// as other sites.
func localPath(p string) string {
	if len(p) == 0 || len(p) > maxReturnPath || p[0] != '/' || (len(p) > 1 && (p[1] == '/' || p[1] == '\\')) {
		return "/"
	}
	if p == "/waitroom" || len(p) >= len(prefixRoom) && p[:len(prefixRoom)] == string(prefixRoom) {
		return "/"
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			return "/"
		}
	}
	return p
}

// setCookie sets an HttpOnly, SameSite=Lax cookie, Secure when the person
// reached us over HTTPS; a negative maxAge deletes it.
func (g *Gateway) setCookie(ctx *fasthttp.RequestCtx, name, value, path string, maxAge time.Duration) {
	g.setCookieSameSite(ctx, name, value, path, maxAge, fasthttp.CookieSameSiteLaxMode)
}

// setCookieSameSite is setCookie with another SameSite mode (the operator
// console's session is Strict).
func (g *Gateway) setCookieSameSite(ctx *fasthttp.RequestCtx, name, value, path string, maxAge time.Duration, mode fasthttp.CookieSameSite) {
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(name)
	c.SetValue(value)
	c.SetPath(path)
	if maxAge < 0 {
		c.SetExpire(fasthttp.CookieExpireDelete)
	} else {
		c.SetMaxAge(int(maxAge / time.Second))
	}
	c.SetHTTPOnly(true)
	c.SetSameSite(mode)
	c.SetSecure(g.isHTTPS(ctx))
	ctx.Response.Header.SetCookie(c)
}
