package scheduler_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/ogsandbox/ogsandbox/emulator/config"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
	"github.com/ogsandbox/ogsandbox/emulator/refmerchant"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox/sandboxtest"
)

// start is Sunday 2026-01-04 18:00 in Chicago: a weekly subscription bought then has its first
// order on Sunday 2026-01-11, placed at the 6:00 run (12:00 UTC); its reminder goes out at the
// 6:00 run four days before, on Wednesday the 7th.
var start = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// merchantServer is an httptest merchant endpoint that records what it receives and answers
// through answer (n counts the requests, from 1).
type merchantServer struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(n int, order *etree.Element) (int, string)
}

type received struct {
	header http.Header
	body   string
	order  *etree.Element
}

func newMerchant(t *testing.T, answer func(n int, order *etree.Element) (int, string)) *merchantServer {
	ms := &merchantServer{answer: answer}
	ms.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		doc := etree.NewDocument()
		doc.ReadFromBytes(b)
		ms.mu.Lock()
		ms.got = append(ms.got, received{r.Header.Clone(), string(b), doc.SelectElement("order")})
		n := len(ms.got)
		ms.mu.Unlock()
		status, body := ms.answer(n, doc.SelectElement("order"))
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(ms.Close)
	return ms
}

func (ms *merchantServer) received() []received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]received(nil), ms.got...)
}

