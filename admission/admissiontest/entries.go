package admissiontest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/waitroom/waitroom/admission"
)

// runEntries checks admission.Entries: the first instant a place's holder
// was let in is kept, whatever later calls say, and only for places the
// cursor has passed.
func runEntries(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	s := newStore(t, patient)
	e, ok := s.(admission.Entries)
	if !ok {
		t.Skip("store does not implement admission.Entries")
	}
	mustInit(t, s, "r", admission.Settings{RatePerHour: admission.MaxRatePerHour})
	mustJoin(t, s, "r", 2)
	for st := mustAdvance(t, s, "r"); st.Admitted < 2; st = mustAdvance(t, s, "r") {
		time.Sleep(time.Millisecond)
	}
	mustJoin(t, s, "r", 1) // waits: nobody advanced since
	st := mustState(t, s, "r")
	if _, err := e.Enter(ctx, "r", st.Admitted+1, time.Now()); !errors.Is(err, admission.ErrNotReached) {
		t.Fatalf("Enter beyond the cursor (%d): %v, want ErrNotReached", st.Admitted, err)
	}
	if _, err := e.Enter(ctx, "r", 0, time.Now()); !errors.Is(err, admission.ErrNotReached) {
		t.Fatalf("Enter(0): %v, want ErrNotReached", err)
	}
	if _, err := e.Enter(ctx, "nope", 1, time.Now()); !errors.Is(err, admission.ErrNotInitialized) {
		t.Fatalf("Enter in a room that does not exist: %v, want ErrNotInitialized", err)
	}
	first := time.Date(2021, 8, 9, 20, 41, 7, 900_000_000, time.UTC)
	for i, c := range []struct {
		pos  int64
		at   time.Time
		want time.Time
	}{
		{1, first, first.Truncate(time.Second)},
		{1, first.Add(time.Hour), first.Truncate(time.Second)}, // a later call keeps the first
		{1, first.Add(-time.Hour), first.Truncate(time.Second)},
		{2, first.Add(time.Minute), first.Add(time.Minute).Truncate(time.Second)}, // each place its own
	} {
		got, err := e.Enter(ctx, "r", c.pos, c.at)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(c.want) {
			t.Fatalf("call %d: Enter(%d, %v) = %v, want %v", i, c.pos, c.at, got, c.want)
		}
	}
}
