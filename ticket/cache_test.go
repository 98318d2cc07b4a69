package ticket

import "testing"

func fillShard(s *cacheShard, n int, exp func(i int) int64) {
	for i := range n {
		s.put(&[32]byte{byte(i), byte(i >> 8), 1}, cacheEntry{exp: exp(i)}, 0)
	}
}

func TestCacheShard_Put(t *testing.T) {
	const now = 100
	newKey := &[32]byte{0xff, 0xff, 0xff}
	t.Run("DropsExpiredWhenFull", func(t *testing.T) {
		var s cacheShard
		fillShard(&s, cacheShardSize, func(i int) int64 { return now + int64(i%2) }) // even i expire at now
		s.put(newKey, cacheEntry{exp: now + 1}, now)
		if got, want := len(s.m), cacheShardSize/2+1; got != want {
			t.Fatalf("len = %d, want %d", got, want)
		}
		for _, e := range s.m {
			if e.exp <= now {
				t.Fatal("an expired entry survived")
			}
		}
	})
	t.Run("DropsArbitraryWhenFullOfLive", func(t *testing.T) {
		var s cacheShard
		fillShard(&s, cacheShardSize, func(int) int64 { return now + 1 })
		s.put(newKey, cacheEntry{exp: now + 1}, now)
		if got, want := len(s.m), cacheShardKeep+1; got != want {
			t.Fatalf("len = %d, want %d", got, want)
		}
		if _, ok := s.get(newKey); !ok {
			t.Fatal("new entry missing")
		}
	})
	t.Run("ReplaceWhenFull", func(t *testing.T) {
		var s cacheShard
		fillShard(&s, cacheShardSize, func(int) int64 { return now + 1 })
		s.put(&[32]byte{0, 0, 1}, cacheEntry{exp: now + 2}, now)
		if got, want := len(s.m), cacheShardSize; got != want {
			t.Fatalf("len = %d, want %d", got, want)
		}
	})
}
