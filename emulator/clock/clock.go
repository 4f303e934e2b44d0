// Package clock is the sandbox clock: real time plus an offset that only grows, persisted
// so that it survives a restart, and the runner that makes time pass on demand.
//
// Nothing outside this package reads the wall clock or sleeps. Every schedule of
// Ordergroove's (placement hours O1, reminders and price lock O7, feed pickup F1) reads
// Clock.Now. Exactly one check uses wall time, Clock.Wall: signature freshness (A3),
// because merchants sign with real clocks.
package clock

import (
	"fmt"
	"sync"
	"time"
)

// Clock tells sandbox time: wall time plus an offset. Advancing it grows the offset; it never
// moves backwards, and Now never returns a time earlier than one it returned before (even
// if the wall clock steps back). It is safe for concurrent use.
type Clock struct {
	wall func() time.Time

	mu      sync.Mutex
	offset  time.Duration
	last    time.Time
	save    func(offset time.Duration) error
	changed chan struct{}
}

// New returns a clock reading wall (time.Now when nil) plus offset.
func New(wall func() time.Time, offset time.Duration) *Clock {
	if wall == nil {
		wall = time.Now
	}
	return &Clock{wall: wall, offset: offset, changed: make(chan struct{})}
}

// WallNow returns real time. It is for the command line's signing tools, which sign as a
// merchant's server does: with a real clock (A3).
func WallNow() time.Time { return time.Now().UTC().Round(0) }

// OffsetFor returns the offset that makes the clock read start now.
func OffsetFor(wall func() time.Time, start time.Time) time.Duration {
	if wall == nil {
		wall = time.Now
	}
	return start.Sub(wall())
}

// Restore sets the offset read back from storage. It is for start-up, before the clock is
// shared; afterwards the clock only moves forward, through the runner.
func (c *Clock) Restore(offset time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = offset
	c.last = time.Time{}
}

// Persist makes every later move of the clock call save with the new offset before it takes
// effect; a move whose save fails does not happen.
func (c *Clock) Persist(save func(offset time.Duration) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.save = save
}

// Now returns sandbox time, in UTC, at microsecond precision.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *Clock) nowLocked() time.Time {
	t := c.wall().Add(c.offset).UTC().Truncate(time.Microsecond)
	if t.Before(c.last) {
		return c.last
	}
	c.last = t
	return t
}

// Wall returns real time, in UTC. Only signature freshness (A3) uses it.
func (c *Clock) Wall() time.Time { return c.wall().UTC().Round(0) }

// Offset returns how far sandbox time is ahead of wall time.
func (c *Clock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

// Changed returns a channel closed at the next move of the clock.
func (c *Clock) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// BackwardsError is the refusal of a move to a time before now.
type BackwardsError struct{ Now, To time.Time }

func (e *BackwardsError) Error() string {
	return fmt.Sprintf("the sandbox clock only moves forward: it reads %s and %s is %s earlier",
		e.Now.Format(time.RFC3339), e.To.Format(time.RFC3339), Format(e.Now.Sub(e.To)))
}

// TooFarError is the refusal of a move further than one advance may go.
type TooFarError struct{ Now, To time.Time }

func (e *TooFarError) Error() string {
	return fmt.Sprintf("%s is %s after the sandbox clock's %s: one advance moves at most 100 years",
		e.To.Format(time.RFC3339), Format(e.To.Sub(e.Now)), e.Now.Format(time.RFC3339))
}

// maxAdvance bounds one advance: 100 calendar years, leap days included.
const maxAdvance = 36525 * 24 * time.Hour

// maxOffset bounds how far sandbox time may run ahead of the wall, well inside what a
// time.Duration holds (292 years).
const maxOffset = 200 * 365 * 24 * time.Hour

// moveTo moves the clock forward to t; a t at or before now (the clock passes at the wall's
// rate, so a target computed a moment ago may already be behind) leaves it where it is.
//
// Only the runner calls it, one move at a time, so the offset cannot change between computing
// it and applying it. The save runs without holding mu: Now is read by every request and by
// storage inside its transactions, and must never wait on an fsync.
func (c *Clock) moveTo(t time.Time) error {
	c.mu.Lock()
	now := c.nowLocked()
	if !t.After(now) {
		c.mu.Unlock()
		return nil
	}
	if t.Sub(now) > maxAdvance || c.offset+t.Sub(now) > maxOffset {
		c.mu.Unlock()
		return &TooFarError{Now: now, To: t}
	}
	off := c.offset + t.Sub(now)
	save := c.save
	c.mu.Unlock()
	if save != nil {
		if err := save(off); err != nil {
			return fmt.Errorf("persist the clock offset: %w", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = off
	if l := t.UTC().Truncate(time.Microsecond); l.After(c.last) {
		c.last = l
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return nil
}
