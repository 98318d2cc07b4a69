package inmem

import (
	"context"
	"time"

	"github.com/waitroom/waitroom/admission"
)

// statsKey names one room's bucket of verification counts.
type statsKey struct {
	room   string
	bucket int64 // StatsBucket intervals since the Unix epoch
}

// counts are one method's verifications begun in one bucket.
type counts struct {
	started, completed, failed int64
	latency                    time.Duration
}

// statsKept is how many buckets behind the store's clock are kept: two
// minutes, the Redis store's expiry.
const statsKept = int64(2 * time.Minute / admission.StatsBucket)

func bucket(t time.Time) int64 { return t.UnixMicro() / admission.StatsBucket.Microseconds() }

func (s *Store) VerifyStarted(_ context.Context, room, method string, started time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.methodStats(room, method, started).started++
	return nil
}

func (s *Store) VerifyFinished(_ context.Context, room, method string, started time.Time, latency time.Duration, ok bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.methodStats(room, method, started)
	if ok {
		m.completed++
		m.latency += latency
	} else {
		m.failed++
	}
	return nil
}

// VerifyStats sums the buckets of the last minute: the one holding now and
// the five before it, so the oldest counted began 50 to 60 s ago (as in
// Redis). Every
// method asked for is in the map, with zero counts if nothing was recorded.
func (s *Store) VerifyStats(_ context.Context, room string, methods []string, now time.Time) (map[string]admission.MethodStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]admission.MethodStats, len(methods))
	last := bucket(now)
	for _, name := range methods {
		var sum admission.MethodStats
		for i := range admission.StatsBuckets {
			if m := s.stats[statsKey{room, last - int64(i)}][name]; m != nil {
				sum.Starts[i] = m.started
				sum.Completed += m.completed
				sum.Failed += m.failed
				sum.Latency += m.latency
			}
		}
		out[name] = sum
	}
	return out, nil
}

// methodStats returns the counts of method in the bucket of started,
// creating them. Buckets older than statsKept behind the store's clock are
// dropped whenever that clock enters a new bucket. s.mu is held.
func (s *Store) methodStats(room, method string, started time.Time) *counts {
	if oldest := bucket(s.Now()) - statsKept; oldest > s.oldest {
		s.oldest = oldest
		for k := range s.stats {
			if k.bucket < oldest {
				delete(s.stats, k)
			}
		}
	}
	k := statsKey{room, bucket(started)}
	ms := s.stats[k]
	if ms == nil {
		ms = map[string]*counts{}
		s.stats[k] = ms
	}
	m := ms[method]
	if m == nil {
		m = &counts{}
		ms[method] = m
	}
	return m
}
