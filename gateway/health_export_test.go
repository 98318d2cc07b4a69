package gateway

import "context"

// HealthStep runs one round of the health loop, as RunHealth does every
// interval.
func HealthStep(g *Gateway, ctx context.Context) { g.health.step(ctx, g) }
