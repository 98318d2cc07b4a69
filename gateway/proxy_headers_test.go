package gateway_test

import (
	"bufio"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/waitroom/waitroom/gateway"
)

// rawGet sends one GET with the given request target and extra header
// lines exactly as written (no client cleans them up) and returns the
// status code.
func rawGet(t *testing.T, h *harness, target string, lines ...string) int {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "GET " + target + " HTTP/1.1\r\nHost: shop.example\r\n" + strings.Join(append(lines, "Connection: close"), "\r\n") + "\r\n\r\n"
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

// Behind a trusted proxy the gateway appends the proxy's address to the
// X-Forwarded-For it received and keeps its -Proto and -Host.
func TestProxyTrustedForwardedFor(t *testing.T) {
	h := mustHarness(t, harnessOptions{opts: func(o *gateway.Options) {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}})
	if code := rawGet(t, h, "/static/x", "X-Forwarded-For: 198.51.100.7", "X-Forwarded-Proto: https", "X-Forwarded-Host: www.example"); code != 200 {
		t.Fatalf("bypassed request: %d", code)
	}
	reqs := h.backend.requests()
	got := reqs[len(reqs)-1].header
	if v := got.Get("X-Forwarded-For"); v != "198.51.100.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the proxy's list and its address", v)
	}
	if got.Get("X-Forwarded-Proto") != "https" || got.Get("X-Forwarded-Host") != "www.example" {
		t.Errorf("a trusted proxy's -Proto/-Host not kept: %v", got)
	}
}
