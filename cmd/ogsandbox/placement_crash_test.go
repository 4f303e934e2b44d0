package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/config"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
)

// Issue 4, exactly once: the sandbox is SIGKILLed while an order's POST is in flight. After a
// restart the unanswered attempt counts as no answer (O6a); the order is resent at the next run
// with the same orderOgId, and is placed once. No order is lost.
func TestBinaryPlacesAnOrderExactlyOnceAcrossSIGKILL(t *testing.T) {
	first, release := make(chan struct{}), make(chan struct{})
	merchantLog, merchant := newOrderLog(func(w http.ResponseWriter, id string) {
		close(first)
		<-release // hold the first POST open: the sandbox dies waiting for it
	})
	defer merchant.Close()
	defer close(release) // before Close, which waits for the held connection

	orders := crashMidPlacement(t, merchant.URL, first)
	placed, seen := placedOrders(orders), merchantLog.ids()
	if len(seen) != 2 || seen[0] != seen[1] {
		t.Fatalf("the merchant saw orders %v: want the same orderOgId twice (the resend)", seen)
	}
	if len(placed) != 1 || placed[0].MerchantOrderID != "M-"+seen[0] || len(placed[0].Attempts) != 2 ||
		!strings.Contains(placed[0].Attempts[0].Decision, "stopped") || placed[0].Attempts[0].Rule != "O6a" {
		t.Fatalf("orders after the crash: %+v", orders)
	}
}

// Issue 4, exactly once, the other window: the merchant has answered SUCCESS and the sandbox is
// SIGKILLed at once, before or after the decision behind the answer is committed. Either the
// decision survived (one POST, placed) or the attempt counts as unanswered and the order is
// resent with the same orderOgId (two POSTs, placed once, the first attempt O6a). Never lost,
// never placed twice, every POST in the ledger.
func TestBinaryPlacesAnOrderExactlyOnceWhenKilledAfterTheAnswer(t *testing.T) {
	answered := make(chan struct{})
	merchantLog, merchant := newOrderLog(func(w http.ResponseWriter, id string) {
		answerSuccess(w, id)
		w.(http.Flusher).Flush()
		close(answered) // the answer is on its way: kill now
	})
	defer merchant.Close()

	orders := crashMidPlacement(t, merchant.URL, answered)
	placed, seen := placedOrders(orders), merchantLog.ids()
	if len(seen) == 0 || len(seen) > 2 || seen[len(seen)-1] != seen[0] {
		t.Fatalf("the merchant saw orders %v: want one orderOgId, once or resent once", seen)
	}
	if len(placed) != 1 || placed[0].MerchantOrderID != "M-"+seen[0] || len(placed[0].Attempts) != len(seen) {
		t.Fatalf("%d POSTs; orders after the crash: %+v", len(seen), orders)
	}
	if len(seen) == 2 && placed[0].Attempts[0].Rule != "O6a" {
		t.Fatalf("the answer was lost with the crash, but the first attempt reads %+v", placed[0].Attempts[0])
	}
	t.Logf("%d POST(s): the decision %s the crash", len(seen), map[bool]string{true: "survived", false: "did not survive"}[len(seen) == 1])
}

// orderLog is a merchant endpoint that records the orderOgId of every order POSTed to it and
// answers SUCCESS with orderId M-<orderOgId>; the first POST goes to first instead.
type orderLog struct {
	mu   sync.Mutex
	seen []string
}

var orderOgID = regexp.MustCompile(`<orderOgId>(\d+)</orderOgId>`)

func newOrderLog(first func(w http.ResponseWriter, id string)) (*orderLog, *httptest.Server) {
	l := &orderLog{}
	return l, httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		id := orderOgID.FindStringSubmatch(string(b))[1]
		l.mu.Lock()
		l.seen = append(l.seen, id)
		n := len(l.seen)
		l.mu.Unlock()
		if n == 1 {
			first(w, id)
			return
		}
		answerSuccess(w, id)
	}))
}

func (l *orderLog) ids() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen)
}

func answerSuccess(w http.ResponseWriter, id string) {
	io.WriteString(w, `<order><code>SUCCESS</code><orderId>M-`+id+`</orderId></order>`)
}

func placedOrders(orders []og.Order) []og.Order {
	var placed []og.Order
	for _, o := range orders {
		if o.Status == og.OrderPlaced {
			placed = append(placed, o)
		}
	}
	return placed
}

// crashMidPlacement starts the binary with the demo merchant placing at merchantURL, creates a
// subscription, advances 30 days, SIGKILLs the process once kill is closed (by the merchant's
// handler), restarts it, advances a day, and returns the orders.
func crashMidPlacement(t *testing.T, merchantURL string, kill <-chan struct{}) []og.Order {
	t.Helper()
	m := config.DemoMerchant()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ogsandbox.yaml")
	os.WriteFile(filepath.Join(dir, "products.xml"), []byte(`<products><product><name><![CDATA[Dog Food]]></name><product_id>DF-30</product_id><sku>DF-30-LB</sku><price>54.99</price><in_stock>1</in_stock><every>4</every><every_period>2</every_period></product></products>`), 0o600)
	os.WriteFile(cfg, []byte(`clock_start: 2026-01-05T00:00:00Z
merchants:
  - merchant_id: `+m.ID+`
    public_id: `+m.PublicID+`
    hash_key: "`+m.HashKey+`"
    catalogue: products.xml
    placement: {url: "`+merchantURL+`", hours: [6], timeout: 30s}
`), 0o600)
	p := startBinary(t, dir, "OGSANDBOX_CONFIG="+cfg)

	req, _ := http.NewRequest("POST", p.base+"/subscription/create", strings.NewReader(purchaseBody("CRASH-1", "zed")))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", ogcrypto.HeaderJSON(m.HashKey, m.PublicID, "zed", time.Now().Unix()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("purchase POST: %v %v", resp, err)
	}
	go http.Post(p.base+"/_sandbox/clock/advance", "application/json", strings.NewReader(`{"by":"30d"}`))
	select {
	case <-kill:
	case <-time.After(10 * time.Second):
		t.Fatal("the order was never sent")
	}
	p.cmd.Process.Kill() // SIGKILL: no shutdown, no flush
	p.wait(t, 10*time.Second)

	q := startBinary(t, dir, "OGSANDBOX_CONFIG="+cfg)
	resp, err = http.Post(q.base+"/_sandbox/clock/advance", "application/json", strings.NewReader(`{"by":"1d"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("advance after the restart: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(q.base + "/_sandbox/merchants/" + m.ID + "/orders")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var orders []og.Order
	if err := json.NewDecoder(resp.Body).Decode(&orders); err != nil {
		t.Fatal(err)
	}
	return orders
}
