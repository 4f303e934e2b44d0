package clock

import (
	"errors"
	"fmt"

	"strconv"
	"strings"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// Span is how far to move the clock: calendar years and months, then a fixed duration.
// "30d", "12h", "90m", "1w2d", "1mo", "1y" and Go durations ("1h30m") all parse into one.
type Span struct {
	Months int
	Dur    time.Duration
}

// AddTo returns t moved by the span. Months move on the calendar of t's location, keeping
// the day of month where it exists and clamping it to the month's last day where it does not
// (Jan 31 + 1mo = Feb 28 or 29), so that "1mo" means what a person means.
func (s Span) AddTo(t time.Time) time.Time {
	if s.Months != 0 {
		t = AddMonths(t, s.Months)
	}
	return t.Add(s.Dur)
}

// String formats the span as it would be parsed.
func (s Span) String() string {
	var b strings.Builder
	if y := s.Months / 12; y > 0 {
		fmt.Fprintf(&b, "%dy", y)
	}
	if m := s.Months % 12; m > 0 {
		fmt.Fprintf(&b, "%dmo", m)
	}
	if s.Dur > 0 || b.Len() == 0 {
		b.WriteString(Format(s.Dur))
	}
	return b.String()
}

// AddMonths adds n calendar months to t, clamping the day of month (og.AddMonths).
func AddMonths(t time.Time, n int) time.Time { return og.AddMonths(t, n) }

var spanUnits = []struct {
	name string
	dur  time.Duration
}{
	// Longest names first, so that "mo" and "ms" win over "m".
	{"mo", 0}, {"ms", time.Millisecond}, {"us", time.Microsecond}, {"ns", time.Nanosecond},
	{"y", 0}, {"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour},
	{"m", time.Minute}, {"s", time.Second},
}

// maxSpan bounds what one advance may ask for, so that a typo cannot set the sandbox running
// placement runs for a thousand years.
const maxSpan = 100 * 365 * 24 * time.Hour

// ParseSpan parses a forward move of the clock: one or more number-unit pairs, units y, mo,
// w, d, h, m, s, ms, us, ns ("30d", "1w2d", "1h30m", "1.5h", "1mo"). A negative span is
// refused: the clock only moves forward.
func ParseSpan(s string) (Span, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return Span{}, fmt.Errorf("empty duration: want a number and a unit, e.g. 30d, 12h, 90m")
	}
	if strings.HasPrefix(in, "-") {
		return Span{}, fmt.Errorf("%q is negative: the sandbox clock only moves forward", s)
	}
	in = strings.TrimPrefix(in, "+")
	if in == "0" {
		return Span{}, nil
	}
	var sp Span
	var total float64 // nanoseconds, to catch overflow before it happens
	for in != "" {
		i := 0
		for i < len(in) && (in[i] >= '0' && in[i] <= '9' || in[i] == '.') {
			i++
		}
		if i == 0 {
			return Span{}, fmt.Errorf("cannot parse %q as a duration: expected a number at %q (e.g. 30d, 12h, 90m)", s, in)
		}
		num := in[:i]
		in = in[i:]
		unit := ""
		for _, u := range spanUnits {
			if strings.HasPrefix(in, u.name) {
				unit = u.name
				break
			}
		}
		if unit == "" {
			if in == "" {
				return Span{}, fmt.Errorf("cannot parse %q as a duration: %s has no unit (use y, mo, w, d, h, m or s, e.g. %sd)", s, num, num)
			}
			return Span{}, fmt.Errorf("cannot parse %q as a duration: unknown unit at %q (use y, mo, w, d, h, m or s)", s, in)
		}
		in = in[len(unit):]
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return Span{}, fmt.Errorf("cannot parse %q as a duration: %q is not a number", s, num)
		}
		switch unit {
		case "y", "mo":
			n, err := strconv.Atoi(num)
			if errors.Is(err, strconv.ErrRange) || err == nil && n > 1200 {
				// Bounded before it is multiplied or added: 1e18 years would wrap around.
				return Span{}, fmt.Errorf("%q is too far: one advance moves at most 100 years", s)
			} else if err != nil {
				return Span{}, fmt.Errorf("cannot parse %q as a duration: calendar %s take a whole number, got %q", s, map[string]string{"y": "years", "mo": "months"}[unit], num)
			}
			if unit == "y" {
				n *= 12
			}
			sp.Months += n
			if sp.Months > 1200 {
				return Span{}, fmt.Errorf("%q is too far: one advance moves at most 100 years", s)
			}
		default:
			for _, u := range spanUnits {
				if u.name == unit {
					total += v * float64(u.dur)
				}
			}
			if total > float64(maxSpan) {
				return Span{}, fmt.Errorf("%q is too far: one advance moves at most 100 years", s)
			}
		}
	}
	sp.Dur = time.Duration(total)
	return sp, nil
}

// Format writes a duration the way ParseSpan reads it, with days: "30d", "1d12h", "90m".
func Format(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dd", days)
		d -= days * 24 * time.Hour
	}
	if d > 0 {
		s := d.Round(time.Millisecond).String()
		// time.Duration prints "2h0m0s": drop the zero tails.
		if strings.HasSuffix(s, "m0s") {
			s = s[:len(s)-2]
		}
		if strings.HasSuffix(s, "h0m") {
			s = s[:len(s)-2]
		}
		b.WriteString(s)
	}
	return b.String()
}
