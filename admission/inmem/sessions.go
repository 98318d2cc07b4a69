package inmem

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// MaxEnded is the most sessions one EndedSince call returns.
const MaxEnded = 10_000

// endedLog is one room's ended sessions, oldest first; the cursor is the
// seq of the last entry read.
type endedLog struct {
	seq     int64 // of the newest entry
	entries []ended
	pruneAt int // length at which entries past their until are dropped
}

type ended struct {
	seq   int64
	jti   string
	until time.Time
}

// minPrune is the shortest log that is pruned: below it, expired entries
// cost less than scanning for them.
const minPrune = 1024

// EndSession records jti as ended. Entries past their until are skipped by
// EndedSince and dropped when the log has doubled since the last pruning,
// which keeps the cost amortized O(1).
func (s *Store) EndSession(_ context.Context, room, jti string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.ended[room]
	if l == nil {
		l = &endedLog{pruneAt: minPrune}
		s.ended[room] = l
	}
	l.seq++
	l.entries = append(l.entries, ended{seq: l.seq, jti: jti, until: until})
	if len(l.entries) >= l.pruneAt {
		now := s.Now()
		kept := l.entries[:0]
		for _, e := range l.entries {
			if e.until.After(now) {
				kept = append(kept, e)
			}
		}
		clear(l.entries[len(kept):])
		l.entries = kept
		l.pruneAt = max(minPrune, 2*len(kept))
	}
	return nil
}

// EndedSince returns, oldest first, at most MaxEnded sessions ended after
// cursor ("" or "0": from the beginning) whose until has not passed, and
// the cursor to pass next: the last entry looked at, or cursor itself when
// nothing was new. Errors: a plain error for a cursor that is not one of
// this store's.
func (s *Store) EndedSince(_ context.Context, room string, cursor string) ([]string, string, error) {
	var after int64
	if cursor != "" {
		var err error
		if after, err = strconv.ParseInt(cursor, 10, 64); err != nil || after < 0 {
			return nil, "", fmt.Errorf("ended sessions of %q: bad cursor %q", room, cursor)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.ended[room]
	if l == nil {
		return nil, strconv.FormatInt(after, 10), nil
	}
	now := s.Now()
	var jtis []string
	i := sort.Search(len(l.entries), func(i int) bool { return l.entries[i].seq > after })
	for ; i < len(l.entries) && len(jtis) < MaxEnded; i++ {
		e := l.entries[i]
		after = e.seq
		if e.until.After(now) {
			jtis = append(jtis, e.jti)
		}
	}
	return jtis, strconv.FormatInt(after, 10), nil
}
