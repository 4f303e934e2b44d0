package og

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Date is a calendar day on a merchant's calendar (its time zone): order dates, start dates.
// Ordergroove schedules by day; the time of day comes from the placement hours (O1).
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the day t falls on in loc.
func DateOf(t time.Time, loc *time.Location) Date {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	return Date{y, m, d}
}

// ParseDate reads YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date YYYY-MM-DD", s)
	}
	if t.Year() == 0 { // the zero Date means "none": a year 0000 would pass for no date at all
		return Date{}, fmt.Errorf("%q is not a date: there is no year 0000", s)
	}
	return DateOf(t, time.UTC), nil
}

// MaxFrequencyDays bounds a subscription's frequency: ten years between orders.
const MaxFrequencyDays = 3660

// IsZero reports whether d is the zero date.
func (d Date) IsZero() bool { return d.Year == 0 }

// String formats YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// At returns the instant of hour:00 on d in loc.
func (d Date) At(hour int, loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, hour, 0, 0, 0, loc)
}

func (d Date) utc() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// AddDays returns d moved by n days.
func (d Date) AddDays(n int) Date { return DateOf(d.utc().AddDate(0, 0, n), time.UTC) }

// AddMonths returns d moved by n calendar months, keeping day-of-month anchor where the
// target month has it and clamping to the month's last day where it does not.
func (d Date) AddMonths(n int, anchor int) Date {
	if anchor == 0 {
		anchor = d.Day
	}
	t := AddMonths(time.Date(d.Year, d.Month, 1, 0, 0, 0, 0, time.UTC), n)
	last := time.Date(t.Year(), t.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return Date{t.Year(), t.Month(), min(anchor, last)}
}

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.utc().Before(e.utc()) }

// After reports whether d is after e.
func (d Date) After(e Date) bool { return d.utc().After(e.utc()) }

// DaysUntil returns the number of days from d to e.
func (d Date) DaysUntil(e Date) int { return int(e.utc().Sub(d.utc()).Hours() / 24) }

// MarshalJSON writes "YYYY-MM-DD", or null for the zero date.
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	// Digits and dashes: nothing to escape.
	return strconv.AppendQuote(make([]byte, 0, 12), d.String()), nil
}

// UnmarshalJSON reads "YYYY-MM-DD" or null.
func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	var s string
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && bytes.IndexByte(b, '\\') < 0 {
		s = string(b[1 : len(b)-1]) // a plain string: the common case, without a second decoder
	} else if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// AddMonths adds n calendar months to t, clamping the day of month to the target month's
// length (Jan 31 + 1 month = Feb 28, or 29).
func AddMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := time.Date(first.Year(), first.Month()+1, 0, 0, 0, 0, 0, t.Location()).Day()
	return first.AddDate(0, 0, min(d, last)-1)
}

// Periods of a frequency (P3, F2): every_period.
const (
	PeriodDay   = 1
	PeriodWeek  = 2
	PeriodMonth = 3
	PeriodYear  = 4
)

// Frequency is how often a subscription recurs: every N days, weeks, months or years.
type Frequency struct {
	Every       int `json:"every"`
	EveryPeriod int `json:"every_period"`
}

// IsZero reports whether no frequency is set (B2: 0/0 is a one-time purchase).
func (f Frequency) IsZero() bool { return f.Every == 0 && f.EveryPeriod == 0 }

// Check reports what is wrong with a subscription's frequency (P3, B2).
func (f Frequency) Check() error {
	switch {
	case f.IsZero():
		return fmt.Errorf("0/0 is a one-time purchase, not a subscription frequency (B2)")
	case f.Every < 1:
		return fmt.Errorf("every %d is not a positive whole number", f.Every)
	case f.EveryPeriod < PeriodDay || f.EveryPeriod > PeriodYear:
		return fmt.Errorf("every_period %d is not 1 (day), 2 (week), 3 (month) or 4 (year)", f.EveryPeriod)
	case f.Every > MaxFrequencyDays || f.Days() > MaxFrequencyDays:
		return fmt.Errorf("%s is more than ten years between orders", f)
	}
	return nil
}

// Days is the frequency in days, as the order XML's frequencyDays carries it: 2 weeks = 14;
// a month counts 30 days and a year 365.
func (f Frequency) Days() int {
	switch f.EveryPeriod {
	case PeriodDay:
		return f.Every
	case PeriodWeek:
		return 7 * f.Every
	case PeriodMonth:
		return 30 * f.Every
	case PeriodYear:
		return 365 * f.Every
	}
	return 0
}

// Next returns the date n occurrences after start: months and years on the calendar, keeping
// start's day of month where the month has it (Jan 31 monthly: Feb 28, Mar 31, Apr 30).
func (f Frequency) Next(start Date, n int) Date {
	switch f.EveryPeriod {
	case PeriodDay:
		return start.AddDays(f.Every * n)
	case PeriodWeek:
		return start.AddDays(7 * f.Every * n)
	case PeriodMonth:
		return start.AddMonths(f.Every*n, start.Day)
	case PeriodYear:
		return start.AddMonths(12*f.Every*n, start.Day)
	}
	return start
}

// NextFrom returns the occurrence after d: months and years keep anchor as the day of month
// where the month has it (a subscription first placed on the 31st stays on month ends).
func (f Frequency) NextFrom(d Date, anchor int) Date {
	switch f.EveryPeriod {
	case PeriodMonth:
		return d.AddMonths(f.Every, anchor)
	case PeriodYear:
		return d.AddMonths(12*f.Every, anchor)
	}
	return f.Next(d, 1)
}

// NextNotBefore returns the first occurrence after d that is not before today: a subscription
// whose order went out late (retried for days under O6a or O6d, or paused under F4) moves on to
// its next date still to come, on its own calendar, instead of owing an order for every date
// that went by meanwhile. An order placed on time has today at or before d, and gets NextFrom.
func (f Frequency) NextNotBefore(d Date, anchor int, today Date) Date {
	next := f.NextFrom(d, anchor)
	// Bounded: a daily subscription 100 years late takes 36,525 steps.
	for range 40_000 {
		if !next.Before(today) {
			return next
		}
		if n := f.NextFrom(next, anchor); n.After(next) {
			next = n
		} else {
			return today // a frequency that does not move (not one a subscription can have)
		}
	}
	return today
}

// String formats "every 2 weeks".
func (f Frequency) String() string {
	unit := map[int]string{PeriodDay: "day", PeriodWeek: "week", PeriodMonth: "month", PeriodYear: "year"}[f.EveryPeriod]
	if unit == "" {
		return fmt.Sprintf("every %d/%d", f.Every, f.EveryPeriod)
	}
	if f.Every != 1 {
		unit += "s"
	}
	return fmt.Sprintf("every %d %s", f.Every, unit)
}
