package gateway_test

import (
	"testing"
	"time"

	"github.com/waitroom/waitroom/ticket"
)

// An admission lasts the session duration (10 min here) from the first
// instant its holder was let in: a person who comes back within it goes
// straight in with a token that expires at the same instant; after it they
// are told their time ran out, however old a ticket they show, and may
// take a new place at the back of the line.
func TestAdmission_TimeToEnter(t *testing.T) {
	h := mustHarness(t, harnessOptions{rate: 3_600_000})
	p := h.person()
	p.join()
	waitingTicket := p.cookie("wr_ticket") // a copy someone might keep
	h.advance(time.Second)
	code, s := p.status()
	if code != 200 || s.State != "admitted" || s.AdmissionSeconds != 600 {
		t.Fatalf("admitted: %d %+v; want admitted for 600 s", code, s)
	}
	first := mustExpiry(t, h, s.Admission, p)

	h.advance(4 * time.Minute)
	code, s = p.status()
	if code != 200 || s.State != "admitted" || s.AdmissionSeconds != 360 {
		t.Fatalf("back after 4 min: %d %+v; want admitted for the 360 s left", code, s)
	}
	if again := mustExpiry(t, h, s.Admission, p); !again.Equal(first) {
		t.Fatalf("the token of a person who came back expires at %v, the first at %v: coming back must not extend it", again, first)
	}

	h.advance(6 * time.Minute)
	for name, cookie := range map[string]string{"the ticket": p.cookie("wr_ticket"), "a copy from before the admission": waitingTicket} {
		code, s = p.call("GET", "/waitroom/api/status", "", map[string]string{"Cookie": "wr_ticket=" + cookie + "; wr_device=" + p.cookie("wr_device")})
		if code != 410 || s.Error == nil || s.Error.Code != "admission_expired" {
			t.Errorf("%s after 10 min: %d %+v; want 410 admission_expired", name, code, s.Error)
		}
	}
	if code, s := p.call("POST", "/waitroom/api/join", `{"return":"/book"}`, nil); code != 410 {
		t.Fatalf("joining again without asking for a new place: %d %+v; want 410 (the page says why)", code, s)
	}
	code, s = p.call("POST", "/waitroom/api/join", `{"return":"/book","again":true}`, nil)
	if code != 200 || s.State != "waiting" || s.Position != 2 {
		t.Fatalf("asking for a new place: %d %+v; want waiting at position 2, the back of the line", code, s)
	}
}

// mustExpiry returns the expiry of an admission token, checked as the
// backend checks it.
func mustExpiry(t *testing.T, h *harness, token string, p *person) time.Time {
	t.Helper()
	a, err := h.adm.Verify([]byte(token), []byte(p.cookie("wr_device")), h.clock())
	if err != nil {
		t.Fatal(err)
	}
	return a.Expiry
}

// In identity mode the place belongs to the person: verifying again
// within the time to enter gives it back and goes straight in; once the
// time ran out, verifying again takes a new place at the back.
func TestIdentity_TimeToEnter(t *testing.T) {
	h := mustIdentityHarness(t, opening.Add(time.Minute), 3_600_000)
	p := h.person()
	p.verify("kakao", "1990-03-19", "Kim")
	h.advance(time.Second)
	if _, s := p.status(); s.State != "admitted" || s.Position != 1 {
		t.Fatalf("not admitted: %+v", s)
	}
	h.advance(5 * time.Minute)
	p.verify("kakao", "1990-03-19", "Kim")
	if _, s := p.status(); s.State != "admitted" || s.Position != 1 || s.AdmissionSeconds != 300 {
		t.Fatalf("verified again within the time: %+v; want admitted at 1 with 300 s left", s)
	}
	h.advance(5 * time.Minute)
	if code, s := p.status(); code != 410 {
		t.Fatalf("after the time: %d %+v; want 410", code, s)
	}
	if code, s := p.call("POST", "/waitroom/api/join", `{"again":true}`, nil); code != 403 || s.Error.Code != "verify_first" {
		t.Fatalf("asking for a new place: %d %+v; want verify_first", code, s.Error)
	}
	p.verify("kakao", "1990-03-19", "Kim")
	var q ticket.Queue
	if err := h.queue.Verify([]byte(p.cookie("wr_ticket")), []byte(p.cookie("wr_device")), h.clock(), &q); err != nil || q.Position != 2 {
		t.Fatalf("ticket after verifying again: position %d (%v); want 2, a new place", q.Position, err)
	}
}
