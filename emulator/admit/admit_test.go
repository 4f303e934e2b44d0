package admit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGateBoundsHoldersAndOutsideLeaves(t *testing.T) {
	g := New(2)
	var in, most atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			g.Enter()
			defer g.Leave()
			n := in.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(time.Millisecond)
			in.Add(-1)
		})
	}
	wg.Wait()
	if most.Load() != 2 {
		t.Fatalf("%d holders at once, want 2", most.Load())
	}

	// Two holders block outside their slots: a third gets in meanwhile.
	release := make(chan struct{})
	for range 2 {
		go func() {
			g.Enter()
			defer g.Leave()
			g.Outside(func() { <-release })
		}()
	}
	entered := make(chan struct{})
	go func() { g.Enter(); close(entered); g.Leave() }()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("a holder blocked in Outside kept its slot")
	}
	close(release)
}

func TestNilGateAdmitsEveryone(t *testing.T) {
	var g *Gate
	g.Enter()
	g.Enter()
	g.Outside(func() {})
	g.Leave()
	if From(context.Background()) != nil || From(With(context.Background(), New(1))) == nil {
		t.Fatal("With/From do not carry the gate")
	}
}

// A request whose client has gone while it waited for a slot is not admitted.
func TestEnterCtxGivesUpWithItsContext(t *testing.T) {
	g := New(1)
	g.Enter()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan bool)
	go func() { got <- g.EnterCtx(ctx) }()
	cancel()
	if <-got {
		t.Fatal("admitted after its context ended, with the only slot held")
	}
	g.Leave()
	if !g.EnterCtx(context.Background()) {
		t.Fatal("not admitted to a free slot")
	}
}
