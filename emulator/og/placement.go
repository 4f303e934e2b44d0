package og

import (
	"slices"
	"time"
)

// RunsOn returns the placement runs of day d (O1): the merchant's placement hours on its
// calendar, in order. Across a daylight-saving change an hour that does not exist moves to the
// next that does (2:00 on the spring-forward day is 3:00), an hour that happens twice happens
// once, and two hours that land on the same instant make one run.
func RunsOn(d Date, hours []int, loc *time.Location) []time.Time {
	if loc == nil {
		loc = time.UTC
	}
	runs := make([]time.Time, 0, len(hours))
	for _, h := range hours {
		t := time.Date(d.Year, d.Month, d.Day, h, 0, 0, 0, loc)
		if t.In(loc).Hour() != h {
			// h does not exist that day (the clocks jumped over it); Go places such a time an
			// hour early: take the first hour after the jump instead.
			t = time.Date(d.Year, d.Month, d.Day, h+1, 0, 0, 0, loc)
		}
		if DateOf(t, loc) != d {
			continue // normalised onto another day: not a run of d
		}
		runs = append(runs, t.UTC())
	}
	slices.SortFunc(runs, func(a, b time.Time) int { return a.Compare(b) })
	return slices.CompactFunc(runs, func(a, b time.Time) bool { return a.Equal(b) })
}

// NextRun returns the first placement run strictly after t (O1).
func NextRun(t time.Time, hours []int, loc *time.Location) time.Time {
	if len(hours) == 0 {
		return time.Time{}
	}
	d := DateOf(t, loc)
	for i := 0; i < 3; i++ {
		for _, r := range RunsOn(d.AddDays(i), hours, loc) {
			if r.After(t) {
				return r
			}
		}
	}
	return time.Time{} // unreachable with hours in 0-23
}

// FirstRunOn returns the first placement run of day d, or the first one after it.
func FirstRunOn(d Date, hours []int, loc *time.Location) time.Time {
	if runs := RunsOn(d, hours, loc); len(runs) > 0 {
		return runs[0]
	}
	return NextRun(d.At(0, loc), hours, loc)
}
