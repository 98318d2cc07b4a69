package browser_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/chromedp/chromedp"

	"github.com/waitroom/waitroom/internal/browsertest"
)

// noHorizontalScroll is true when the page fits the viewport's width.
const noHorizontalScroll = `document.scrollingElement.scrollWidth <= window.innerWidth`

// queueBehind fills a paused room with ahead people, then resumes it, so the
// browser joining next is number ahead+1. Release while paused says nothing
// about speed, so the estimate of a page that joins within five seconds of
// the resume (well under one on an idle machine) is from the configured
// rate: the measured rate needs five seconds of release with people waiting.
func queueBehind(r *room, ahead int) {
	r.t.Helper()
	r.fill(ahead)
	r.operate("POST", "/admin/api/resume", "")
}

// A Korean visitor asking for the booking page is sent to the waiting page,
// which shows their place, the people ahead and the wait; a reload keeps the
// place, and the language switch shows the same place in English.
func TestWaitingPage_PlaceReloadAndLanguage(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, browsertest.Options{})
	r := startRoom(t, roomOptions{ratePerHour: 100, paused: true})
	queueBehind(r, 1234)

	b.Navigate(r.public + "/book")
	b.WaitText("#position", "1,235번")
	// 1,235 people at 100 an hour: 12.35 h, shown to the minute. At this
	// rate nobody is admitted for 36 s, longer than this test takes.
	for sel, want := range map[string]string{
		"#ahead": "1,234명", "#eta": "약 12시간 21분", "#state": "접속 대기 중입니다", "#rate": "시간당 100명 입장",
	} {
		if got := b.Text(sel); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	var lang, path string
	b.Eval(`document.documentElement.lang`, &lang)
	b.Eval(`location.pathname + location.search`, &path)
	if lang != "ko" || path != "/waitroom/?return=%2Fbook" {
		t.Errorf("page lang %q at %q, want ko at the waiting page with the return path", lang, path)
	}
	b.KoreanGlyphs()
	b.Axe()
	shot(b, "waiting-desktop-ko.png")

	// A reload joins again with the ticket cookie: the same place, and
	// nobody new in the queue.
	b.Do("reload", chromedp.Reload())
	b.WaitText("#position", "1,235번")
	if st := r.state(); st.Issued != 1235 {
		t.Errorf("after a reload %d places are issued, want 1235", st.Issued)
	}

	b.Click("#lang-switch")
	b.Wait("the English page", `document.documentElement.lang === "en"`)
	b.WaitText("#position", "No. 1,235")
	if got := b.Text("#state"); got != "You are in the queue" {
		t.Errorf("English state line %q", got)
	}
	b.Axe()
	if got := b.Text("#lang-switch"); got != "한국어" {
		t.Errorf("English page's switch reads %q, want 한국어", got)
	}
	b.Eval(`location.search`, &path)
	if !strings.Contains(path, "lang=en") || !strings.Contains(path, "return=%2Fbook") {
		t.Errorf("after the switch the query is %q: the language and the return path must survive", path)
	}
}

// Behind an address that took its free places (a carrier's NAT), the page
// solves the gateway's proof of work by itself and gets its place.
func TestWaitingPage_ProofOfWork(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, browsertest.Options{})
	r := startRoom(t, roomOptions{ratePerHour: 100, paused: true, addressPlaces: 2})
	queueBehind(r, 2) // the address's two free places
	if status, body := r.call("POST", r.public+"/waitroom/api/join", ""); status != http.StatusTooManyRequests || !strings.Contains(string(body), "challenge_required") {
		t.Fatalf("a third join from the address: %d %s; want 429 challenge_required", status, body)
	}
	b.Navigate(r.public + "/book")
	b.WaitText("#position", "3번")
	if st := r.state(); st.Issued != 3 {
		t.Errorf("%d places issued, want 3", st.Issued)
	}
}

// A person waiting while admission is paused moves on to the booking page
// on the backend by themselves once the operator resumes.
func TestWaitingPage_AdmittedToBackend(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, browsertest.Options{})
	// A high rate: the estimate is short, so the page polls every second.
	r := startRoom(t, roomOptions{ratePerHour: 3_600_000, paused: true})

	b.Navigate(r.public + "/book")
	b.WaitText("#state", "입장이 잠시 멈춰 있습니다")
	for sel, want := range map[string]string{"#position": "1번", "#ahead": "0명", "#eta": "입장 재개 후 안내"} {
		if got := b.Text(sel); got != want {
			t.Errorf("paused: %s = %q, want %q", sel, got, want)
		}
	}
	b.Axe()

	r.operate("POST", "/admin/api/resume", "")
	b.Wait("the booking form of the demo backend at /book", `location.pathname === "/book" && document.querySelector("form.book")`)
	if st := r.state(); st.Admitted != 1 {
		t.Errorf("admitted = %d after one person went through, want 1", st.Admitted)
	}
	b.KoreanGlyphs()
	b.Axe() // the demo backend's booking form
}

