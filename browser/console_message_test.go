package browser_test

import (
	"testing"

	"github.com/waitroom/waitroom/internal/browsertest"
)

// An operator publishes a message from the console, after confirming it;
// a person who then opens the waiting page sees it, as text, not markup.
// Removing it, confirmed, clears it from the console and from the page
// (here on a reload: a waiting page learns it with its next poll). The
// message is in Korean, as operators write them, and both pages draw it
// with a font that has its glyphs.
func TestConsole_Message(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, browsertest.Options{AcceptLanguage: "en-US,en"})
	r := startRoom(t, roomOptions{ratePerHour: 1})
	r.fill(3)

	b.Navigate(r.admin + "/admin/")
	b.Fill("#signin-token", adminToken)
	b.Click("#signin-submit")
	b.WaitText("#queue-length", "3")
	const msg = `<b>예약은 20:00에 재개됩니다 (Booking resumes at 20:00)</b> & "thanks"`
	b.Fill("#message-input", msg)
	b.WaitText("#message-count", "61")
	b.Click("#message-apply")
	b.WaitText("#confirm-text", msg)
	b.Click("#confirm-yes")
	b.WaitText("#message-current", msg)
	b.KoreanGlyphs()
	b.Axe()

	b.Navigate(r.public + "/waitroom/")
	if got := b.WaitText("#message", "Booking resumes"); got != msg {
		t.Errorf("waiting page message = %q, want %q", got, msg)
	}
	var markup int
	b.Eval(`document.querySelectorAll("#message *").length`, &markup)
	if markup != 0 {
		t.Errorf("the message was rendered as HTML: %d elements inside #message", markup)
	}
	b.KoreanGlyphs()
	b.Axe()
	shot(b, "waitpage-message.png")

	b.Navigate(r.admin + "/admin/")
	b.WaitText("#message-current", "Booking resumes")
	b.Click("#message-clear")
	b.WaitText("#confirm-text", "Remove the message")
	b.Click("#confirm-yes")
	b.WaitText("#message-current", "(none)")
	b.Navigate(r.public + "/waitroom/")
	b.WaitText("#position", "No. 4")
	b.Wait("no message on the waiting page", `document.getElementById("message").hidden`)
}
