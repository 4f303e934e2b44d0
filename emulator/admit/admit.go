// Package admit bounds how many goroutines run a surface's CPU work at once.
//
// Why: the store's single writer spends most of a commit in fdatasync. When the syscall
// returns, Go puts the writer's goroutine on the global run queue, which a busy P looks at
// once in 61 schedules; with 64 purchase POSTs runnable at once, each running a few hundred
// microseconds, the writer waited 2 ms or more per fsync (measured: 0.26 ms alone, 2.4 ms
// beside 64 busy goroutines, 0.42 ms when those go through a gate of 2), and every
// acknowledged checkout waits for the writer. A goroutine waiting for a slot is parked, not
// runnable, so the run queues stay short. A holder must leave its slot while it blocks (on
// the writer's commit, on an injected latency), or the gate would hold the work back too.
package admit

import (
	"context"
	"runtime"
)

// Gate admits up to its size of goroutines at once. A nil *Gate admits everyone.
type Gate struct{ slots chan struct{} }

// New returns a gate of n slots; n <= 0 means GOMAXPROCS.
func New(n int) *Gate {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return &Gate{slots: make(chan struct{}, n)}
}

// Enter waits for a slot.
func (g *Gate) Enter() {
	if g != nil {
		g.slots <- struct{}{}
	}
}

// EnterCtx waits for a slot unless ctx ends first; it reports whether it got one.
func (g *Gate) EnterCtx(ctx context.Context) bool {
	if g == nil {
		return true
	}
	select {
	case g.slots <- struct{}{}: // a free slot wins over an ended context
		return true
	default:
	}
	select {
	case g.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// Leave gives the slot back.
func (g *Gate) Leave() {
	if g != nil {
		<-g.slots
	}
}

// Outside runs wait, a call that blocks, without holding the caller's slot; the caller must
// hold one (From(ctx) is nil for a caller that does not).
func (g *Gate) Outside(wait func()) {
	g.Leave()
	defer g.Enter()
	wait()
}

type key struct{}

// With returns ctx carrying g, the gate its holder is in: code that blocks on the caller's
// behalf (the store's commit) leaves it while it waits.
func With(ctx context.Context, g *Gate) context.Context { return context.WithValue(ctx, key{}, g) }

// From returns the gate ctx carries, or nil.
func From(ctx context.Context) *Gate {
	g, _ := ctx.Value(key{}).(*Gate)
	return g
}
