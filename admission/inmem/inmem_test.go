package inmem_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/admission/admissiontest"
	"github.com/waitroom/waitroom/admission/inmem"
)

func TestStore_Conformance(t *testing.T) {
	admissiontest.Run(t, func(_ testing.TB, o admission.ReleaseOptions) admission.Store { return releasing(o) })
}

func TestStore_People(t *testing.T) {
	admissiontest.RunPeople(t, func(_ testing.TB, o admission.ReleaseOptions) admissiontest.PeopleStore { return releasing(o) })
}

func releasing(o admission.ReleaseOptions) *inmem.Store {
	s := inmem.New()
	s.Release = o
	return s
}

// With a fake clock the release is exact, tick by tick.
func TestStore_AdvanceExact(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_628_506_800, 0) // 2021-08-09 20:00 KST
	s := inmem.New()
	s.Now = func() time.Time { return now }
	if _, err := s.Init(ctx, "r", admission.Settings{RatePerHour: 2_000_000}); err != nil {
		t.Fatal(err)
	}
	for range 1_000_000 {
		if _, err := s.Join(ctx, "r"); err != nil {
			t.Fatal(err)
		}
	}
	for range 600 { // one minute of 100 ms ticks
		now = now.Add(100 * time.Millisecond)
		if _, err := s.Advance(ctx, "r"); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.State(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Admitted, int64(2_000_000/60); got != want {
		t.Fatalf("admitted after one minute at 2M/h = %d, want %d", got, want)
	}
}

// With a fake clock the window's release is exact: nothing before the
// opening, nothing after the closing, the rate in between.
func TestStore_WindowExact(t *testing.T) {
	ctx := context.Background()
	start := time.Unix(1_628_506_800, 0)
	now := start
	s := inmem.New()
	s.Now = func() time.Time { return now }
	w := admission.Window{Opens: start.Add(time.Second), Closes: start.Add(61 * time.Second)}
	if _, err := s.InitWindow(ctx, "r", admission.Settings{RatePerHour: 36_000}, w, "c", "s"); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if _, err := s.Claim(ctx, "r", admission.Claim{Identity: strconv.Itoa(i), Device: "d"}); err != nil {
			t.Fatal(err)
		}
	}
	for now.Before(start.Add(70 * time.Second)) {
		st, err := s.Advance(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := st.Draw.Drawn, !now.Before(w.Opens); got != want {
			t.Fatalf("at %v: Drawn = %v, want %v", now.Sub(start), got, want)
		}
		now = now.Add(100 * time.Millisecond)
	}
	st, err := s.State(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if st.Admitted != 600 || st.Issued != 1000 {
		t.Fatalf("after the window: admitted %d of %d, want 600 of 1000 (one minute at 10/s)", st.Admitted, st.Issued)
	}
}

func TestStore_EndedSince(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_628_506_800, 0)
	s := inmem.New()
	s.Now = func() time.Time { return now }

	t.Run("Pages", func(t *testing.T) {
		for i := range inmem.MaxEnded + 50 {
			if err := s.EndSession(ctx, "pages", strconv.Itoa(i), now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		var sizes []int
		for cursor := ""; ; {
			jtis, next, err := s.EndedSince(ctx, "pages", cursor)
			if err != nil {
				t.Fatal(err)
			}
			if len(jtis) == 0 {
				break
			}
			sizes = append(sizes, len(jtis))
			cursor = next
		}
		if want := []int{inmem.MaxEnded, 50}; !slices.Equal(sizes, want) {
			t.Fatalf("page sizes = %v, want %v", sizes, want)
		}
	})
	t.Run("ForgetsPastUntil", func(t *testing.T) {
		for jti, until := range map[string]time.Time{"short": now.Add(time.Second), "long": now.Add(time.Hour)} {
			if err := s.EndSession(ctx, "forget", jti, until); err != nil {
				t.Fatal(err)
			}
		}
		now = now.Add(2 * time.Second)
		jtis, _, err := s.EndedSince(ctx, "forget", "")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"long"}; !slices.Equal(jtis, want) {
			t.Fatalf("EndedSince = %v, want %v", jtis, want)
		}
	})
	t.Run("ErrBadCursor", func(t *testing.T) {
		for _, cursor := range []string{"x", "-1", "1-0"} {
			if _, _, err := s.EndedSince(ctx, "pages", cursor); err == nil {
				t.Errorf("EndedSince(%q) succeeded", cursor)
			}
		}
	})
}
