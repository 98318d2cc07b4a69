package demo

import (
	"fmt"
	"sync"
	"time"
)

// kst is Korea Standard Time. Korea has no daylight saving time, so a fixed
// zone is exact and needs no tzdata on the host.
var kst = time.FixedZone("KST", 9*60*60)

// bookableDays is how many days, from tomorrow on, can be booked.
const bookableDays = 7

// institution is one of the demo medical institutions.
type institution struct {
	ID, Ko, En string
}

var institutions = []institution{
	{"H1", "한빛내과의원", "Hanbit Internal Medicine"},
	{"H2", "푸른솔가정의학과의원", "Pureunsol Family Medicine"},
	{"H3", "새봄연합의원", "Saebom Clinic"},
	{"H4", "누리보건소", "Nuri Public Health Center"},
	{"H5", "다온병원", "Daon Hospital"},
}

func findInstitution(id string) (institution, bool) {
	for _, in := range institutions {
		if in.ID == id {
			return in, true
		}
	}
	return institution{}, false
}

// slot is one bookable date and how many places it has left.
type slot struct {
	Date      string    `json:"date"` // YYYY-MM-DD in KST
	Remaining int       `json:"remaining"`
	Day       time.Time `json:"-"` // Date at midnight KST, for display
}

// booking is a confirmed booking.
type booking struct {
	Number      string
	Date        time.Time
	Institution institution
}

// slots is the in-memory capacity per date, safe for concurrent use.
type slots struct {
	now    func() time.Time
	perDay int

	mu sync.Mutex
	// taken counts bookings per date (YYYY-MM-DD). It gains one key per
	// day the process runs, so it is never pruned.
	taken map[string]int
	seq   int
}

func newSlots(now func() time.Time, perDay int) *slots {
	return &slots{now: now, perDay: perDay, taken: make(map[string]int)}
}

// dates returns the bookable dates, tomorrow (in KST) first, as midnight KST.
func (s *slots) dates() []time.Time {
	y, m, d := s.now().In(kst).Date()
	out := make([]time.Time, bookableDays)
	for i := range out {
		out[i] = time.Date(y, m, d+1+i, 0, 0, 0, 0, kst)
	}
	return out
}

// list returns every bookable date with its remaining capacity.
func (s *slots) list() []slot {
	dates := s.dates()
	out := make([]slot, len(dates))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, d := range dates {
		key := d.Format(time.DateOnly)
		out[i] = slot{key, s.perDay - s.taken[key], d}
	}
	return out
}

// book takes one place on date (YYYY-MM-DD) at the institution with id.
// It fails with a 400 error for a date outside the bookable window or an
// unknown institution, and with a 409 error when the date is full.
func (s *slots) book(date, id string) (booking, error) {
	in, ok := findInstitution(id)
	if !ok {
		return booking{}, badRequest("의료기관을 목록에서 골라 주세요.", "Choose a medical institution from the list.")
	}
	var day time.Time
	for _, d := range s.dates() {
		if d.Format(time.DateOnly) == date {
			day = d
		}
	}
	if day.IsZero() {
		return booking{}, badRequest("예약할 수 있는 날짜(내일부터 7일)를 골라 주세요.", "Choose a date from the next 7 days, starting tomorrow.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.taken[date] >= s.perDay {
		return booking{}, &statusError{409, "이 날짜는 예약이 마감되었습니다. 다른 날짜를 골라 주세요.", "This date is fully booked. Choose another date."}
	}
	s.taken[date]++
	s.seq++
	return booking{
		Number:      fmt.Sprintf("%s-%s-%06d", day.Format("20060102"), in.ID, s.seq),
		Date:        day,
		Institution: in,
	}, nil
}
