package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/admission"
)

// DefaultBlock is the block of a Claim whose Block is zero or negative.
const DefaultBlock = 10 * time.Minute

// MaxEnded is the most sessions one EndedSince call returns.
const MaxEnded = 10_000

// endedMaxLen is about how many ended sessions a room's stream keeps
// (XADD MAXLEN ~). A gateway that polls every second never falls that far
// behind; one that does misses the oldest, whose tokens mostly expired.
const endedMaxLen = 100_000

// statsTTL is how long a bucket of verification counts outlives its last
// write: VerifyStats reads only the last minute's.
const statsTTL = 2 * time.Minute

// InitWindow is Init for a room bounded by w, stored to the microsecond.
// A zero w.Opens means open from creation: no pre-queue and no draw
// (Draw.Drawn stays false); a zero w.Closes means never closing.
func (s *Store) InitWindow(ctx context.Context, room string, set admission.Settings, w admission.Window, commitment, seed string) (admission.State, error) {
	if !admission.ValidRate(set.RatePerHour) {
		return admission.State{}, fmt.Errorf("redis init window %q: %w", room, admission.ErrInvalidRate)
	}
	return s.state(ctx, "init window", room, s.sc.init, set.RatePerHour, flag(set.Paused), newEpoch(),
		micros(w.Opens), micros(w.Closes), commitment, seed)
}

// Claim runs claim.lua: see admission.People. The person's record expires a
// day after the window closes, or never in a room that never closes.
func (s *Store) Claim(ctx context.Context, room string, c admission.Claim) (admission.Place, error) {
	if c.Identity == "" || c.Device == "" {
		return admission.Place{}, fmt.Errorf("redis claim in %q: empty identity or device", room)
	}
	block := c.Block
	if block <= 0 {
		block = DefaultBlock
	}
	keys := []string{s.roomKey(room), s.roomKey(room) + ":id:" + c.Identity}
	v, err := s.sc.claim.Run(ctx, s.client, keys, c.Device, block.Microseconds()).Int64Slice()
	if err != nil {
		return admission.Place{}, translate("claim", room, err)
	}
	if len(v) != 4 {
		return admission.Place{}, fmt.Errorf("redis claim in %q: unexpected reply %v", room, v)
	}
	if v[0] == 2 {
		return admission.Place{HeldUntil: time.UnixMicro(v[3])},
			fmt.Errorf("redis claim in %q: %w", room, admission.ErrHeldElsewhere)
	}
	return admission.Place{Position: v[1], PreIndex: v[2], Existing: v[0] == 1}, nil
}

// statsKey is the hash of room's verification counts begun in bucket.
func (s *Store) statsKey(room string, bucket int64) string {
	return s.roomKey(room) + ":vs:" + strconv.FormatInt(bucket, 10)
}

// bucket numbers StatsBucket intervals since the Unix epoch.
func bucket(t time.Time) int64 { return t.UnixMicro() / admission.StatsBucket.Microseconds() }

// VerifyStarted counts a verification of method in the bucket of started:
// HINCRBY <method>:s and EXPIRE, pipelined in one round trip.
func (s *Store) VerifyStarted(ctx context.Context, room, method string, started time.Time) error {
	return s.count(ctx, "verify started", room, started, incr{method + ":s", 1})
}

// VerifyFinished counts the end of a verification in the bucket of its
// start: <method>:c and the latency in µs to <method>:l when ok, else
// <method>:f; one round trip.
func (s *Store) VerifyFinished(ctx context.Context, room, method string, started time.Time, latency time.Duration, ok bool) error {
	if ok {
		return s.count(ctx, "verify finished", room, started, incr{method + ":c", 1}, incr{method + ":l", latency.Microseconds()})
	}
	return s.count(ctx, "verify finished", room, started, incr{method + ":f", 1})
}

// incr is one HINCRBY of a bucket's field.
type incr struct {
	field string
	n     int64
}

// count applies incrs to the bucket of started and renews its expiry, in
// one pipeline.
func (s *Store) count(ctx context.Context, op, room string, started time.Time, incrs ...incr) error {
	key := s.statsKey(room, bucket(started))
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, in := range incrs {
			p.HIncrBy(ctx, key, in.field, in.n)
		}
		p.Expire(ctx, key, statsTTL)
		return nil
	})
	if err != nil {
		return translate(op, room, err)
	}
	return nil
}

// VerifyStats sums the buckets of the last minute (the one holding now and
// the five before it, so the oldest counted began 50 to 60 s ago) with one
// HMGET per bucket, pipelined in one round trip. Every method asked
// for is in the map, with zero counts if nothing was recorded.
func (s *Store) VerifyStats(ctx context.Context, room string, methods []string, now time.Time) (map[string]admission.MethodStats, error) {
	fields := make([]string, 0, 4*len(methods))
	for _, m := range methods {
		fields = append(fields, m+":s", m+":c", m+":f", m+":l")
	}
	out := make(map[string]admission.MethodStats, len(methods))
	for _, m := range methods {
		out[m] = admission.MethodStats{}
	}
	if len(methods) == 0 {
		return out, nil
	}
	last := bucket(now)
	cmds := make([]*redis.SliceCmd, 0, admission.StatsBuckets)
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range admission.StatsBuckets {
			cmds = append(cmds, p.HMGet(ctx, s.statsKey(room, last-int64(i)), fields...))
		}
		return nil
	})
	if err != nil {
		return nil, translate("verify stats", room, err)
	}
	for b, cmd := range cmds {
		for i, x := range cmd.Val() {
			if x == nil {
				continue
			}
			n, err := strconv.ParseInt(x.(string), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("redis verify stats %q: field %s: %w", room, fields[i], err)
			}
			m := methods[i/4]
			st := out[m]
			switch i % 4 {
			case 0:
				st.Starts[b] = n
			case 1:
				st.Completed += n
			case 2:
				st.Failed += n
			case 3:
				st.Latency += time.Duration(n) * time.Microsecond
			}
			out[m] = st
		}
	}
	return out, nil
}

func (s *Store) endedKey(room string) string { return s.roomKey(room) + ":ended" }

// EndSession appends jti to room's stream of ended sessions, which keeps
// about the last 100,000 and expires once every until in it has passed.
func (s *Store) EndSession(ctx context.Context, room, jti string, until time.Time) error {
	if err := endScript.Run(ctx, s.client, []string{s.endedKey(room)}, jti, until.UnixMilli(), endedMaxLen).Err(); err != nil {
		return translate("end session", room, err)
	}
	return nil
}

// EndedSince reads room's stream after cursor, a stream id ("" or "0":
// from the beginning, everything still there), at most MaxEnded at a time.
// The next cursor is the last id read, or cursor itself when nothing was
// new. Entries of sessions past their until may still be returned.
func (s *Store) EndedSince(ctx context.Context, room string, cursor string) ([]string, string, error) {
	if cursor == "" {
		cursor = "0"
	}
	msgs, err := s.client.XRangeN(ctx, s.endedKey(room), "("+cursor, "+", MaxEnded).Result()
	if err != nil {
		return nil, "", translate("ended since", room, err)
	}
	if len(msgs) == 0 {
		return nil, cursor, nil
	}
	jtis := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if j, ok := m.Values["j"].(string); ok {
			jtis = append(jtis, j)
		}
	}
	return jtis, msgs[len(msgs)-1].ID, nil
}
