package ticket

import (
	"crypto/subtle"
	"sync"
)

// The verified-token cache holds up to cacheShards x cacheShardSize entries
// (56 MiB of heap when full, measured with gateway-style Check entries; 48
// MiB before entries had a room, 44 MiB before they had a claims pointer):
// enough for every token issued in a 10-minute TTL at 1.5 M admissions an
// hour.
const (
	cacheShards    = 64
	cacheShardSize = 4096
	// cacheShardKeep is what a full shard is cut to, so the sweep that makes
	// room runs once per cacheShardSize/8 inserts, not on each.
	cacheShardKeep = cacheShardSize - cacheShardSize/8
)

// verifiedCache maps SHA-256(token) to what Check re-checks on every hit.
type verifiedCache struct {
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[[32]byte]cacheEntry
}

// cacheEntry is a verified token's time window and device binding: a token is
// valid at t iff from <= t < exp (unix seconds), which is how golang-jwt
// compares iat, nbf and exp with whole-second claims.
type cacheEntry struct {
	from, exp int64
	dev       [16]byte
	jti       [16]byte
	room      string     // the "room" claim
	claims    *Admission // kept only for CheckClaims, nil for the gateway's Check
}

func (c *verifiedCache) shard(key *[32]byte) *cacheShard {
	return &c.shards[key[0]%cacheShards]
}

func (s *cacheShard) get(key *[32]byte) (cacheEntry, bool) {
	s.mu.RLock()
	e, ok := s.m[*key]
	s.mu.RUnlock()
	return e, ok
}

// put stores e. A full shard first drops the entries expired at now, then
// arbitrary ones, down to cacheShardKeep.
func (s *cacheShard) put(key *[32]byte, e cacheEntry, now int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[[32]byte]cacheEntry)
	}
	if _, ok := s.m[*key]; !ok && len(s.m) >= cacheShardSize {
		for k, old := range s.m {
			if old.exp <= now {
				delete(s.m, k)
			}
		}
		for k := range s.m {
			if len(s.m) <= cacheShardKeep {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[*key] = e
}

// check applies Verify's time and device checks, in Verify's order.
func (e cacheEntry) check(dev [16]byte, now int64) error {
	if now >= e.exp {
		return ErrExpired
	}
	if now < e.from {
		return ErrClaims
	}
	if subtle.ConstantTimeCompare(e.dev[:], dev[:]) != 1 {
		return ErrDevice
	}
	return nil
}
