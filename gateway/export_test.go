package gateway

import "context"

// FlushPresence hands the polls noted so far to the store, as RunBackground
// does every beatEvery.
func FlushPresence(g *Gateway, ctx context.Context) { g.presence.flush(ctx) }
