package eligibility

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	// The default zone must load on hosts without a zoneinfo database
	// (minimal containers), so the database is embedded.
	_ "time/tzdata"

	"go.yaml.in/yaml/v3"
)

// DefaultTimezone is the zone of a schedule file that names none.
const DefaultTimezone = "Asia/Seoul"

// TimeLayout is how window times are written in a schedule file, read in the
// schedule's time zone: "2021-08-09 20:00".
const TimeLayout = "2006-01-02 15:04"

// File is the schedule file's layout. The yaml and mapstructure tags agree,
// so the file can be read by Parse or decoded by a config loader and passed
// to New.
type File struct {
	// Timezone is an IANA zone name. Default DefaultTimezone.
	Timezone string `yaml:"timezone" mapstructure:"timezone"`
	// Windows lists the booking windows, in any order; at least one.
	Windows []WindowConfig `yaml:"windows" mapstructure:"windows"`
}

// WindowConfig is one window as written in a schedule file. See Window and
// Rule for the meaning of each field.
type WindowConfig struct {
	// ID names the window in decisions and problems: non-empty and unique.
	ID string `yaml:"id" mapstructure:"id"`
	// Opens and Closes are TimeLayout times in the file's zone; Closes must
	// be after Opens.
	Opens  string `yaml:"opens" mapstructure:"opens"`
	Closes string `yaml:"closes" mapstructure:"closes"`
	// Digits are birth-date last digits, each 0-9; empty admits any.
	Digits []int `yaml:"digits" mapstructure:"digits"`
	// MinAge and MaxAge are inclusive ages on AgeAt, >= 0; 0 is no bound.
	MinAge int `yaml:"min_age" mapstructure:"min_age"`
	MaxAge int `yaml:"max_age" mapstructure:"max_age"`
	// AgeAt is a YYYY-MM-DD date, required exactly when an age bound is set.
	AgeAt string `yaml:"age_at" mapstructure:"age_at"`
}

// Problem is one thing wrong with a schedule: the window it concerns (its
// ID, or "#n" for the n-th window, from 1, when the ID is empty; "" for the
// file as a whole) and what is wrong.
type Problem struct {
	Window, Message string
}

// ValidationError lists every problem found in a schedule.
type ValidationError struct {
	Problems []Problem
}

// Error returns the problems one per line, each as `window "id": message`.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Message
		if p.Window != "" {
			lines[i] = fmt.Sprintf("window %q: %s", p.Window, p.Message)
		}
	}
	return strings.Join(lines, "\n")
}

// Parse reads a schedule file (YAML, see File; unknown keys are errors) and
// validates it with New.
func Parse(yamlBytes []byte) (*Schedule, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(yamlBytes))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("schedule file: %w", err)
	}
	return New(f)
}

// New validates f and builds its Schedule. It reports every problem at once
// as a *ValidationError: a bad time zone, time, date, digit or age; an empty
// or repeated ID; a window that does not close after it opens; no windows;
// and two windows that overlap in time while admitting a common person.
func New(f File) (*Schedule, error) {
	var ps []Problem
	add := func(window, format string, args ...any) {
		ps = append(ps, Problem{window, fmt.Sprintf(format, args...)})
	}
	zone := cmp.Or(f.Timezone, DefaultTimezone)
	loc, err := time.LoadLocation(zone)
	if err != nil {
		add("", "timezone %q is not an IANA zone name", zone)
		loc = time.UTC // keep checking the windows
	}
	if len(f.Windows) == 0 {
		add("", "no windows")
	}
	s := &Schedule{loc: loc}
	seen := make(map[string]bool)
	for i, wc := range f.Windows {
		name := wc.ID
		if name == "" {
			name = fmt.Sprintf("#%d", i+1)
			add(name, "id is empty")
		} else if seen[name] {
			add(name, "id is used by an earlier window")
		}
		seen[name] = true
		w, msgs := compile(wc, loc)
		for _, m := range msgs {
			add(name, "%s", m)
		}
		if len(msgs) == 0 {
			s.windows = append(s.windows, w)
		}
	}
	slices.SortStableFunc(s.windows, func(a, b window) int { return a.Opens.Compare(b.Opens) })
	for i := range s.windows {
		for j := range i {
			a, b := &s.windows[j], &s.windows[i]
			if a.Opens.Before(b.Closes) && b.Opens.Before(a.Closes) && cohortsMeet(a, b) {
				add(b.ID, "overlaps window %q for some of the same people", a.ID)
			}
		}
	}
	if len(ps) > 0 {
		return nil, &ValidationError{Problems: ps}
	}
	return s, nil
}

