package gateway

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Budget is a token bucket: Burst requests at once, then PerMinute a
// minute, as nginx's limit_req with burst and nodelay: a request over budget
// is answered at once (refused, or served differently), never queued.
type Budget struct {
	PerMinute float64
	Burst     int
}

// budgets keeps one token bucket (golang.org/x/time/rate) per key: a client
// address or a device. Keys are spread over shards, each with its own lock;
// a key idle long enough for its bucket to be full again holds no
// information and is dropped, so memory follows the keys active within one
// refill time, not every key ever seen. Times come from the caller (the
// gateway's clock, which the load test accelerates).
type budgets struct {
	limit  rate.Limit
	burst  int
	refill time.Duration // an empty bucket is full again after this
	shards [budgetShards]budgetShard
}

const budgetShards = 64

type budgetShard struct {
	mu sync.Mutex
	m  map[budgetKey]*budgetEntry
	// sweepAt is the size at which the shard next drops idle keys: twice
	// the size left by the last sweep, so sweeping costs O(1) a key.
	sweepAt int
}

type budgetEntry struct {
	lim  *rate.Limiter
	last time.Time
}

// budgetKey is an address (IPv4 as IPv4-mapped IPv6, IPv6 cut to its /64,
// the block one subscriber gets) or a device's 16 bytes.
type budgetKey [16]byte

func newBudgets(b Budget) *budgets {
	bs := &budgets{limit: rate.Limit(b.PerMinute / 60), burst: b.Burst}
	bs.refill = time.Duration(float64(b.Burst) / float64(bs.limit) * float64(time.Second))
	for i := range bs.shards {
		bs.shards[i].m = map[budgetKey]*budgetEntry{}
		bs.shards[i].sweepAt = 1024
	}
	return bs
}

// take spends one token of k's bucket at now. When the bucket is empty it
// spends nothing and returns false with the time until a token is back.
func (bs *budgets) take(k budgetKey, now time.Time) (ok bool, retry time.Duration) {
	var h byte
	for _, c := range k {
		h = h*31 + c
	}
	s := &bs.shards[h%budgetShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[k]
	if e == nil {
		if len(s.m) >= s.sweepAt {
			for key, old := range s.m {
				if now.Sub(old.last) >= bs.refill {
					delete(s.m, key)
				}
			}
			s.sweepAt = max(2*len(s.m), 1024)
		}
		e = &budgetEntry{lim: rate.NewLimiter(bs.limit, bs.burst)}
		s.m[k] = e
	}
	e.last = now
	if e.lim.AllowN(now, 1) {
		return true, 0
	}
	return false, time.Duration((1 - e.lim.TokensAt(now)) / float64(bs.limit) * float64(time.Second))
}

// keys counts the keys held, for tests.
func (bs *budgets) keys() int {
	n := 0
	for i := range bs.shards {
		s := &bs.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// addressKey is a's budget key: the address itself for IPv4, its /64 for
// IPv6 (a subscriber gets a whole /64 and picks addresses in it freely).
func addressKey(a netip.Addr) budgetKey {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		a = p.Addr()
	}
	return a.As16()
}

// retrySeconds is d in whole seconds for Retry-After, at least 1.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
