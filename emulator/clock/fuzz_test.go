package clock

import (
	"testing"
	"time"
)

func FuzzParseSpan(f *testing.F) {
	for _, s := range []string{"30d", "1y2mo3w4d5h6m7s", "1.5h", "-1d", "0", "99999999999999999999d", "1e9h", ".h", "1mo1mo"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseSpan(s)
		if err != nil {
			return
		}
		if sp.Months < 0 || sp.Dur < 0 || sp.Months > 1200 || sp.Dur > maxSpan {
			t.Fatalf("ParseSpan(%q) = %+v: out of bounds", s, sp)
		}
		if to := sp.AddTo(t0); to.Before(t0) {
			t.Fatalf("ParseSpan(%q) moves the clock backwards", s)
		}
		back, err := ParseSpan(sp.String())
		if err != nil || back.Months != sp.Months || (back.Dur-sp.Dur).Abs() > time.Millisecond {
			t.Fatalf("ParseSpan(%q) = %+v prints as %q, which parses to %+v, %v", s, sp, sp.String(), back, err)
		}
	})
}
