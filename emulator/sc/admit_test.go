package sc_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox/sandboxtest"
)

// Admission slots (package admit), found in review: only a purchase POST holds one, it leaves
// it while it waits, and it writes its answer after leaving it.

// A latency injected on GET /subscription/{id}/response, on an otherwise idle sandbox: the
// answer comes after the latency (the GET holds no slot, so it has none to leave).
func TestLatencyFaultOnTheResponseEndsOnAnIdleSandbox(t *testing.T) {
	sb := sandboxtest.Start(t)
	sub := decode(t, post(t, sb, prefixed(purchase("R-1")))).SubsReqID
	putFaults(t, sb, obj{"surface": "sc", "path": "/subscription/*/response", "latency": "200ms", "count": 1})
	req, _ := http.NewRequest("GET", sb.URL()+"/subscription/"+sub+"/response", nil)
	req.Header.Set("Authorization", auth("cust-1"))
	start := time.Now()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET response with a 200ms latency: %v after %s", err, time.Since(start))
	}
	resp.Body.Close()
}

// A latency on GET .../response does not delay purchase POSTs.
func TestLatencyFaultOnTheResponseDoesNotDelayPurchases(t *testing.T) {
	sb := sandboxtest.Start(t)
	sub := decode(t, post(t, sb, prefixed(purchase("R-2")))).SubsReqID
	putFaults(t, sb, obj{"surface": "sc", "path": "/subscription/*/response", "latency": "3s", "count": 1})
	go func() {
		req, _ := http.NewRequest("GET", sb.URL()+"/subscription/"+sub+"/response", nil)
		req.Header.Set("Authorization", auth("cust-1"))
		if resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	if st := rawPost(t, sb, prefixed(purchase("R-3")), 10*time.Second); st != 201 {
		t.Fatalf("purchase: %d", st)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("a purchase POST beside a GET waiting out its latency took %s", took)
	}
}

// Clients that do not read a large answer (a 400 listing every bad product of a ~1 MB body)
// hold no admission slot while the server writes to them: other purchase POSTs go on.
func TestUnreadAnswersHoldNoAdmissionSlot(t *testing.T) {
	sb := sandboxtest.Start(t)
	raw := badProducts("BIG", "X", 45000)
	for range runtime.GOMAXPROCS(0) + 1 { // one more than the slots
		c, err := net.Dial("tcp", strings.TrimPrefix(sb.URL(), "http://"))
		if err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).SetReadBuffer(4096)
		defer c.Close()
		fmt.Fprintf(c, "POST /subscription/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n", auth("cust-1"), len(raw))
		c.Write(raw)
	}
	time.Sleep(2 * time.Second)
	start := time.Now()
	st := rawPost(t, sb, prefixed(purchase("SMALL")), 5*time.Second)
	if st != 201 {
		t.Fatalf("a purchase beside clients not reading their answers: status %d after %s", st, time.Since(start))
	}
}

// Requests waiting out an injected latency do not hold the slots that bound how many purchase
// POSTs work at once (package admit): with every slot's worth of them waiting, and one more,
// another checkout is still answered at once.
func TestLatencyFaultLeavesItsAdmissionSlot(t *testing.T) {
	sb := sandboxtest.Start(t)
	waiting := runtime.GOMAXPROCS(0) + 1
	putFaults(t, sb, obj{"surface": "sc", "latency": "5m", "count": waiting})
	for i := range waiting {
		go func() {
			req, _ := http.NewRequest("POST", sb.URL()+"/subscription/create", strings.NewReader(prefixed(purchase(fmt.Sprintf("SLOW-%d", i)))))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", auth("cust-1"))
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var subs []og.Subscription
		do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/subscriptions", nil).JSON(t, &subs)
		if len(subs) >= waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d slow checkouts processed", len(subs), waiting)
		}
	}
	start := time.Now()
	if status := rawPost(t, sb, prefixed(purchase("FAST-1")), 5*time.Second); status != http.StatusCreated {
		t.Fatalf("a checkout beside %d waiting out a latency: %d", waiting, status)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("a checkout beside %d waiting out a latency took %s", waiting, took)
	}
}

// X5: the journal keeps an exchange's first diagnostics, as it keeps a body's first 64 KiB,
// and says how many the answer had: a body of thousands of bad products is journaled, not
// refused as an entry too large (found by a probe: 60,000 made a 21 MB entry).
func TestJournalKeepsTheFirstDiagnosticsOfALargeAnswer(t *testing.T) {
	sb := sandboxtest.Start(t)
	resp := post(t, sb, string(badProducts("MANY-BAD", "NOPE-", 3000)))
	var answer struct {
		Diagnostics []og.Diagnostic `json:"diagnostics"`
	}
	resp.JSON(t, &answer)
	if resp.Status != 400 || len(answer.Diagnostics) < 3000 {
		t.Fatalf("answer: %d with %d diagnostics", resp.Status, len(answer.Diagnostics))
	}
	var page og.JournalPage
	do(t, "GET", sb.URL()+"/_sandbox/journal?surface=sc&limit=1", nil).JSON(t, &page)
	if len(page.Entries) != 1 || page.Entries[0].Status != 400 {
		t.Fatalf("journal: %+v", page.Entries)
	}
	e := page.Entries[0]
	if len(e.Diags) != 200 || len(e.Rules) == 0 || !strings.Contains(e.Note, fmt.Sprintf("first 200 of the answer's %d diagnostics", len(answer.Diagnostics))) {
		t.Fatalf("journaled %d diagnostics, rules %v, note %q", len(e.Diags), e.Rules, e.Note)
	}
}

// badProducts is a purchase body of n products not in the catalogue, named prefix + index.
func badProducts(orderID, prefix string, n int) []byte {
	p := purchase(orderID)
	products := make([]any, n)
	for i := range products {
		products[i] = obj{"product": fmt.Sprint(prefix, i)}
	}
	p["products"] = products
	raw, _ := json.Marshal(p)
	return raw
}
