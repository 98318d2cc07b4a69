//go:build !race

// Allocation counts mean nothing under the race detector (see bench_test.go).

package gateway

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestRequestIDAllocs holds the request id, taken or made, to zero
// allocations: every request of the crowd pays for it.
func TestRequestIDAllocs(t *testing.T) {
	h := withRequestID(func(*fasthttp.RequestCtx) {})
	for _, incoming := range []string{"", "lb-0123456789", "not safe"} {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/waitroom/api/status")
		if incoming != "" {
			ctx.Request.Header.Set("X-Request-Id", incoming)
		}
		h(&ctx) // warm the header buffers
		got := testing.AllocsPerRun(200, func() {
			h(&ctx)
			ctx.Response.Reset()
		})
		if got != 0 {
			t.Errorf("incoming id %q: %v allocations, want 0", incoming, got)
		}
	}
}
