package redis_test

import (
	"errors"
	"maps"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/admission/admissiontest"
	"github.com/waitroom/waitroom/admission/redis"
	"github.com/waitroom/waitroom/internal/redistest"
)

func TestStore_People(t *testing.T) {
	t.Run("Standalone", func(t *testing.T) {
		srv := redistest.Start(t)
		admissiontest.RunPeople(t, func(tb testing.TB, o admission.ReleaseOptions) admissiontest.PeopleStore {
			s, _ := mustStoreWith(tb, o, srv.Addr())
			return s
		})
	})
	t.Run("Cluster", func(t *testing.T) {
		c := redistest.StartCluster(t, 3)
		admissiontest.RunPeople(t, func(tb testing.TB, o admission.ReleaseOptions) admissiontest.PeopleStore {
			s, _ := mustStoreWith(tb, o, c.Addrs()...)
			return s
		})
	})
}

// TestStore_AdvanceWindow checks the script's clipping of release to the
// window against admission.Release exactly, by planting rooms whose window
// bounds lie a few seconds around Redis TIME.
func TestStore_AdvanceWindow(t *testing.T) {
	srv := redistest.Start(t)
	c := mustClient(t, srv.Addr())
	const sec = int64(time.Second / time.Microsecond)
	tests := []struct {
		name         string
		opens, close int64 // µs relative to the planted last; 0: none
		released     func(last, now int64) int64
	}{
		{"OpensBetween", 3 * sec, 0, func(last, now int64) int64 { return now - (last + 3*sec) }},
		{"ClosesBetween", -sec, 2 * sec, func(last, now int64) int64 { return 2 * sec }},
		{"Both", sec, 3 * sec, func(last, now int64) int64 { return 2 * sec }},
		{"NotOpenYet", 60 * sec, 0, func(last, now int64) int64 { return 0 }},
		{"ClosedBefore", -10 * sec, -sec, func(last, now int64) int64 { return 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, prefix := mustStoreWith(t, patient, srv.Addr())
			k := key(prefix, "r")
			before := fields{issued: 1e12, admitted: 5, credit: 123, rate: admission.MaxRatePerHour, epoch: "e"}
			before.last = redisNow(t, c) - 5*sec
			writeFields(t, c, k, before)
			rel := func(d int64) int64 {
				if d == 0 {
					return 0
				}
				return before.last + d
			}
			// drawn: the pre-queue (of nobody) is frozen already.
			if err := c.HSet(ctx, k, "opens", rel(tt.opens), "closes", rel(tt.close), "drawn", "1").Err(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Advance(ctx, "r"); err != nil {
				t.Fatal(err)
			}
			after := readFields(t, c, k)
			want := before
			want.last = after.last
			elapsed := time.Duration(tt.released(before.last, after.last)) * time.Microsecond
			want.admitted, want.credit = release(before, elapsed)
			if after != want {
				t.Fatalf("after Advance (release over %v):\n got %+v\nwant %+v", elapsed, after, want)
			}
		})
	}
}

// TestStore_Keys checks what the new calls write, where, and for how long.
func TestStore_Keys(t *testing.T) {
	srv := redistest.Start(t)
	c := mustClient(t, srv.Addr())

	t.Run("Claim", func(t *testing.T) {
		s, prefix := mustStore(t, srv.Addr())
		st, err := s.Init(ctx, "clock", admission.Settings{RatePerHour: 1})
		if err != nil {
			t.Fatal(err)
		}
		w := admission.Window{Opens: st.Now.Add(time.Hour), Closes: st.Now.Add(2 * time.Hour)}
		if _, err := s.InitWindow(ctx, "r", admission.Settings{RatePerHour: 3600}, w, "c0ffee", "5eed"); err != nil {
			t.Fatal(err)
		}
		room, err := c.HGetAll(ctx, key(prefix, "r")).Result()
		if err != nil {
			t.Fatal(err)
		}
		for f, want := range map[string]string{
			"opens": strconv.FormatInt(w.Opens.UnixMicro(), 10), "closes": strconv.FormatInt(w.Closes.UnixMicro(), 10),
			"prequeued": "0", "drawn": "0", "commitment": "c0ffee", "seed": "5eed",
		} {
			if room[f] != want {
				t.Errorf("room field %s = %q, want %q", f, room[f], want)
			}
		}
		if _, err := s.Claim(ctx, "r", admission.Claim{Identity: "alice", Device: "phone"}); err != nil {
			t.Fatal(err)
		}
		after, err := s.State(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		idKey := key(prefix, "r") + ":id:alice"
		rec, err := c.HGetAll(ctx, idKey).Result()
		if err != nil {
			t.Fatal(err)
		}
		verified, _ := strconv.ParseInt(rec["verified"], 10, 64)
		if rec["pos"] != "0" || rec["pre"] != "1" || rec["dev"] != "phone" || verified < st.Now.UnixMicro() || verified > after.Now.UnixMicro() {
			t.Fatalf("identity record = %v, want pos 0, pre 1, dev phone, verified in [%d, %d]", rec, st.Now.UnixMicro(), after.Now.UnixMicro())
		}
		expires, err := c.ExpireTime(ctx, idKey).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := int64(expires/time.Second), w.Closes.Unix()+86400; got != want {
			t.Fatalf("identity record expires at %d, want a day after the closing, %d", got, want)
		}

		// A room that never closes keeps its people.
		if _, err := s.InitWindow(ctx, "open", admission.Settings{RatePerHour: 3600}, admission.Window{}, "", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Claim(ctx, "open", admission.Claim{Identity: "alice", Device: "phone"}); err != nil {
			t.Fatal(err)
		}
		if ttl, err := c.TTL(ctx, key(prefix, "open")+":id:alice").Result(); err != nil || ttl != -1 {
			t.Fatalf("TTL in a room that never closes = %v, %v; want none", ttl, err)
		}
	})

	t.Run("Verifications", func(t *testing.T) {
		s, prefix := mustStore(t, srv.Addr())
		started := time.UnixMicro(1_700_000_005_000_000)
		if err := s.VerifyStarted(ctx, "r", "pass", started); err != nil {
			t.Fatal(err)
		}
		if err := s.VerifyFinished(ctx, "r", "pass", started, 1500*time.Microsecond, true); err != nil {
			t.Fatal(err)
		}
		if err := s.VerifyFinished(ctx, "r", "pass", started, time.Second, false); err != nil {
			t.Fatal(err)
		}
		k := key(prefix, "r") + ":vs:170000000"
		got, err := c.HGetAll(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{"pass:s": "1", "pass:c": "1", "pass:f": "1", "pass:l": "1500"}; !maps.Equal(got, want) {
			t.Fatalf("%s = %v, want %v", k, got, want)
		}
		if ttl, err := c.TTL(ctx, k).Result(); err != nil || ttl <= time.Minute || ttl > 2*time.Minute {
			t.Fatalf("TTL of %s = %v, %v; want about 2 minutes", k, ttl, err)
		}
	})

	t.Run("Sessions", func(t *testing.T) {
		s, prefix := mustStore(t, srv.Addr())
		k := key(prefix, "r") + ":ended"
		later := time.Now().Add(2 * time.Hour).Truncate(time.Millisecond)
		sooner := time.Now().Add(time.Hour).Truncate(time.Millisecond)
		for _, until := range []time.Time{later, sooner} {
			if err := s.EndSession(ctx, "r", "jti", until); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := c.XLen(ctx, k).Result(); err != nil || n != 2 {
			t.Fatalf("XLEN %s = %d, %v; want 2", k, n, err)
		}
		at, err := c.PExpireTime(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := int64(at/time.Millisecond), later.UnixMilli(); got != want {
			t.Fatalf("stream expires at %d, want the latest until, %d", got, want)
		}
		if _, _, err := s.EndedSince(ctx, "r", "not-an-id"); err == nil || errors.Is(err, admission.ErrUnavailable) {
			t.Fatalf("EndedSince with a bad cursor: error = %v, want a plain error", err)
		}
	})
}

func TestStore_ReseedWindow(t *testing.T) {
	srv := redistest.Start(t)
	s, _ := mustStore(t, srv.Addr())
	opens := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	seen := admission.State{
		Issued: 10, RatePerHour: 3600, Epoch: "e",
		Window: admission.Window{Opens: opens, Closes: opens.Add(time.Hour)},
		Draw:   admission.Draw{PreQueued: 7, Commitment: "c0ffee"},
	}
	st, err := s.Reseed(ctx, "r", seen)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Window.Opens.Equal(seen.Window.Opens) || !st.Window.Closes.Equal(seen.Window.Closes) || st.Draw != seen.Draw {
		t.Fatalf("reseeded window %+v draw %+v, want %+v %+v", st.Window, st.Draw, seen.Window, seen.Draw)
	}
	p, err := s.Claim(ctx, "r", admission.Claim{Identity: "alice", Device: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	if p.PreIndex != 8 {
		t.Fatalf("claim after Reseed = %+v, want pre-queue index 8", p)
	}
	// Another gateway saw more of the pre-queue.
	seen.Draw.PreQueued = 20
	if st, err = s.Reseed(ctx, "r", seen); err != nil {
		t.Fatal(err)
	}
	if st.Draw.PreQueued != 20 {
		t.Fatalf("PreQueued after a second Reseed = %d, want 20", st.Draw.PreQueued)
	}
}

func TestStore_PeopleUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	s, _ := mustStore(t, srv.Addr())
	srv.Stop()
	calls := map[string]func() error{
		"InitWindow": func() error {
			_, err := s.InitWindow(ctx, "r", admission.Settings{RatePerHour: 1}, admission.Window{}, "", "")
			return err
		},
		"Claim": func() error {
			_, err := s.Claim(ctx, "r", admission.Claim{Identity: "i", Device: "d"})
			return err
		},
		"VerifyStarted":  func() error { return s.VerifyStarted(ctx, "r", "m", time.Now()) },
		"VerifyFinished": func() error { return s.VerifyFinished(ctx, "r", "m", time.Now(), 0, true) },
		"VerifyStats": func() error {
			_, err := s.VerifyStats(ctx, "r", []string{"m"}, time.Now())
			return err
		},
		"EndSession": func() error { return s.EndSession(ctx, "r", "j", time.Now()) },
		"EndedSince": func() error {
			_, _, err := s.EndedSince(ctx, "r", "")
			return err
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, admission.ErrUnavailable) {
			t.Errorf("%s error = %v, want ErrUnavailable", name, err)
		}
	}
}

// TestStore_PeopleRoundTrips counts the Redis commands of the new calls, as
// TestStore_RoundTrips does. Scripts show as one EVALSHA; pipelines send
// their commands in one write and read the replies in one go.
func TestStore_PeopleRoundTrips(t *testing.T) {
	const n = 50
	srv := redistest.Start(t)
	admin := mustClient(t, srv.Addr())
	s, _ := mustStore(t, srv.Addr())
	set := admission.Settings{RatePerHour: 3600}
	if _, err := s.InitWindow(ctx, "r", set, admission.Window{}, "", ""); err != nil {
		t.Fatal(err)
	}
	// Warm up the scripts' cache: the first call of each loads it.
	if _, err := s.Claim(ctx, "r", admission.Claim{Identity: "warm", Device: "d"}); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour)
	if err := s.EndSession(ctx, "r", "warm", until); err != nil {
		t.Fatal(err)
	}
	i := 0
	tests := []struct {
		name string
		call func() error
		want map[string]int64
	}{
		{
			name: "InitWindowExisting",
			call: func() error { _, err := s.InitWindow(ctx, "r", set, admission.Window{}, "", ""); return err },
			want: map[string]int64{"evalsha": n, "time": n, "hmget": n},
		},
		{
			name: "ClaimNew",
			call: func() error {
				i++
				_, err := s.Claim(ctx, "r", admission.Claim{Identity: strconv.Itoa(i), Device: "d"})
				return err
			},
			want: map[string]int64{"evalsha": n, "time": n, "hmget": 2 * n, "hincrby": n, "hset": n},
		},
		{
			name: "ClaimExisting",
			call: func() error { _, err := s.Claim(ctx, "r", admission.Claim{Identity: "warm", Device: "d"}); return err },
			want: map[string]int64{"evalsha": n, "time": n, "hmget": 2 * n},
		},
		{
			name: "VerifyStarted",
			call: func() error { return s.VerifyStarted(ctx, "r", "m", time.Now()) },
			want: map[string]int64{"hincrby": n, "expire": n},
		},
		{
			name: "VerifyFinished",
			call: func() error { return s.VerifyFinished(ctx, "r", "m", time.Now(), time.Second, true) },
			want: map[string]int64{"hincrby": 2 * n, "expire": n},
		},
		{
			name: "VerifyStats",
			call: func() error { _, err := s.VerifyStats(ctx, "r", []string{"a", "b"}, time.Now()); return err },
			want: map[string]int64{"hmget": 6 * n},
		},
		{
			// Sessions that end no later than the stream's expiry leave it.
			name: "EndSession",
			call: func() error { return s.EndSession(ctx, "r", "j", until) },
			want: map[string]int64{"evalsha": n, "xadd": n, "pexpiretime": n},
		},
		{
			name: "EndedSince",
			call: func() error { _, _, err := s.EndedSince(ctx, "r", "0"); return err },
			want: map[string]int64{"xrange": n},
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
			if got := commandCalls(t, admin); !maps.Equal(got, tt.want) {
				t.Fatalf("commands for %d calls = %v, want %v", n, got, tt.want)
			}
		})
	}
}

// BenchmarkClaim measures first claims, each of a new identity.
func BenchmarkClaim(b *testing.B) {
	var i atomic.Int64
	benchmark(b, func(s *redis.Store) error {
		_, err := s.Claim(ctx, "r", admission.Claim{Identity: strconv.FormatInt(i.Add(1), 10), Device: "d"})
		return err
	})
}
