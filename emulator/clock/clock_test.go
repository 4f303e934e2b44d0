package clock

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// fixedWall is a wall clock the test moves by hand.
type fixedWall struct {
	mu sync.Mutex
	t  time.Time
}

func (w *fixedWall) now() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.t }
func (w *fixedWall) add(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t = w.t.Add(d)
}

func TestParseSpan(t *testing.T) {
	for _, tc := range []struct {
		in     string
		months int
		dur    time.Duration
		err    string
	}{
		{in: "30d", dur: 30 * 24 * time.Hour},
		{in: "12h", dur: 12 * time.Hour},
		{in: "90m", dur: 90 * time.Minute},
		{in: "1w2d", dur: 9 * 24 * time.Hour},
		{in: "1h30m", dur: 90 * time.Minute},
		{in: "1.5h", dur: 90 * time.Minute},
		{in: "45s", dur: 45 * time.Second},
		{in: "250ms", dur: 250 * time.Millisecond},
		{in: "1mo", months: 1},
		{in: "1y2mo3d", months: 14, dur: 72 * time.Hour},
		{in: " +2d ", dur: 48 * time.Hour},
		{in: "0"},
		{in: "", err: "empty duration"},
		{in: "-1d", err: "only moves forward"},
		{in: "abc", err: "expected a number"},
		{in: "30", err: "has no unit"},
		{in: "3x", err: "unknown unit"},
		{in: "1.5mo", err: "whole number"},
		{in: "1.2.3h", err: "not a number"},
		{in: "101y", err: "at most 100 years"},
		{in: "1000000000000000000y", err: "at most 100 years"}, // would wrap to a negative span
		{in: "1y9223372036854775807mo", err: "at most 100 years"},
		{in: "99999999999999999999mo", err: "at most 100 years"},
		{in: "40000d", err: "at most 100 years"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			sp, err := ParseSpan(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseSpan(%q) error = %v, want one containing %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSpan(%q): %v", tc.in, err)
			}
			if sp.Months != tc.months || sp.Dur != tc.dur {
				t.Fatalf("ParseSpan(%q) = %+v, want months %d dur %v", tc.in, sp, tc.months, tc.dur)
			}
		})
	}
}

