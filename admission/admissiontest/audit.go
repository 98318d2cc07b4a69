package admissiontest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waitroom/waitroom/admission"
)

// ConsoleStore is a PeopleStore that also keeps the operator console's
// records and edits windows.
type ConsoleStore interface {
	PeopleStore
	admission.Audit
	admission.Board
	admission.Fleet
	admission.WindowEditor
}

// NewConsoleStore returns a fresh, empty store for one subtest.
type NewConsoleStore func(tb testing.TB) ConsoleStore

// RunConsole runs the suite of Audit, Board, Fleet and WindowEditor
// against stores made by newStore.
func RunConsole(t *testing.T, newStore NewConsoleStore) {
	ctx := context.Background()
	set := admission.Settings{RatePerHour: 36_000}

	t.Run("AuditNewestFirst", func(t *testing.T) {
		s := newStore(t)
		at := time.Date(2021, 8, 9, 11, 0, 0, 123456789, time.UTC)
		var want []admission.AuditRecord
		for i := range 3 {
			r := admission.AuditRecord{At: at.Add(time.Duration(i) * time.Second), What: "rate", Before: strconv.Itoa(i),
				After: strconv.Itoa(i + 1), From: "192.0.2.1", Via: "console"}
			if err := s.AppendAudit(ctx, "site", r); err != nil {
				t.Fatal(err)
			}
			want = append([]admission.AuditRecord{r}, want...)
		}
		got := mustListAudit(t, s, "site", 10)
		if len(got) != len(want) {
			t.Fatalf("ListAudit = %d records, want %d", len(got), len(want))
		}
		for i := range want {
			if !sameRecord(got[i], want[i]) {
				t.Errorf("record %d = %+v, want %+v", i, got[i], want[i])
			}
		}
		if got := mustListAudit(t, s, "site", 2); len(got) != 2 || !sameRecord(got[0], want[0]) {
			t.Errorf("ListAudit(2) = %+v, want the newest two", got)
		}
		if got := mustListAudit(t, s, "other", 10); len(got) != 0 {
			t.Errorf("another site's log has %d records, want 0", len(got))
		}
		if got := mustListAudit(t, s, "site", 0); len(got) != 0 {
			t.Errorf("ListAudit(0) = %d records", len(got))
		}
	})

	t.Run("AuditKept", func(t *testing.T) {
		s := newStore(t)
		const extra = 5
		for i := range admission.AuditKept + extra {
			if err := s.AppendAudit(ctx, "site", admission.AuditRecord{What: "n", After: strconv.Itoa(i)}); err != nil {
				t.Fatal(err)
			}
		}
		got := mustListAudit(t, s, "site", admission.AuditKept+100)
		if len(got) != admission.AuditKept {
			t.Fatalf("log holds %d records, want %d", len(got), admission.AuditKept)
		}
		newest, oldest := got[0].After, got[len(got)-1].After
		if newest != strconv.Itoa(admission.AuditKept+extra-1) || oldest != strconv.Itoa(extra) {
			t.Fatalf("log runs from %s to %s, want the last %d appended", oldest, newest, admission.AuditKept)
		}
	})

	t.Run("AuditConcurrent", func(t *testing.T) {
		s := newStore(t)
		const workers, each = 8, 10
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					if err := s.AppendAudit(ctx, "site", admission.AuditRecord{What: fmt.Sprint(w, "/", i)}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		seen := map[string]bool{}
		for _, r := range mustListAudit(t, s, "site", admission.AuditKept) {
			seen[r.What] = true
		}
		if len(seen) != workers*each {
			t.Fatalf("%d distinct records kept, want %d", len(seen), workers*each)
		}
	})

	t.Run("Board", func(t *testing.T) {
		s := newStore(t)
		post := func(site, key, value, wantBefore string) {
			t.Helper()
			before, err := s.Post(ctx, site, key, value)
			if err != nil {
				t.Fatal(err)
			}
			if before != wantBefore {
				t.Fatalf("Post(%q, %q) before = %q, want %q", key, value, before, wantBefore)
			}
		}
		post("site", "message", "점검 중입니다 <b>&", "")
		post("site", "light:kakao", "red", "")
		post("site", "message", "back soon", "점검 중입니다 <b>&")
		post("other", "message", "elsewhere", "")
		want := map[string]string{"message": "back soon", "light:kakao": "red"}
		if got := mustBoard(t, s, "site"); !maps.Equal(got, want) {
			t.Fatalf("Board = %v, want %v", got, want)
		}
		post("site", "light:kakao", "", "red")
		post("site", "light:kakao", "", "")
		if got := mustBoard(t, s, "site"); !maps.Equal(got, map[string]string{"message": "back soon"}) {
			t.Fatalf("Board after deleting = %v", got)
		}
		if got := mustBoard(t, s, "empty"); len(got) != 0 {
			t.Fatalf("Board of a site never posted to = %v", got)
		}
		for _, kv := range [][2]string{{"", "x"}, {strings.Repeat("k", admission.MaxBoardKey+1), "x"}, {"k", strings.Repeat("v", admission.MaxBoardValue+1)}} {
			if _, err := s.Post(ctx, "site", kv[0], kv[1]); !errors.Is(err, admission.ErrBoardEntry) {
				t.Errorf("Post(key of %d bytes, value of %d bytes) error = %v, want ErrBoardEntry", len(kv[0]), len(kv[1]), err)
			}
		}
		if _, err := s.Post(ctx, "site", strings.Repeat("k", admission.MaxBoardKey), strings.Repeat("v", admission.MaxBoardValue)); err != nil {
			t.Errorf("Post at the limits: %v", err)
		}
	})

	t.Run("Fleet", func(t *testing.T) {
		s := newStore(t)
		beat := func(site, id, room string) {
			t.Helper()
			if err := s.GatewayBeat(ctx, site, id, room); err != nil {
				t.Fatal(err)
			}
		}
		beat("site", "gw-b", "r-w1")
		beat("site", "gw-a", "r-w1")
		beat("other", "gw-c", "x")
		gws, now := mustGateways(t, s, "site", 10*time.Second)
		if len(gws) != 2 || gws[0].ID != "gw-a" || gws[1].ID != "gw-b" || gws[0].Room != "r-w1" {
			t.Fatalf("Gateways = %+v, want gw-a and gw-b serving r-w1", gws)
		}
		for _, g := range gws {
			if age := now.Sub(g.LastSeen); age < 0 || age > 5*time.Second {
				t.Errorf("%s last seen %v before the store's now", g.ID, age)
			}
		}
		// A gateway that moved to the next window's room says so.
		beat("site", "gw-a", "r-w2")
		if gws, _ := mustGateways(t, s, "site", 10*time.Second); len(gws) != 2 || gws[0].Room != "r-w2" {
			t.Fatalf("after gw-a moved: %+v", gws)
		}
		// Only gw-b keeps beating: gw-a drops out of a short look-back.
		time.Sleep(300 * time.Millisecond)
		beat("site", "gw-b", "r-w1")
		if gws, _ := mustGateways(t, s, "site", 200*time.Millisecond); len(gws) != 1 || gws[0].ID != "gw-b" {
			t.Fatalf("Gateways in the last 200 ms = %+v, want only gw-b", gws)
		}
		if gws, _ := mustGateways(t, s, "none", 10*time.Second); len(gws) != 0 {
			t.Fatalf("Gateways of a site without heartbeats = %+v", gws)
		}
	})

	t.Run("SetWindowBeforeOpening", func(t *testing.T) {
		s := newStore(t)
		now := storeNow(t, s)
		w := admission.Window{Opens: now.Add(time.Hour), Closes: now.Add(2 * time.Hour)}
		mustInitWindow(t, s, "r", set, w)
		later := admission.Window{Opens: now.Add(90 * time.Minute), Closes: now.Add(3 * time.Hour)}
		before, err := s.SetWindow(ctx, "r", later)
		if err != nil {
			t.Fatal(err)
		}
		if !sameWindow(before.Window, w) {
			t.Fatalf("SetWindow returned window %+v, want the one before %+v", before.Window, w)
		}
		if got := mustState(t, s, "r").Window; !sameWindow(got, later) {
			t.Fatalf("window after SetWindow = %+v, want %+v", got, later)
		}
		for name, bad := range map[string]admission.Window{
			"NoOpening":       {Closes: now.Add(time.Hour)},
			"ClosesBefore":    {Opens: now.Add(time.Hour), Closes: now.Add(time.Minute)},
			"ClosesAtOpening": {Opens: now.Add(time.Hour), Closes: now.Add(time.Hour)},
		} {
			if _, err := s.SetWindow(ctx, "r", bad); !errors.Is(err, admission.ErrWindowChange) {
				t.Errorf("%s: SetWindow error = %v, want ErrWindowChange", name, err)
			}
		}
		if got := mustState(t, s, "r").Window; !sameWindow(got, later) {
			t.Fatalf("a refused change altered the window: %+v", got)
		}
		// Opening now: the next Advance draws the pre-queue.
		mustClaim(t, s, "r", person(1, "d1"))
		if _, err := s.SetWindow(ctx, "r", admission.Window{Opens: storeNow(t, s), Closes: later.Closes}); err != nil {
			t.Fatal(err)
		}
		if st := mustAdvance(t, s, "r"); !st.Draw.Drawn || st.Issued != 1 {
			t.Fatalf("after opening now: %+v, want the pre-queue of 1 drawn", st)
		}
	})

	t.Run("SetWindowAfterOpening", func(t *testing.T) {
		s := newStore(t)
		mustInit(t, s, "r", set) // open from creation
		now := mustState(t, s, "r").Now
		if _, err := s.SetWindow(ctx, "r", admission.Window{Opens: now.Add(time.Hour)}); !errors.Is(err, admission.ErrWindowChange) {
			t.Fatalf("giving an open room an opening: error = %v, want ErrWindowChange", err)
		}
		closes := admission.Window{Closes: now.Add(time.Hour)}
		if _, err := s.SetWindow(ctx, "r", closes); err != nil {
			t.Fatal(err)
		}
		if got := mustState(t, s, "r").Window; !sameWindow(got, closes) {
			t.Fatalf("window = %+v, want %+v", got, closes)
		}
		mustJoin(t, s, "r", 1)
		// Closing now: joins stop.
		if _, err := s.SetWindow(ctx, "r", admission.Window{Closes: storeNow(t, s)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Join(ctx, "r"); !errors.Is(err, admission.ErrClosed) {
			t.Fatalf("Join after closing now: error = %v, want ErrClosed", err)
		}
		// A windowed room that opened keeps its opening.
		w := admission.Window{Opens: storeNow(t, s).Add(-time.Minute)}
		mustInitWindow(t, s, "opened", set, w)
		mustAdvance(t, s, "opened")
		if _, err := s.SetWindow(ctx, "opened", admission.Window{Opens: w.Opens.Add(time.Hour)}); !errors.Is(err, admission.ErrWindowChange) {
			t.Fatalf("moving the opening of an opened room: error = %v, want ErrWindowChange", err)
		}
		if _, err := s.SetWindow(ctx, "nope", closes); !errors.Is(err, admission.ErrNotInitialized) {
			t.Fatalf("SetWindow of a missing room: error = %v, want ErrNotInitialized", err)
		}
	})
}

// sameRecord compares records with times to the microsecond.
func sameRecord(a, b admission.AuditRecord) bool {
	ta, tb := a.At, b.At
	a.At, b.At = time.Time{}, time.Time{}
	return a == b && ta.UnixMicro() == tb.UnixMicro()
}

func mustListAudit(tb testing.TB, s ConsoleStore, site string, n int) []admission.AuditRecord {
	tb.Helper()
	l, err := s.ListAudit(context.Background(), site, n)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func mustBoard(tb testing.TB, s ConsoleStore, site string) map[string]string {
	tb.Helper()
	b, err := s.Board(context.Background(), site)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustGateways(tb testing.TB, s ConsoleStore, site string, d time.Duration) ([]admission.GatewaySeen, time.Time) {
	tb.Helper()
	g, now, err := s.Gateways(context.Background(), site, d)
	if err != nil {
		tb.Fatal(err)
	}
	return g, now
}
