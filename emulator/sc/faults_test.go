package sc_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/control"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox/sandboxtest"
)

func putFaults(t *testing.T, sb *sandbox.Sandbox, body any) sandboxtest.Response {
	t.Helper()
	return do(t, "PUT", sb.URL()+"/_sandbox/faults", body)
}

func checksOf(t *testing.T, sb *sandbox.Sandbox) map[string]og.Check {
	t.Helper()
	var rep control.ChecksReport
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/checks", nil).JSON(t, &rep)
	out := map[string]og.Check{}
	for _, c := range rep.Checks {
		out[c.Name+"/"+c.MerchantOrderID] = c
	}
	return out
}

func advance(t *testing.T, sb *sandbox.Sandbox, by string) {
	t.Helper()
	if r := do(t, "POST", sb.URL()+"/_sandbox/clock/advance", obj{"by": by}); r.Status != 200 {
		t.Fatalf("advance %s: %d %s", by, r.Status, r.Body)
	}
}

// rawPost posts with a client of the given timeout and reports the status, or 0 for no answer.
func rawPost(t *testing.T, sb *sandbox.Sandbox, body string, timeout time.Duration) int {
	t.Helper()
	req, _ := http.NewRequest("POST", sb.URL()+"/subscription/create", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth("cust-1"))
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "EOF") {
			return 0
		}
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// P8: a merchant that resends 3 times within 10 minutes after a 5xx, then once after 24 hours,
// passes; the journal shows every resend.
func TestP8_ResendsAfter5xx(t *testing.T) {
	sb := sandboxtest.Start(t)
	if r := putFaults(t, sb, obj{"surface": "sc", "status": 503, "count": 4}); r.Status != 200 {
		t.Fatalf("PUT faults: %d %s", r.Status, r.Body)
	}
	body := prefixed(purchase("P8-GOOD"))
	for i := range 4 {
		r := post(t, sb, body)
		if r.Status != 503 {
			t.Fatalf("attempt %d: %d, want the injected 503", i, r.Status)
		}
		// CONTROL.md: a diagnostic is {rule, field, message}, also the fault's.
		var ans struct{ Diagnostics []map[string]any }
		r.JSON(t, &ans)
		if len(ans.Diagnostics) != 1 || ans.Diagnostics[0]["rule"] != "P8" || ans.Diagnostics[0]["field"] != "request" {
			t.Fatalf("the injected 503's diagnostics: %s", r.Body)
		}
	}
	if c := checksOf(t, sb)["resend_after_5xx/P8-GOOD"]; c.Status != og.CheckPending || !strings.Contains(c.Message, "after 24 hours is still to come") {
		t.Fatalf("before the 24-hour resend: %+v", c)
	}
	advance(t, sb, "24h")
	if st := post(t, sb, body).Status; st != 201 {
		t.Fatalf("the 24-hour resend: %d", st)
	}
	c := checksOf(t, sb)["resend_after_5xx/P8-GOOD"]
	if c.Status != og.CheckPass {
		t.Fatalf("check %+v", c)
	}
	var page og.JournalPage
	do(t, "GET", sb.URL()+"/_sandbox/journal?surface=sc", nil).JSON(t, &page)
	if len(page.Entries) != 5 || !strings.Contains(page.Entries[4].Note, "fault injected: status 503") {
		t.Fatalf("journal: %d entries; oldest note %q", len(page.Entries), page.Entries[len(page.Entries)-1].Note)
	}
	var fb control.FaultsBody
	do(t, "GET", sb.URL()+"/_sandbox/faults", nil).JSON(t, &fb)
	if len(fb.Faults) != 1 || fb.Faults[0].Applied != 4 || *fb.Faults[0].Remaining != 0 {
		t.Fatalf("faults after use: %+v", fb.Faults)
	}
}

