package sandbox

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// blocking is work due at once that runs until released.
type blocking struct {
	started, release chan struct{}
	done             bool
}

func (b *blocking) NextDue(context.Context) (time.Time, bool, error) {
	if b.done {
		return time.Time{}, false, nil
	}
	return time.Time{}, true, nil
}

func (b *blocking) RunDue(ctx context.Context, now time.Time) (og.RunReport, error) {
	close(b.started)
	<-b.release
	b.done = true
	rep := og.RunReport{Runs: 1}
	for id := range int64(3) {
		rep.Order("m", id, og.OutcomePlaced)
	}
	return rep, nil
}

// SIGINT/SIGTERM (Close) finish the requests in flight before the database closes.
func TestCloseFinishesInFlightRequests(t *testing.T) {
	sb, err := Start(t.Context(), TestConfig(t.TempDir()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := &blocking{started: make(chan struct{}), release: make(chan struct{})}
	// The background loop would run the work at once; keep it for the advance below.
	sb.runner.Close()
	sb.runner.Add(w)

	type answer struct {
		status int
		body   string
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Post(sb.URL()+"/_sandbox/clock/advance", "application/json", strings.NewReader(`{"by":"1h"}`))
		if err != nil {
			got <- answer{body: err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- answer{resp.StatusCode, string(b)}
	}()
	select {
	case <-w.started:
	case a := <-got:
		t.Fatalf("the advance answered before its work ran: %d %s", a.status, a.body)
	}

	closed := make(chan error, 1)
	go func() { closed <- sb.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while a request was in flight")
	case <-time.After(100 * time.Millisecond):
	}
	if r, err := http.Get(sb.URL() + "/_sandbox/health"); err == nil {
		r.Body.Close()
		t.Fatal("a new request was accepted during shutdown")
	}
	close(w.release)
	a := <-got
	if a.status != 200 || !strings.Contains(a.body, `"placed":3`) {
		t.Fatalf("in-flight advance answered %d %s", a.status, a.body)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// cancellable is work due at once that runs until the sandbox's lifetime ends.
type cancellable struct{ started chan struct{} }

func (w *cancellable) NextDue(context.Context) (time.Time, bool, error) {
	return time.Time{}, true, nil
}

func (w *cancellable) RunDue(ctx context.Context, now time.Time) (og.RunReport, error) {
	close(w.started)
	<-ctx.Done()
	return og.RunReport{}, ctx.Err()
}

// A long advance cancelled because the sandbox is stopping answers 503 saying so: it is no
// failure of scheduled work to look for in the log.
func TestAdvanceCancelledAtShutdownSaysSo(t *testing.T) {
	sb, err := Start(t.Context(), TestConfig(t.TempDir()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	w := &cancellable{started: make(chan struct{})}
	sb.runner.Close()
	sb.runner.Add(w)
	got := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Post(sb.URL()+"/_sandbox/clock/advance", "application/json", strings.NewReader(`{"by":"100y"}`))
		if err != nil {
			t.Error(err)
		}
		got <- resp
	}()
	<-w.started
	sb.cancel() // what Close does once WorkGrace has passed
	resp := <-got
	if resp == nil {
		t.FailNow()
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "shutting down") {
		t.Fatalf("a cancelled advance answered %d %s", resp.StatusCode, b)
	}
}