func success(n int, order *etree.Element) (int, string) {
	return 200, fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><order><code>SUCCESS</code><orderId>M-%d</orderId></order>`, n)
}

func errorCode(code string) func(int, *etree.Element) (int, string) {
	return func(int, *etree.Element) (int, string) {
		return 200, `<order><code>ERROR</code><errorCode>` + code + `</errorCode><errorMsg>gateway says no</errorMsg></order>`
	}
}

// startAt starts a sandbox on `start` whose demo merchant places orders at url.
func startAt(t *testing.T, url string, mutate ...func(*og.Merchant)) *sandbox.Sandbox {
	return sandboxtest.Start(t, func(c *config.Config) {
		c.ClockStart = start
		m := &c.Merchants[0]
		m.Placement.URL = url
		m.Placement.Timeout = 2 * time.Second
		for _, f := range mutate {
			f(m)
		}
	})
}

var demoID = config.DemoMerchant().ID

func findOrder(t *testing.T, sb *sandbox.Sandbox, date string) og.Order {
	t.Helper()
	for _, o := range sandboxtest.Orders(t, sb, demoID) {
		if o.PlaceDate.String() == date {
			return o
		}
	}
	t.Fatalf("no order for %s in %+v", date, sandboxtest.Orders(t, sb, demoID))
	return og.Order{}
}

func emailKinds(t *testing.T, sb *sandbox.Sandbox) []string {
	var kinds []string
	for _, e := range sandboxtest.Emails(t, sb, demoID) {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

// O1-O3, O7: orders are placed at the placement hour of their day, one POST per order, with
// subscriptions of one customer, payment, address and date grouped; reminders go out first.
func TestPlacesOrdersAtThePlacementHour(t *testing.T) {
	ms := newMerchant(t, success)
	sb := startAt(t, ms.URL)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "ann", Items: []sandboxtest.Item{
		{Product: "DF-30", Every: 1, Period: og.PeriodWeek}, {Product: "CT-4050", Every: 1, Period: og.PeriodWeek, Quantity: 3},
	}})
	orders := sandboxtest.Orders(t, sb, demoID)
	if len(orders) != 1 || len(orders[0].Items) != 2 || orders[0].Status != og.OrderScheduled || orders[0].StatusCode != og.StatusUnsent || orders[0].PlaceDate.String() != "2026-01-11" {
		t.Fatalf("after checkout: %+v", orders)
	}

	sum := sandboxtest.Advance(t, sb, "6d") // to Jan 11 00:00 UTC: the reminder went out on the 7th
	if sum["runs"].(float64) != 6 || len(ms.received()) != 0 {
		t.Fatalf("6 days: %v, %d POSTs", sum, len(ms.received()))
	}
	if kinds := emailKinds(t, sb); len(kinds) != 1 || kinds[0] != og.EmailReminder {
		t.Fatalf("emails before the order: %v", kinds)
	}
	sandboxtest.Advance(t, sb, "11h59m") // 11:59 UTC: 5:59 in Chicago
	if n := len(ms.received()); n != 0 {
		t.Fatalf("%d POSTs before the placement hour", n)
	}
	sum = sandboxtest.Advance(t, sb, "1m")
	orders2 := sum["orders"].(map[string]any)
	if sum["runs"].(float64) != 1 || orders2["placed"].(float64) != 1 {
		t.Fatalf("the 6:00 run: %v", sum)
	}
	got := ms.received()
	if len(got) != 1 {
		t.Fatalf("%d POSTs at the 6:00 run, want one for the one order", len(got))
	}
	// O2: the headers a merchant's code checks.
	h := got[0].header
	if ct := h.Get("Content-Type"); ct != "application/xml" {
		t.Errorf("Content-Type %q, want exactly application/xml", ct)
	}
	auth, perr := ogcrypto.ParseAuthHeader(h.Get("Authorization"))
	if perr != nil || auth.SigField != "ann" || !strings.Contains(h.Get("Authorization"), fmt.Sprintf(`"ts":%d`, auth.TS)) {
		t.Fatalf("authorization %q: %v", h.Get("Authorization"), perr)
	}
	if verr := ogcrypto.Verify(config.DemoMerchant().HashKey, auth.Signed(), time.Now()); verr != nil {
		t.Fatalf("the order's signature does not verify: %v", verr)
	}
	order := got[0].order
	if order.FindElement("head/orderOgDate").Text() != "2026-01-11" || len(order.FindElements("items/item")) != 2 ||
		order.FindElement("customer/customerPartnerId").Text() != "ann" || order.FindElement("head/orderTotalValue").Text() != "69.96" {
		t.Fatalf("order XML:\n%s", got[0].body)
	}
	placed := findOrder(t, sb, "2026-01-11")
	if placed.Status != og.OrderPlaced || placed.StatusCode != og.StatusSuccess || placed.MerchantOrderID != "M-1" ||
		len(placed.Attempts) != 1 || placed.Attempts[0].HTTPStatus != 200 || placed.XML != got[0].body {
		t.Fatalf("placed order: %+v", placed)
	}
	next := findOrder(t, sb, "2026-01-18")
	if next.Status != og.OrderScheduled || len(next.Items) != 2 {
		t.Fatalf("the next order: %+v", next)
	}
	if kinds := emailKinds(t, sb); strings.Join(kinds, ",") != "order_reminder,order_placed" {
		t.Fatalf("emails: %v", kinds)
	}
	var subs []og.Subscription
	sandboxtest.Do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/subscriptions", nil).JSON(t, &subs)
	for _, s := range subs {
		if s.NextOrderDate.String() != "2026-01-18" || s.Iteration != 1 {
			t.Fatalf("subscription after its order: %+v", s)
		}
	}
	var page og.JournalPage
	sandboxtest.Do(t, "GET", sb.URL()+"/_sandbox/journal?surface=placement", nil).JSON(t, &page)
	if len(page.Entries) != 1 || page.Entries[0].Direction != og.DirectionOut || !strings.Contains(page.Entries[0].Note, "SUCCESS") {
		t.Fatalf("journal: %+v", page.Entries)
	}
}

// A year of monthly orders: twelve placements, on the anchor day, each the next's cause.
func TestAYearOfMonthlyOrders(t *testing.T) {
	ms := newMerchant(t, success)
	sb := startAt(t, ms.URL)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "bea", Items: []sandboxtest.Item{{Product: "17550870", Every: 1, Period: og.PeriodMonth}}})
	sum := sandboxtest.Advance(t, sb, "365d")
	if sum["orders"].(map[string]any)["placed"].(float64) != 12 || len(ms.received()) != 12 {
		t.Fatalf("a year: %v, %d POSTs", sum, len(ms.received()))
	}
	var dates []string
	for _, o := range sandboxtest.Orders(t, sb, demoID) {
		dates = append(dates, o.PlaceDate.String()+"/"+o.Status)
	}
	want := "2026-02-04/placed,2026-03-04/placed,2026-04-04/placed,2026-05-04/placed,2026-06-04/placed,2026-07-04/placed,2026-08-04/placed,2026-09-04/placed,2026-10-04/placed,2026-11-04/placed,2026-12-04/placed,2027-01-04/placed,2027-02-04/scheduled"
	if strings.Join(dates, ",") != want {
		t.Fatalf("orders:\n%s\nwant\n%s", strings.Join(dates, ","), want)
	}
}

// Monthly orders keep the purchase day where the month has it: bought Jan 31, placed Feb 28,
// Mar 31, Apr 30 — not stuck on the 28th after February.
func TestMonthlyOrdersKeepTheDayOfPurchase(t *testing.T) {
	ms := newMerchant(t, success)
	sb := sandboxtest.Start(t, func(c *config.Config) {
		c.ClockStart = time.Date(2026, 1, 31, 18, 0, 0, 0, time.UTC)
		c.Merchants[0].Placement.URL = ms.URL
	})
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "dee", Items: []sandboxtest.Item{{Product: "17550870", Every: 1, Period: og.PeriodMonth}}})
	sandboxtest.Advance(t, sb, "100d")
	var dates []string
	for _, o := range sandboxtest.Orders(t, sb, demoID) {
		dates = append(dates, o.PlaceDate.String()+"/"+o.Status)
	}
	if want := "2026-02-28/placed,2026-03-31/placed,2026-04-30/placed,2026-05-31/scheduled"; strings.Join(dates, ",") != want {
		t.Fatalf("orders %s, want %s", strings.Join(dates, ","), want)
	}
}

// O5, O6a-d, S4: what Ordergroove does with each kind of answer, through real placements.
func TestDecisionsThroughPlacement(t *testing.T) {
	week := []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek}}
	for _, tc := range []struct {
		name    string
		answer  func(int, *etree.Element) (int, string)
		down    bool
		advance []string // after the first placement run
		status  string
		code    int
		email   string
		posts   int
		rule    string
		// attempts, when set, is the length of the order's ledger.
		attempts int
		// next: the subscription went on to its next order (every finished order, and an
		// O6d order left pending).
		next bool
		// errorCode, when set, is the order's error_code.
		errorCode string
	}{
		{name: "O6b/100_card_type", answer: errorCode("100"), status: og.OrderRejected, code: og.StatusRejected, email: og.EmailPaymentIssue, posts: 1, rule: "O6b"},
		{name: "O6b/110_card_number", answer: errorCode("110"), status: og.OrderRejected, code: og.StatusRejected, email: og.EmailPaymentIssue, posts: 1, rule: "O6b"},
		{name: "O6b/120_expiry", answer: errorCode("120"), status: og.OrderRejected, code: og.StatusRejected, email: og.EmailPaymentIssue, posts: 1, rule: "O6b"},
		{name: "O6b/140_declined", answer: errorCode("140"), status: og.OrderRejected, code: og.StatusRejected, email: og.EmailPaymentIssue, posts: 1, rule: "O6b"},
		{name: "O6b/160_do_not_retry", answer: errorCode("160"), status: og.OrderRejected, code: og.StatusRejected, email: og.EmailPaymentIssue, posts: 1, rule: "O6b"},
		{name: "O6b/170_no_default_card", answer: errorCode("170"), status: og.OrderRejected, code: og.StatusRejected, email: og.EmailPaymentIssue, posts: 1, rule: "O6b"},
		{name: "O6b/130_billing", answer: errorCode("130"), status: og.OrderRejected, code: og.StatusRejected, email: og.EmailBillingAddress, posts: 1, rule: "O6b"},
		{name: "O6b/150_paypal", answer: errorCode("150"), status: og.OrderRejected, code: og.StatusRejected, email: og.EmailPayPal, posts: 1, rule: "O6b"},
		{name: "O6b/180_sca", answer: errorCode("180"), status: og.OrderRejected, code: og.StatusRejected, email: og.EmailSCA, posts: 1, rule: "O6b"},
		{name: "O6b/020_technical", answer: errorCode("020"), status: og.OrderRejected, code: og.StatusRejected, email: og.EmailTechnical, posts: 1, rule: "O6b"},
		{name: "O6c/garbage", answer: func(int, *etree.Element) (int, string) { return 200, "OK thanks" }, status: og.OrderRejected, code: og.StatusResponseError, posts: 1, rule: "O6c"},
		{name: "O6c/two_answers", answer: func(int, *etree.Element) (int, string) {
			return 200, `<order><code>SUCCESS</code><orderId>M-1</orderId></order><order><code>ERROR</code><errorCode>140</errorCode></order>`
		}, status: og.OrderRejected, code: og.StatusResponseError, posts: 1, rule: "O6c"},
		{name: "O6c/redirect_is_not_followed", answer: func(int, *etree.Element) (int, string) { return 302, "" }, status: og.OrderRejected, code: og.StatusResponseError, posts: 1, rule: "O6c"},
		{name: "O6c/unknown_code", answer: errorCode("555"), status: og.OrderRejected, code: og.StatusResponseError, posts: 1, rule: "O6c"},
		{name: "O6c/short_unknown_code_kept_as_sent", answer: errorCode("40"), status: og.OrderRejected, code: og.StatusResponseError, posts: 1, rule: "O6c", errorCode: "40"},
		{name: "O6b/short_form_of_020", answer: errorCode("20"), status: og.OrderRejected, code: og.StatusRejected, email: og.EmailTechnical, posts: 1, rule: "O6b", errorCode: "020"},
		{name: "O6d/999_three_retries_then_rejected", answer: errorCode("999"), advance: []string{"1d", "1d", "1d"}, status: og.OrderRejected, code: og.StatusRejected, email: og.EmailGeneric, posts: 4, rule: "O6d"},
		{name: "O6d/999_then_success_on_a_retry", answer: func(n int, o *etree.Element) (int, string) {
			if n <= 2 {
				return errorCode("999")(n, o)
			}
			return success(n, o)
		}, advance: []string{"1d", "1d"}, status: og.OrderPlaced, code: og.StatusSuccess, email: og.EmailPlaced, posts: 3},
		{name: "O6d/no_answer_to_the_retries_stays_pending", answer: func(n int, o *etree.Element) (int, string) {
			if n == 1 {
				return errorCode("999")(n, o)
			}
			return 503, ""
		}, advance: []string{"1d", "1d", "1d", "1d"}, status: og.OrderPending, code: og.StatusConnectionError, posts: 4, rule: "O6d", attempts: 4, next: true},
		{name: "O6a/merchant_down_is_retried_each_run", down: true, advance: []string{"1d", "1d"}, status: og.OrderPending, code: og.StatusConnectionError, rule: "O6a", attempts: 3},
		{name: "O6a/window_of_the_frequency_then_given_up", down: true, advance: []string{"7d"}, status: og.OrderRejected, code: og.StatusConnectionError, rule: "O6a", attempts: 8},
		{name: "O6a/slow_merchant_times_out", answer: func(n int, o *etree.Element) (int, string) {
			time.Sleep(3 * time.Second)
			return success(n, o)
		}, status: og.OrderPending, code: og.StatusConnectionError, posts: 1, rule: "O6a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := "http://127.0.0.1:1/og/orders" // nothing listens on port 1
			var ms *merchantServer
			if !tc.down {
				ms = newMerchant(t, tc.answer)
				url = ms.URL
			}
			sb := startAt(t, url)
			sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "cy", Items: week})
			sandboxtest.Advance(t, sb, "6d12h") // the first placement: Jan 11, 6:00 Chicago
			for _, by := range tc.advance {
				sandboxtest.Advance(t, sb, by)
			}
			o := findOrder(t, sb, "2026-01-11")
			if o.Status != tc.status || o.StatusCode != tc.code {
				t.Fatalf("order %s/%d, want %s/%d; attempts:\n%s", o.Status, o.StatusCode, tc.status, tc.code, ledger(o))
			}
			if tc.errorCode != "" && o.ErrorCode != tc.errorCode {
				t.Fatalf("error_code %q, want %q", o.ErrorCode, tc.errorCode)
			}
			if tc.attempts != 0 && len(o.Attempts) != tc.attempts {
				t.Fatalf("%d attempts, want %d:\n%s", len(o.Attempts), tc.attempts, ledger(o))
			}
			if ms != nil && len(ms.received()) != tc.posts {
				t.Fatalf("%d POSTs, want %d:\n%s", len(ms.received()), tc.posts, ledger(o))
			}
			if tc.down {
				// CONTROL.md: each attempt with time, request, response, decision; no answer
				// came, so the response is empty, not left out.
				raw := rawAttempts(t, sb)
				if len(raw) == 0 || raw[0]["response"] != "" || raw[0]["request"] == "" || raw[0]["time"] == nil {
					t.Fatalf("attempts as listed: %v", raw)
				}
			}
			last := o.Attempts[len(o.Attempts)-1]
			if last.Rule != tc.rule || last.Decision == "" {
				t.Fatalf("last decision %q (%s), want rule %q", last.Decision, last.Rule, tc.rule)
			}
			var rejectionEmails []string
			for _, k := range emailKinds(t, sb) {
				if k != og.EmailReminder {
					rejectionEmails = append(rejectionEmails, k)
				}
			}
			if want := tc.email; (want == "") != (len(rejectionEmails) == 0) || want != "" && rejectionEmails[0] != want {
				t.Fatalf("emails %v, want %q", rejectionEmails, want)
			}
			// Whatever became of the order, the subscription goes on once it is finished.
			if tc.status != og.OrderPending || tc.next {
				if next := findOrder(t, sb, "2026-01-18"); next.Status != og.OrderScheduled && next.Status != og.OrderPlaced && next.Status != og.OrderPending {
					t.Fatalf("the next order: %+v", next)
				}
			}
		})
	}
}

// rawAttempts returns the attempts of every order as the control API lists them.
func rawAttempts(t *testing.T, sb *sandbox.Sandbox) []map[string]any {
	t.Helper()
	res, err := http.Get(sb.URL() + "/_sandbox/merchants/" + demoID + "/orders")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var orders []struct{ Attempts []map[string]any }
	if err := json.NewDecoder(res.Body).Decode(&orders); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, o := range orders {
		out = append(out, o.Attempts...)
	}
	return out
}

func ledger(o og.Order) string {
	var b strings.Builder
	for _, a := range o.Attempts {
		fmt.Fprintf(&b, "  %s http %d err %q: %s\n", a.At.Format(time.RFC3339), a.HTTPStatus, a.Error, a.Decision)
	}
	return b.String()
}

// O7: a price that rises after the reminder does not reach the customer; one that falls does.
func TestO7_PriceLock(t *testing.T) {
	ms := newMerchant(t, success)
	sb := startAt(t, ms.URL)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "dee", Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek}}})
	sandboxtest.Advance(t, sb, "3d") // past the reminder on the 7th (12:00 UTC)
	setPrice(t, sb, "DF-30", "59.99")
	sandboxtest.Advance(t, sb, "3d12h")
	if got := ms.received()[0].order.FindElement("items/item/price").Text(); got != "54.99" {
		t.Fatalf("price after a rise that came after the reminder: %s, want 54.99", got)
	}
	setPrice(t, sb, "DF-30", "49.99") // before the next order's reminder: a fall
	sandboxtest.Advance(t, sb, "7d")
	if got := ms.received()[1].order.FindElement("items/item/price").Text(); got != "49.99" {
		t.Fatalf("price after a fall: %s, want 49.99", got)
	}
}

// P4, O7 in the listings: an unlocked subscription, and an order not sent yet, show what the
// customer pays now — the catalogue's price, never above the reminder's; a locked subscription
// keeps its price; an order sent keeps what went out.
func TestListingsShowTheCurrentPrice(t *testing.T) {
	ms := newMerchant(t, success)
	sb := startAt(t, ms.URL)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "fen", Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek}}})
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "gus", Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek, Price: "50.00"}}})
	prices := func() (subs map[string]string, items map[string]string) {
		subs, items = map[string]string{}, map[string]string{}
		var ss []og.Subscription
		sandboxtest.Do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/subscriptions", nil).JSON(t, &ss)
		for _, s := range ss {
			subs[s.Customer] = s.Price.String()
		}
		for _, o := range sandboxtest.Orders(t, sb, demoID) {
			if o.PlaceDate.String() == "2026-01-11" {
				items[o.Customer] = o.Items[0].Price.String()
			}
		}
		return subs, items
	}
	setPrice(t, sb, "DF-30", "59.99") // before the reminder
	if subs, items := prices(); subs["fen"] != "59.99" || subs["gus"] != "50.00" || items["fen"] != "59.99" || items["gus"] != "50.00" {
		t.Fatalf("after a rise before the reminder: subscriptions %v, orders %v", subs, items)
	}
	sandboxtest.Advance(t, sb, "3d") // past the reminder on the 7th
	setPrice(t, sb, "DF-30", "64.99")
	if subs, items := prices(); subs["fen"] != "64.99" || items["fen"] != "59.99" || items["gus"] != "50.00" {
		t.Fatalf("after a rise after the reminder: subscriptions %v, orders %v (O7: the reminder's price)", subs, items)
	}
	sandboxtest.Advance(t, sb, "4d") // Jan 11 placed
	setPrice(t, sb, "DF-30", "40.00")
	if _, items := prices(); items["fen"] != "59.99" {
		t.Fatalf("an order sent is listed at %s, want the 59.99 it went out at", items["fen"])
	}
}

func setPrice(t *testing.T, sb *sandbox.Sandbox, id, price string) {
	t.Helper()
	r := sandboxtest.Do(t, "PUT", sb.URL()+"/_sandbox/merchants/"+demoID+"/products",
		`[{"product_id":"`+id+`","sku":"DF-30-LB","name":"Grain-Free Dog Food 30 lb","price":"`+price+`","in_stock":1,"autoship_eligible":1}]`)
	if r.Status != 200 {
		t.Fatalf("PUT products: %d %s", r.Status, r.Body)
	}
}

// F4: an order holding a product out of stock waits for it.
func TestF4_OutOfStockPausesTheOrder(t *testing.T) {
	ms := newMerchant(t, success)
	sb := startAt(t, ms.URL)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "eve", Items: []sandboxtest.Item{{Product: "FT-3M", Every: 1, Period: og.PeriodWeek}}})
	sandboxtest.Do(t, "PUT", sb.URL()+"/_sandbox/merchants/"+demoID+"/products",
		`[{"product_id":"FT-3M","sku":"FT-3M","name":"Flea","price":"39.99","in_stock":0}]`)
	sum := sandboxtest.Advance(t, sb, "6d12h")
	o := findOrder(t, sb, "2026-01-11")
	if len(ms.received()) != 0 || o.Status != og.OrderScheduled || !strings.Contains(o.Paused, "F4") || sum["orders"].(map[string]any)["pending"].(float64) != 1 {
		t.Fatalf("out of stock: %d POSTs, order %+v, summary %v", len(ms.received()), o, sum)
	}
	sandboxtest.Do(t, "PUT", sb.URL()+"/_sandbox/merchants/"+demoID+"/products",
		`[{"product_id":"FT-3M","sku":"FT-3M","name":"Flea","price":"39.99","in_stock":1}]`)
	sandboxtest.Advance(t, sb, "1d")
	if o := findOrder(t, sb, "2026-01-11"); o.Status != og.OrderPlaced || o.Paused != "" || len(ms.received()) != 1 {
		t.Fatalf("back in stock: %+v", o)
	}
}

// The reference merchant answers by the payment token, so the demo shows every path with no
// merchant code.
func TestReferenceMerchant(t *testing.T) {
	sb := sandboxtest.Start(t, func(c *config.Config) { c.ClockStart = start })
	for user, token := range map[string]string{"ok": "tok-1", "declined": "decline-140", "flaky": "temp-999-1", "broken": "garbage"} {
		sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: user, Token: token, Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek}}})
	}
	sandboxtest.Advance(t, sb, "7d12h")
	status := map[string]string{}
	for _, o := range sandboxtest.Orders(t, sb, demoID) {
		if o.PlaceDate.String() == "2026-01-11" {
			status[o.Customer] = fmt.Sprintf("%s/%d", o.Status, o.StatusCode)
		}
	}
	want := map[string]string{"ok": "placed/5", "declined": "rejected/3", "flaky": "placed/5", "broken": "rejected/14"}
	for u, w := range want {
		if status[u] != w {
			t.Errorf("%s: %s, want %s", u, status[u], w)
		}
	}
	if n := len(sb.ReferenceMerchant().ReceivedOrders()); n != 5 {
		t.Errorf("the reference merchant received %d orders, want 5 (one resent after a 999)", n)
	}

	// A reset starts the order ids again: the reference merchant forgets what it counted, so
	// temp-999-1 is answered 999 once more.
	if r := sandboxtest.Do(t, "POST", sb.URL()+"/_sandbox/reset", nil); r.Status != 200 {
		t.Fatalf("reset: %d %s", r.Status, r.Body)
	}
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "flaky", Token: "temp-999-1", Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek}}})
	sandboxtest.Advance(t, sb, "8d")
	var answers []string
	for _, r := range sb.ReferenceMerchant().ReceivedOrders() {
		answers = append(answers, r.OGID+":"+map[bool]string{true: "999", false: "ok"}[strings.Contains(r.Answer, "<errorCode>999<")])
	}
	if strings.Join(answers, ",") != "1:999,1:ok" {
		t.Errorf("after a reset, temp-999-1 was answered %v, want 999 then SUCCESS", answers)
	}

	// An order POST without the authorization header is refused, naming the rules.
	r := sandboxtest.Do(t, "POST", sb.URL()+refmerchant.Path, "<order/>", "Content-Type", "application/xml")
	if r.Status != 403 || !strings.Contains(string(r.Body), "O2") || !strings.Contains(string(r.Body), "A4") {
		t.Errorf("unsigned order: %d %s", r.Status, r.Body)
	}
}

// A restart neither replays placement runs nor loses the schedule.
func TestRestartKeepsTheSchedule(t *testing.T) {
	ms := newMerchant(t, success)
	dir := t.TempDir()
	mutate := func(c *config.Config) {
		c.ClockStart = start
		c.Merchants[0].Placement.URL = ms.URL
	}
	sb := sandboxtest.StartIn(t, dir, mutate)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "fay", Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek}}})
	sandboxtest.Advance(t, sb, "7d")
	sb.Close()
	sb = sandboxtest.StartIn(t, dir, mutate)
	if n := len(ms.received()); n != 1 {
		t.Fatalf("%d POSTs after a restart, want the one placed before it", n)
	}
	sandboxtest.Advance(t, sb, "7d")
	if n := len(ms.received()); n != 2 {
		t.Fatalf("%d POSTs after a week more, want 2", n)
	}
}

// E3/E4: a payment's holder and expiry are kept encrypted with the store's own key, never in
// clear; the order XML carries them encrypted with the merchant's key of the day, so a
// merchant whose hash key changes between the checkout and the order still gets them.
func TestE3_PaymentsOutliveAHashKeyChange(t *testing.T) {
	ms := newMerchant(t, success)
	dir := t.TempDir()
	newKey := strings.Repeat("n", 32)
	mutate := func(key string) func(c *config.Config) {
		return func(c *config.Config) {
			c.ClockStart = start
			c.Merchants[0].Placement.URL = ms.URL
			if key != "" {
				c.Merchants[0].HashKey = key
			}
		}
	}
	sb := sandboxtest.StartIn(t, dir, mutate(""))
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "kay", Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek}}})
	var cs []og.Customer
	r := sandboxtest.Do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/customers", nil)
	r.JSON(t, &cs)
	if strings.Contains(string(r.Body), "Test Customer") || strings.Contains(string(r.Body), "12/2030") || cs[0].Payments[0].CCHolder == "" {
		t.Fatalf("the customers listing shows the holder or expiry in clear: %s", r.Body)
	}
	sb.Close()
	sb = sandboxtest.StartIn(t, dir, mutate(newKey))
	sandboxtest.Advance(t, sb, "7d")
	got := ms.received()
	if len(got) != 1 {
		t.Fatalf("%d orders placed", len(got))
	}
	for field, want := range map[string]string{"orderCcOwner": "Test Customer", "orderCcExpire": "12/2030"} {
		el := got[0].order.FindElement("head/" + field)
		if el == nil {
			t.Fatalf("no %s in %s", field, got[0].body)
		}
		if plain, _, err := ogcrypto.Decrypt(newKey, field, el.Text()); err != nil || plain != want {
			t.Errorf("%s decrypts with the merchant's new key to %q, %v; want %q", field, plain, err, want)
		}
	}
}

// E4: a token shaped like a card number goes to the merchant as it is (it is what the merchant
// charges), and the orders listing and the journal show its last four only.
func TestE4_CardShapedTokenIsMaskedWhereTheSandboxShowsIt(t *testing.T) {
	ms := newMerchant(t, success)
	sb := startAt(t, ms.URL)
	const token = "4000056655665556"
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "lee", Token: token, Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek}}})
	sandboxtest.Advance(t, sb, "7d")
	got := ms.received()
	if len(got) != 1 || !strings.Contains(got[0].body, token) {
		t.Fatalf("the merchant did not get the token: %d orders", len(got))
	}
	for _, path := range []string{"/_sandbox/merchants/" + demoID + "/orders", "/_sandbox/journal?limit=100"} {
		body := string(sandboxtest.Do(t, "GET", sb.URL()+path, nil).Body)
		if strings.Contains(body, token) || !strings.Contains(body, "****5556") {
			t.Errorf("GET %s shows the card-shaped token, or not its last four", path)
		}
	}
}

// The control API's orders and emails carry every field CONTROL.md names, empty until it has a
// value, so that scripts can read them without checking for the key; a time that is not set
// (the next run of a finished order) is left out rather than printed as year 1.
func TestOrdersAndEmailsCarryEveryNamedField(t *testing.T) {
	ms := newMerchant(t, func(n int, order *etree.Element) (int, string) {
		return 200, `<order><code>ERROR</code><errorCode>140</errorCode><errorMsg>declined</errorMsg></order>`
	})
	sb := startAt(t, ms.URL)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "kim", Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek}}})
	keys := func(path string) []map[string]any {
		t.Helper()
		var out []map[string]any
		sandboxtest.Do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+path, nil).JSON(t, &out)
		return out
	}
	for _, o := range keys("/orders") {
		for _, k := range []string{"id", "public_id", "subscription_ids", "status", "status_code", "place_date", "attempts", "error_code", "merchant_order_id", "xml"} {
			if _, ok := o[k]; !ok {
				t.Fatalf("a scheduled order has no %q: %v", k, o)
			}
		}
	}
	sandboxtest.Advance(t, sb, "7d")
	rejected := keys("/orders?status=rejected")
	if len(rejected) != 1 {
		t.Fatalf("%d rejected orders after a 140", len(rejected))
	}
	for _, o := range rejected {
		if _, ok := o["due_at"]; ok || o["error_code"] != "140" || o["merchant_order_id"] != "" {
			t.Fatalf("a rejected order: %v", o)
		}
	}
	emails := keys("/emails")
	if len(emails) < 2 {
		t.Fatalf("emails: %v", emails)
	}
	for _, e := range emails {
		for _, k := range []string{"kind", "to", "order_id", "subscription_id", "error_code", "at"} {
			if _, ok := e[k]; !ok {
				t.Fatalf("a %v email has no %q: %v", e["kind"], k, e)
			}
		}
	}
}

// O6a with a daily subscription: while the merchant is down each order is retried for a day,
// then given up, and the day's own order goes out in the same run, on its date; once the
// merchant is back, the order retried that day is placed and stands for that day's, and the
// subscription is on schedule again — not a day behind for each day it was down. Each order
// gets its reminder first (O7).
func TestO6a_DailySubscriptionKeepsItsDatesThroughAnOutage(t *testing.T) {
	var down sync.Mutex
	isDown := true
	ms := newMerchant(t, func(n int, o *etree.Element) (int, string) {
		down.Lock()
		defer down.Unlock()
		if isDown {
			return 503, ""
		}
		return success(n, o)
	})
	sb := startAt(t, ms.URL)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "dan", Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodDay}}})
	sandboxtest.Advance(t, sb, "12h") // Jan 5, 6:00 Chicago: the first order
	for range 4 {                     // down through the runs of Jan 6 to Jan 9
		sandboxtest.Advance(t, sb, "1d")
	}
	down.Lock()
	isDown = false
	down.Unlock()
	sandboxtest.Advance(t, sb, "1d") // Jan 10: the order of Jan 9 is placed
	sandboxtest.Advance(t, sb, "1d") // Jan 11

	byDate := map[string][]og.Order{}
	for _, o := range sandboxtest.Orders(t, sb, demoID) {
		byDate[o.PlaceDate.String()] = append(byDate[o.PlaceDate.String()], o)
	}
	for day := 5; day <= 12; day++ {
		date := fmt.Sprintf("2026-01-%02d", day)
		want := og.OrderRejected // given up after its day of retries (O6a)
		switch day {
		case 9, 11:
			want = og.OrderPlaced
		case 10: // the order of Jan 9, placed on the 10th, stands for it
			if len(byDate[date]) != 0 {
				t.Fatalf("an order dated %s besides the late one placed that day: %v", date, byDate[date])
			}
			continue
		case 12:
			want = og.OrderScheduled
		}
		if len(byDate[date]) != 1 {
			t.Fatalf("%d orders dated %s, want 1: %v", len(byDate[date]), date, byDate)
		}
		if o := byDate[date][0]; o.Status != want || day < 12 && o.ReminderSent == nil {
			t.Fatalf("order of %s: %s (reminder %v), want %s with its reminder:\n%s", date, o.Status, o.ReminderSent, want, ledger(o))
		}
	}
	var placed []string
	for _, r := range ms.received() {
		if r.order != nil && strings.Contains(r.body, "orderOgDate") {
			placed = append(placed, r.order.FindElement("head/orderOgDate").Text())
		}
	}
	if got := strings.Join(placed[len(placed)-2:], ","); got != "2026-01-09,2026-01-11" {
		t.Fatalf("the last two orders POSTed: %s, want the retried Jan 9 and then Jan 11's (all: %v)", got, placed)
	}
}

// F4: an order waiting for a product out of stock goes out once the product is back, as one
// order: the subscription owes none for the dates that went by meanwhile. The customer was
// emailed on the wait's first day and its fifteenth (REFERENCE §6).
func TestF4_RestockAfterALongPauseSendsOneOrder(t *testing.T) {
	ms := newMerchant(t, success)
	sb := startAt(t, ms.URL)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "fay", Items: []sandboxtest.Item{{Product: "FT-3M", Every: 1, Period: og.PeriodWeek}}})
	stock := func(n int) {
		sandboxtest.Do(t, "PUT", sb.URL()+"/_sandbox/merchants/"+demoID+"/products",
			fmt.Sprintf(`[{"product_id":"FT-3M","sku":"FT-3M","name":"Flea","price":"39.99","in_stock":%d}]`, n))
	}
	stock(0)
	sandboxtest.Advance(t, sb, "30d") // to Feb 3 in Chicago: the order of Jan 11 has waited 24 days
	if n := len(ms.received()); n != 0 {
		t.Fatalf("%d POSTs while out of stock", n)
	}
	if o := findOrder(t, sb, "2026-01-11"); o.Status != og.OrderScheduled || o.OutOfStockNotices != 2 {
		t.Fatalf("the order waiting: %+v", o)
	}
	stock(1)
	sandboxtest.Advance(t, sb, "3d")
	if n := len(ms.received()); n != 1 {
		t.Fatalf("%d POSTs after the restock, want 1 (the paused order, not the missed weeks too)", n)
	}
	if o := findOrder(t, sb, "2026-01-11"); o.Status != og.OrderPlaced {
		t.Fatalf("the paused order: %+v", o)
	}
	for _, o := range sandboxtest.Orders(t, sb, demoID) {
		if d := o.PlaceDate.String(); d == "2026-01-18" || d == "2026-01-25" || d == "2026-02-01" {
			t.Fatalf("an order for a missed date: %+v", o)
		}
	}
	if kinds := strings.Join(emailKinds(t, sb), ","); strings.Count(kinds, og.EmailOutOfStock) != 2 || strings.Contains(kinds, og.EmailOutOfStockEnd) {
		t.Fatalf("emails %s", kinds)
	}
}

// F4, REFERENCE §6: the items of an order that are out of stock are split from the rest, which
// goes out in an order of its own; the order waits for them, retried daily, with the customer
// emailed on days 1 and 15, and on day 30 it is cancelled (emailed), its subscription going on
// to its next order.
func TestF4_OutOfStockItemsAreSplitOffAndCancelledAfter30Days(t *testing.T) {
	ms := newMerchant(t, success)
	sb := startAt(t, ms.URL)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "gil", Items: []sandboxtest.Item{
		{Product: "DF-30", Every: 1, Period: og.PeriodWeek}, {Product: "FT-3M", Every: 1, Period: og.PeriodWeek}}})
	sandboxtest.Do(t, "PUT", sb.URL()+"/_sandbox/merchants/"+demoID+"/products", `[{"product_id":"FT-3M","sku":"FT-3M","name":"Flea","price":"39.99","in_stock":0}]`)
	sum := sandboxtest.Advance(t, sb, "7d") // past Jan 11, 6:00 Chicago
	got := ms.received()
	if len(got) != 1 || len(got[0].order.FindElements("items/item")) != 1 || got[0].order.FindElement("items/item/product_id").Text() != "DF-30" {
		t.Fatalf("%d POSTs; the first with %d items", len(got), len(got[0].order.FindElements("items/item")))
	}
	var split og.Order
	for _, o := range sandboxtest.Orders(t, sb, demoID) {
		if o.PlaceDate.String() == "2026-01-11" && o.Status == og.OrderScheduled {
			split = o
		}
	}
	if len(split.Items) != 1 || split.Items[0].ProductID != "FT-3M" || !strings.Contains(split.Paused, "FT-3M is out of stock") || split.OutOfStockNotices != 1 {
		t.Fatalf("the order split off: %+v", split)
	}
	// What went out is the order the reminder named, under its id.
	for _, e := range sandboxtest.Emails(t, sb, demoID) {
		if e.Kind == og.EmailReminder && (e.OrderID == split.OGID || got[0].order.FindElement("head/orderOgId").Text() != fmt.Sprint(e.OrderID)) {
			t.Fatalf("the reminder named order %d; the order sent was %s, the one split off %d", e.OrderID, got[0].order.FindElement("head/orderOgId").Text(), split.OGID)
		}
	}
	if p := sum["orders"].(map[string]any); p["placed"].(float64) != 1 || p["pending"].(float64) != 1 {
		t.Fatalf("advance summary: %v", sum)
	}
	sandboxtest.Advance(t, sb, "30d") // its day 30 is Feb 9
	var after og.Order
	for _, o := range sandboxtest.Orders(t, sb, demoID) {
		if o.OGID == split.OGID {
			after = o
		}
	}
	if after.Status != og.OrderCancelled || after.StatusCode != og.StatusCancelled || !strings.Contains(after.ErrorMessage, "cancelled after 30 days waiting") || after.DueAt != (time.Time{}) {
		t.Fatalf("the split order on its day 30: %+v", after)
	}
	var kinds []string
	for _, e := range sandboxtest.Emails(t, sb, demoID) {
		if e.OrderID == split.OGID && e.Kind != og.EmailReminder {
			kinds = append(kinds, e.Kind+"@"+e.At.In(config.DemoMerchant().Location).Format("01-02"))
		}
	}
	if want := "order_out_of_stock@01-11,order_out_of_stock@01-25,order_cancelled_out_of_stock@02-09"; strings.Join(kinds, ",") != want {
		t.Fatalf("the split order's emails %v, want %s", kinds, want)
	}
	// The subscription goes on: its next order is the one of its date still to come, with the
	// DF-30 of the same date (REFERENCE §6 grouping).
	next := 0
	for _, o := range sandboxtest.Orders(t, sb, demoID) {
		if o.Status == og.OrderScheduled && o.PlaceDate.String() == "2026-02-15" && slices.ContainsFunc(o.Items, func(it og.OrderItem) bool { return it.ProductID == "FT-3M" }) {
			next++
		}
	}
	if next != 1 {
		t.Fatalf("%d scheduled orders of Feb 15 with FT-3M after the cancellation, want 1: %+v", next, sandboxtest.Orders(t, sb, demoID))
	}
}

// F4 with F3: when part of an order held whole restocks, the order goes out with it, and the
// rest waits on in an order split off, with the wait so far (the customer is not emailed day 1
// again); that order is where a feed finds it: a product discontinued cancels the
// subscription, and the order, at once.
func TestF4_HeldOrderKeepsItsWaitAndIsFoundByF3(t *testing.T) {
	ms := newMerchant(t, success)
	sb := startAt(t, ms.URL)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "hal", Items: []sandboxtest.Item{
		{Product: "DF-30", Every: 1, Period: og.PeriodWeek}, {Product: "FT-3M", Every: 1, Period: og.PeriodWeek}}})
	put := func(body string) {
		sandboxtest.Do(t, "PUT", sb.URL()+"/_sandbox/merchants/"+demoID+"/products", body)
	}
	put(`[{"product_id":"FT-3M","sku":"FT-3M","name":"Flea","price":"39.99","in_stock":0},{"product_id":"DF-30","sku":"DF-30","name":"Dog food","price":"54.99","in_stock":0}]`)
	sandboxtest.Advance(t, sb, "7d") // Jan 11: held whole, day 1
	held := findOrder(t, sb, "2026-01-11")
	if len(held.Items) != 2 || held.OutOfStockNotices != 1 {
		t.Fatalf("held whole: %+v", held)
	}
	sandboxtest.Advance(t, sb, "19d") // Jan 30: day 20
	put(`[{"product_id":"DF-30","sku":"DF-30","name":"Dog food","price":"54.99","in_stock":1}]`)
	sandboxtest.Advance(t, sb, "1d") // Jan 31: DF-30 goes out on its own
	if got := ms.received(); len(got) != 1 || got[0].order.FindElement("items/item/product_id").Text() != "DF-30" {
		t.Fatalf("%d POSTs after DF-30 restocked", len(got))
	}
	// The order went out with DF-30, under its id; FT-3M waits in an order split off, which
	// goes on with the wait (its days and emails).
	var o og.Order
	for _, x := range sandboxtest.Orders(t, sb, demoID) {
		switch {
		case x.OGID == held.OGID && (x.Status != og.OrderPlaced || len(x.Items) != 1 || x.Items[0].ProductID != "DF-30"):
			t.Fatalf("the order, sent with what was in stock: %+v", x)
		case x.OGID != held.OGID && x.Status == og.OrderScheduled && x.PlaceDate == held.PlaceDate:
			o = x
		}
	}
	if len(o.Items) != 1 || o.Items[0].ProductID != "FT-3M" || o.PausedSince == nil || !o.PausedSince.Equal(*held.PausedSince) || o.OutOfStockNotices != 2 {
		t.Fatalf("the order still held: %+v", o)
	}
	first := held.OGID
	held = o
	// FT-3M is discontinued: F3 cancels its subscription, and the order held for it.
	put(`[{"product_id":"FT-3M","sku":"FT-3M","name":"Flea","price":"39.99","in_stock":0,"autoship_eligible":0,"discontinued":1}]`)
	for _, x := range sandboxtest.Orders(t, sb, demoID) {
		if x.OGID == held.OGID && (x.Status != og.OrderCancelled || x.Paused != "") {
			t.Fatalf("the held order after its product was discontinued: %+v", x)
		}
	}
	sandboxtest.Advance(t, sb, "20d")
	outOfStock := 0
	for _, e := range sandboxtest.Emails(t, sb, demoID) {
		if (e.OrderID == held.OGID || e.OrderID == first) && (e.Kind == og.EmailOutOfStock || e.Kind == og.EmailOutOfStockEnd) {
			outOfStock++
		}
	}
	if outOfStock != 2 {
		t.Fatalf("%d out-of-stock emails about the held items, want the 2 of days 1 and 15", outOfStock)
	}
}

// CONTROL.md's advance summary counts orders: one answered 999 at two runs and placed at the
// third, within one advance, is one placed order and nothing pending.
func TestAdvanceSummaryCountsOrdersNotAttempts(t *testing.T) {
	ms := newMerchant(t, func(n int, o *etree.Element) (int, string) {
		if n <= 2 {
			return errorCode("999")(n, o)
		}
		return success(n, o)
	})
	sb := startAt(t, ms.URL)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "gus", Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek}}})
	sum := sandboxtest.Advance(t, sb, "8d12h") // the runs of Jan 11, 12 and 13
	orders := sum["orders"].(map[string]any)
	if orders["placed"] != 1.0 || orders["rejected"] != 0.0 || orders["pending"] != 0.0 || len(ms.received()) != 3 {
		t.Fatalf("summary %v after %d POSTs, want one placed order", sum, len(ms.received()))
	}
}

// The advance summary counts the orders of every merchant: og ids are numbered per merchant,
// so two merchants' first orders are two orders.
func TestAdvanceSummaryCountsEveryMerchantsOrders(t *testing.T) {
	ms := newMerchant(t, success)
	sb := sandboxtest.Start(t, func(c *config.Config) {
		c.ClockStart = start
		c.Merchants[0].Placement.URL = ms.URL
		second := c.Merchants[0]
		second.ID, second.PublicID, second.Name = "1111aaaa2222bbbb3333cccc4444dddd", "5555eeee6666ffff7777aaaa8888bbbb", "Second Store"
		second.SFTP = og.SFTPLogin{Username: "second", Password: "second-sftp"}
		second.APIKeys = []string{"second-api-key"}
		c.Merchants = append(c.Merchants, second)
	})
	for _, m := range sb.Merchants() {
		r := sandboxtest.Do(t, "PUT", sb.URL()+"/_sandbox/merchants/"+m.ID+"/products",
			`[{"product_id":"DF-30","sku":"DF-30-LB","name":"Grain-Free Dog Food 30 lb","price":"54.99","in_stock":1,"autoship_eligible":1}]`)
		if r.Status != 200 {
			t.Fatalf("products of %s: %d %s", m.ID, r.Status, r.Body)
		}
		sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{Merchant: m, UserID: "hal", Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek}}})
	}
	sum := sandboxtest.Advance(t, sb, "6d12h")
	if placed := sum["orders"].(map[string]any)["placed"]; placed != 2.0 || len(ms.received()) != 2 {
		t.Fatalf("summary %v after %d POSTs, want both merchants' orders placed", sum, len(ms.received()))
	}
}

// O7: an order that becomes due during a run (the day's own, after a late one was given up)
// gets its reminder before it is placed in that same run.
func TestO7_OrderPlacedLaterInTheRunGetsItsReminderFirst(t *testing.T) {
	ms := newMerchant(t, func(n int, o *etree.Element) (int, string) {
		if n <= 2 { // the order of Jan 5, and its retry on the 6th
			return 503, ""
		}
		return success(n, o)
	})
	sb := startAt(t, ms.URL)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "ivy", Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodDay}}})
	sandboxtest.Advance(t, sb, "1d12h") // the runs of Jan 5 and Jan 6
	if o := findOrder(t, sb, "2026-01-05"); o.Status != og.OrderRejected {
		t.Fatalf("the order of Jan 5: %+v", o)
	}
	o := findOrder(t, sb, "2026-01-06")
	if o.Status != og.OrderPlaced || o.ReminderSent == nil {
		t.Fatalf("the order of Jan 6, placed in the run that gave up Jan 5's: %s, reminder %v", o.Status, o.ReminderSent)
	}
	reminders := 0
	for _, e := range sandboxtest.Emails(t, sb, demoID) {
		if e.Kind == og.EmailReminder && e.OrderID == o.OGID {
			reminders++
		}
	}
	if reminders != 1 {
		t.Fatalf("%d reminders for the order of Jan 6, want 1", reminders)
	}
}

// X2: a placement URL with a user and password is shown and kept with the password masked:
// the merchants listing, each attempt, the journal, the journal's files.
func TestX2_PlacementURLPasswordIsMasked(t *testing.T) {
	ms := newMerchant(t, success)
	u := strings.Replace(ms.URL, "http://", "http://orderbot:Sup3rS3cretPw@", 1)
	sb := startAt(t, u)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "lee", Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek}}})
	sandboxtest.Advance(t, sb, "7d")
	if got := ms.received(); len(got) != 1 {
		t.Fatalf("the merchant got %d orders", len(got))
	}
	for _, path := range []string{"/_sandbox/merchants", "/_sandbox/merchants/" + demoID + "/orders", "/_sandbox/journal?limit=100"} {
		body := string(sandboxtest.Do(t, "GET", sb.URL()+path, nil).Body)
		if strings.Contains(body, "Sup3rS3cretPw") || !strings.Contains(body, "orderbot:xxxxx@") {
			t.Errorf("GET %s shows the placement URL's password, or not the URL masked", path)
		}
	}
	files, _ := filepath.Glob(filepath.Join(sb.Config().DataDir, "*.journal", "*.log"))
	for _, f := range files {
		if b, _ := os.ReadFile(f); strings.Contains(string(b), "Sup3rS3cretPw") {
			t.Errorf("the journal file %s keeps the password", f)
		}
	}
	if len(files) == 0 {
		t.Fatal("no journal files to check")
	}
}

// A reset while an order is being placed: the answer that comes back applies to nothing, and
// the advance ends as usual (it answered 500, "finish attempt: order N: <nil>").
func TestResetWhileAnOrderIsBeingPlaced(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	ms := newMerchant(t, func(n int, order *etree.Element) (int, string) {
		once.Do(func() { close(arrived) })
		<-release
		return success(n, order)
	})
	sb := startAt(t, ms.URL)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "lee", Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek}}})
	done := make(chan sandboxtest.Response, 1)
	go func() {
		done <- sandboxtest.Do(t, "POST", sb.URL()+"/_sandbox/clock/advance", map[string]string{"by": "7d"})
	}()
	<-arrived
	if r := sandboxtest.Do(t, "POST", sb.URL()+"/_sandbox/reset", nil); r.Status != 200 {
		t.Fatalf("reset: %d %s", r.Status, r.Body)
	}
	close(release)
	if r := <-done; r.Status != 200 {
		t.Fatalf("the advance a reset went through: %d %s", r.Status, r.Body)
	}
	if orders := sandboxtest.Orders(t, sb, demoID); len(orders) != 0 {
		t.Fatalf("%d orders after the reset", len(orders))
	}
}
