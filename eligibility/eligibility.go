// Package eligibility decides who may book when: a Schedule of booking
// windows in one time zone, each open to a cohort chosen by the last digit of
// the birth date and an age band.
//
// The August 2021 programme (etc/schedule-2021-08.yaml) is the model: from 9
// to 18 August a window opens every day at 20:00 and closes at 18:00 the next
// day for the people aged 18-49 whose birth-date last digit equals the last
// digit of the opening date (the 10-day rotation, 10부제); from 19 August 20:00
// to 18 September 18:00 everyone aged 18-49 may book.
//
// Age bands are fixed at a reference date (Rule.AgeAt) rather than measured on
// the day of booking, so a person's eligibility does not change in the middle
// of a programme because of a birthday. For 2021, "18-49" meant born
// 1972-01-01 .. 2003-12-31, which is exactly "aged 18..49 on 2021-12-31".
//
// A Schedule is immutable after Parse or New and safe for concurrent use.
package eligibility

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Reasons a Decision is not eligible.
const (
	// ReasonNotYourDay: a window for the person's age is open now, but for
	// other birth-date digits.
	ReasonNotYourDay = "not_your_day"
	// ReasonAge: no window that is open or still to come admits the
	// person's age.
	ReasonAge = "age"
	// ReasonClosed: nothing is open for the person now, including after the
	// last window closed.
	ReasonClosed = "closed"
	// ReasonBirthDate: the birth date is not a calendar date.
	ReasonBirthDate = "birth_date"
)

// Date is a civil date without a time zone, such as a birth date.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate parses a date written YYYY-MM-DD (also OIDC's "birthdate"). It
// rejects invalid calendar dates and the year 0000, which OIDC uses for
// "year withheld".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Year() < 1 {
		return Date{}, fmt.Errorf("date %.16q is not a valid YYYY-MM-DD", s)
	}
	return dateOf(t), nil
}

func dateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// Valid reports whether d is a calendar date in years 1..9999.
func (d Date) Valid() bool {
	if d.Year < 1 || d.Year > 9999 {
		return false
	}
	return dateOf(time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)) == d
}

// LastDigit is the last digit of the day of the month: 9 for the 19th.
func (d Date) LastDigit() int { return d.Day % 10 }

// String formats d as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// before orders dates lexicographically by (year, month, day); it is also
// defined for non-dates such as 2021-02-29, which age bounds can produce.
func (d Date) before(e Date) bool {
	if d.Year != e.Year {
		return d.Year < e.Year
	}
	if d.Month != e.Month {
		return d.Month < e.Month
	}
	return d.Day < e.Day
}

// Rule selects a window's cohort. The zero Rule admits everybody.
type Rule struct {
	// Digits lists the birth-date last digits (0-9) admitted; empty admits any.
	Digits []int
	// MinAge and MaxAge bound the age in whole years on AgeAt, inclusive;
	// 0 means no bound.
	MinAge, MaxAge int
	// AgeAt is the reference date of the age band, YYYY-MM-DD; required when
	// an age bound is set.
	AgeAt string
}

// Window is a period [Opens, Closes) in which the people matching Rule may book.
type Window struct {
	ID     string
	Opens  time.Time
	Closes time.Time
	Rule   Rule
}

// Decision is the answer for one person at one instant.
type Decision struct {
	// Eligible reports whether the person may book now.
	Eligible bool
	// Window is the window the person may book in now; zero unless Eligible.
	Window Window
	// NextOpen is when the person's next window opens (after now); zero if
	// none is left. NextWindow is that window's ID.
	NextOpen   time.Time
	NextWindow string
	// Reason says why the person is not eligible: one of the Reason
	// constants, "" when Eligible.
	Reason string
}

// Schedule is a validated list of windows, ordered by opening time. No two
// windows that admit a common person overlap in time, so a person has at
// most one open window at any instant.
type Schedule struct {
	loc     *time.Location
	windows []window
}

// window is a Window with its rule compiled to birth-date bounds: a person
// is admitted if born after bornAfter and on or before bornBy (zero Dates
// are no bound) with a last digit in digits.
type window struct {
	Window
	bornAfter, bornBy Date
	digits            [10]bool
}

