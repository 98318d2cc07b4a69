package browser_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/internal/browsertest"
)

// watchJS runs before the waiting page's own scripts and records what the
// page tells the person: every system notification it shows (a spy on
// Notification that still shows it), every permission request, every
// status poll, every tone it plays, and each text the live regions take.
const watchJS = `
window.__notes = []; window.__asked = 0; window.__polls = 0; window.__tones = 0; window.__said = {live: [], alert: []};
(() => {
  const N = window.Notification;
  class Spy extends N {
    constructor(title, o) { super(title, o); window.__notes.push({title, body: (o && o.body) || '', hidden: document.hidden}); }
  }
  Spy.requestPermission = (...a) => { window.__asked++; return N.requestPermission(...a); };
  window.Notification = Spy;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...a) { window.__tones++; return start.apply(this, a); };
  const fetch = window.fetch;
  window.fetch = (u, ...a) => { if (String(u).includes('/api/status')) window.__polls++; return fetch(u, ...a); };
  document.addEventListener('DOMContentLoaded', () => {
    for (const id of ['live', 'alert']) {
      const e = document.getElementById(id);
      if (e) new MutationObserver(() => { if (e.textContent) window.__said[id].push(e.textContent); }).observe(e, {childList: true, characterData: true, subtree: true});
    }
  });
})();`

// told is what watchJS recorded.
type told struct {
	Notes []struct {
		Title, Body string
		Hidden      bool
	}
	Asked, Polls, Tones int
	Said                struct{ Live, Alert []string }
}

func (b *turnPage) told() told {
	b.t.Helper()
	var s string
	b.Eval(`JSON.stringify({notes: __notes, asked: __asked, polls: __polls, tones: __tones, said: __said})`, &s)
	var out told
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		b.t.Fatal(err)
	}
	return out
}

type turnPage struct {
	*browsertest.Browser
	t *testing.T
}

