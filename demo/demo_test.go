package demo_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/waitroom/waitroom/demo"
)

// now is 2021-08-26 20:00 KST, when the 18-49 cohort's first window opened:
// bookable dates are 2021-08-27 to 2021-09-02.
var now = time.Date(2021, 8, 26, 20, 0, 0, 0, time.FixedZone("KST", 9*60*60))

// MustServe serves demo.Handler(o) over an in-memory listener and returns a
// client connected to it; both stop when the test ends.
func MustServe(tb testing.TB, o demo.Options) *fasthttp.Client {
	tb.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = func() time.Time { return now }
	}
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: demo.Handler(o)}
	go srv.Serve(ln) //nolint:errcheck // Serve returns when the listener closes.
	tb.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
	})
	return &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}
}

type response struct {
	status int
	header map[string]string
	body   string
}

// do sends one request; form, when not empty, is sent urlencoded as the body,
// and header holds name, value pairs. A failed request reports an error and
// returns status 0.
func do(tb testing.TB, c *fasthttp.Client, method, path, form string, header ...string) response {
	tb.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://demo" + path)
	if form != "" {
		req.Header.SetContentType("application/x-www-form-urlencoded")
		req.SetBodyString(form)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if err := c.DoTimeout(req, resp, 5*time.Second); err != nil {
		tb.Errorf("%s %s: %v", method, path, err) // not Fatal: callers may run on other goroutines
		return response{}
	}
	r := response{status: resp.StatusCode(), header: map[string]string{}, body: string(resp.Body())}
	for k, v := range resp.Header.All() {
		r.header[string(k)] = string(v)
	}
	return r
}

var bookingNumber = regexp.MustCompile(`\b20210827-H2-\d{6}\b`)

func TestHandler(t *testing.T) {
	c := MustServe(t, demo.Options{})
	for _, tc := range []struct {
		name, method, path, form string
		wantStatus               int
		wantType                 string
		wantBody                 []string
		wantHeader               map[string]string
	}{
		{"Home", "GET", "/", "", 200, "text/html; charset=utf-8",
			[]string{`action="/book"`, `value="2021-08-27"`, `value="2021-09-02"`, "다온병원", "8월 27일 (금)", "잔여 1,000,000"}, nil},
		{"Form", "GET", "/book", "", 200, "text/html; charset=utf-8",
			[]string{`name="institution"`, `value="H1"`, `value="H5"`}, nil},
		{"Head", "HEAD", "/book", "", 200, "text/html; charset=utf-8", nil, nil},
		{"Book", "POST", "/book", "date=2021-08-27&institution=H2", 200, "text/html; charset=utf-8",
			[]string{"예약번호", "푸른솔가정의학과의원", "8월 27일 (금)", "Fri 27 Aug"}, map[string]string{demo.CompleteHeader: "1"}},
		{"Style", "GET", "/static/style.css", "", 200, "text/css; charset=utf-8", []string{"font-family"}, nil},
		{"Favicon", "GET", "/favicon.ico", "", 204, "", nil, nil},
		{"Slots", "GET", "/api/slots", "", 200, "application/json", []string{`"date":"2021-08-27"`}, nil},
		{"ErrNotFound", "GET", "/admin", "", 404, "text/html; charset=utf-8", []string{"페이지를 찾을 수 없습니다"}, nil},
		{"ErrNotFoundStatic", "GET", "/static/other.css", "", 404, "text/html; charset=utf-8", nil, nil},
		{"ErrNotFoundAPI", "GET", "/api/nope", "", 404, "application/json", []string{`{"error":{"code":"not_found","message":"Page not found."}}`}, nil},
		{"ErrMethodBook", "PUT", "/book", "", 405, "text/html; charset=utf-8", nil, map[string]string{"Allow": "GET, HEAD, POST"}},
		{"ErrMethodHome", "POST", "/", "date=2021-08-27&institution=H2", 405, "text/html; charset=utf-8", nil, map[string]string{"Allow": "GET, HEAD"}},
		{"ErrMethodAPI", "DELETE", "/api/slots", "", 405, "application/json", []string{`"code":"method_not_allowed"`}, map[string]string{"Allow": "GET, HEAD"}},
		{"ErrEmptyForm", "POST", "/book", "", 400, "text/html; charset=utf-8", []string{"의료기관을 목록에서"}, nil},
		{"ErrNoDate", "POST", "/book", "institution=H1", 400, "", []string{"날짜"}, nil},
		{"ErrToday", "POST", "/book", "date=2021-08-26&institution=H1", 400, "", nil, nil},
		{"ErrEighthDay", "POST", "/book", "date=2021-09-03&institution=H1", 400, "", nil, nil},
		{"ErrDateFormat", "POST", "/book", "date=27.08.2021&institution=H1", 400, "", nil, nil},
		{"ErrUnknownInstitution", "POST", "/book", "date=2021-08-27&institution=H9", 400, "", nil, nil},
		{"ErrGarbage", "POST", "/book", "%zz=%%&date=\x00&institution=<script>", 400, "", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, c, tc.method, tc.path, tc.form)
			if r.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body:\n%s", r.status, tc.wantStatus, r.body)
			}
			if tc.wantType != "" && r.header["Content-Type"] != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", r.header["Content-Type"], tc.wantType)
			}
			for _, want := range tc.wantBody {
				if !strings.Contains(r.body, want) {
					t.Errorf("body lacks %q", want)
				}
			}
			for k, want := range tc.wantHeader {
				if got := r.header[k]; got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			if _, ok := tc.wantHeader[demo.CompleteHeader]; !ok && r.header[demo.CompleteHeader] != "" {
				t.Errorf("unexpected %s on a response that booked nothing", demo.CompleteHeader)
			}
			if tc.name == "Book" && !bookingNumber.MatchString(r.body) {
				t.Errorf("no booking number like 20210827-H2-000001 in:\n%s", r.body)
			}
		})
	}
}