// compile checks one window and converts its age band to birth-date bounds.
// It returns the problems found, as messages.
func compile(wc WindowConfig, loc *time.Location) (window, []string) {
	var msgs []string
	w := window{Window: Window{ID: wc.ID, Rule: Rule{
		Digits: slices.Clone(wc.Digits), MinAge: wc.MinAge, MaxAge: wc.MaxAge, AgeAt: wc.AgeAt,
	}}}
	var err error
	if w.Opens, err = time.ParseInLocation(TimeLayout, wc.Opens, loc); err != nil {
		msgs = append(msgs, fmt.Sprintf("opens %q is not %q", wc.Opens, TimeLayout))
	}
	if w.Closes, err = time.ParseInLocation(TimeLayout, wc.Closes, loc); err != nil {
		msgs = append(msgs, fmt.Sprintf("closes %q is not %q", wc.Closes, TimeLayout))
	}
	if len(msgs) == 0 && !w.Closes.After(w.Opens) {
		msgs = append(msgs, fmt.Sprintf("closes %s is not after opens %s", wc.Closes, wc.Opens))
	}
	for _, d := range wc.Digits {
		if d < 0 || d > 9 {
			msgs = append(msgs, fmt.Sprintf("digit %d is not 0-9", d))
			continue
		}
		w.digits[d] = true
	}
	if len(wc.Digits) == 0 {
		w.digits = [10]bool{true, true, true, true, true, true, true, true, true, true}
	}
	if wc.MinAge < 0 || wc.MaxAge < 0 {
		msgs = append(msgs, "ages must not be negative")
	}
	if wc.MaxAge > 0 && wc.MinAge > wc.MaxAge {
		msgs = append(msgs, fmt.Sprintf("min_age %d is above max_age %d", wc.MinAge, wc.MaxAge))
	}
	bounded := wc.MinAge > 0 || wc.MaxAge > 0
	switch {
	case bounded && wc.AgeAt == "":
		msgs = append(msgs, "age_at is required with min_age or max_age")
	case !bounded && wc.AgeAt != "":
		msgs = append(msgs, "age_at is set without min_age or max_age")
	case bounded:
		at, err := ParseDate(wc.AgeAt)
		if err != nil {
			msgs = append(msgs, "age_at: "+err.Error())
			break
		}
		// Aged at least MinAge on at: born on or before at, MinAge years
		// earlier. Aged at most MaxAge: born after at, MaxAge+1 years earlier.
		if wc.MinAge > 0 {
			w.bornBy = Date{at.Year - wc.MinAge, at.Month, at.Day}
		}
		if wc.MaxAge > 0 {
			w.bornAfter = Date{at.Year - wc.MaxAge - 1, at.Month, at.Day}
		}
	}
	return w, msgs
}

// cohortsMeet reports whether some birth date is admitted by both windows.
// Bounds that are not calendar dates (29 February of a common year) can make
// it report a meeting where none exists, which only makes validation stricter.
func cohortsMeet(a, b *window) bool {
	digit := false
	for d := range a.digits {
		digit = digit || (a.digits[d] && b.digits[d])
	}
	if !digit {
		return false
	}
	after := a.bornAfter
	if after.before(b.bornAfter) {
		after = b.bornAfter
	}
	by := a.bornBy
	if by == (Date{}) || (b.bornBy != (Date{}) && b.bornBy.before(by)) {
		by = b.bornBy
	}
	return by == (Date{}) || after.before(by)
}

// RotationOptions shape Rotation's windows. The zero value is the
// development rotation `make run` uses.
type RotationOptions struct {
	// From is the day the first window opens, read in DefaultTimezone.
	// Default yesterday, so that a window is open today.
	From time.Time
	// Days is the number of daily windows. Default 10: every digit once.
	Days int
	// Opens is the daily opening time ("HH:MM"), and Closes the closing
	// time the next day. Default 20:00 and 20:00: each window lasts a day,
	// so one is always open. The 2021 programme closed at 18:00, leaving
	// two hours a day with none open (etc/schedule-2021-08.yaml).
	Opens, Closes string
	// MinAge and MaxAge bound the age on 31 December of From's year.
	// Default 18 and 49, as in 2021.
	MinAge, MaxAge int
}

// Rotation lays out a 10-day rotation like August 2021's: one window a
// day for the people whose birth-date last digit is that day's, within the
// age band. New accepts what it returns; for development and drills.
func Rotation(o RotationOptions) (File, error) {
	loc, err := time.LoadLocation(DefaultTimezone)
	if err != nil {
		return File{}, err
	}
	if o.From.IsZero() {
		o.From = time.Now().AddDate(0, 0, -1)
	}
	o.Days = cmp.Or(o.Days, 10)
	o.Opens, o.Closes = cmp.Or(o.Opens, "20:00"), cmp.Or(o.Closes, "20:00")
	o.MinAge, o.MaxAge = cmp.Or(o.MinAge, 18), cmp.Or(o.MaxAge, 49)
	for _, hm := range []string{o.Opens, o.Closes} {
		if _, err := time.Parse("15:04", hm); err != nil {
			return File{}, fmt.Errorf("time of day %q: want HH:MM", hm)
		}
	}
	day := o.From.In(loc)
	f := File{Timezone: DefaultTimezone}
	for i := range o.Days {
		d := day.AddDate(0, 0, i)
		f.Windows = append(f.Windows, WindowConfig{
			ID:     fmt.Sprintf("%s-digit%d", d.Format("0102"), d.Day()%10),
			Opens:  d.Format("2006-01-02") + " " + o.Opens,
			Closes: d.AddDate(0, 0, 1).Format("2006-01-02") + " " + o.Closes,
			Digits: []int{d.Day() % 10},
			MinAge: o.MinAge, MaxAge: o.MaxAge, AgeAt: fmt.Sprintf("%d-12-31", day.Year()),
		})
	}
	_, err = New(f)
	return f, err
}

// YAML writes f as a schedule file that Parse reads back.
func (f File) YAML() ([]byte, error) { return yaml.Marshal(f) }
