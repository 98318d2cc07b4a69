package inmem_test

import (
	"context"
	"testing"
	"time"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/admission/admissiontest"
	"github.com/waitroom/waitroom/admission/inmem"
)

func TestStore_Conformance(t *testing.T) {
	admissiontest.Run(t, func(testing.TB) admission.Store { return inmem.New() })
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
