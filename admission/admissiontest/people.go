package admissiontest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/waitroom/waitroom/admission"
)

// PeopleStore is a Store that also gives people places, counts
// verifications and ends sessions.
type PeopleStore interface {
	admission.Store
	admission.People
	admission.Verifications
	admission.Sessions
}

// NewPeopleStore returns a fresh, empty store for one subtest, releasing
// by o.
type NewPeopleStore func(tb testing.TB, o admission.ReleaseOptions) PeopleStore

// opensIn is how far in the future the windows of these tests open: long
// enough for a few claims in the pre-queue, short enough to wait for.
const opensIn = 300 * time.Millisecond

// A seed and its commitment, hex(SHA-256(seed)), as the draw makes them.
var (
	seed       = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	commitment = func() string {
		b, _ := hex.DecodeString(seed)
		h := sha256.Sum256(b)
		return hex.EncodeToString(h[:])
	}()
)

// RunPeople runs the suite of People, Verifications and Sessions against
// stores made by newStore. Times of windows are taken from the store's own
// clock (State.Now), which need not be this machine's.
func RunPeople(t *testing.T, newStore NewPeopleStore) {
	ctx := context.Background()
	set := admission.Settings{RatePerHour: 36_000} // 10 per second

	t.Run("InitWindow", func(t *testing.T) {
		s := newStore(t, patient)
		now := storeNow(t, s)
		w := admission.Window{Opens: now.Add(time.Hour), Closes: now.Add(2 * time.Hour)}
		st, err := s.InitWindow(ctx, "r", set, w, commitment, seed)
		if err != nil {
			t.Fatal(err)
		}
		if !sameWindow(st.Window, w) {
			t.Fatalf("Window = %+v, want %+v", st.Window, w)
		}
		if want := (admission.Draw{Commitment: commitment}); st.Draw != want {
			t.Fatalf("Draw before opening = %+v, want %+v (seed hidden)", st.Draw, want)
		}
		if st.RatePerHour != set.RatePerHour || st.Issued != 0 || st.Epoch == "" {
			t.Fatalf("fresh room state = %+v", st)
		}
		// Another gateway proposing other values reads the first ones back.
		again, err := s.InitWindow(ctx, "r", admission.Settings{RatePerHour: 1}, admission.Window{Opens: now}, "other", "other")
		if err != nil {
			t.Fatal(err)
		}
		if again.Window != st.Window || again.Draw != st.Draw || again.Epoch != st.Epoch || again.RatePerHour != st.RatePerHour {
			t.Fatalf("InitWindow of an existing room = %+v, want %+v", again, st)
		}
		for _, rate := range []int64{0, admission.MaxRatePerHour + 1} {
			if _, err := s.InitWindow(ctx, "bad", admission.Settings{RatePerHour: rate}, w, commitment, seed); !errors.Is(err, admission.ErrInvalidRate) {
				t.Errorf("InitWindow(rate %d) error = %v, want ErrInvalidRate", rate, err)
			}
		}
		// Every state carries the window and the draw.
		for name, get := range map[string]func() (admission.State, error){
			"State":     func() (admission.State, error) { return s.State(ctx, "r") },
			"Advance":   func() (admission.State, error) { return s.Advance(ctx, "r") },
			"SetRate":   func() (admission.State, error) { return s.SetRate(ctx, "r", 72_000) },
			"SetPaused": func() (admission.State, error) { return s.SetPaused(ctx, "r", false) },
			"Init":      func() (admission.State, error) { return s.Init(ctx, "r", set) },
		} {
			got, err := get()
			if err != nil {
				t.Fatal(err)
			}
			if got.Window != st.Window || got.Draw != st.Draw {
				t.Errorf("%s: window %+v draw %+v, want %+v %+v", name, got.Window, got.Draw, st.Window, st.Draw)
			}
		}
	})

	t.Run("ErrNotInitialized", func(t *testing.T) {
		s := newStore(t, patient)
		if _, err := s.Claim(ctx, "nope", admission.Claim{Identity: "i", Device: "d"}); !errors.Is(err, admission.ErrNotInitialized) {
			t.Fatalf("Claim error = %v, want ErrNotInitialized", err)
		}
	})

	t.Run("PreQueueThenDraw", func(t *testing.T) {
		s := newStore(t, patient)
		opens := storeNow(t, s).Add(opensIn)
		mustInitWindow(t, s, "r", set, admission.Window{Opens: opens})
		for i := int64(1); i <= 3; i++ {
			got := mustClaim(t, s, "r", person(i, "phone"))
			if want := (admission.Place{PreIndex: i}); got != want {
				t.Fatalf("claim %d before opening = %+v, want %+v%s", i, got, want, tooSlow(t, s, opens))
			}
		}
		if got, want := mustClaim(t, s, "r", person(1, "phone")), (admission.Place{PreIndex: 1, Existing: true}); got != want {
			t.Fatalf("re-claim before opening = %+v, want %+v", got, want)
		}
		st := mustAdvance(t, s, "r")
		if !st.Now.Before(opens) {
			t.Fatalf("test too slow: the window opened at %v before the pre-queue was checked (%v)", opens, st.Now)
		}
		if want := (admission.Draw{PreQueued: 3, Commitment: commitment}); st.Draw != want || st.Issued != 0 || st.Admitted != 0 {
			t.Fatalf("before opening: %+v, want nobody in line and draw %+v", st, want)
		}

		waitFor(t, s, "r", opens)
		st = mustAdvance(t, s, "r")
		if want := (admission.Draw{PreQueued: 3, Drawn: true, Commitment: commitment, Seed: seed}); st.Draw != want {
			t.Fatalf("draw after opening = %+v, want %+v", st.Draw, want)
		}
		if st.Issued != 3 {
			t.Fatalf("Issued after opening = %d, want the pre-queue's 3", st.Issued)
		}
		if got, want := mustClaim(t, s, "r", person(4, "phone")), (admission.Place{Position: 4}); got != want {
			t.Fatalf("first claim after opening = %+v, want %+v", got, want)
		}
		if got, want := mustClaim(t, s, "r", person(2, "phone")), (admission.Place{PreIndex: 2, Existing: true}); got != want {
			t.Fatalf("pre-queued person's re-claim after opening = %+v, want %+v", got, want)
		}
		if st := mustState(t, s, "r"); st.Draw.PreQueued != 3 || st.Draw.Commitment != commitment {
			t.Fatalf("draw after claims = %+v, want the frozen pre-queue of 3 and the same commitment", st.Draw)
		}
	})

	t.Run("ClaimFreezesPreQueue", func(t *testing.T) {
		s := newStore(t, patient)
		opens := storeNow(t, s).Add(opensIn)
		mustInitWindow(t, s, "r", set, admission.Window{Opens: opens})
		for i := int64(1); i <= 2; i++ {
			if got := mustClaim(t, s, "r", person(i, "phone")); got.PreIndex != i {
				t.Fatalf("claim %d before opening = %+v%s", i, got, tooSlow(t, s, opens))
			}
		}
		waitFor(t, s, "r", opens)
		// No Advance ran since the opening: the claim itself freezes.
		if got, want := mustClaim(t, s, "r", person(3, "phone")), (admission.Place{Position: 3}); got != want {
			t.Fatalf("first claim after opening = %+v, want %+v", got, want)
		}
		st := mustState(t, s, "r")
		if want := (admission.Draw{PreQueued: 2, Drawn: true, Commitment: commitment, Seed: seed}); st.Draw != want || st.Issued != 3 {
			t.Fatalf("after the first claim after opening: issued %d, draw %+v; want 3, %+v", st.Issued, st.Draw, want)
		}
	})

	t.Run("ReleaseOnlyInWindow", func(t *testing.T) {
		s := newStore(t, patient)
		opens := storeNow(t, s).Add(opensIn)
		// 450 ms at 10 per second is 4.5 people: 4, with half a person of
		// margin for the stores' rounding of time.
		w := admission.Window{Opens: opens, Closes: opens.Add(450 * time.Millisecond)}
		mustInitWindow(t, s, "r", set, w)
		for i := range int64(20) {
			mustClaim(t, s, "r", person(i, "phone"))
		}
		for {
			st := mustAdvance(t, s, "r")
			if st.Now.Before(opens) && st.Admitted != 0 {
				t.Fatalf("released before opening: %+v", st)
			}
			if !st.Now.Before(w.Closes) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		want := admission.Release(admission.Cursor{Issued: 20}, set.RatePerHour, w.Closes.Sub(w.Opens), nil).Admitted
		if st := mustAdvance(t, s, "r"); st.Admitted != want || st.Issued != 20 {
			t.Fatalf("after closing: %+v, want %d admitted of 20 (nothing banked before opening)", st, want)
		}
		time.Sleep(100 * time.Millisecond)
		if st := mustAdvance(t, s, "r"); st.Admitted != want {
			t.Fatalf("released after closing: admitted %d, want %d", st.Admitted, want)
		}
		if _, err := s.Claim(ctx, "r", person(100, "phone")); !errors.Is(err, admission.ErrClosed) {
			t.Fatalf("Claim after closing: error = %v, want ErrClosed", err)
		}
		if _, err := s.Claim(ctx, "r", person(1, "phone")); !errors.Is(err, admission.ErrClosed) {
			t.Fatalf("re-claim after closing: error = %v, want ErrClosed", err)
		}
	})

	// Join is the anonymous way into a room; in a windowed one its
	// positions would collide with the pre-queue's before the opening.
	t.Run("JoinInWindow", func(t *testing.T) {
		s := newStore(t, patient)
		opens := storeNow(t, s).Add(opensIn)
		w := admission.Window{Opens: opens, Closes: opens.Add(opensIn)}
		mustInitWindow(t, s, "r", set, w)
		mustClaim(t, s, "r", person(1, "phone"))
		if _, err := s.Join(ctx, "r"); err == nil {
			t.Fatalf("Join before opening succeeded")
		}
		waitFor(t, s, "r", opens)
		if pos, err := s.Join(ctx, "r"); err != nil || pos != 2 {
			t.Fatalf("Join after opening = %d, %v; want 2, behind the pre-queue", pos, err)
		}
		waitFor(t, s, "r", w.Closes)
		if _, err := s.Join(ctx, "r"); !errors.Is(err, admission.ErrClosed) {
			t.Fatalf("Join after closing: error = %v, want ErrClosed", err)
		}
	})

	t.Run("Devices", func(t *testing.T) {
		s := newStore(t, patient)
		mustInitWindow(t, s, "r", set, admission.Window{})
		const block = 300 * time.Millisecond
		claim := func(device string) (admission.Place, error) {
			return s.Claim(ctx, "r", admission.Claim{Identity: "alice", Device: device, Block: block})
		}
		held := func(device string) time.Time {
			t.Helper()
			p, err := claim(device)
			if !errors.Is(err, admission.ErrHeldElsewhere) {
				t.Fatalf("claim from %s = %+v, %v; want ErrHeldElsewhere", device, p, err)
			}
			return p.HeldUntil
		}
		if p, err := claim("phone"); err != nil || p != (admission.Place{Position: 1}) {
			t.Fatalf("first claim = %+v, %v; want position 1", p, err)
		}
		after := mustState(t, s, "r").Now
		until := held("laptop")
		if until.After(after.Add(block)) || !until.After(after.Add(block-time.Second)) {
			t.Fatalf("HeldUntil = %v, want the first claim (before %v) plus %v", until, after, block)
		}
		time.Sleep(block / 3)
		if p, err := claim("phone"); err != nil || p != (admission.Place{Position: 1, Existing: true}) {
			t.Fatalf("same-device re-claim = %+v, %v; want position 1, existing", p, err)
		}
		if again := held("laptop"); !again.Equal(until) {
			t.Fatalf("HeldUntil after a same-device re-claim = %v, want unchanged %v", again, until)
		}

		waitFor(t, s, "r", until)
		if p, err := claim("laptop"); err != nil || p != (admission.Place{Position: 1, Existing: true}) {
			t.Fatalf("other device after the block = %+v, %v; want the same place", p, err)
		}
		if back := held("phone"); !back.After(until) {
			t.Fatalf("the first device after the takeover: HeldUntil %v, want after %v", back, until)
		}
		if p := mustClaim(t, s, "r", person(2, "phone")); p != (admission.Place{Position: 2}) {
			t.Fatalf("another person = %+v, want position 2", p)
		}

		// A zero Block means ten minutes.
		bob := admission.Claim{Identity: "bob", Device: "phone"}
		mustClaim(t, s, "r", bob)
		bob.Device = "laptop"
		p, err := s.Claim(ctx, "r", bob)
		if now := mustState(t, s, "r").Now; !errors.Is(err, admission.ErrHeldElsewhere) || p.HeldUntil.Sub(now) < 9*time.Minute {
			t.Fatalf("claim from another device with the default block = %+v, %v at %v", p, err, now)
		}
	})

	t.Run("ConcurrentClaims", func(t *testing.T) {
		s := newStore(t, patient)
		mustInitWindow(t, s, "r", set, admission.Window{})
		const people, workers = 5000, 64
		var (
			mu      sync.Mutex
			holders = map[int64]int64{} // position -> person
			refused int
		)
		ids := make(chan int64)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for id := range ids {
					// Both devices of one person claim at the same instant.
					start := make(chan struct{})
					var pair sync.WaitGroup
					for _, device := range []string{"phone", "laptop"} {
						pair.Go(func() {
							<-start
							p, err := s.Claim(ctx, "r", person(id, device))
							mu.Lock()
							defer mu.Unlock()
							switch {
							case errors.Is(err, admission.ErrHeldElsewhere):
								refused++
							case err != nil:
								t.Error(err)
							case p.Existing || p.Position < 1 || holders[p.Position] != 0:
								t.Errorf("person %d got %+v; held by %d", id, p, holders[p.Position])
							default:
								holders[p.Position] = id + 1
							}
						})
					}
					close(start)
					pair.Wait()
				}
			})
		}
		for id := range int64(people) {
			ids <- id
		}
		close(ids)
		wg.Wait()
		if len(holders) != people || refused != people {
			t.Fatalf("%d claims: %d places, %d refused; want %d each", 2*people, len(holders), refused, people)
		}
		for pos := int64(1); pos <= people; pos++ {
			if holders[pos] == 0 {
				t.Fatalf("position %d not handed out", pos)
			}
		}
		if st := mustState(t, s, "r"); st.Issued != people {
			t.Fatalf("Issued = %d, want %d", st.Issued, people)
		}
	})

	t.Run("VerifyStats", func(t *testing.T) {
		s := newStore(t, patient)
		now := time.Now().Truncate(admission.StatsBucket).Add(5 * time.Second) // 5 s into a bucket
		type event struct {
			method  string
			ago     time.Duration // start time before now
			finish  bool
			ok      bool
			latency time.Duration
		}
		events := []event{
			{method: "pass", ago: 5 * time.Second},
			{method: "pass", ago: 5 * time.Second, finish: true, ok: true, latency: 200 * time.Millisecond},
			{method: "pass", ago: 5 * time.Second, finish: true},
			{method: "pass", ago: 45 * time.Second, finish: true, ok: true, latency: 300 * time.Millisecond},
			{method: "kakao", ago: 20 * time.Second},
			// Begun more than a minute ago: not counted.
			{method: "pass", ago: 61 * time.Second, finish: true, ok: true, latency: time.Second},
			{method: "kakao", ago: 90 * time.Second},
		}
		for _, e := range events {
			started := now.Add(-e.ago)
			if err := s.VerifyStarted(ctx, "r", e.method, started); err != nil {
				t.Fatal(err)
			}
			if e.finish {
				if err := s.VerifyFinished(ctx, "r", e.method, started, e.latency, e.ok); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.VerifyStarted(ctx, "other", "pass", now); err != nil {
			t.Fatal(err)
		}
		got, err := s.VerifyStats(ctx, "r", []string{"pass", "kakao", "toss"}, now)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]admission.MethodStats{
			"pass":  {Starts: [admission.StatsBuckets]int64{0: 3, 4: 1}, Completed: 2, Failed: 1, Latency: 500 * time.Millisecond},
			"kakao": {Starts: [admission.StatsBuckets]int64{2: 1}},
			"toss":  {},
		}
		if !maps.Equal(got, want) {
			t.Fatalf("VerifyStats = %+v, want %+v", got, want)
		}
		later, err := s.VerifyStats(ctx, "r", []string{"pass"}, now.Add(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if later["pass"] != (admission.MethodStats{}) {
			t.Fatalf("two minutes later: %+v, want nothing", later["pass"])
		}
	})

	t.Run("Sessions", func(t *testing.T) {
		s := newStore(t, patient)
		until := time.Now().Add(time.Hour)
		ended := func(cursor string, want ...string) string {
			t.Helper()
			got, next, err := s.EndedSince(ctx, "r", cursor)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("EndedSince(%q) = %q, want %q", cursor, got, want)
			}
			return next
		}
		end := func(room, jti string) {
			t.Helper()
			if err := s.EndSession(ctx, room, jti, until); err != nil {
				t.Fatal(err)
			}
		}
		first := ended("")
		end("r", "a")
		end("r", "b")
		end("other", "x")
		next := ended(first, "a", "b")
		if again := ended(next); again != next {
			t.Fatalf("cursor moved without news: %q -> %q", next, again)
		}
		end("r", "c")
		ended(next, "c")
		ended("", "a", "b", "c")
		ended("0", "a", "b", "c")
	})

	t.Run("SessionsManyInPages", func(t *testing.T) {
		s := newStore(t, patient)
		const n, workers = 10_050, 16
		until := time.Now().Add(time.Hour)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < n; i += workers {
					if err := s.EndSession(ctx, "r", strconv.Itoa(i), until); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		seen := map[string]bool{}
		cursor, calls := "", 0
		for ; calls < 10; calls++ {
			jtis, next, err := s.EndedSince(ctx, "r", cursor)
			if err != nil {
				t.Fatal(err)
			}
			if len(jtis) == 0 {
				break
			}
			for _, j := range jtis {
				if seen[j] {
					t.Fatalf("session %s returned twice", j)
				}
				seen[j] = true
			}
			cursor = next
		}
		if len(seen) != n {
			t.Fatalf("%d sessions ended, %d returned in %d calls", n, len(seen), calls)
		}
	})
}

// person is the claim of person id from device.
func person(id int64, device string) admission.Claim {
	return admission.Claim{Identity: "id-" + strconv.FormatInt(id, 10), Device: device}
}

// storeNow is the store's clock, read from a room of its own.
func storeNow(tb testing.TB, s admission.Store) time.Time {
	tb.Helper()
	mustInit(tb, s, "clock", admission.Settings{RatePerHour: 1})
	return mustState(tb, s, "clock").Now
}

// waitFor returns once the store's clock reached t, reading room's State,
// which neither releases nor freezes.
func waitFor(tb testing.TB, s admission.Store, room string, t time.Time) {
	tb.Helper()
	for {
		now := mustState(tb, s, room).Now
		if !now.Before(t) {
			return
		}
		time.Sleep(min(t.Sub(now), 50*time.Millisecond) + time.Millisecond)
	}
}

// tooSlow explains a failure in the pre-queue that was due to the machine
// taking longer than opensIn to get there.
func tooSlow(tb testing.TB, s admission.Store, opens time.Time) string {
	if now := storeNow(tb, s); !now.Before(opens) {
		return fmt.Sprintf(" (test too slow: the window opened at %v, now %v)", opens, now)
	}
	return ""
}

// sameWindow compares windows to the microsecond, the stores' resolution.
func sameWindow(a, b admission.Window) bool {
	same := func(x, y time.Time) bool { return x.IsZero() == y.IsZero() && x.UnixMicro() == y.UnixMicro() }
	return same(a.Opens, b.Opens) && same(a.Closes, b.Closes)
}

func mustInitWindow(tb testing.TB, s PeopleStore, room string, set admission.Settings, w admission.Window) admission.State {
	tb.Helper()
	st, err := s.InitWindow(context.Background(), room, set, w, commitment, seed)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

func mustClaim(tb testing.TB, s PeopleStore, room string, c admission.Claim) admission.Place {
	tb.Helper()
	p, err := s.Claim(context.Background(), room, c)
	if err != nil {
		tb.Fatal(fmt.Errorf("claim %+v: %w", c, err))
	}
	return p
}
