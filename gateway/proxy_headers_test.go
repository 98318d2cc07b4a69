package gateway_test

import (
	"bufio"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/gateway"
)

// rawGet sends one GET with the given request target and extra header
// lines exactly as written (no client cleans them up) and returns the
// status code.
func rawGet(t *testing.T, h *harness, target string, lines ...string) int {
	t.Helper()
	return rawRequest(t, h, "GET "+target+" HTTP/1.1\r\nHost: shop.example\r\n"+strings.Join(append(lines, "Connection: close"), "\r\n")+"\r\n\r\n")
}

// rawRequest sends req, a whole HTTP/1.1 request, exactly as written and
// returns the status code.
func rawRequest(t *testing.T, h *harness, req string) int {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The backend gets the path the gateway checked, in its normalised form,
// the host the client asked for in X-Forwarded-Host, and no Forwarded
// header, which the gateway does not rewrite.
func TestProxyForwardsCheckedRequest(t *testing.T) {
	h := mustHarness(t, harnessOptions{})
	if code := rawGet(t, h, "/static/a/../b%20c//d?q=1", "Forwarded: for=6.6.6.6;host=evil.example", "X-Forwarded-Host: evil.example"); code != 200 {
		t.Fatalf("bypassed request: %d", code)
	}
	reqs := h.backend.requests()
	got := reqs[len(reqs)-1]
	if got.path != "/static/b%20c/d?q=1" {
		t.Errorf("backend saw %q, want the normalised path /static/b%%20c/d?q=1", got.path)
	}
	if v := got.header.Get("X-Forwarded-Host"); v != "shop.example" {
		t.Errorf("X-Forwarded-Host = %q, want the client's host shop.example", v)
	}
	if v := got.header.Get("Forwarded"); v != "" {
		t.Errorf("Forwarded reached the backend: %q", v)
	}
	if v := got.header.Get("Host"); v == "shop.example" {
		t.Errorf("backend Host = %q, want the backend's own", v)
	}
}

// The header boundary (gateway/headers.go, docs/BACKEND.md): everything a
// client may send to steer a backend that trusts headers, sent through a
// running gateway on a bypass path and on an admitted request, from an
// untrusted peer and from a trusted proxy. The recording backend shows what
// arrives: nothing of our namespace, no path override, no client address
// but the gateway's, and forwarded details only from a trusted proxy.
func TestProxyHeaderBoundary(t *testing.T) {
	forged := []string{
		"X-Waitroom-Complete: 1", "X-Waitroom-Person: admin", "x-waitroom-lower: 1",
		"X-Original-URL: /admin", "X-Rewrite-URL: /admin", "X-Original-URI: /admin",
		"Forwarded: for=6.6.6.6;host=evil.example",
		"X-Real-IP: 6.6.6.6", "X-Real-IP: 6.6.6.7",
		"Client-IP: 6.6.6.6", "X-Client-IP: 6.6.6.6", "True-Client-IP: 6.6.6.6", "CF-Connecting-IP: 6.6.6.6",
		"Fastly-Client-IP: 6.6.6.6", "X-Cluster-Client-IP: 6.6.6.6",
		"X-Forwarded-For: 198.51.100.7", "X-Forwarded-For: 203.0.113.9",
		"X-Forwarded-Host: www.example", "X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https",
		"X-Forwarded-Port: 8443", "X-Forwarded-Prefix: /evil", "X-Forwarded-Server: evil", "X-Forwarded-Uri: /evil",
		"X-Forwarded-Ssl: on", "X-Forwarded-Scheme: https", "X-Url-Scheme: https", "Front-End-Https: on",
		"X-HTTP-Method-Override: DELETE",
	}
	dropped := []string{"X-Original-URL", "X-Rewrite-URL", "X-Original-URI", "Forwarded",
		"Client-IP", "X-Client-IP", "True-Client-IP", "CF-Connecting-IP", "Fastly-Client-IP", "X-Cluster-Client-IP"}
	fromTrusted := map[string]string{"X-Forwarded-Port": "8443", "X-Forwarded-Prefix": "/evil", "X-Forwarded-Server": "evil",
		"X-Forwarded-Uri": "/evil", "X-Forwarded-Ssl": "on", "X-Forwarded-Scheme": "https", "X-Url-Scheme": "https", "Front-End-Https": "on"}
	for _, trusted := range []bool{false, true} {
		h := mustHarness(t, harnessOptions{rate: 3_600_000, opts: func(o *gateway.Options) {
			if trusted {
				o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
			}
		}})
		p := h.person()
		p.join()
		h.advance(time.Second)
		if _, s := p.status(); s.State != "admitted" {
			t.Fatalf("not admitted: %+v", s)
		}
		admitted := "Cookie: wr_admission=" + p.cookie("wr_admission") + "; wr_device=" + p.cookie("wr_device")
		lines := forged
		if !trusted {
			// A client's Connection list is applied before the gateway
			// sets its headers, so it cannot remove them.
			lines = append(slices.Clone(forged), "Connection: X-Real-IP, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host")
		}
		for _, tc := range []struct {
			name, path string
			lines      []string
		}{
			{"Bypass", "/static/x", lines},
			{"Admitted", "/book", append([]string{admitted}, lines...)},
		} {
			name := tc.name + map[bool]string{false: "Untrusted", true: "TrustedProxy"}[trusted]
			t.Run(name, func(t *testing.T) {
				if code := rawGet(t, h, tc.path, tc.lines...); code != 200 {
					t.Fatalf("status %d", code)
				}
				got := lastRequest(t, h)
				if got.path != tc.path || got.admitted != (tc.path == "/book") {
					t.Fatalf("backend saw %s (admitted %v)", got.path, got.admitted)
				}
				noOwnHeaders(t, got.header)
				for _, k := range dropped {
					if v := got.header.Values(k); len(v) > 0 {
						t.Errorf("%s reached the backend: %q", k, v)
					}
				}
				for k, v := range fromTrusted {
					if got, want := got.header.Values(k), map[bool][]string{true: {v}}[trusted]; !slices.Equal(got, want) {
						t.Errorf("%s = %q, want %q", k, got, want)
					}
				}
				want := map[string][]string{
					"X-Real-IP": {"127.0.0.1"}, "X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Host": {"shop.example"},
					"X-Forwarded-Proto": {"http"}, "X-HTTP-Method-Override": {"DELETE"},
				}
				if trusted {
					// The client is the first untrusted hop from the right.
					want["X-Real-IP"] = []string{"203.0.113.9"}
					want["X-Forwarded-For"] = []string{"198.51.100.7, 203.0.113.9, 127.0.0.1"}
					want["X-Forwarded-Host"] = []string{"evil.example", "www.example"}
					want["X-Forwarded-Proto"] = []string{"https"}
				}
				for k, w := range want {
					// A trusted proxy's two lines are kept, in either order.
					if v := slices.Sorted(slices.Values(got.header.Values(k))); !slices.Equal(v, slices.Sorted(slices.Values(w))) {
						t.Errorf("%s = %q, want %q", k, v, w)
					}
				}
			})
		}
		if trusted {
			continue
		}
		// Trailer fields of a chunked body end up in the header section
		// when the body is forwarded whole: they meet the same rules.
		// (fasthttp itself refuses X-Forwarded-* and X-Real-IP there.)
		t.Run("TrailerUntrusted", func(t *testing.T) {
			req := "POST /static/x HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\nTrailer: X-Original-URL\r\nConnection: close\r\n\r\n" +
				"3\r\nabc\r\n0\r\nX-Original-URL: /admin\r\nX-Waitroom-Person: admin\r\nTrue-Client-IP: 6.6.6.6\r\n\r\n"
			if code := rawRequest(t, h, req); code != 200 {
				t.Fatalf("status %d", code)
			}
			got := lastRequest(t, h).header
			noOwnHeaders(t, got)
			if v := got.Values("X-Original-URL"); len(v) > 0 {
				t.Errorf("X-Original-URL reached the backend: %q", v)
			}
			if v := got.Values("True-Client-IP"); len(v) > 0 {
				t.Errorf("True-Client-IP reached the backend: %q", v)
			}
		})
	}
}

// lastRequest is the last request the recording backend received.
func lastRequest(t *testing.T, h *harness) seenRequest {
	t.Helper()
	reqs := h.backend.requests()
	if len(reqs) == 0 {
		t.Fatal("nothing reached the backend")
	}
	return reqs[len(reqs)-1]
}

// noOwnHeaders fails if a header of the gateway's namespace reached the
// backend.
func noOwnHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for k, v := range h {
		if strings.HasPrefix(strings.ToLower(k), "x-waitroom-") {
			t.Errorf("%s reached the backend: %q", k, v)
		}
	}
}