func TestP8_Violations(t *testing.T) {
	sb := sandboxtest.Start(t)
	// Too eager: a 5xx answered, then 4 resends at once.
	putFaults(t, sb, obj{"surface": "sc", "status": 500, "count": 5})
	for range 5 {
		post(t, sb, prefixed(purchase("P8-EAGER")))
	}
	// Resent an hour later: neither within 10 minutes nor after 24 hours.
	putFaults(t, sb, obj{"surface": "sc", "status": 502, "count": 1})
	post(t, sb, prefixed(purchase("P8-HOUR")))
	advance(t, sb, "1h")
	post(t, sb, prefixed(purchase("P8-HOUR")))
	// Resent after a 409 with the same merchant_order_id.
	putFaults(t, sb, []any{})
	for range 3 {
		post(t, sb, prefixed(purchase("P8-409")))
	}
	// Never resent: the window passes.
	putFaults(t, sb, obj{"surface": "sc", "status": 503, "count": 1})
	post(t, sb, prefixed(purchase("P8-NEVER")))
	advance(t, sb, "11m")
	// Three resends in time, then the last one days later: not the one P8 asks for, and the
	// verdict, once given, stays.
	putFaults(t, sb, obj{"surface": "sc", "status": 500, "count": 4})
	for range 4 {
		post(t, sb, prefixed(purchase("P8-DAYS")))
	}
	advance(t, sb, "49h")
	if c := checksOf(t, sb)["resend_after_5xx/P8-DAYS"]; c.Status != og.CheckFail || !strings.Contains(c.Message, "none in the day after the first 24 hours") {
		t.Errorf("no resend by 48 hours: %+v", c)
	}
	putFaults(t, sb, []any{})
	post(t, sb, prefixed(purchase("P8-DAYS")))
	// No resend within 10 minutes; the one a day later gets through, which does not make up
	// for the three left out.
	putFaults(t, sb, obj{"surface": "sc", "status": 503, "count": 1})
	post(t, sb, prefixed(purchase("P8-SKIP")))
	putFaults(t, sb, []any{})
	advance(t, sb, "25h")
	if st := post(t, sb, prefixed(purchase("P8-SKIP"))).Status; st != 201 {
		t.Fatalf("the day-late resend: %d", st)
	}

	checks := checksOf(t, sb)
	for key, want := range map[string]string{
		"resend_after_5xx/P8-EAGER":  "resent 4 times within 10 minutes",
		"resend_after_5xx/P8-HOUR":   "between the 10-minute retries and the 24-hour one",
		"no_resend_after_409/P8-409": "sent again 1 time(s) with the same id",
		"resend_after_5xx/P8-NEVER":  "resent 0 times within 10 minutes",
		"resend_after_5xx/P8-DAYS":   "comes the day after (by 48 hours)",
		"resend_after_5xx/P8-SKIP":   "resent 0 times within 10 minutes",
	} {
		c := checks[key]
		if c.Status != og.CheckFail || c.Rule != "P8" || !strings.Contains(c.Message, want) {
			t.Errorf("%s: %+v, want a fail saying %q", key, c, want)
		}
	}
	if c := checks["client_timeout_5s/"]; c.Status != og.CheckNotObserved {
		t.Errorf("timeout check without a delayed answer: %+v", c)
	}
}

// A dropped connection is a failure to resend after; a drop after processing makes the resend
// a 409, and the subscription exists once.
func TestFaultDropConnection(t *testing.T) {
	sb := sandboxtest.Start(t)
	putFaults(t, sb, obj{"surface": "sc", "drop": true, "count": 1})
	if st := rawPost(t, sb, prefixed(purchase("DROP-1")), 5*time.Second); st != 0 {
		t.Fatalf("dropped request answered %d", st)
	}
	if st := rawPost(t, sb, prefixed(purchase("DROP-1")), 5*time.Second); st != 201 {
		t.Fatalf("resend after a drop: %d", st)
	}
	putFaults(t, sb, obj{"surface": "sc", "drop": true, "after_processing": true, "count": 1})
	if st := rawPost(t, sb, prefixed(purchase("DROP-2")), 5*time.Second); st != 0 {
		t.Fatalf("dropped request answered %d", st)
	}
	if st := rawPost(t, sb, prefixed(purchase("DROP-2")), 5*time.Second); st != 409 {
		t.Fatalf("resend after a drop after processing: %d, want 409", st)
	}
	checks := checksOf(t, sb)
	if c := checks["resend_after_5xx/DROP-1"]; c.Status != og.CheckPass || !strings.Contains(c.Message, "no answer") {
		t.Fatalf("drop check: %+v", c)
	}
	var page og.JournalPage
	do(t, "GET", sb.URL()+"/_sandbox/journal?surface=sc&order=asc", nil).JSON(t, &page)
	if page.Entries[0].Status != 0 || !strings.Contains(page.Entries[0].Note, "connection dropped") {
		t.Fatalf("journal of a dropped request: %+v", page.Entries[0])
	}
	// The drop after processing is journaled as the fault, beside how the body was read.
	if e := page.Entries[2]; e.Status != 0 || !strings.Contains(e.Note, "after processing") || !strings.Contains(e.Note, "body read as") {
		t.Fatalf("journal of a request dropped after processing: %+v", e)
	}
}