func (w *window) admits(birth Date) bool {
	return w.admitsAge(birth) && w.digits[birth.LastDigit()]
}

func (w *window) admitsAge(birth Date) bool {
	if w.bornAfter != (Date{}) && !w.bornAfter.before(birth) {
		return false
	}
	return w.bornBy == (Date{}) || !w.bornBy.before(birth)
}

func (w *window) openAt(now time.Time) bool {
	return !now.Before(w.Opens) && now.Before(w.Closes)
}

// Location is the schedule's time zone, in which its window times were
// written. Decisions work on instants, so callers may pass times in any zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Windows returns the windows in opening order.
func (s *Schedule) Windows() []Window {
	out := make([]Window, len(s.windows))
	for i, w := range s.windows {
		out[i] = w.Window
	}
	return out
}

// Current returns the window open at now (Opens <= now < Closes). When
// windows for different cohorts are open together it returns the one that
// opened first.
func (s *Schedule) Current(now time.Time) (Window, bool) {
	for _, w := range s.windows {
		if w.openAt(now) {
			return w.Window, true
		}
	}
	return Window{}, false
}

// Next returns the first window to open strictly after now.
func (s *Schedule) Next(now time.Time) (Window, bool) {
	for _, w := range s.windows {
		if w.Opens.After(now) {
			return w.Window, true
		}
	}
	return Window{}, false
}

// Decide says whether a person born on birth may book at now, and if not,
// why and when their next window opens. Only windows that have not closed by
// now are considered: once the schedule is over everyone gets ReasonClosed.
func (s *Schedule) Decide(birth Date, now time.Time) Decision {
	if !birth.Valid() {
		return Decision{Reason: ReasonBirthDate}
	}
	var d Decision
	remaining, ageFits, otherDigitsOpen := false, false, false
	for i := range s.windows {
		w := &s.windows[i]
		if !now.Before(w.Closes) {
			continue
		}
		remaining = true
		if !w.admitsAge(birth) {
			continue
		}
		ageFits = true
		switch {
		case !w.admits(birth):
			otherDigitsOpen = otherDigitsOpen || w.openAt(now)
		case w.openAt(now):
			d.Eligible, d.Window = true, w.Window
		case d.NextOpen.IsZero():
			d.NextOpen, d.NextWindow = w.Opens, w.ID
		}
	}
	switch {
	case d.Eligible:
	case remaining && !ageFits:
		d.Reason = ReasonAge
	case otherDigitsOpen:
		d.Reason = ReasonNotYourDay
	default:
		d.Reason = ReasonClosed
	}
	return d
}

// Suggest returns a birth date that the window open at now admits or, when
// none is open, the next window to open: a random one, so that people who
// take suggestions are different people (a person has one place). It
// reports false when no window is open or still to come. It is for
// development providers and drills; without an age band it draws years
// from 1950 (or earlier, for an upper bound before 1980) to 20 years before
// now.
func (s *Schedule) Suggest(now time.Time) (Date, bool) {
	var w *window
	for i := range s.windows {
		if s.windows[i].openAt(now) {
			w = &s.windows[i]
			break
		}
	}
	for i := 0; w == nil && i < len(s.windows); i++ {
		if s.windows[i].Opens.After(now) {
			w = &s.windows[i]
		}
	}
	if w == nil {
		return Date{}, false
	}
	hi := now.Year() - 20
	if w.bornBy != (Date{}) {
		hi = w.bornBy.Year
	}
	lo := min(1950, hi-30)
	if w.bornAfter != (Date{}) {
		lo = w.bornAfter.Year
	}
	hi = max(hi, lo)
	var days []int // of a month, 1..28, with an admitted last digit
	for d := 1; d <= 28; d++ {
		if w.digits[d%10] {
			days = append(days, d)
		}
	}
	for range 100 { // only the edge years of an age band can miss
		d := Date{lo + rand.IntN(hi-lo+1), time.Month(1 + rand.IntN(12)), days[rand.IntN(len(days))]}
		if w.admits(d) {
			return d, true
		}
	}
	return Date{}, false
}