func TestAddMonthsClampsDayOfMonth(t *testing.T) {
	for _, tc := range []struct{ from, want string }{
		{"2026-01-31", "2026-02-28"},
		{"2028-01-31", "2028-02-29"}, // leap year
		{"2026-03-31", "2026-04-30"},
		{"2026-12-15", "2027-01-15"},
	} {
		from, _ := time.Parse(time.DateOnly, tc.from)
		if got := AddMonths(from, 1).Format(time.DateOnly); got != tc.want {
			t.Errorf("AddMonths(%s, 1) = %s, want %s", tc.from, got, tc.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 30 * time.Second: "30s", time.Minute: "1m", 90 * time.Minute: "1h30m",
		2 * time.Hour: "2h", 36 * time.Hour: "1d12h", 30 * 24 * time.Hour: "30d", -time.Hour: "-1h",
	} {
		if got := Format(d); got != want {
			t.Errorf("Format(%v) = %q, want %q", d, got, want)
		}
	}
}

// An advance by a span starts where the clock is when it begins, even though the clock keeps
// passing at the wall's rate, and a span of 0 is no move rather than a move backwards.
func TestAdvanceBySpan(t *testing.T) {
	c := New(nil, 0)
	r := NewRunner(c, nil)
	res, err := r.AdvanceBy(context.Background(), Span{})
	if err != nil || res.To.Before(res.From) {
		t.Fatalf("advance by 0: %+v, %v", res, err)
	}
	res, err = r.AdvanceBy(context.Background(), Span{Months: 1})
	if err != nil || res.To.Sub(AddMonths(res.From, 1)).Abs() > time.Second {
		t.Fatalf("advance by 1mo: %+v, %v", res, err)
	}
}

func TestClockOnlyMovesForward(t *testing.T) {
	w := &fixedWall{t: t0}
	c := New(w.now, 0)
	r := NewRunner(c, nil)
	if _, err := r.Advance(context.Background(), t0.Add(-time.Second)); err == nil {
		t.Fatal("advance to the past succeeded")
	} else if be := (*BackwardsError)(nil); !errors.As(err, &be) || !strings.Contains(err.Error(), "only moves forward") {
		t.Fatalf("error %v, want a BackwardsError", err)
	}
	// A wall clock stepping back does not make Now go back.
	c.Now()
	w.add(-time.Hour)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("Now after the wall stepped back = %v, want %v", got, t0)
	}
}

// An advance to a far future is refused, not saturated: the clock keeps passing.
func TestAdvanceRefusesTooFar(t *testing.T) {
	c := New(nil, 0)
	r := NewRunner(c, nil)
	_, err := r.Advance(context.Background(), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	if tf := (*TooFarError)(nil); !errors.As(err, &tf) || !strings.Contains(err.Error(), "at most 100 years") {
		t.Fatalf("advance to 9999: %v", err)
	}
	if off := c.Offset(); off != 0 {
		t.Fatalf("a refused advance moved the offset to %v", off)
	}
	if _, err := r.AdvanceBy(context.Background(), Span{Months: 1200}); err != nil {
		t.Fatalf("advance by 100y: %v", err)
	}
	if _, err := r.AdvanceBy(context.Background(), Span{Months: 1200}); err == nil {
		t.Fatal("a second 100y advance took the offset past what the clock can hold")
	}
}

// Now never waits on the offset's save: storage reads the clock inside its transactions.
func TestNowDoesNotWaitOnSave(t *testing.T) {
	c := New(nil, 0)
	release := make(chan struct{})
	saving := make(chan struct{})
	c.Persist(func(time.Duration) error { close(saving); <-release; return nil })
	r := NewRunner(c, nil)
	done := make(chan error, 1)
	go func() { _, err := r.AdvanceBy(context.Background(), Span{Dur: time.Hour}); done <- err }()
	<-saving
	got := make(chan time.Time, 1)
	go func() { got <- c.Now() }()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("Now blocked while the offset was being saved")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestClockPersistsOffsetBeforeMoving(t *testing.T) {
	w := &fixedWall{t: t0}
	c := New(w.now, 0)
	var saved []time.Duration
	c.Persist(func(off time.Duration) error { saved = append(saved, off); return nil })
	r := NewRunner(c, nil)
	if _, err := r.Advance(context.Background(), t0.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if len(saved) != 1 || saved[0] != 48*time.Hour {
		t.Fatalf("saved offsets %v, want [48h]", saved)
	}
	// A move whose save fails does not happen.
	c.Persist(func(time.Duration) error { return errors.New("disk full") })
	if _, err := r.Advance(context.Background(), t0.Add(72*time.Hour)); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("advance with a failing save: %v", err)
	}
	if got := c.Now(); !got.Equal(t0.Add(48 * time.Hour)) {
		t.Fatalf("clock moved to %v despite the failed save", got)
	}
}

// daily is work due every day at 06:00 UTC; it records the time of each run.
type daily struct {
	mu   sync.Mutex
	next time.Time
	ran  []time.Time
	c    *Clock
}

func (d *daily) NextDue(context.Context) (time.Time, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.next, true, nil
}

func (d *daily) RunDue(_ context.Context, now time.Time) (og.RunReport, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c != nil && !d.c.Now().Equal(now) {
		return og.RunReport{}, errors.New("RunDue called with a time other than the clock's")
	}
	d.ran = append(d.ran, now)
	for !d.next.After(now) {
		d.next = d.next.Add(24 * time.Hour)
	}
	rep := og.RunReport{Runs: 1} // two orders placed at each run
	rep.Order("m", 2*now.Unix(), og.OutcomePlaced)
	rep.Order("m", 2*now.Unix()+1, og.OutcomePlaced)
	return rep, nil
}

func TestAdvanceRunsEveryDueRunInOrder(t *testing.T) {
	w := &fixedWall{t: t0}
	c := New(w.now, 0)
	r := NewRunner(c, nil)
	d := &daily{next: t0.Add(6 * time.Hour), c: c}
	r.Add(d)
	res, err := r.Advance(context.Background(), t0.Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rep := res.Report; rep.Runs != 30 || rep.Placed != 60 {
		t.Fatalf("report %+v, want 30 runs and 60 placed", rep)
	}
	for i, at := range d.ran {
		if want := t0.Add(6*time.Hour + time.Duration(i)*24*time.Hour); !at.Equal(want) {
			t.Fatalf("run %d at %v, want %v", i, at, want)
		}
	}
	if got := c.Now(); !got.Equal(t0.Add(30 * 24 * time.Hour)) {
		t.Fatalf("clock reads %v after the advance", got)
	}
}

// stuck is work that claims to be due but never progresses.
type stuck struct{ at time.Time }

func (s stuck) NextDue(context.Context) (time.Time, bool, error) { return s.at, true, nil }
func (s stuck) RunDue(context.Context, time.Time) (og.RunReport, error) {
	return og.RunReport{}, nil
}

func TestAdvanceStopsOnWorkThatMakesNoProgress(t *testing.T) {
	w := &fixedWall{t: t0}
	c := New(w.now, 0)
	r := NewRunner(c, nil)
	r.Add(stuck{at: t0.Add(time.Hour)})
	_, err := r.Advance(context.Background(), t0.Add(24*time.Hour))
	if err == nil || !strings.Contains(err.Error(), "made no progress") {
		t.Fatalf("advance over stuck work: %v", err)
	}
}

// The background loop runs work when sandbox time reaches its due time, with no advance,
// because sandbox time passes at the wall clock's rate.
func TestBackgroundLoopRunsWorkAsTimePasses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		c := New(time.Now, 0)
		r := NewRunner(c, nil)
		d := &daily{next: start.Add(6 * time.Hour)}
		r.Add(d)
		r.Start()
		defer r.Close()

		time.Sleep(5 * time.Hour)
		synctest.Wait()
		d.mu.Lock()
		n := len(d.ran)
		d.mu.Unlock()
		if n != 0 {
			t.Fatalf("ran %d times before the work was due", n)
		}
		time.Sleep(2*time.Hour + 24*time.Hour)
		synctest.Wait()
		d.mu.Lock()
		defer d.mu.Unlock()
		if len(d.ran) != 2 {
			t.Fatalf("ran %d times in 31h of sandbox time, want 2 (at 6h and 30h)", len(d.ran))
		}
	})
}

// An advance while the background loop waits runs the due work exactly once.
func TestAdvanceAndBackgroundLoopDoNotRunTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		c := New(time.Now, 0)
		r := NewRunner(c, nil)
		d := &daily{next: start.Add(6 * time.Hour)}
		r.Add(d)
		r.Start()
		defer r.Close()
		res, err := r.Advance(context.Background(), start.Add(10*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		rep := res.Report
		synctest.Wait()
		d.mu.Lock()
		defer d.mu.Unlock()
		if rep.Runs != 10 || len(d.ran) != 10 {
			t.Fatalf("advance reported %d runs, work ran %d times; want 10 and 10", rep.Runs, len(d.ran))
		}
	})
}