// A status after processing is a gateway failing once the checkout was stored: the merchant
// sees a 5xx, its resend is answered 409 with the first request's ids (P6), and the checks
// find nothing wrong with a merchant that resent once and stopped at the 409 (P8).
func TestFaultStatusAfterProcessing(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t)
	if r := putFaults(t, sb, obj{"surface": "sc", "status": 502, "after_processing": true, "count": 1}); r.Status != 200 {
		t.Fatalf("PUT faults: %d %s", r.Status, r.Body)
	}
	body := prefixed(purchase("GW-502"))
	if r := post(t, sb, body); r.Status != 502 || !strings.Contains(string(r.Body), "status 502 after processing") {
		t.Fatalf("the request processed, then failed: %d %s", r.Status, r.Body)
	}
	r := post(t, sb, body)
	var ans struct{ Customer, Payment string }
	r.JSON(t, &ans)
	if r.Status != 409 || ans.Customer != "cust-1" || ans.Payment == "" {
		t.Fatalf("the resend: %d %s, want a 409 with the first request's ids", r.Status, r.Body)
	}
	var subs []map[string]any
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/subscriptions", nil).JSON(t, &subs)
	if len(subs) != 1 {
		t.Fatalf("%d subscriptions, want the one the failed answer hid", len(subs))
	}
	checks := checksOf(t, sb)
	if c := checks["resend_after_5xx/GW-502"]; c.Status != og.CheckPass {
		t.Errorf("resend after the 502: %+v", c)
	}
	if c := checks["no_resend_after_409/GW-502"]; c.Status != og.CheckPass {
		t.Errorf("no resend after the 409: %+v", c)
	}
	var page og.JournalPage
	do(t, "GET", sb.URL()+"/_sandbox/journal?surface=sc&order=asc", nil).JSON(t, &page)
	if e := page.Entries[0]; e.Status != 502 || !strings.Contains(e.Note, "processed (201), then answered 502 instead") {
		t.Fatalf("journal of the request answered 502 after processing: %+v", e)
	}
}

// P8: a client that gives up after 5 seconds passes; one that waits longer fails. The answer
// is delayed past the timeout; the request itself is processed.
func TestP8_ClientTimeout(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t)
	putFaults(t, sb, obj{"surface": "sc", "latency": "5200ms", "count": 2})
	start := time.Now()
	if st := rawPost(t, sb, prefixed(purchase("SLOW-GAVE-UP")), 300*time.Millisecond); st != 0 {
		t.Fatalf("a 300ms client got an answer: %d", st)
	}
	if st := rawPost(t, sb, prefixed(purchase("SLOW-WAITED")), 30*time.Second); st != 201 || time.Since(start) < 5*time.Second {
		t.Fatalf("a patient client: %d after %v", st, time.Since(start))
	}
	checks := checksOf(t, sb)
	if c := checks["client_timeout_5s/SLOW-GAVE-UP"]; c.Status != og.CheckPass {
		t.Errorf("client that gave up: %+v", c)
	}
	if c := checks["client_timeout_5s/SLOW-WAITED"]; c.Status != og.CheckFail || !strings.Contains(c.Message, "give up after 5 seconds") {
		t.Errorf("client that waited: %+v", c)
	}
	// The delayed request was processed: its resend is a 409.
	if st := rawPost(t, sb, prefixed(purchase("SLOW-GAVE-UP")), 5*time.Second); st != 409 {
		t.Errorf("resend of a processed, late request: %d, want 409", st)
	}
}

