package eligibility_test

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/eligibility"
)

var kst = time.FixedZone("KST", 9*60*60)

// at returns a Korean wall-clock instant in August or September 2021.
func at(month time.Month, day, hour, min, sec int) time.Time {
	return time.Date(2021, month, day, hour, min, sec, 0, kst)
}

func mustDate(tb testing.TB, s string) eligibility.Date {
	tb.Helper()
	d, err := eligibility.ParseDate(s)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// mustShipped loads the schedule shipped in etc/.
func mustShipped(tb testing.TB) *eligibility.Schedule {
	tb.Helper()
	b, err := os.ReadFile("../etc/schedule-2021-08.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := eligibility.Parse(b)
	if err != nil {
		tb.Fatalf("shipped schedule: %v", err)
	}
	return s
}

func TestSchedule_Decide(t *testing.T) {
	s := mustShipped(t)
	tests := []struct {
		name, birth string
		now         time.Time
		eligible    bool
		window      string
		nextOpen    time.Time
		nextWindow  string
		reason      string
	}{
		{"Digit9AtOpening", "1990-05-19", at(8, 9, 20, 0, 0), true, "aug09-digit9", at(8, 19, 20, 0, 0), "aug19-all", ""},
		{"Digit9SecondBeforeOpening", "1990-05-19", at(8, 9, 19, 59, 59), false, "", at(8, 9, 20, 0, 0), "aug09-digit9", eligibility.ReasonClosed},
		{"Digit9LastMinute", "1990-05-19", at(8, 10, 17, 59, 0), true, "aug09-digit9", at(8, 19, 20, 0, 0), "aug19-all", ""},
		{"Digit9AtClosing", "1990-05-19", at(8, 10, 18, 0, 0), false, "", at(8, 19, 20, 0, 0), "aug19-all", eligibility.ReasonClosed},
		{"Digit0DuringDigit9Window", "1990-05-10", at(8, 9, 21, 0, 0), false, "", at(8, 10, 20, 0, 0), "aug10-digit0", eligibility.ReasonNotYourDay},
		{"Digit0BeforeAnyWindow", "1990-05-10", at(8, 9, 12, 0, 0), false, "", at(8, 10, 20, 0, 0), "aug10-digit0", eligibility.ReasonClosed},
		{"Digit0InOwnWindow", "1990-05-30", at(8, 11, 9, 0, 0), true, "aug10-digit0", at(8, 19, 20, 0, 0), "aug19-all", ""},
		{"Age50InOwnDigitWindow", "1971-12-31", at(8, 11, 21, 0, 0), false, "", time.Time{}, "", eligibility.ReasonAge},
		{"Age50InOpenWindow", "1971-12-31", at(8, 20, 12, 0, 0), false, "", time.Time{}, "", eligibility.ReasonAge},
		{"OldestEligible", "1972-01-01", at(8, 11, 21, 0, 0), true, "aug11-digit1", at(8, 19, 20, 0, 0), "aug19-all", ""},
		{"YoungestEligible", "2003-12-31", at(8, 11, 21, 0, 0), true, "aug11-digit1", at(8, 19, 20, 0, 0), "aug19-all", ""},
		{"Age17", "2004-01-01", at(8, 11, 21, 0, 0), false, "", time.Time{}, "", eligibility.ReasonAge},
		{"AnyDigitOn20Aug", "1985-03-07", at(8, 20, 12, 0, 0), true, "aug19-all", time.Time{}, "", ""},
		{"DigitDayPersonOn20Aug", "1985-03-19", at(8, 20, 12, 0, 0), true, "aug19-all", time.Time{}, "", ""},
		{"GapBeforeOpenToAll", "1985-03-07", at(8, 19, 19, 0, 0), false, "", at(8, 19, 20, 0, 0), "aug19-all", eligibility.ReasonClosed},
		{"LastSecond", "1985-03-07", at(9, 18, 17, 59, 59), true, "aug19-all", time.Time{}, "", ""},
		{"AfterLastWindow", "1985-03-07", at(9, 18, 18, 0, 0), false, "", time.Time{}, "", eligibility.ReasonClosed},
		{"Age50AfterLastWindow", "1971-12-31", at(9, 20, 0, 0, 0), false, "", time.Time{}, "", eligibility.ReasonClosed},
		{"OpeningInUTC", "1990-05-19", time.Date(2021, 8, 9, 11, 0, 0, 0, time.UTC), true, "aug09-digit9", at(8, 19, 20, 0, 0), "aug19-all", ""},
		{"BeforeOpeningInUTC", "1990-05-19", time.Date(2021, 8, 9, 10, 59, 59, 0, time.UTC), false, "", at(8, 9, 20, 0, 0), "aug09-digit9", eligibility.ReasonClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.Decide(mustDate(t, tt.birth), tt.now)
			if got.Eligible != tt.eligible || got.Window.ID != tt.window || got.Reason != tt.reason {
				t.Errorf("Decide = eligible %v window %q reason %q, want %v %q %q",
					got.Eligible, got.Window.ID, got.Reason, tt.eligible, tt.window, tt.reason)
			}
			if !got.NextOpen.Equal(tt.nextOpen) || got.NextWindow != tt.nextWindow {
				t.Errorf("next = %v %q, want %v %q", got.NextOpen, got.NextWindow, tt.nextOpen, tt.nextWindow)
			}
		})
	}
	t.Run("ErrBirthDate", func(t *testing.T) {
		got := s.Decide(eligibility.Date{Year: 1990, Month: time.February, Day: 30}, at(8, 20, 12, 0, 0))
		if got.Eligible || got.Reason != eligibility.ReasonBirthDate {
			t.Errorf("Decide(1990-02-30) = %+v, want reason %q", got, eligibility.ReasonBirthDate)
		}
	})
}

// TestSchedule_Decide_Rotation checks every day of the rotation for every
// digit: exactly the matching digit is eligible, the others are told so.
func TestSchedule_Decide_Rotation(t *testing.T) {
	s := mustShipped(t)
	for day := 9; day <= 18; day++ {
		now := at(8, day, 23, 0, 0)
		for digit := range 10 {
			birth := eligibility.Date{Year: 1990, Month: time.January, Day: 10 + digit}
			got := s.Decide(birth, now)
			if want := digit == day%10; got.Eligible != want {
				t.Errorf("day %d digit %d: eligible %v, want %v", day, digit, got.Eligible, want)
			} else if !want && got.Reason != eligibility.ReasonNotYourDay {
				t.Errorf("day %d digit %d: reason %q, want %q", day, digit, got.Reason, eligibility.ReasonNotYourDay)
			}
		}
	}
}

func TestSchedule_Current(t *testing.T) {
	s := mustShipped(t)
	tests := []struct {
		name string
		now  time.Time
		want string // "" for none
	}{
		{"BeforeFirst", at(8, 9, 19, 59, 59), ""},
		{"First", at(8, 9, 20, 0, 0), "aug09-digit9"},
		{"Gap", at(8, 10, 18, 0, 0), ""},
		{"Second", at(8, 10, 20, 0, 0), "aug10-digit0"},
		{"OpenToAll", at(9, 1, 0, 0, 0), "aug19-all"},
		{"After", at(9, 18, 18, 0, 0), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, ok := s.Current(tt.now)
			if got := w.ID; ok != (tt.want != "") || got != tt.want {
				t.Errorf("Current = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

func TestSchedule_Next(t *testing.T) {
	s := mustShipped(t)
	tests := []struct {
		name string
		now  time.Time
		want string // "" for none
	}{
		{"BeforeFirst", at(8, 1, 0, 0, 0), "aug09-digit9"},
		{"AtOpeningIsNotNext", at(8, 9, 20, 0, 0), "aug10-digit0"},
		{"Gap", at(8, 19, 18, 0, 0), "aug19-all"},
		{"NoneLeft", at(8, 19, 20, 0, 0), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, ok := s.Next(tt.now)
			if got := w.ID; ok != (tt.want != "") || got != tt.want {
				t.Errorf("Next = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

// A suggested birth date gets a place: in the open window, or in the next
// one's pre-queue between windows; different draws give different people.
func TestSchedule_Suggest(t *testing.T) {
	s := mustShipped(t)
	for _, tc := range []struct {
		name, window string
		now          time.Time
	}{
		{"Open", "aug09-digit9", at(8, 9, 21, 0, 0)},
		{"Gap", "aug11-digit1", at(8, 11, 19, 0, 0)},
		{"BeforeFirst", "aug09-digit9", at(8, 1, 0, 0, 0)},
		{"OpenToAll", "aug19-all", at(9, 1, 0, 0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[eligibility.Date]bool{}
			for range 50 {
				d, ok := s.Suggest(tc.now)
				if !ok {
					t.Fatal("no suggestion")
				}
				seen[d] = true
				at := tc.now
				if w, open := s.Current(at); !open || w.ID != tc.window {
					next, _ := s.Next(at)
					at = next.Opens
				}
				if got := s.Decide(d, at); !got.Eligible || got.Window.ID != tc.window {
					t.Fatalf("suggested %s: %+v, want eligible in %s", d, got, tc.window)
				}
			}
			if len(seen) < 40 {
				t.Errorf("50 suggestions gave %d different dates: people would collide", len(seen))
			}
		})
	}
	t.Run("NoneLeft", func(t *testing.T) {
		if d, ok := s.Suggest(at(9, 18, 18, 0, 0)); ok {
			t.Fatalf("suggested %s after the last window", d)
		}
	})
}

func TestParse(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s := mustShipped(t)
		if got, want := s.Location().String(), "Asia/Seoul"; got != want {
			t.Errorf("Location = %q, want %q", got, want)
		}
		ws := s.Windows()
		if got, want := len(ws), 11; got != want {
			t.Fatalf("%d windows, want %d", got, want)
		}
		first := ws[0]
		if want := time.Date(2021, 8, 9, 11, 0, 0, 0, time.UTC); !first.Opens.Equal(want) {
			t.Errorf("first opens %v, want %v", first.Opens, want)
		}
		wantRule := eligibility.Rule{Digits: []int{9}, MinAge: 18, MaxAge: 49, AgeAt: "2021-12-31"}
		if !reflect.DeepEqual(first.Rule, wantRule) {
			t.Errorf("first rule %+v, want %+v", first.Rule, wantRule)
		}
	})
	t.Run("DefaultTimezone", func(t *testing.T) {
		s, err := eligibility.Parse([]byte(`windows: [{id: a, opens: "2021-08-09 20:00", closes: "2021-08-10 18:00"}]`))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.Location().String(), eligibility.DefaultTimezone; got != want {
			t.Errorf("Location = %q, want %q", got, want)
		}
	})
	t.Run("OverlapForDifferentPeople", func(t *testing.T) {
		// Same hours for different digits, or for disjoint age bands, is fine.
		_, err := eligibility.Parse([]byte(`
windows:
  - {id: d1, opens: "2021-08-09 20:00", closes: "2021-08-10 18:00", digits: [1]}
  - {id: d2, opens: "2021-08-09 20:00", closes: "2021-08-10 18:00", digits: [2]}
  - {id: young, opens: "2021-08-20 00:00", closes: "2021-08-21 00:00", max_age: 49, age_at: "2021-12-31"}
  - {id: old, opens: "2021-08-20 00:00", closes: "2021-08-21 00:00", min_age: 50, age_at: "2021-12-31"}
  - {id: next, opens: "2021-08-21 00:00", closes: "2021-08-22 00:00"}
`))
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrUnknownKey", func(t *testing.T) {
		_, err := eligibility.Parse([]byte(`windows: [{id: a, opens: "2021-08-09 20:00", closes: "2021-08-10 18:00", digit: [1]}]`))
		if err == nil || !strings.Contains(err.Error(), "digit") {
			t.Errorf("err = %v, want one naming the unknown key", err)
		}
	})
	t.Run("ErrEverythingAtOnce", func(t *testing.T) {
		_, err := eligibility.Parse([]byte(`
timezone: Asia/Nowhere
windows:
  - {id: a, opens: "2021-08-09 20:00", closes: "2021-08-09 20:00"}
  - {id: a, opens: "2021-08-11 20:00", closes: "2021-08-12 18:00"}
  - {opens: "2021-08-13 20:00", closes: "2021-08-14 18:00"}
  - {id: bad-digit, opens: "2021-08-15 20:00", closes: "2021-08-16 18:00", digits: [3, 10]}
  - {id: bad-time, opens: "2021-08-17T20:00", closes: "2021-08-18 18:00"}
  - {id: no-age-at, opens: "2021-08-19 20:00", closes: "2021-08-20 18:00", min_age: 18}
  - {id: ages, opens: "2021-08-21 20:00", closes: "2021-08-22 18:00", min_age: 50, max_age: 49, age_at: "2021-12-31"}
  - {id: stray-age-at, opens: "2021-08-23 20:00", closes: "2021-08-24 18:00", age_at: "2021-12-31"}
  - {id: d5, opens: "2021-09-01 20:00", closes: "2021-09-02 18:00", digits: [5], max_age: 49, age_at: "2021-12-31"}
  - {id: all, opens: "2021-09-02 12:00", closes: "2021-09-03 18:00", min_age: 18, age_at: "2021-12-31"}
`))
		var ve *eligibility.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("err = %v, want *ValidationError", err)
		}
		want := []eligibility.Problem{
			{"", `timezone "Asia/Nowhere" is not an IANA zone name`},
			{"a", "closes 2021-08-09 20:00 is not after opens 2021-08-09 20:00"},
			{"a", "id is used by an earlier window"},
			{"#3", "id is empty"},
			{"bad-digit", "digit 10 is not 0-9"},
			{"bad-time", `opens "2021-08-17T20:00" is not "2006-01-02 15:04"`},
			{"no-age-at", "age_at is required with min_age or max_age"},
			{"ages", "min_age 50 is above max_age 49"},
			{"stray-age-at", "age_at is set without min_age or max_age"},
			{"all", `overlaps window "d5" for some of the same people`},
		}
		if !reflect.DeepEqual(ve.Problems, want) {
			t.Errorf("problems:\n%s\nwant:\n%s", ve, &eligibility.ValidationError{Problems: want})
		}
	})
	t.Run("ErrNoWindows", func(t *testing.T) {
		_, err := eligibility.Parse([]byte(`timezone: UTC`))
		if err == nil || err.Error() != "no windows" {
			t.Errorf("err = %v, want no windows", err)
		}
	})
}

func TestDate_Valid(t *testing.T) {
	tests := []struct {
		d    eligibility.Date
		want bool
	}{
		{eligibility.Date{Year: 2000, Month: 2, Day: 29}, true},
		{eligibility.Date{Year: 2001, Month: 2, Day: 29}, false},
		{eligibility.Date{Year: 2001, Month: 13, Day: 1}, false},
		{eligibility.Date{Year: 2001, Month: 1, Day: 0}, false},
		{eligibility.Date{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			if got := tt.d.Valid(); got != tt.want {
				t.Errorf("Valid = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseDate(t *testing.T) {
	for _, tc := range []struct {
		in        string
		want      eligibility.Date
		lastDigit int
		ok        bool
	}{
		{"1990-08-09", eligibility.Date{1990, time.August, 9}, 9, true},
		{"1975-12-30", eligibility.Date{1975, time.December, 30}, 0, true},
		{"2000-02-29", eligibility.Date{2000, time.February, 29}, 9, true},
		{"1900-02-29", eligibility.Date{}, 0, false},
		{"1990-02-30", eligibility.Date{}, 0, false},
		{"0000-08-09", eligibility.Date{}, 0, false},
		{"1990", eligibility.Date{}, 0, false},
		{"1990-8-9", eligibility.Date{}, 0, false},
		{"1990-08-09T00:00:00Z", eligibility.Date{}, 0, false},
		{"", eligibility.Date{}, 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := eligibility.ParseDate(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if !tc.ok {
				return
			}
			if got.String() != tc.in {
				t.Errorf("String() = %q, want %q", got.String(), tc.in)
			}
			if got.LastDigit() != tc.lastDigit {
				t.Errorf("LastDigit() = %d, want %d", got.LastDigit(), tc.lastDigit)
			}
		})
	}
}

// The development rotation keeps a window open at every hour of its days
// (2021's closed at 18:00 and opened at 20:00), admits each day's digit
// only, within ages 18-49, and writes a file Parse reads back.
func TestRotation(t *testing.T) {
	kst, _ := time.LoadLocation(eligibility.DefaultTimezone)
	from := time.Date(2026, 12, 7, 12, 0, 0, 0, kst)
	f, err := eligibility.Rotation(eligibility.RotationOptions{From: from})
	if err != nil {
		t.Fatal(err)
	}
	y, err := f.YAML()
	if err != nil {
		t.Fatal(err)
	}
	s, err := eligibility.Parse(y)
	if err != nil {
		t.Fatalf("Parse(Rotation().YAML()): %v\n%s", err, y)
	}
	for h := 20; h < 20+9*24; h++ {
		now := time.Date(2026, 12, 7, h, 30, 0, 0, kst)
		w, ok := s.Current(now)
		if !ok {
			t.Fatalf("no window open at %v", now)
		}
		digit := now.Add(-20*time.Hour).Day() % 10 // the day whose 20:00 opened it
		if len(w.Rule.Digits) != 1 || w.Rule.Digits[0] != digit {
			t.Fatalf("at %v window %s admits digits %v, want [%d]", now, w.ID, w.Rule.Digits, digit)
		}
	}
	now := time.Date(2026, 12, 8, 19, 0, 0, 0, kst) // in 2021's daily gap
	for birth, want := range map[string]string{"1990-03-17": "", "2015-03-17": eligibility.ReasonAge, "1960-03-17": eligibility.ReasonAge, "1990-03-18": eligibility.ReasonNotYourDay} {
		d := s.Decide(mustDate(t, birth), now)
		if d.Eligible != (want == "") || d.Reason != want {
			t.Errorf("born %s at %v: %+v, want reason %q", birth, now, d, want)
		}
	}
	if _, err := eligibility.Rotation(eligibility.RotationOptions{Opens: "8pm"}); err == nil {
		t.Error("a time of day that is not HH:MM was accepted")
	}
}
