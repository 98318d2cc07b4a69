package console

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter limits failed attempts with the admin token (console sign-ins and
// bearer calls) per key: a client network (Network) or a known operator
// device (Devices). Each key has a token bucket (golang.org/x/time/rate):
// Max failures at once, refilled at Max per Window, so a key that failed
// Max times may try again once every Window/Max, and one that stops
// failing is whole again after Window. An operator who mistyped ten times
// waits a minute and a half, not a quarter of an hour; a guesser gets no
// more than Max per Window in the long run.
//
// It tracks at most MaxTracked keys. When that many are failing at once,
// keys it does not track yet are refused until buckets refill: a flood of
// guesses from everywhere fails closed.
type Limiter[K comparable] struct {
	max   int
	every rate.Limit
	now   func() time.Time
	mu    sync.Mutex
	m     map[K]*rate.Limiter
}

// MaxTracked bounds the keys a Limiter remembers.
const MaxTracked = 10_000

// NewLimiter returns a limiter allowing max failures at once per key,
// refilled at max per window, on the clock now (time.Now when nil).
func NewLimiter[K comparable](max int, window time.Duration, now func() time.Time) *Limiter[K] {
	if now == nil {
		now = time.Now
	}
	return &Limiter[K]{max: max, every: rate.Every(window / time.Duration(max)), now: now, m: map[K]*rate.Limiter{}}
}

// Network is the limiter key of a client address: IPv6 clients count per
// /64, the block one subscriber usually holds.
func Network(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// Allow reports whether k may try the token now; if not, also how long it
// must wait.
func (l *Limiter[K]) Allow(k K) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[k]
	switch {
	case ok:
		if tokens := lim.TokensAt(now); tokens < 1 {
			// To the millisecond: the bucket counts in floating point.
			return false, time.Duration((1 - tokens) / float64(l.every) * float64(time.Second)).Round(time.Millisecond)
		}
	case len(l.m) >= MaxTracked:
		if l.prune(now); len(l.m) >= MaxTracked {
			return false, time.Duration(float64(time.Second) / float64(l.every))
		}
	}
	return true, 0
}

// Fail counts a failed attempt by k.
func (l *Limiter[K]) Fail(k K) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[k]
	if !ok {
		if len(l.m) >= MaxTracked {
			l.prune(now)
		}
		lim = rate.NewLimiter(l.every, l.max)
		l.m[k] = lim
	}
	lim.AllowN(now, 1)
}

// prune drops the keys whose bucket is full again: they are as good as
// new. l.mu is held.
func (l *Limiter[K]) prune(now time.Time) {
	for k, lim := range l.m {
		if lim.TokensAt(now) >= float64(l.max) {
			delete(l.m, k)
		}
	}
}
