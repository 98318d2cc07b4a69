package redis_test

import (
	"context"
	"errors"
	"maps"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/admission/admissiontest"
	"github.com/waitroom/waitroom/admission/redis"
	"github.com/waitroom/waitroom/internal/redistest"
)

var ctx = context.Background()

// prefixes gives every store in this test binary its own key space, so one
// redis-server serves many subtests that each expect empty rooms.
var prefixes atomic.Int64

// mustStore returns a store with a fresh key prefix on addrs, closed by
// tb.Cleanup, and that prefix.
func mustStore(tb testing.TB, addrs ...string) (*redis.Store, string) {
	tb.Helper()
	return mustStoreWith(tb, admission.ReleaseOptions{}, addrs...)
}

// patient lets one step account for the longest time one can, for tests
// that plant times seconds apart.
var patient = admission.ReleaseOptions{MaxStep: admission.MaxAdvanceStep}

// mustStoreWith is mustStore releasing by o.
func mustStoreWith(tb testing.TB, o admission.ReleaseOptions, addrs ...string) (*redis.Store, string) {
	tb.Helper()
	prefix := "t" + strconv.FormatInt(prefixes.Add(1), 10)
	s, err := redis.New(redis.Options{Addrs: addrs, Prefix: prefix, Release: o})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s, prefix
}

// mustClient is a plain go-redis client to inspect what the store wrote.
func mustClient(tb testing.TB, addr string) *goredis.Client {
	tb.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func key(prefix, room string) string { return prefix + ":{" + room + "}" }

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		o    redis.Options
		ok   bool
	}{
		{"OK", redis.Options{Addrs: []string{"127.0.0.1:1"}}, true},
		{"ErrNoAddr", redis.Options{}, false},
		{"ErrBraceInPrefix", redis.Options{Addrs: []string{"127.0.0.1:1"}, Prefix: "w{r}"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := redis.New(tt.o)
			if got := err == nil; got != tt.ok {
				t.Fatalf("New(%+v) error = %v, want ok %v", tt.o, err, tt.ok)
			}
			if s != nil {
				_ = s.Close()
			}
		})
	}
}

func TestStore_Conformance(t *testing.T) {
	t.Run("Standalone", func(t *testing.T) {
		srv := redistest.Start(t)
		admissiontest.Run(t, func(tb testing.TB, o admission.ReleaseOptions) admission.Store {
			s, _ := mustStoreWith(tb, o, srv.Addr())
			return s
		})
	})
	t.Run("Cluster", func(t *testing.T) {
		c := redistest.StartCluster(t, 3)
		// RoomsAreIndependent uses rooms a and b: make sure that crosses slots.
		admin := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: c.Addrs()})
		t.Cleanup(func() { _ = admin.Close() })
		a, err := admin.ClusterKeySlot(ctx, key("p", "a")).Result()
		if err != nil {
			t.Fatal(err)
		}
		b, err := admin.ClusterKeySlot(ctx, key("p", "b")).Result()
		if err != nil {
			t.Fatal(err)
		}
		if a == b {
			t.Fatalf("rooms a and b share slot %d", a)
		}
		admissiontest.Run(t, func(tb testing.TB, o admission.ReleaseOptions) admission.Store {
			s, _ := mustStoreWith(tb, o, c.Addrs()...)
			return s
		})
	})
}

