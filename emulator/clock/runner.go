package clock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// maxSteps bounds one advance: a century of hourly placement runs is under a million steps.
const maxSteps = 1_000_000

// Runner runs scheduled work on the sandbox clock. In the background it runs work as its due
// time arrives in sandbox time (which passes at the wall clock's rate); Advance moves the
// clock forward and runs, in order, every piece of work that falls due on the way, returning
// only when all of it has finished. Background runs and advances never overlap.
type Runner struct {
	clock *Clock
	log   *slog.Logger

	runMu sync.Mutex // held while work runs: one run at a time, in time order
	mu    sync.Mutex
	work  []og.Work

	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	started bool
}

// NewRunner returns a runner on c; log receives background failures (nil discards them).
func NewRunner(c *Clock, log *slog.Logger) *Runner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{clock: c, log: log, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// Add registers work. The scheduler and the feed poller register here.
func (r *Runner) Add(w og.Work) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.work = append(r.work, w)
	r.Wake()
}

// Wake tells the background loop that some work's next due time may have changed (a new
// subscription, an order moved by send_now).
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Runner) works() []og.Work {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]og.Work(nil), r.work...)
}

// next returns the earliest due time over all work.
func (r *Runner) next(ctx context.Context) (time.Time, bool, error) {
	var best time.Time
	found := false
	for _, w := range r.works() {
		t, ok, err := w.NextDue(ctx)
		if err != nil {
			return time.Time{}, false, err
		}
		if ok && (!found || t.Before(best)) {
			best, found = t, true
		}
	}
	return best, found, nil
}

// runDue runs every work that is due at now. Called with runMu held.
func (r *Runner) runDue(ctx context.Context, now time.Time) (og.RunReport, error) {
	var total og.RunReport
	for _, w := range r.works() {
		t, ok, err := w.NextDue(ctx)
		if err != nil {
			return total, err
		}
		if !ok || t.After(now) {
			continue
		}
		rep, err := w.RunDue(ctx, now)
		total.Add(rep)
		if err != nil {
			return total, err
		}
		if t2, ok2, err := w.NextDue(ctx); err == nil && ok2 && !t2.After(now) {
			return total, fmt.Errorf("scheduled work %T is still due at %s after running: it made no progress", w, now.Format(time.RFC3339))
		}
	}
	return total, nil
}

// Advanced is the outcome of an advance: where the clock was when it began, where it ended
// and what the scheduled work did on the way.
type Advanced struct {
	From, To time.Time
	Report   og.RunReport
}

// Advance moves the clock to `to`, stopping at each due time on the way to run the work due
// then, and returns when all of it has finished. It refuses a `to` earlier than now. On error
// the clock stays where the failing run happened and the report covers the runs before it.
func (r *Runner) Advance(ctx context.Context, to time.Time) (Advanced, error) {
	return r.advance(ctx, func(time.Time) time.Time { return to })
}

// AdvanceBy moves the clock forward by sp from wherever it is when the advance begins (after
// any advance already running has finished), as Advance does.
func (r *Runner) AdvanceBy(ctx context.Context, sp Span) (Advanced, error) {
	return r.advance(ctx, sp.AddTo)
}

func (r *Runner) advance(ctx context.Context, target func(now time.Time) time.Time) (Advanced, error) {
	r.runMu.Lock()
	defer r.runMu.Unlock()
	from := r.clock.Now()
	to := target(from)
	res := Advanced{From: from, To: from}
	if to.Before(from) {
		return res, &BackwardsError{Now: from, To: to}
	}
	if to.Sub(from) > maxAdvance {
		return res, &TooFarError{Now: from, To: to}
	}
	for step := 0; ; step++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if step >= maxSteps {
			return res, fmt.Errorf("advance stopped after %d runs of scheduled work at %s", maxSteps, r.clock.Now().Format(time.RFC3339))
		}
		due, ok, err := r.next(ctx)
		if err != nil {
			return res, err
		}
		if !ok || due.After(to) {
			break
		}
		if err := r.clock.moveTo(due); err != nil {
			return res, err
		}
		rep, err := r.runDue(ctx, r.clock.Now())
		res.Report.Add(rep)
		res.To = r.clock.Now()
		if err != nil {
			return res, err
		}
	}
	if err := r.clock.moveTo(to); err != nil {
		return res, err
	}
	res.To = r.clock.Now()
	return res, nil
}

// Start runs the background loop until Close.
func (r *Runner) Start() {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return
	}
	r.started = true
	r.mu.Unlock()
	go r.loop()
}

// idleRecheck bounds how long the loop waits without looking again, so that a wall clock
// that jumps is noticed.
const idleRecheck = time.Minute

func (r *Runner) loop() {
	defer close(r.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-r.stop
		cancel()
	}()
	for {
		wait := idleRecheck
		r.runMu.Lock()
		// Read before unlocking: an advance right after would otherwise close a channel this
		// loop never saw, and work due just past it would wait out idleRecheck.
		changed := r.clock.Changed()
		now := r.clock.Now()
		_, err := r.runDue(ctx, now)
		if err == nil {
			var due time.Time
			var ok bool
			due, ok, err = r.next(ctx)
			if ok && err == nil {
				wait = min(max(due.Sub(r.clock.Now()), 0), idleRecheck)
			}
		}
		r.runMu.Unlock()
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return
			}
			r.log.Error("scheduled work failed; retrying in 1s", "err", err)
			wait = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-r.stop:
			t.Stop()
			return
		case <-t.C:
		case <-r.wake:
		case <-changed:
		}
		t.Stop()
	}
}

// Close stops the background loop and waits for a run in progress to finish.
func (r *Runner) Close() {
	r.mu.Lock()
	started := r.started
	r.mu.Unlock()
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	if started {
		<-r.done
	}
}
