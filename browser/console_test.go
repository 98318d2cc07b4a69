package browser_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/waitroom/waitroom/internal/browsertest"
)

// An operator signs in to the console on the admin listener, sees the
// queue, changes the rate and pauses admission, each only after confirming;
// the operator API shows every change took effect, and a cancelled
// confirmation changes nothing.
func TestConsole_SignInRateAndPause(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, browsertest.Options{AcceptLanguage: "en-US,en"})
	// One an hour: nobody is admitted before the rate changes, so the
	// queue length on the page is exactly the people who joined.
	r := startRoom(t, roomOptions{ratePerHour: 1})
	r.fill(250)

	b.Navigate(r.admin + "/admin/")
	b.Axe() // the sign-in form
	b.Fill("#signin-token", "not-the-token")
	b.Click("#signin-submit")
	b.WaitText("#signin-error", "Wrong token.")

	b.Fill("#signin-token", adminToken)
	b.Click("#signin-submit")
	for sel, want := range map[string]string{"#queue-length": "250", "#paused-state": "running", "#rate-per-hour": "1"} {
		if got := b.WaitText(sel, want); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}

	// The rate: asked, confirmed, applied.
	b.Fill("#rate-input", "7200")
	b.Click("#rate-apply")
	if q := b.WaitText("#confirm-text", "7,200"); !strings.Contains(q, "from 1 to 7,200") {
		t.Errorf("rate confirmation reads %q", q)
	}
	b.Click("#confirm-yes")
	b.WaitText("#rate-per-hour", "7,200")
	if st := r.state(); st.RatePerHour != 7200 {
		t.Fatalf("operator API rate after the console's change: %d, want 7200", st.RatePerHour)
	}

	// Pause: cancelling changes nothing; confirming pauses.
	b.Click("#pause")
	b.Wait("the confirmation dialog", `!document.getElementById("confirm").hidden`)
	b.Click("#confirm-no")
	b.Wait("the dialog closed", `document.getElementById("confirm").hidden`)
	if st := r.state(); st.Paused {
		t.Fatal("a cancelled pause paused the room")
	}
	b.Click("#pause")
	b.Click("#confirm-yes")
	b.WaitText("#paused-state", "paused")
	st := r.state()
	if !st.Paused || st.RatePerHour != 7200 {
		t.Fatalf("operator API after pausing: paused %v at %d/h, want paused at 7200/h", st.Paused, st.RatePerHour)
	}
	// Both changes are in the audit log, newest first, made via the
	// console: what, before, after (the columns after the time).
	b.Wait("two audit entries", `document.querySelectorAll("#audit tr").length >= 2`)
	var rows [][]string
	b.Eval(`Array.from(document.querySelectorAll("#audit tr"), tr => Array.from(tr.cells, td => td.textContent))`, &rows)
	want := [][]string{{"pause", "running", "paused"}, {"rate", "1 per hour", "7200 per hour"}}
	for i, w := range want {
		if len(rows[i]) != 6 || !slices.Equal(rows[i][1:4], w) || rows[i][5] != "console" {
			t.Errorf("audit row %d = %q, want %q via console", i, rows[i], w)
		}
	}
	b.Axe()
	shot(b, "console.png")
}