// TestStore_ClusterSlots checks that rooms spread over the masters and each
// room's hash lives on the master owning its slot.
func TestStore_ClusterSlots(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	s, prefix := mustStore(t, c.Addrs()...)
	admin := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { _ = admin.Close() })
	slots, err := admin.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	owner := func(slot int64) string {
		for _, r := range slots {
			if int64(r.Start) <= slot && slot <= int64(r.End) {
				return r.Nodes[0].Addr
			}
		}
		t.Fatalf("slot %d has no owner", slot)
		return ""
	}
	// One room per master, found by trying names.
	rooms := map[string]string{} // master -> room
	for i := 0; len(rooms) < len(c.Addrs()) && i < 100; i++ {
		room := "room-" + strconv.Itoa(i)
		slot, err := admin.ClusterKeySlot(ctx, key(prefix, room)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if m := owner(slot); rooms[m] == "" {
			rooms[m] = room
		}
	}
	if len(rooms) != len(c.Addrs()) {
		t.Fatalf("rooms found on %d masters, want %d", len(rooms), len(c.Addrs()))
	}
	joins := int64(0)
	for master, room := range rooms {
		joins++
		if _, err := s.Init(ctx, room, admission.Settings{RatePerHour: 3600}); err != nil {
			t.Fatal(err)
		}
		for range joins {
			if _, err := s.Join(ctx, room); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Advance(ctx, room); err != nil {
			t.Fatal(err)
		}
		// A plain client on the owner reads the hash; any other node would
		// answer MOVED.
		got, err := mustClient(t, master).HGet(ctx, key(prefix, room), "issued").Int64()
		if err != nil {
			t.Fatalf("room %s on master %s: %v", room, master, err)
		}
		if got != joins {
			t.Fatalf("room %s issued = %d, want %d", room, got, joins)
		}
	}
}

// fields are a room's raw hash fields, as the scripts store them.
type fields struct {
	issued, admitted, credit, rate, last int64
	paused                               bool
	epoch                                string
}

func readFields(tb testing.TB, c *goredis.Client, key string) fields {
	tb.Helper()
	m, err := c.HGetAll(ctx, key).Result()
	if err != nil {
		tb.Fatal(err)
	}
	n := func(name string) int64 {
		v, err := strconv.ParseInt(m[name], 10, 64)
		if err != nil {
			tb.Fatalf("field %s = %q: %v", name, m[name], err)
		}
		return v
	}
	return fields{
		issued: n("issued"), admitted: n("admitted"), credit: n("credit"), rate: n("rate"), last: n("last"),
		paused: m["paused"] == "1", epoch: m["epoch"],
	}
}

func writeFields(tb testing.TB, c *goredis.Client, key string, f fields) {
	tb.Helper()
	paused := "0"
	if f.paused {
		paused = "1"
	}
	err := c.HSet(ctx, key, "issued", f.issued, "admitted", f.admitted, "credit", f.credit,
		"rate", f.rate, "last", f.last, "paused", paused, "epoch", f.epoch).Err()
	if err != nil {
		tb.Fatal(err)
	}
}

// release is admission.Release of a planted room's fields, as Advance must
// store them.
func release(f fields, elapsed time.Duration) (admitted, credit int64) {
	c := admission.Release(admission.Cursor{Issued: f.issued, Admitted: f.admitted, Credit: f.credit}, f.rate, elapsed, nil)
	return c.Admitted, c.Credit
}

// redisNow is the server's TIME in microseconds.
func redisNow(tb testing.TB, c *goredis.Client) int64 {
	tb.Helper()
	now, err := c.Time(ctx).Result()
	if err != nil {
		tb.Fatal(err)
	}
	return now.UnixMicro()
}

// TestStore_Advance checks the script against admission.Release exactly, at
// rates up to MaxRatePerHour, by planting a room's fields and recomputing the
// release in Go from the elapsed time the script recorded.
func TestStore_Advance(t *testing.T) {
	srv := redistest.Start(t)
	c := mustClient(t, srv.Addr())
	const sec = int64(time.Second / time.Microsecond)
	tests := []struct {
		name   string
		before fields
		ago    int64 // µs between the planted last and Redis TIME; negative: last in the future
	}{
		{"MaxRate", fields{issued: 1e12, admitted: 12_345, rate: admission.MaxRatePerHour}, 5 * sec},
		{"MaxRateCappedAtMaxStep", fields{issued: 1e12, admitted: 7, credit: 3_599_999_999, rate: admission.MaxRatePerHour}, 30 * sec},
		{"CarriesCredit", fields{issued: 100, admitted: 1, credit: 3_599_990_000, rate: 1}, 20_000},
		{"NeverBeyondIssued", fields{issued: 10, admitted: 3, credit: 5, rate: admission.MaxRatePerHour}, sec},
		{"NothingWaiting", fields{issued: 10, admitted: 10, rate: 3600}, sec},
		{"ClockBehind", fields{issued: 1000, admitted: 3, credit: 42, rate: admission.MaxRatePerHour}, -5 * sec},
		{"Paused", fields{issued: 1000, admitted: 3, credit: 42, rate: admission.MaxRatePerHour, paused: true}, 5 * sec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, prefix := mustStoreWith(t, patient, srv.Addr())
			k := key(prefix, "r")
			before := tt.before
			before.epoch = "e"
			before.last = redisNow(t, c) - tt.ago
			writeFields(t, c, k, before)

			st, err := s.Advance(ctx, "r")
			if err != nil {
				t.Fatal(err)
			}
			after := readFields(t, c, k)

			want := before
			switch {
			case tt.ago < 0:
				// Time ran backwards: nothing changes, last stays.
			case before.paused:
				want.last = after.last
				if after.last <= before.last {
					t.Fatalf("paused room: last did not move: %d -> %d", before.last, after.last)
				}
			default:
				want.last = after.last
				elapsed := time.Duration(after.last-before.last) * time.Microsecond
				want.admitted, want.credit = release(before, elapsed)
			}
			if after != want {
				t.Fatalf("after Advance:\n got %+v\nwant %+v", after, want)
			}
			if st.Admitted != after.admitted || st.Issued != after.issued {
				t.Fatalf("Advance returned %+v, stored %+v", st, after)
			}
		})
	}

	t.Run("MeasuredInterval", func(t *testing.T) {
		s, prefix := mustStoreWith(t, patient, srv.Addr())
		k := key(prefix, "r")
		if _, err := s.Reseed(ctx, "r", admission.State{Issued: 1e12, RatePerHour: admission.MaxRatePerHour, Epoch: "e"}); err != nil {
			t.Fatal(err)
		}
		start, err := s.Advance(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		before := readFields(t, c, k)
		time.Sleep(20 * time.Millisecond)
		end, err := s.Advance(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		after := readFields(t, c, k)
		if got, want := before.last, start.Now.UnixMicro(); got != want {
			t.Fatalf("stored last = %d, State.Now = %d", got, want)
		}
		admitted, credit := release(fields{issued: start.Issued, admitted: start.Admitted, credit: before.credit, rate: admission.MaxRatePerHour}, end.Now.Sub(start.Now))
		if end.Admitted != admitted || after.credit != credit {
			t.Fatalf("after %v at rate %d: admitted %d credit %d, want %d %d",
				end.Now.Sub(start.Now), admission.MaxRatePerHour, end.Admitted, after.credit, admitted, credit)
		}
	})
}

func TestStore_Reseed(t *testing.T) {
	srv := redistest.Start(t)
	c := mustClient(t, srv.Addr())
	remembered := func(issued, admitted int64) admission.State {
		return admission.State{Issued: issued, Admitted: admitted, RatePerHour: 7200, Paused: true, Epoch: "remembered"}
	}
	tests := []struct {
		name     string
		existing *fields // nil: the room is missing
		reseed   admission.State
		want     fields
	}{
		{
			name:   "MissingIsCreated",
			reseed: remembered(100, 40),
			want:   fields{issued: 100, admitted: 40, rate: 7200, paused: true, epoch: "remembered"},
		},
		{
			name:   "MissingAdmittedCappedAtIssued",
			reseed: remembered(5, 9),
			want:   fields{issued: 5, admitted: 5, rate: 7200, paused: true, epoch: "remembered"},
		},
		{
			name:     "ExistingRaised",
			existing: &fields{issued: 3, admitted: 1, credit: 99, rate: 36_000, epoch: "live"},
			reseed:   remembered(10, 7),
			want:     fields{issued: 10, admitted: 7, credit: 99, rate: 36_000, epoch: "live"},
		},
		{
			name:     "ExistingHigherKept",
			existing: &fields{issued: 20, admitted: 10, credit: 99, rate: 36_000, epoch: "live"},
			reseed:   remembered(5, 2),
			want:     fields{issued: 20, admitted: 10, credit: 99, rate: 36_000, epoch: "live"},
		},
		{
			name:     "ExistingAdmittedNeverBeyondIssued",
			existing: &fields{issued: 10, admitted: 5, credit: 99, rate: 36_000, epoch: "live"},
			reseed:   remembered(4, 12),
			want:     fields{issued: 10, admitted: 10, rate: 36_000, epoch: "live"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, prefix := mustStore(t, srv.Addr())
			k := key(prefix, "r")
			if tt.existing != nil {
				writeFields(t, c, k, *tt.existing)
			}
			st, err := s.Reseed(ctx, "r", tt.reseed)
			if err != nil {
				t.Fatal(err)
			}
			got := readFields(t, c, k)
			tt.want.last = got.last // the release clock is not under test here
			if got != tt.want {
				t.Fatalf("after Reseed:\n got %+v\nwant %+v", got, tt.want)
			}
			if st.Issued != got.issued || st.Admitted != got.admitted || st.Epoch != got.epoch {
				t.Fatalf("Reseed returned %+v, stored %+v", st, got)
			}
			pos, err := s.Join(ctx, "r")
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.want.issued + 1; pos != want {
				t.Fatalf("Join after Reseed = %d, want %d", pos, want)
			}
		})
	}

	t.Run("ErrInvalidRate", func(t *testing.T) {
		s, _ := mustStore(t, srv.Addr())
		st := remembered(1, 1)
		st.RatePerHour = 0
		if _, err := s.Reseed(ctx, "r", st); !errors.Is(err, admission.ErrInvalidRate) {
			t.Fatalf("error = %v, want ErrInvalidRate", err)
		}
	})
	t.Run("ErrInvalidState", func(t *testing.T) {
		s, _ := mustStore(t, srv.Addr())
		for _, st := range []admission.State{{RatePerHour: 1}, {RatePerHour: 1, Epoch: "e", Issued: -1}} {
			if _, err := s.Reseed(ctx, "r", st); err == nil {
				t.Errorf("Reseed(%+v) succeeded", st)
			}
		}
	})
}

// TestStore_Unavailable checks that whatever keeps Redis from answering
// comes back as admission.ErrUnavailable, promptly.
func TestStore_Unavailable(t *testing.T) {
	isUnavailable := func(t *testing.T, what string, err error) {
		t.Helper()
		if !errors.Is(err, admission.ErrUnavailable) {
			t.Errorf("%s error = %v, want ErrUnavailable", what, err)
		}
	}
	set := admission.Settings{RatePerHour: 3600}

	t.Run("ServerDownThenBackEmpty", func(t *testing.T) {
		srv := redistest.Start(t)
		s, _ := mustStore(t, srv.Addr())
		if _, err := s.Init(ctx, "r", set); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := s.Join(ctx, "r"); err != nil {
				t.Fatal(err)
			}
		}
		seen, err := s.State(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}

		srv.Stop()
		_, err = s.Init(ctx, "r", set)
		isUnavailable(t, "Init", err)
		_, err = s.Join(ctx, "r")
		isUnavailable(t, "Join", err)
		_, err = s.Advance(ctx, "r")
		isUnavailable(t, "Advance", err)
		_, err = s.State(ctx, "r")
		isUnavailable(t, "State", err)
		_, err = s.SetRate(ctx, "r", 1)
		isUnavailable(t, "SetRate", err)
		_, err = s.SetPaused(ctx, "r", true)
		isUnavailable(t, "SetPaused", err)
		_, err = s.Reseed(ctx, "r", seen)
		isUnavailable(t, "Reseed", err)
		_, err = s.Enter(ctx, "r", 1, time.Now())
		isUnavailable(t, "Enter", err)

		// Back without its data: the room is gone until a gateway reseeds it
		// from what it saw, and positions continue after the last one handed out.
		srv.Restart(t)
		deadline := time.Now().Add(3 * time.Second)
		for {
			_, err = s.Join(ctx, "r")
			if !errors.Is(err, admission.ErrUnavailable) || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !errors.Is(err, admission.ErrNotInitialized) {
			t.Fatalf("Join after an empty restart: error = %v, want ErrNotInitialized", err)
		}
		if _, err := s.Reseed(ctx, "r", seen); err != nil {
			t.Fatal(err)
		}
		pos, err := s.Join(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		if pos != seen.Issued+1 {
			t.Fatalf("Join after Reseed = %d, want %d", pos, seen.Issued+1)
		}
	})

	t.Run("ClosedPort", func(t *testing.T) {
		port, err := redistest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		s, _ := mustStore(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		start := time.Now()
		_, err = s.Join(ctx, "r")
		isUnavailable(t, "Join", err)
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("Join against a closed port took %v", took)
		}
	})

	// A peer that accepts and never answers, like a frozen Redis.
	silent := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					_ = c.Close()
				}
			}()
			for {
				conn, err := l.Accept()
				if err != nil {
					return
				}
				conns = append(conns, conn)
			}
		}()
		t.Cleanup(func() {
			_ = l.Close()
			<-done
		})
		return l.Addr().String()
	}

	t.Run("SilentServer", func(t *testing.T) {
		s, err := redis.New(redis.Options{Addrs: []string{silent(t)}, ReadTimeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		start := time.Now()
		_, err = s.Advance(ctx, "r")
		isUnavailable(t, "Advance", err)
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("Advance against a silent server took %v", took)
		}
	})

	t.Run("ContextDeadline", func(t *testing.T) {
		// The caller's deadline wins over a longer read timeout.
		s, err := redis.New(redis.Options{Addrs: []string{silent(t)}, ReadTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = s.State(cctx, "r")
		isUnavailable(t, "State", err)
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("State with a 50ms deadline took %v", took)
		}
	})

	t.Run("Closed", func(t *testing.T) {
		srv := redistest.Start(t)
		s, _ := mustStore(t, srv.Addr())
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		_, err := s.Join(ctx, "r")
		isUnavailable(t, "Join", err)
	})

	t.Run("WrongTypeIsNotUnavailable", func(t *testing.T) {
		srv := redistest.Start(t)
		s, prefix := mustStore(t, srv.Addr())
		if err := mustClient(t, srv.Addr()).Set(ctx, key(prefix, "r"), "x", 0).Err(); err != nil {
			t.Fatal(err)
		}
		_, err := s.Join(ctx, "r")
		if err == nil || errors.Is(err, admission.ErrUnavailable) || errors.Is(err, admission.ErrNotInitialized) {
			t.Fatalf("Join on a string key: error = %v, want a plain error", err)
		}
	})
}

// TestStore_ScriptFlush checks that calls recover when Redis lost its script
// cache, as after a restart or SCRIPT FLUSH.
func TestStore_ScriptFlush(t *testing.T) {
	srv := redistest.Start(t)
	s, _ := mustStore(t, srv.Addr())
	if _, err := s.Init(ctx, "r", admission.Settings{RatePerHour: 3600}); err != nil {
		t.Fatal(err)
	}
	if err := mustClient(t, srv.Addr()).ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Advance(ctx, "r"); err != nil {
		t.Fatalf("Advance after SCRIPT FLUSH: %v", err)
	}
	if pos, err := s.Join(ctx, "r"); err != nil || pos != 1 {
		t.Fatalf("Join after SCRIPT FLUSH = %d, %v", pos, err)
	}
}

// TestStore_RoundTrips counts, in Redis's own command statistics, what N
// calls cost: exactly N EVALSHA, each running the script's commands once.
// A second command per call (a separate read, an EVAL after EVALSHA) would
// show up as another entry or a higher count.
func TestStore_RoundTrips(t *testing.T) {
	const n = 50
	srv := redistest.Start(t)
	admin := mustClient(t, srv.Addr())
	s, _ := mustStore(t, srv.Addr())
	if _, err := s.Init(ctx, "r", admission.Settings{RatePerHour: 3600}); err != nil {
		t.Fatal(err)
	}
	// Warm up: the first call of each script loads it (EVALSHA, NOSCRIPT, EVAL).
	if _, err := s.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Advance(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		want map[string]int64
	}{
		{
			name: "Join",
			call: func() error { _, err := s.Join(ctx, "r"); return err },
			want: map[string]int64{"evalsha": n, "hmget": n, "hincrby": n},
		},
		{
			name: "Advance",
			call: func() error { _, err := s.Advance(ctx, "r"); return err },
			want: map[string]int64{"evalsha": n, "hmget": n, "time": n, "hset": n},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := admin.ConfigResetStat(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			for range n {
				if err := tt.call(); err != nil {
					t.Fatal(err)
				}
			}
			got := commandCalls(t, admin)
			if !maps.Equal(got, tt.want) {
				t.Fatalf("commands for %d calls = %v, want %v", n, got, tt.want)
			}
		})
	}
}

// commandCalls parses INFO commandstats, leaving out the test's own
// CONFIG RESETSTAT and INFO, and the HELLO of a connection the client's
// pool opens on the way (once per connection, not per call).
func commandCalls(tb testing.TB, c *goredis.Client) map[string]int64 {
	tb.Helper()
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	calls := map[string]int64{}
	for _, line := range strings.Split(info, "\r\n") {
		name, stats, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
		if !ok || name == line || name == "info" || name == "config|resetstat" || name == "hello" {
			continue
		}
		for _, kv := range strings.Split(stats, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					tb.Fatalf("commandstats line %q: %v", line, err)
				}
				calls[name] = n
			}
		}
	}
	return calls
}

func BenchmarkJoin(b *testing.B) {
	benchmark(b, func(s *redis.Store) error { _, err := s.Join(ctx, "r"); return err })
}

func BenchmarkAdvance(b *testing.B) {
	benchmark(b, func(s *redis.Store) error { _, err := s.Advance(ctx, "r"); return err })
}

// BenchmarkPing is the baseline for the two above: one round trip of the
// cheapest command through go-redis, to read their figures as ratios.
func BenchmarkPing(b *testing.B) {
	srv := redistest.Start(b)
	c := mustClient(b, srv.Addr())
	benchmarkCall(b, func() error { return c.Ping(ctx).Err() })
}

// benchmark measures call one caller at a time and from GOMAXPROCS callers
// at once, against a redis-server on this machine.
func benchmark(b *testing.B, call func(*redis.Store) error) {
	srv := redistest.Start(b)
	s, _ := mustStore(b, srv.Addr())
	if _, err := s.Init(ctx, "r", admission.Settings{RatePerHour: 3600}); err != nil {
		b.Fatal(err)
	}
	benchmarkCall(b, func() error { return call(s) })
}

func benchmarkCall(b *testing.B, call func() error) {
	b.Run("Serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := call(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := call(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
