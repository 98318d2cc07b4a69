// Package demo is a small booking site that stands in for the real
// vaccination booking system behind the gateway: a form to pick a date and a
// medical institution, a confirmation page, and a JSON list of the places
// left per date. Every page shows what the request carried from the gateway
// (X-Forwarded-For, whether a wr_admission cookie was present, and the
// admission it verified), so a demo makes the admission flow visible.
//
// With Options.Verifier set, the site checks every request's admission token
// itself (package admissionverify), as a real backend should: a request
// that reaches it around the gateway, or with a forged, expired or copied
// token, is refused with 401 or 403 and a JSON error. Only the static files
// pass unchecked, as they pass the gateway.
//
// Routes:
//
//	GET  /, /book       booking form
//	POST /book          book (form fields date=YYYY-MM-DD, institution=H1..H5);
//	                    200 with X-Waitroom-Complete: 1, or 400/409 with a page
//	GET  /api/slots     [{"date":"YYYY-MM-DD","remaining":N}, ...] for the next 7 days
//	GET  /static/style.css, /favicon.ico
//
// Anything else is a 404 page, a known path with another method a 405. Bad
// input never yields a 5xx. HEAD is answered like GET.
package demo

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/admissionverify"
	"github.com/waitroom/waitroom/internal/webfont"
)

// CompleteHeader is the response header a successful booking carries, so
// the gateway can end the person's admission early.
const CompleteHeader = admissionverify.CompleteHeader

// AdmissionCookie is the cookie the gateway sets on admitted people. The
// pages report whether it is present, never its value.
const AdmissionCookie = admissionverify.AdmissionCookie

// Options configures Handler. The zero value is ready to use.
type Options struct {
	// Logger receives a line per booking and per failed request.
	// nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock that decides the bookable dates (tomorrow and the six
	// days after it, in Korea Standard Time). nil means time.Now.
	Now func() time.Time
	// SlotsPerDay is the number of places on each date. 0 or less means 1,000,000,
	// enough that a load test at 2 M/hour does not run out within an hour.
	SlotsPerDay int
	// Verifier checks the admission token of every request but the static
	// files. nil checks nothing: the site then trusts that only the gateway
	// can reach it.
	Verifier *admissionverify.Verifier
}

//go:embed templates static
var files embed.FS

var (
	styleCSS = mustRead("static/style.css")

	funcs = template.FuncMap{
		"group": group,
		"dayKo": func(t time.Time) string {
			return t.Format("1월 2일") + " (" + string([]rune("일월화수목금토")[t.Weekday()]) + ")"
		},
		"dayEn": func(t time.Time) string { return t.Format("Mon 2 Jan") },
		"clock": func(t time.Time) string { return t.In(kst).Format("15:04:05 KST") },
	}
	layout    = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html"))
	formPage  = mustPage("form.html")
	donePage  = mustPage("done.html")
	errorPage = mustPage("error.html")
)

func mustRead(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("demo: " + err.Error())
	}
	return b
}

// mustPage returns the layout with the page's "content" template.
func mustPage(name string) *template.Template {
	return template.Must(template.Must(layout.Clone()).ParseFS(files, "templates/"+name))
}

// statusError is a failure the visitor caused. Its messages are safe to show.
type statusError struct {
	status int
	ko, en string
}

func (e *statusError) Error() string { return e.en }

func badRequest(ko, en string) error { return &statusError{fasthttp.StatusBadRequest, ko, en} }

var errNotFound = &statusError{fasthttp.StatusNotFound, "페이지를 찾을 수 없습니다.", "Page not found."}

// methodNotAllowed sets Allow and returns the 405 error.
func methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) error {
	ctx.Response.Header.Set("Allow", allow)
	return &statusError{fasthttp.StatusMethodNotAllowed, "허용되지 않는 요청 방식입니다.", "Method not allowed."}
}

type site struct {
	log   *slog.Logger
	slots *slots
	gets  map[string]func(*fasthttp.RequestCtx) error // GET and HEAD routes
}

// Handler serves the demo booking site. See the package documentation for
// its routes.
func Handler(o Options) fasthttp.RequestHandler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SlotsPerDay <= 0 {
		o.SlotsPerDay = 1_000_000
	}
	s := &site{log: o.Logger, slots: newSlots(o.Now, o.SlotsPerDay)}
	s.gets = map[string]func(*fasthttp.RequestCtx) error{
		"/":                 s.form,
		"/book":             s.form,
		"/api/slots":        s.apiSlots,
		"/static/style.css": style,
		"/favicon.ico":      favicon,
	}
	for _, name := range []string{"fonts.css", "waitroom-sans-kr-400.woff2", "waitroom-sans-kr-700.woff2"} {
		s.gets["/static/fonts/"+name] = font(name)
	}
	admitted := s.serve
	if o.Verifier != nil {
		admitted = o.Verifier.FastHTTP(s.serve)
	}
	return func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
		// The gateway's default paths.bypass: these pass it unadmitted.
		if p := ctx.Path(); bytes.HasPrefix(p, []byte("/static/")) || string(p) == "/favicon.ico" {
			s.serve(ctx)
			return
		}
		admitted(ctx)
	}
}

