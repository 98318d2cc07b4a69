package gateway

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// cookies reads cookies in place; it must find what RequestHeader.Cookie
// finds in every request, odd ones included.
func TestCookieAgreesWithFasthttp(t *testing.T) {
	for _, lines := range [][]string{
		{"Cookie: wr_ticket=a.b.c; wr_device=dev"},
		{"Cookie: wr_device=dev;wr_ticket=a.b.c"},
		{"Cookie:  wr_ticket = \t a.b.c \t ;  wr_device=\"dev\""},
		{"Cookie: xwr_ticket=no; wr_ticketx=no; wr_ticket=yes"},
		{"Cookie: wr_ticket=first; wr_ticket=second"},
		{"Cookie: wr_ticket=; wr_ticket=second; wr_device=d"},
		{"Cookie: wr_ticket=\"bad\"quote\"; wr_ticket=good"},
		{"Cookie: wr_ticket=back\\slash; wr_device=ok"},
		{"Cookie: wr_ticket; wr_device=; =x; ;;"},
		{"Cookie: wr_ticket=\""},
		{"Cookie: wr_ticket=\"\""},
		{"Cookie: a=1", "Cookie: wr_ticket=from-second-header"},
		{"Cookie: wr_ticket=one", "Cookie: wr_ticket=two; wr_device=d"},
		{"X-Other: wr_ticket=not-a-cookie"},
		{},
	} {
		raw := "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Join(lines, "\r\n")
		if len(lines) > 0 {
			raw += "\r\n"
		}
		raw += "\r\n"
		var mine, theirs fasthttp.RequestHeader
		for _, h := range []*fasthttp.RequestHeader{&mine, &theirs} {
			if err := h.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
				t.Fatalf("%q: %v", raw, err)
			}
		}
		ticket, device := cookies(&mine, cookieTicket, cookieDevice)
		for name, got := range map[string][]byte{cookieTicket: ticket, cookieDevice: device} {
			if want := theirs.Cookie(name); string(got) != string(want) {
				t.Errorf("%q: %s = %q, RequestHeader.Cookie = %q", lines, name, got, want)
			}
			if one := cookie(&mine, name); string(one) != string(got) {
				t.Errorf("%q: cookie(%s) = %q, cookies = %q", lines, name, one, got)
			}
		}
	}
}
