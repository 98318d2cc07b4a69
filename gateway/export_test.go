package gateway

import (
	"context"
	"net/netip"

	"github.com/valyala/fasthttp"
)

// FlushPresence hands the polls noted so far to the store, as RunBackground
// does every beatEvery.
func FlushPresence(g *Gateway, ctx context.Context) { g.presence.flush(ctx) }

// CleanRequest applies the proxy's header boundary to ctx's request, as
// proxy does before sending it to the backend.
func CleanRequest(g *Gateway, ctx *fasthttp.RequestCtx) {
	remote, _ := netip.AddrFromSlice(ctx.RemoteIP())
	g.cleanRequest(ctx, remote.Unmap(), isTrusted(remote.Unmap(), g.o.TrustedProxies))
}

// BoundaryHeaders are the names the header boundary scans requests for:
// the hop-by-hop ones, and the others.
func BoundaryHeaders() (hop, others []string) {
	return requestNames.names[:len(hopByHop)], requestNames.names[len(hopByHop):]
}