// A person who asked to be notified (by keyboard) and then looks at another
// tab is told,
// in the background tab, that their turn is near and that it came: the
// title blinks, a system notification shows each time, and screen readers
// hear the numbers politely at a few moments and the turn assertively once.
// The page waits for them, with the time left to enter, and goes in once
// they come back.
func TestTurn_NoticeInABackgroundTab(t *testing.T) {
	t.Parallel()
	b := &turnPage{browsertest.New(t, browsertest.Options{}), t}
	// People ahead never poll: a long heartbeat grace keeps them in line,
	// so the wait runs at the rate (ten a second) and "soon" comes first.
	r := startRoom(t, roomOptions{ratePerHour: 36_000, paused: true, env: []string{"WAITROOM_QUEUE_HEARTBEAT_GRACE=10m"}})
	r.fill(50)
	b.OnEveryPage(watchJS)
	b.Navigate(r.public + "/book")
	b.WaitText("#position", "51번")
	joined := time.Now()
	if got := b.told(); got.Asked != 0 || len(got.Notes) != 0 {
		t.Fatalf("on load the page asked for notifications %d times and showed %d: want neither", got.Asked, len(got.Notes))
	}
	b.AllowNotifications(r.public)
	// By keyboard: the language link, then the button, then the sound box.
	for _, want := range []string{"lang-switch", "notify-on"} {
		b.Keys("\t")
		if got := b.Focused(); got != want {
			t.Fatalf("Tab moved the focus to %q, want #%s", got, want)
		}
	}
	b.Keys("\r")
	b.WaitText("#notify-state", "알림이 켜져 있습니다")
	b.Wait("the button gone once allowed", `document.getElementById("notify-on").hidden`)
	if got := b.told(); got.Asked != 1 {
		t.Fatalf("after the button the page asked %d times, want 1", got.Asked)
	}
	b.Keys("\t")
	if got := b.Focused(); got != "sound" {
		t.Fatalf("Tab after the button moved the focus to %q, want #sound", got)
	}
	b.Keys(" ")
	b.Wait("the sound box ticked by Space", `document.getElementById("sound").checked`)
	if got := b.told(); got.Tones != 2 {
		t.Fatalf("ticking the sound box played %d tones, want the two of one beep", got.Tones)
	}
	b.Axe()
	b.KoreanGlyphs()

	b.Background()
	b.Wait("the page hidden behind another tab", `document.hidden`)
	// The polite region speaks again when the people ahead halve, at least
	// 10 s after it last did: let that time pass before release starts.
	time.Sleep(time.Until(joined.Add(10 * time.Second)))
	r.operate("POST", "/admin/api/resume", "")

	b.Wait("the notice of the near turn", `__notes.length >= 1`)
	titles := map[bool]bool{} // seen with the prefix, without
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		var title string
		b.Eval(`document.title`, &title)
		if strings.HasPrefix(title, "[곧 차례입니다] ") || strings.HasPrefix(title, "[차례입니다] ") {
			titles[true] = true
		} else {
			titles[false] = true
		}
	}
	if !titles[true] || !titles[false] {
		t.Errorf("the background tab's title: with the notice %v, without %v; want it blinking (both)", titles[true], titles[false])
	}
	b.Wait("the notice of the turn", `__notes.length >= 2`)
	b.WaitText("#state", "입장 차례가 되었습니다")
	b.Wait("the title saying it is the turn", `document.title.startsWith("[차례입니다] ") || document.title === "코로나19 예방접종 사전예약 대기"`)
	var path string
	b.Eval(`location.pathname`, &path)
	if path != "/waitroom/" {
		t.Fatalf("the hidden page went to %s: it must wait for the person", path)
	}
	if left := b.Text("#time-left"); !strings.HasPrefix(left, "9:") && left != "10:00" {
		t.Errorf("time left to enter %q, want about 10 minutes (session_duration)", left)
	}
	time.Sleep(1500 * time.Millisecond) // more polls, countdown ticks: nothing is said again
	got := b.told()
	if len(got.Notes) != 2 {
		t.Fatalf("notifications %+v, want two", got.Notes)
	}
	for i, want := range []struct{ title, body string }{
		{"곧 차례입니다", "예상 대기 시간 "},
		{"차례입니다", "약 10분 안에 예약 페이지에 들어가세요."},
	} {
		if n := got.Notes[i]; n.Title != want.title || !strings.Contains(n.Body, want.body) || !n.Hidden {
			t.Errorf("notification %d = %+v, want %q with %q, shown while hidden", i, n, want.title, want.body)
		}
	}
	if got.Tones != 6 {
		t.Errorf("%d tones played, want a beep (two tones) when ticked and at each notice", got.Tones)
	}
	if len(got.Said.Alert) != 1 || !strings.HasPrefix(got.Said.Alert[0], "차례입니다. ") {
		t.Errorf("assertive announcements %q, want the turn once", got.Said.Alert)
	}
	var numbers []string
	for _, s := range got.Said.Live {
		if strings.HasPrefix(s, "앞에 ") {
			numbers = append(numbers, s)
		}
	}
	if len(numbers) < 2 || numbers[0] == numbers[len(numbers)-1] || len(got.Said.Live) >= got.Polls {
		t.Errorf("polite announcements %q over %d polls: want the people ahead at least twice, changing, and not at every poll", got.Said.Live, got.Polls)
	}
	b.Axe()
	b.KoreanGlyphs()

	b.Front()
	shot(b.Browser, "turn-desktop-ko.png") // within the three seconds before it goes in
	b.Wait("the booking form once the person is back", `location.pathname === "/book" && document.querySelector("form.book")`)
}

