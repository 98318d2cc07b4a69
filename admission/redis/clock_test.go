package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/admission/redis"
	"github.com/waitroom/waitroom/internal/redistest"
)

// A store on a simulated clock reads time, and releases, Scale times
// faster than real time, from the same origin as the gateway's clock.
func TestStore_SimulatedClock(t *testing.T) {
	srv := redistest.Start(t)
	clock := admission.Clock{Scale: 20, Origin: time.Now().Add(-time.Second)}
	// Release options are store time: a step may cover the 5 simulated
	// seconds below.
	s, err := redis.New(redis.Options{Addrs: []string{srv.Addr()}, Clock: clock, Release: patient})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	start, err := s.Init(ctx, "sim", admission.Settings{RatePerHour: 36_000})
	if err != nil {
		t.Fatal(err)
	}
	if d := start.Now.Sub(clock.Now()); d < -time.Second || d > time.Second {
		t.Fatalf("store clock %v is %v away from the simulated clock", start.Now, d)
	}
	for range 1000 {
		if _, err := s.Join(ctx, "sim"); err != nil {
			t.Fatal(err)
		}
	}
	start, err = s.Advance(ctx, "sim")
	if err != nil {
		t.Fatal(err)
	}
	realStart := time.Now()
	time.Sleep(250 * time.Millisecond) // 5 s simulated, below the MaxStep
	end, err := s.Advance(ctx, "sim")
	if err != nil {
		t.Fatal(err)
	}
	real := time.Since(realStart)
	simulated := end.Now.Sub(start.Now)
	if simulated < 19*real {
		t.Fatalf("simulated clock advanced %v in %v of real time, want about 20x", simulated, real)
	}
	// 36,000/h is 10 a simulated second: about 50 in a quarter of a real second.
	if got, want := float64(end.Admitted-start.Admitted), 10*simulated.Seconds(); got < 0.9*want || got > 1.1*want {
		t.Fatalf("released %v over %v simulated, want about %v", got, simulated, want)
	}
}