// Every page says what the request carried, but never the admission token.
func TestHandler_Seen(t *testing.T) {
	c := MustServe(t, demo.Options{})
	const token = "eyJhbGciOiJFZERTQSJ9.secret-admission-token"
	for _, tc := range []struct {
		name    string
		header  []string
		want    []string
		wantNot []string
	}{
		{"OK", []string{"X-Forwarded-For", "203.0.113.7, 10.0.0.1", "Cookie", "a=b; wr_admission=" + token},
			[]string{"203.0.113.7, 10.0.0.1", "있음"}, []string{token, "secret-admission-token"}},
		{"Bare", nil, []string{"없음 <span lang=\"en\">(none)</span>", "없음 <span lang=\"en\">(absent)</span>"}, nil},
		{"EmptyCookie", []string{"Cookie", "wr_admission="}, []string{"(absent)"}, nil},
		{"EscapedXFF", []string{"X-Forwarded-For", "<b>x</b>"}, []string{"&lt;b&gt;x&lt;/b&gt;"}, []string{"<b>x</b>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, c, "GET", "/", "", tc.header...)
			for _, want := range tc.want {
				if !strings.Contains(r.body, want) {
					t.Errorf("body lacks %q", want)
				}
			}
			for _, bad := range tc.wantNot {
				if strings.Contains(r.body, bad) {
					t.Errorf("body shows %q", bad)
				}
			}
		})
	}
}

type slot struct {
	Date      string `json:"date"`
	Remaining int    `json:"remaining"`
}

func slots(t *testing.T, c *fasthttp.Client) []slot {
	t.Helper()
	var got []slot
	if err := json.Unmarshal([]byte(do(t, c, "GET", "/api/slots", "").body), &got); err != nil {
		t.Fatalf("GET /api/slots: %v", err)
	}
	return got
}

func TestHandler_Slots(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		c := MustServe(t, demo.Options{SlotsPerDay: 10})
		do(t, c, "POST", "/book", "date=2021-08-28&institution=H1")
		do(t, c, "POST", "/book", "date=2021-08-28&institution=H3")
		do(t, c, "POST", "/book", "date=2021-08-30&institution=H3")
		got := slots(t, c)
		want := []slot{{"2021-08-27", 10}, {"2021-08-28", 8}, {"2021-08-29", 10}, {"2021-08-30", 9}, {"2021-08-31", 10}, {"2021-09-01", 10}, {"2021-09-02", 10}}
		if len(got) != len(want) {
			t.Fatalf("slots = %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("slots[%d] = %v, want %v", i, got[i], want[i])
			}
		}
	})
	// Dates follow Korean time whatever the clock's zone: 16:00 UTC on
	// 26 August is already 01:00 on 27 August in Korea.
	t.Run("KST", func(t *testing.T) {
		c := MustServe(t, demo.Options{Now: func() time.Time { return time.Date(2021, 8, 26, 16, 0, 0, 0, time.UTC) }})
		got := slots(t, c)
		if first, last := got[0].Date, got[len(got)-1].Date; first != "2021-08-28" || last != "2021-09-03" {
			t.Fatalf("dates %s..%s, want 2021-08-28..2021-09-03", first, last)
		}
	})
	t.Run("ErrSoldOut", func(t *testing.T) {
		c := MustServe(t, demo.Options{SlotsPerDay: 1})
		if r := do(t, c, "POST", "/book", "date=2021-08-27&institution=H1"); r.status != 200 {
			t.Fatalf("first booking: status %d", r.status)
		}
		r := do(t, c, "POST", "/book", "date=2021-08-27&institution=H2")
		if r.status != 409 || r.header[demo.CompleteHeader] != "" {
			t.Fatalf("second booking: status %d, %s %q; want 409 and no header", r.status, demo.CompleteHeader, r.header[demo.CompleteHeader])
		}
		if !strings.Contains(do(t, c, "GET", "/book", "").body, `value="2021-08-27" disabled`) {
			t.Error("the full date is still offered")
		}
	})
}

// Concurrent bookings never oversell a date, and every number is unique.
func TestHandler_ConcurrentBookings(t *testing.T) {
	const capacity, clients = 20, 60
	c := MustServe(t, demo.Options{SlotsPerDay: capacity})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		numbers  = map[string]bool{}
		statuses = map[int]int{}
	)
	number := regexp.MustCompile(`20210901-H4-\d{6}`)
	for range clients {
		wg.Go(func() {
			r := do(t, c, "POST", "/book", "date=2021-09-01&institution=H4")
			mu.Lock()
			defer mu.Unlock()
			statuses[r.status]++
			if r.status == 200 {
				numbers[number.FindString(r.body)] = true
			}
		})
	}
	wg.Wait()
	if statuses[200] != capacity || statuses[409] != clients-capacity || len(numbers) != capacity {
		t.Fatalf("statuses %v, %d distinct numbers; want %d x 200, %d x 409, %d numbers", statuses, len(numbers), capacity, clients-capacity, capacity)
	}
}