// A phone whose screen is locked for three minutes (a simulated clock runs
// them in under four seconds) while its turn comes keeps its place: the
// page said it went to sleep, so release does not pass it over; when the
// phone wakes it is let in at once, not sent to the rejoin line. Under
// reduced motion the title does not blink.
func TestTurn_SleepingPhoneKeepsItsPlace(t *testing.T) {
	t.Parallel()
	b := &turnPage{browsertest.New(t, browsertest.Options{AcceptLanguage: "en-US,en"}), t}
	b.Phone()
	b.ReducedMotion()
	// 30 simulated minutes to enter are 36 real seconds: time for the
	// checks below before the phone goes in.
	r := startRoom(t, roomOptions{ratePerHour: 3_600_000, paused: true, env: []string{
		"WAITROOM_ENVIRONMENT=test", "WAITROOM_SIMULATION_TIME_SCALE=50", "WAITROOM_SESSION_DURATION=30m",
	}})
	b.OnEveryPage(watchJS)
	b.Navigate(r.public + "/book")
	b.WaitText("#position", "No. 1")
	b.Axe()
	b.KoreanGlyphs()

	// The screen goes off: the page is hidden, then frozen.
	b.Background()
	b.Freeze()
	asleep := time.Now()
	// Three simulated minutes: twelve heartbeat graces (15 s) of a page
	// polling every second, far past the promise of its last poll.
	time.Sleep(3*time.Minute/50 - time.Since(asleep))
	r.operate("POST", "/admin/api/resume", "")
	deadline := time.Now().Add(5 * time.Second)
	for st := r.state(); st.Admitted < 1; st = r.state() {
		if time.Now().After(deadline) {
			t.Fatalf("release did not reach the sleeping phone: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := r.state(); st.Skipped != 0 {
		t.Fatalf("release passed over the sleeping phone: %+v", st)
	}
	b.Thaw()
	b.WaitText("#state", "It is your turn")
	if notice := b.Text("#notice"); notice != "" {
		t.Errorf("notice %q: a phone that slept within the grace is let in, not told it was passed over", notice)
	}
	for range 6 {
		var title string
		b.Eval(`document.title`, &title)
		if !strings.HasPrefix(title, "[Your turn] ") {
			t.Fatalf("title %q under reduced motion: want the steady prefix", title)
		}
		time.Sleep(400 * time.Millisecond)
	}
	b.Axe()
	b.Front()
	shot(b.Browser, "turn-phone-en.png")
	b.Wait("the booking form once the phone is looked at", `location.pathname === "/book" && document.querySelector("form.book")`)
	if st := r.state(); st.Admitted != 1 || st.Skipped != 0 {
		t.Errorf("room after: %+v, want one admitted, nobody passed over", st)
	}
}

// The time to enter runs out while the person is in another tab: when they
// come back the page sends them to the booking page, the gateway sends them
// back (their admission is over), and the page says why and offers a new
// place at the back of the line, which its button takes.
func TestTurn_TimeToEnterRunsOut(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, browsertest.Options{})
	// The shortest session_duration, a minute, is 1.2 real seconds at x50.
	r := startRoom(t, roomOptions{ratePerHour: 3_600_000, paused: true, env: []string{
		"WAITROOM_ENVIRONMENT=test", "WAITROOM_SIMULATION_TIME_SCALE=50", "WAITROOM_SESSION_DURATION=1m",
	}})
	b.Navigate(r.public + "/book")
	b.WaitText("#position", "1번")
	b.Background()
	r.operate("POST", "/admin/api/resume", "")
	b.WaitText("#state", "입장 차례가 되었습니다")
	time.Sleep(1500 * time.Millisecond) // the simulated minute passes
	b.Front()
	b.WaitText("#state", "입장 가능 시간이 지났습니다")
	var path string
	b.Eval(`location.pathname`, &path)
	if path != "/waitroom/" {
		t.Fatalf("after the time ran out the page is at %s, want the waiting page", path)
	}
	b.Axe()
	b.KoreanGlyphs()
	b.Click("#again")
	b.WaitText("#position", "2번")
	if st := r.state(); st.Issued != 2 {
		t.Errorf("issued %d places, want 2: one new place at the back", st.Issued)
	}
}