func (s *site) serve(ctx *fasthttp.RequestCtx) {
	err := s.route(ctx)
	if err == nil {
		return
	}
	var se *statusError
	if !errors.As(err, &se) {
		s.log.Error("demo: request failed", "path", string(ctx.Path()), "err", err)
		se = &statusError{fasthttp.StatusInternalServerError, "일시적인 오류입니다. 잠시 후 다시 시도해 주세요.", "Temporary error. Please try again shortly."}
	} else {
		s.log.Debug("demo: request refused", "path", string(ctx.Path()), "status", se.status)
	}
	if bytes.HasPrefix(ctx.Path(), []byte("/api/")) {
		// The same shape as the gateway's API errors.
		code := strings.ToLower(strings.ReplaceAll(fasthttp.StatusMessage(se.status), " ", "_"))
		body, _ := json.Marshal(map[string]map[string]string{"error": {"code": code, "message": se.en}})
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	} else if err := s.render(ctx, errorPage, "요청을 처리할 수 없습니다", "The request could not be processed", struct{ Ko, En string }{se.ko, se.en}); err != nil {
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString(se.ko + "\n" + se.en + "\n")
	}
	ctx.SetStatusCode(se.status)
}

func (s *site) route(ctx *fasthttp.RequestCtx) error {
	path := string(ctx.Path())
	if path == "/book" && ctx.IsPost() {
		return s.book(ctx)
	}
	h, ok := s.gets[path]
	switch {
	case !ok:
		return errNotFound
	case !ctx.IsGet() && !ctx.IsHead() && path == "/book":
		return methodNotAllowed(ctx, "GET, HEAD, POST")
	case !ctx.IsGet() && !ctx.IsHead():
		return methodNotAllowed(ctx, "GET, HEAD")
	}
	return h(ctx)
}

func (s *site) form(ctx *fasthttp.RequestCtx) error {
	return s.render(ctx, formPage, "예약하기", "Book a vaccination", struct {
		Slots        []slot
		Institutions []institution
	}{s.slots.list(), institutions})
}

func (s *site) apiSlots(ctx *fasthttp.RequestCtx) error {
	body, err := json.Marshal(s.slots.list())
	if err != nil {
		return err
	}
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
	return nil
}

func style(ctx *fasthttp.RequestCtx) error {
	ctx.Response.Header.Set("Cache-Control", "public, max-age=3600")
	ctx.SetContentType("text/css; charset=utf-8")
	ctx.SetBody(styleCSS)
	return nil
}

// font serves a file of the Korean web font (package webfont), which
// style.css imports for machines without a Korean font.
func font(name string) func(*fasthttp.RequestCtx) error {
	body, ct, _ := webfont.Asset(name)
	return func(ctx *fasthttp.RequestCtx) error {
		ctx.Response.Header.Set("Cache-Control", "public, max-age=86400")
		ctx.SetContentType(ct)
		ctx.SetBody(body)
		return nil
	}
}

func favicon(ctx *fasthttp.RequestCtx) error {
	ctx.Response.Header.Set("Cache-Control", "public, max-age=86400")
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func (s *site) book(ctx *fasthttp.RequestCtx) error {
	args := ctx.PostArgs()
	b, err := s.slots.book(string(args.Peek("date")), string(args.Peek("institution")))
	if err != nil {
		return err
	}
	if err := s.render(ctx, donePage, "예약이 완료되었습니다", "Your booking is confirmed", b); err != nil {
		return err
	}
	admissionverify.CompleteFast(ctx)
	s.log.Info("demo: booked", "number", b.Number, "date", b.Date.Format(time.DateOnly),
		"institution", b.Institution.ID, "admission_cookie", hasAdmission(ctx))
	return nil
}

// seen is what the request carried from the gateway.
type seen struct {
	ForwardedFor string
	Admission    bool
	Verified     *admissionverify.Person // nil when Options.Verifier is
}

func seenIn(ctx *fasthttp.RequestCtx, xff []byte) seen {
	sn := seen{ForwardedFor: string(xff), Admission: hasAdmission(ctx)}
	if p, ok := admissionverify.FromContext(ctx); ok {
		sn.Verified = &p
	}
	return sn
}

func hasAdmission(ctx *fasthttp.RequestCtx) bool {
	return len(ctx.Request.Header.Cookie(AdmissionCookie)) > 0
}

// maxShownForwardedFor caps the X-Forwarded-For shown, which a client can
// make as long as the header limit allows.
const maxShownForwardedFor = 256

// render executes page into the response as HTML. Pages are personal (a
// booking number), so nothing is cached.
func (s *site) render(ctx *fasthttp.RequestCtx, page *template.Template, title, titleEn string, data any) error {
	xff := ctx.Request.Header.Peek("X-Forwarded-For")
	if len(xff) > maxShownForwardedFor {
		xff = xff[:maxShownForwardedFor]
	}
	var b bytes.Buffer
	if err := page.Execute(&b, struct {
		Title, TitleEn string
		Seen           seen
		Data           any
	}{title, titleEn, seenIn(ctx, xff), data}); err != nil {
		return err
	}
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.Response.Header.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.SetBody(b.Bytes())
	return nil
}

// group formats n >= 0 with thousands separators: 1000000 -> "1,000,000".
func group(n int) string {
	s := strconv.Itoa(n)
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
