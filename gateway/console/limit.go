package console

import (
	"net/netip"
	"sync"
	"time"
)

// Limiter counts failed attempts with the admin token (console sign-ins and
// bearer calls) per client network, and refuses a network that failed Max
// times until Window has passed since its first failure. IPv6 clients are
// counted per /64, the block one subscriber usually holds.
//
// It tracks at most MaxTracked networks. When that many are failing at
// once, networks it does not track yet are refused until entries expire:
// a flood of guesses from everywhere fails closed.
type Limiter struct {
	max    int
	window time.Duration
	now    func() time.Time
	mu     sync.Mutex
	m      map[netip.Prefix]*failures
}

type failures struct {
	n     int
	first time.Time
}

// MaxTracked bounds the networks a Limiter remembers.
const MaxTracked = 10_000

// NewLimiter returns a limiter allowing max failures per window on the
// clock now (time.Now when nil).
func NewLimiter(max int, window time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{max: max, window: window, now: now, m: map[netip.Prefix]*failures{}}
}

func network(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// Allow reports whether ip may try the token now; if not, also how long it
// must wait.
func (l *Limiter) Allow(ip netip.Addr) (bool, time.Duration) {
	k := network(ip)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.m[k]
	switch {
	case ok && now.Sub(f.first) >= l.window:
		delete(l.m, k)
		return true, 0
	case ok && f.n >= l.max:
		return false, f.first.Add(l.window).Sub(now)
	case !ok && len(l.m) >= MaxTracked:
		l.prune(now)
		if len(l.m) >= MaxTracked {
			return false, l.window
		}
	}
	return true, 0
}

// Fail counts a failed attempt from ip.
func (l *Limiter) Fail(ip netip.Addr) {
	k := network(ip)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.m[k]
	if !ok || now.Sub(f.first) >= l.window {
		if !ok && len(l.m) >= MaxTracked {
			l.prune(now)
		}
		f = &failures{first: now}
		l.m[k] = f
	}
	f.n++
}

// Succeed forgets ip's failures: the operator got the token right.
func (l *Limiter) Succeed(ip netip.Addr) {
	l.mu.Lock()
	delete(l.m, network(ip))
	l.mu.Unlock()
}

// prune drops the networks whose window has passed. l.mu is held.
func (l *Limiter) prune(now time.Time) {
	for k, f := range l.m {
		if now.Sub(f.first) >= l.window {
			delete(l.m, k)
		}
	}
}