func TestFaultRules(t *testing.T) {
	sb := sandboxtest.Start(t)
	for _, tc := range []struct {
		body  string
		field string
	}{
		{`{"surface":"mail","status":503}`, "surface"},
		{`{"surface":"sc","status":99}`, "status"},
		{`{"surface":"sc","status":201}`, "status"},
		{`{"surface":"sc","status":302}`, "status"},
		{`{"surface":"sc","status":202}`, "status"},
		{`{"surface":"sc","latency":"forever"}`, "latency"},
		{`{"surface":"sc","latency":"10m"}`, "latency"},
		{`{"surface":"sc","status":503,"count":-1}`, "count"},
		{`{"surface":"sc","status":503,"ratio":2}`, "ratio"},
		{`{"surface":"sc"}`, "status"},
		{`{"surface":"sc","status":503,"drop":true}`, "drop"},
		{`{"surface":"sc","latency":"6s","after_processing":true}`, "after_processing"},
		{`{"surface":"sc","status":202,"path":"/subscription/*/response","after_processing":true}`, "after_processing"},
		{`{"surface":"api","status":503}`, "surface"},    // not served: the fault would never apply
		{`{"surface":"static","status":503}`, "surface"}, // nor here
		{`{"surface":"sc","status":503,"path":"["}`, "path"},
		{`{"surface":"sc","status":503,"path":"subscription/create"}`, "path"},
		{`{"surface":"sc","status":202,"path":"/subscription/create"}`, "status"},
		{`{"surface":"sc","status":202,"path":"/subscription/nothex/response"}`, "status"},
		{`{"surface":"sc","status":202,"path":"/subscription/zz*/response"}`, "status"},
		{`[{"surface":"sc","status":503},{"surface":"x","status":503}]`, "faults[1].surface"},
		{`{"surface":"sc","status":503,"path":"*"}`, "path"},              // '*' never takes in a '/'
		{`{"surface":"sc","status":503,"path":"*/create"}`, "path"},       // nor here
		{`{"surface":"sc","status":503,"path":"/subscriptions"}`, "path"}, // no such path on sc
		{`{"surface":"sc","latency":"0s"}`, "latency"},                    // does nothing, and hides later rules
	} {
		r := putFaults(t, sb, tc.body)
		if r.Status != 400 || !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`) || !strings.Contains(string(r.Body), "expected") {
			t.Errorf("PUT faults %s: %d %s", tc.body, r.Status, r.Body)
		}
	}
	// 202 (pending) goes on the response path: every request's, or one request's (P1).
	for _, p := range []string{"/subscription/*/response", "/subscription/0123456789abcdef01234567/response", "/subscription/*/response/", "/*/*/response",
		"/subscription/6b03*/response", "/subscription/*e5a1/response", "/subscription/6b03????????????????????/response"} {
		if r := putFaults(t, sb, obj{"surface": "sc", "status": 202, "path": p}); r.Status != 200 {
			t.Errorf("a 202 fault on %s: %d %s", p, r.Status, r.Body)
		}
	}
	if r := putFaults(t, sb, `{"surface":"sc","status":503,"colour":"red"}`); r.Status != 400 || !strings.Contains(string(r.Body), "unknown field") {
		t.Errorf("unknown field: %d %s", r.Status, r.Body)
	}
	// A ratio applies to about that share of requests; a path limits the fault.
	putFaults(t, sb, obj{"faults": []any{obj{"surface": "sc", "status": 503, "ratio": 0.5, "path": "/subscription/create"}}})
	failed := 0
	for i := range 40 {
		if post(t, sb, prefixed(purchase("RATIO-"+string(rune('A'+i))))).Status == 503 {
			failed++
		}
	}
	if failed < 8 || failed > 32 {
		t.Errorf("ratio 0.5 failed %d of 40 requests", failed)
	}
	if r := do(t, "DELETE", sb.URL()+"/_sandbox/faults", nil); r.Status != 200 || strings.Contains(string(r.Body), "503") {
		t.Errorf("DELETE faults: %d %s", r.Status, r.Body)
	}
	putFaults(t, sb, obj{"surface": "sc", "status": 503})
	do(t, "POST", sb.URL()+"/_sandbox/reset", nil)
	if st := post(t, sb, prefixed(purchase("AFTER-RESET"))).Status; st != 201 {
		t.Errorf("a fault survived reset: %d", st)
	}
}

// An injected latency ends when the sandbox shuts down: the answer goes out (the subscription
// was created, and the client hears of it) instead of being cut off with the connection, and
// the journal says why it came early — it does not blame the client for giving up.
func TestLatencyFaultEndsAtShutdownWithTheAnswer(t *testing.T) {
	dir := t.TempDir()
	sb := sandboxtest.StartIn(t, dir)
	putFaults(t, sb, obj{"surface": "sc", "latency": "5m", "count": 1})
	type answer struct {
		status int
		err    error
	}
	got := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("POST", sb.URL()+"/subscription/create", strings.NewReader(prefixed(purchase("LATE-AT-SHUTDOWN"))))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", auth("cust-1"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- answer{err: err}
			return
		}
		resp.Body.Close()
		got <- answer{status: resp.StatusCode}
	}()
	// Processed (the subscription exists), now waiting out the latency.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var subs []og.Subscription
		do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/subscriptions", nil).JSON(t, &subs)
		if len(subs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the request was not processed")
		}
	}
	start := time.Now()
	if err := sb.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if a := <-got; a.err != nil || a.status != 201 {
		t.Fatalf("answer at shutdown: %d %v", a.status, a.err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("shutdown took %s behind an injected latency", took)
	}
	sb = sandboxtest.StartIn(t, dir)
	var page og.JournalPage
	do(t, "GET", sb.URL()+"/_sandbox/journal?surface=sc&limit=10", nil).JSON(t, &page)
	found := false
	for _, e := range page.Entries {
		if e.Status == 201 && strings.Contains(e.Note, "cut short") && strings.Contains(e.Note, "shutting down") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no journal entry of the answer given at shutdown: %+v", page.Entries)
	}
}

// A body that stops arriving gets 408 with a P1 diagnostic once the body deadline passes,
// instead of holding the connection for ever (slowloris); the deadline ends with the body, so
// a request whose answer is slow (an injected latency longer than the deadline) still gets it.
func TestStalledBodyIsAnswered408(t *testing.T) {
	cfg := sandbox.TestConfig(t.TempDir())
	sb, err := sandbox.Start(t.Context(), cfg, sandbox.Options{BodyTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	// Several at once: each must get its 408, not be taken for a client that went away while
	// it waited for an admission slot (its read deadline ends its context).
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			conn, err := net.Dial("tcp", strings.TrimPrefix(sb.URL(), "http://"))
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			body := prefixed(purchase(fmt.Sprint("STALLED-", i)))
			fmt.Fprintf(conn, "POST /subscription/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n%s", auth("cust-1"), len(body), body[:10])
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Errorf("no answer to a stalled body: %v", err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 408 || !strings.Contains(string(b), `"rule":"P1"`) || !strings.Contains(string(b), "10 of "+fmt.Sprint(len(body))+" bytes") {
				t.Errorf("stalled body: %d %s", resp.StatusCode, b)
			}
		})
	}
	wg.Wait()

	putFaults(t, sb, obj{"surface": "sc", "latency": "1s", "count": 1})
	if st := rawPost(t, sb, prefixed(purchase("SLOW-ANSWER")), 5*time.Second); st != 201 {
		t.Fatalf("an answer slower than the body deadline: %d, want 201", st)
	}

	// A request without a body whose answer is slow gets it, and its connection stays usable.
	sub := decode(t, post(t, sb, prefixed(purchase("NO-BODY-SLOW")))).SubsReqID
	putFaults(t, sb, obj{"surface": "sc", "path": "/subscription/*/response", "status": 503, "latency": "1s", "count": 1})
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	for i, want := range []int{503, 200} {
		req, _ := http.NewRequest("GET", sb.URL()+"/subscription/"+sub+"/response", nil)
		req.Header.Set("Authorization", auth("cust-1"))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %d without a body, past the body deadline: %d, want %d", i, resp.StatusCode, want)
		}
	}

	// A body that keeps coming, slowly, is not cut off: the deadline is on silence, not on
	// the whole body.
	conn2, err := net.Dial("tcp", strings.TrimPrefix(sb.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	body := prefixed(purchase("SLOW-BUT-STEADY"))
	fmt.Fprintf(conn2, "POST /subscription/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n", auth("cust-1"), len(body))
	for i := 0; i < len(body); i += len(body)/8 + 1 {
		io.WriteString(conn2, body[i:min(i+len(body)/8+1, len(body))])
		time.Sleep(100 * time.Millisecond) // 800 ms in all, past the 500 ms deadline
	}
	conn2.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp2, err := http.ReadResponse(bufio.NewReader(conn2), nil)
	if err != nil || resp2.StatusCode != 201 {
		t.Fatalf("a slow but steady body: %v %v", resp2, err)
	}

	// A products PUT whose body stops arriving says what was ingested, and that it is not
	// complete.
	conn3, err := net.Dial("tcp", strings.TrimPrefix(sb.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn3.Close()
	products := `[{"product_id":"P1","sku":"P1","name":"One","price":"1.00","in_stock":1},{"product_id":"P2"`
	fmt.Fprintf(conn3, "PUT /_sandbox/merchants/%s/products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", demo.ID, len(products)+500, products)
	conn3.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp3, err := http.ReadResponse(bufio.NewReader(conn3), nil)
	if err != nil {
		t.Fatal(err)
	}
	b3, _ := io.ReadAll(resp3.Body)
	if resp3.StatusCode != 408 || !strings.Contains(string(b3), `"complete":false`) || !strings.Contains(string(b3), "stopped arriving") {
		t.Fatalf("a products PUT that stalls: %d %s", resp3.StatusCode, b3)
	}
}

// P6/P8 through the surface: a double submit whose duplicates arrive before the first request
// is answered is not a resend after a 409, even when a 409 was answered meanwhile; a send after
// the answers is.
func TestP8_DoubleSubmitIsNotAResendAfter409(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t)
	putFaults(t, sb, obj{"surface": "sc", "latency": "400ms", "count": 1}) // a triple click: the first answer is slow
	body := prefixed(purchase("DOUBLE"))
	statuses := make(chan int, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 100 * time.Millisecond)
			req, _ := http.NewRequest("POST", sb.URL()+"/subscription/create", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", auth("cust-1"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	var got []int
	for s := range statuses {
		got = append(got, s)
	}
	slices.Sort(got)
	if fmt.Sprint(got) != "[201 409 409]" {
		t.Fatalf("statuses %v", got)
	}
	if c := checksOf(t, sb)["no_resend_after_409/DOUBLE"]; c.Status != og.CheckPass || !strings.Contains(c.Message, "double submit") {
		t.Fatalf("a double submit: %+v", c)
	}
	if st := rawPost(t, sb, body, 5*time.Second); st != 409 {
		t.Fatalf("a resend: %d", st)
	}
	if c := checksOf(t, sb)["no_resend_after_409/DOUBLE"]; c.Status != og.CheckFail {
		t.Fatalf("a resend after the 409s were answered: %+v", c)
	}
}

// P8 through the surface: requests sent together but read only after the first answer (a busy
// sandbox reads them late) are a double submit when they came on connections opened before
// that answer; one sent again on the 409's own connection is a resend. Here the late read is
// made certain by sending the second request's headers in two parts, the last after the first
// answer.
func TestP8_ReadLateOnAnOlderConnectionIsADoubleSubmit(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t)
	body := prefixed(purchase("LATE-READ"))
	head := fmt.Sprintf("POST /subscription/create HTTP/1.1\r\nHost: sandbox\r\nContent-Type: application/json\r\nAuthorization: %s\r\n", auth("cust-1"))
	rest := fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
	type client struct {
		conn net.Conn
		br   *bufio.Reader
	}
	send := func(c client, what string) int {
		t.Helper()
		if _, err := io.WriteString(c.conn, what); err != nil {
			t.Fatal(err)
		}
		c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// Two duplicates begin on their own connections before the first request is answered.
	var dup [2]client
	for i := range dup {
		conn, err := net.Dial("tcp", strings.TrimPrefix(sb.URL(), "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		dup[i] = client{conn, bufio.NewReader(conn)}
	}
	time.Sleep(50 * time.Millisecond) // the connections are accepted before the first answer
	if st := rawPost(t, sb, body, 5*time.Second); st != 201 {
		t.Fatalf("the first request: %d", st)
	}
	for i, c := range dup {
		if st := send(c, rest); st != 409 {
			t.Fatalf("duplicate %d, read late: %d", i, st)
		}
	}
	if c := checksOf(t, sb)["no_resend_after_409/LATE-READ"]; c.Status != og.CheckPass || !strings.Contains(c.Message, "2 request(s) with it arrived before its first request was answered, or within 1s of that answer on a connection opened before it") {
		t.Fatalf("duplicates read after the first answer, on older connections: %+v", c)
	}
	if st := send(dup[0], head+rest); st != 409 {
		t.Fatalf("the resend: %d", st)
	}
	if c := checksOf(t, sb)["no_resend_after_409/LATE-READ"]; c.Status != og.CheckFail || !strings.Contains(c.Message, "sent again 1 time(s)") {
		t.Fatalf("a resend on the 409's connection: %+v", c)
	}
}