// On a phone, in English (by the browser's language), the waiting page fits
// the screen's width.
func TestWaitingPage_PhoneEnglish(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, browsertest.Options{AcceptLanguage: "en-US,en"})
	b.Phone()
	r := startRoom(t, roomOptions{ratePerHour: 100, paused: true})
	queueBehind(r, 41)

	b.Navigate(r.public + "/book")
	b.WaitText("#position", "No. 42")
	for sel, want := range map[string]string{"#ahead": "41 people", "#eta": "about 25 min", "#state": "You are in the queue"} {
		if got := b.Text(sel); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	var width int
	b.Eval(`window.innerWidth`, &width)
	if width != 390 {
		t.Fatalf("viewport is %d px wide, want the phone's 390", width)
	}
	b.Wait("no horizontal scrolling at 390 px", noHorizontalScroll)
	b.Axe()
	shot(b, "waiting-phone-en.png")
}

// Identity first: the page shows every verification method with its light,
// follows an operator's forced light, and a person who verifies at the
// development provider gets a place and moves on to the booking page.
func TestMethodPicker_LightsAndVerification(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, browsertest.Options{})
	r := startRoom(t, roomOptions{ratePerHour: 3_600_000, paused: true, identity: true})

	b.Navigate(r.public + "/book")
	b.WaitText("#state", "본인 인증이 필요합니다")
	b.Wait("six methods, all green", `document.querySelectorAll('#methods li[data-light="green"] a.verify').length === 6`)
	if got := b.Text(`#methods li[data-method="phone"]`); got != "원활 휴대폰 인증" {
		t.Errorf("phone method reads %q, want its light and label", got)
	}
	b.Navigate(r.public + "/waitroom/?lang=en&return=%2Fbook")
	b.Wait("the English picker", `document.querySelectorAll('#methods li a.verify').length === 6`)
	if got := b.Text(`#methods li[data-method="phone"]`); !strings.HasSuffix(got, " Mobile phone") || strings.ContainsFunc(got, isHangul) {
		t.Errorf("phone method on the English page reads %q, want its English label", got)
	}
	b.Navigate(r.public + "/book")
	b.WaitText("#state", "본인 인증이 필요합니다")

	// Forced lights reach the page at its next refresh (every 5 s).
	for method, light := range map[string]string{"kakao": "yellow", "naver": "red", "pass": "off"} {
		r.operate("PUT", "/admin/api/signals/"+method, `{"light":"`+light+`"}`)
	}
	b.Wait("pass turned off and not selectable",
		`document.querySelector('#methods li[data-method="pass"][data-light="off"] span.verify[aria-disabled="true"]')`)
	for method, want := range map[string]string{"kakao": "지연 카카오 인증", "naver": "혼잡 네이버 인증", "pass": "선택불가 PASS 인증"} {
		if got := b.Text(`#methods li[data-method="` + method + `"] .verify`); got != want {
			t.Errorf("%s reads %q, want %q", method, got, want)
		}
	}
	b.KoreanGlyphs()
	b.Axe()
	shot(b, "method-picker.png")

	b.Phone()
	b.Wait("the picker fits a phone's width", noHorizontalScroll)
	b.Desktop()

	// Verify by phone at the provider's form, with the birth date it fills
	// in from the schedule: one ending in the open window's digit.
	b.Click(`#methods li[data-method="phone"] a`)
	b.Wait("the provider's form", `document.querySelector('input[name="birthdate"]')`)
	b.KoreanGlyphs()
	b.Axe() // the development identity provider's form
	var birth string
	b.Eval(`document.querySelector('input[name="birthdate"]').value`, &birth)
	if !strings.HasSuffix(birth, strconv.Itoa(eligibleDigit)) {
		t.Fatalf("the provider suggests birth date %q, want one ending in %d", birth, eligibleDigit)
	}
	b.Fill(`input[name="name"]`, "홍길동")
	b.Click(`button[value="approve"]`)
	b.WaitText("#position", "1번")
	if got := b.Text("#state"); got != "입장이 잠시 멈춰 있습니다" {
		t.Errorf("after verifying, state %q, want paused", got)
	}

	r.operate("POST", "/admin/api/resume", "")
	b.Wait("the booking form of the demo backend at /book", `location.pathname === "/book" && document.querySelector("form.book")`)
}

// isHangul reports whether r is a Hangul syllable.
func isHangul(r rune) bool { return unicode.Is(unicode.Hangul, r) }
