package sandbox_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/config"
	"github.com/ogsandbox/ogsandbox/emulator/control"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox/sandboxtest"
	"github.com/ogsandbox/ogsandbox/internal/golden"
	"github.com/pkg/sftp"
)

var demoID = config.DemoMerchant().ID

// sundayNoon is a Sunday: weekly orders bought then are placed the next Sunday at 6:00 Chicago.
var sundayNoon = time.Date(2026, 1, 4, 12, 0, 0, 0, time.UTC)

func startDropSite(t *testing.T, mutate ...func(*og.Merchant)) (*sandbox.Sandbox, *sftp.Client) {
	t.Helper()
	sb := sandboxtest.Start(t, func(c *config.Config) {
		c.ClockStart = sundayNoon
		for _, f := range mutate {
			f(&c.Merchants[0])
		}
	})
	return sb, sandboxtest.SFTP(t, sb, "petstore", "petstore-sftp")
}

func feeds(t *testing.T, sb *sandbox.Sandbox) []og.FeedReport {
	t.Helper()
	var rs []og.FeedReport
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/feeds", nil).JSON(t, &rs)
	return rs
}

func lastFeed(t *testing.T, sb *sandbox.Sandbox) og.FeedReport {
	t.Helper()
	rs := feeds(t, sb)
	return rs[len(rs)-1]
}

// F1-F7 through the drop site: a feed uploaded to incoming/ is read as soon as the upload
// completes; its report, every finding with its line and rule, is listed by the control API and
// written to outgoing/ beside the file's name.
func TestProductFeedOverSFTP(t *testing.T) {
	sb, c := startDropSite(t)
	data, err := os.ReadFile("../feed/testdata/mixed.Products.xml")
	if err != nil {
		t.Fatal(err)
	}
	name := demoID + ".Products.xml"
	sandboxtest.Put(t, c, "incoming/"+name, data)

	rep := lastFeed(t, sb)
	if rep.File != "incoming/"+name || rep.Kind != "products" || rep.Entries != 9 || rep.Accepted != 2 || rep.Refused != 7 {
		t.Fatalf("feed report: %+v", rep)
	}
	txt := sandboxtest.Get(t, c, "outgoing/"+name+".report.txt")
	golden.Assert(t, "sftp_products_report.txt", golden.Scrub(txt, map[string]string{demoID: "<MERCHANT_ID>"}))
	var fromJSON og.FeedReport
	if err := json.Unmarshal(sandboxtest.Get(t, c, "outgoing/"+name+".report.json"), &fromJSON); err != nil || len(fromJSON.Findings) != len(rep.Findings) {
		t.Fatalf("report.json: %v %+v", err, fromJSON)
	}
	var products []control.ProductView
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/products", nil).JSON(t, &products)
	found := false
	for _, p := range products {
		found = found || p.ProductID == "GOOD-1" && p.Price == 1899 && p.Source == "incoming/"+name
	}
	if !found {
		t.Fatalf("GOOD-1 is not in the catalogue: %+v", products)
	}
	var page og.JournalPage
	do(t, "GET", sb.URL()+"/_sandbox/journal?surface=sftp", nil).JSON(t, &page)
	notes := ""
	for _, e := range page.Entries {
		notes += e.Note + "\n"
	}
	if !strings.Contains(notes, "petstore logged in") || !strings.Contains(notes, "uploaded incoming/"+name) || !strings.Contains(notes, "2 accepted, 7 refused") || !strings.Contains(notes, "downloaded outgoing/"+name+".report.txt") {
		t.Fatalf("the journal's SFTP entries:\n%s", notes)
	}
}

// A feed in the home itself is read too (REFERENCE §5: some integrations write to the root);
// files named for another merchant, or misnamed, are not read, and the report says why.
func TestFeedNamesAndPlaces(t *testing.T) {
	sb, c := startDropSite(t)
	feed := []byte(`<products><product><name><![CDATA[Root Feed Product]]></name><product_id>ROOT-1</product_id><sku>ROOT-1</sku><price>2.50</price><in_stock>1</in_stock></product></products>`)
	sandboxtest.Put(t, c, demoID+".Products.xml", feed)
	if rep := lastFeed(t, sb); rep.File != demoID+".Products.xml" || rep.Accepted != 1 {
		t.Fatalf("a feed in the home: %+v", rep)
	}
	before := len(feeds(t, sb))
	for _, tc := range []struct{ file, rule, want string }{
		{"incoming/0123456789abcdef.Products.xml", "F1", `named for merchant "0123456789abcdef"`},
		{"incoming/products.xml", "F1", "must be named exactly " + demoID + ".Products.xml"},
		{"incoming/" + strings.ToUpper(demoID) + ".productcategories.xml", "F8", "ProductCategories.xml"},
		{"incoming/" + demoID + ".Product.xml", "F1", "must be named exactly " + demoID + ".Products.xml"},
		{"incoming/" + demoID + ".Categories.xml", "F8", "must be named exactly " + demoID + ".ProductCategories.xml"},
		{"incoming/feed.xml", "F1", "Ordergroove reads only files named exactly " + demoID + ".Products.xml (F1)"},
		{"incoming/" + strings.ToUpper(demoID) + ".Products.xml", "F1", "is in another case: Ordergroove matches names exactly; name it " + demoID + ".Products.xml"},
		{"incoming/daily/" + demoID + ".Products.xml", "F1", "not from incoming/daily/"},
		{"outgoing/" + demoID + ".Products.xml", "F1", "not from outgoing/"},
	} {
		if dir := path.Dir(tc.file); strings.Count(dir, "/") > 0 {
			c.Mkdir(dir)
		}
		sandboxtest.Put(t, c, tc.file, feed)
		rep := lastFeed(t, sb)
		if rep.File != tc.file || rep.Accepted != 0 || len(rep.Findings) != 1 || rep.Findings[0].Rule != tc.rule || !strings.Contains(rep.Findings[0].Message, tc.want) {
			t.Fatalf("%s: %+v", tc.file, rep)
		}
		report := tc.file[strings.LastIndex(tc.file, "/")+1:]
		if dir := path.Dir(tc.file); dir != "incoming" {
			report = strings.ReplaceAll(tc.file, "/", "_") // named by its folder too
		}
		if txt := sandboxtest.Get(t, c, "outgoing/"+report+".report.txt"); !strings.Contains(string(txt), tc.want) {
			t.Fatalf("%s: report %s", tc.file, txt)
		}
	}
	// The copies of the feed's name elsewhere did not replace the report of the feed read.
	if txt := sandboxtest.Get(t, c, "outgoing/"+demoID+".Products.xml.report.txt"); !strings.Contains(string(txt), "1 accepted") {
		t.Fatalf("the report of the feed read: %s", txt)
	}
	// Files that are not feeds are kept quietly: notes, and a client's temporary name before
	// it renames the file into place.
	sandboxtest.Put(t, c, "incoming/notes.txt", []byte("hello"))
	sandboxtest.Put(t, c, "incoming/"+demoID+".Products.xml.filepart", feed)
	sandboxtest.Put(t, c, "incoming/"+demoID+".Products.xml.bak", feed)
	sandboxtest.Put(t, c, "incoming/"+demoID+".Products.xml~", feed)
	if n := len(feeds(t, sb)); n != before+9 {
		t.Fatalf("%d reports, want %d", n, before+9)
	}
}

// F8: the categories feed, validated and ingested (GET .../categories).
func TestCategoriesFeedOverSFTP(t *testing.T) {
	sb, c := startDropSite(t)
	data, err := os.ReadFile("../feed/testdata/mixed.ProductCategories.xml")
	if err != nil {
		t.Fatal(err)
	}
	sandboxtest.Put(t, c, "incoming/"+demoID+".ProductCategories.xml", data)
	rep := lastFeed(t, sb)
	if rep.Kind != "categories" || rep.Accepted != 4 || rep.Refused != 4 {
		t.Fatalf("report: %+v", rep)
	}
	var cats []og.Category
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/categories", nil).JSON(t, &cats)
	var ids []string
	for _, c := range cats {
		ids = append(ids, c.ID+">"+c.ParentID)
	}
	if strings.Join(ids, ",") != "CAT-TREATS>CATS,CATS>,DOG-FOOD>DOGS" {
		t.Fatalf("categories: %v", ids)
	}
	// A later feed may name a parent from the catalogue.
	sandboxtest.Put(t, c, "incoming/"+demoID+".ProductCategories.xml", []byte(`<categories><category><category_id>KITTENS</category_id><name><![CDATA[Kittens]]></name><parent_id>CATS</parent_id></category></categories>`))
	if rep := lastFeed(t, sb); rep.Accepted != 1 || len(rep.Findings) != 0 {
		t.Fatalf("second feed: %+v", rep)
	}
	// One that would make CATS its own ancestor through the catalogue (CATS → KITTENS → CATS)
	// is refused, and the catalogue keeps CATS as it was.
	sandboxtest.Put(t, c, "incoming/"+demoID+".ProductCategories.xml", []byte(`<categories><category><category_id>CATS</category_id><name><![CDATA[Cats]]></name><parent_id>KITTENS</parent_id></category></categories>`))
	if rep := lastFeed(t, sb); rep.Refused != 1 || len(rep.Findings) != 1 || !strings.Contains(rep.Findings[0].Message, "CATS is its own ancestor: CATS → KITTENS → CATS") {
		t.Fatalf("a cycle through the catalogue: %+v", rep)
	}
	var after []og.Category
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/categories", nil).JSON(t, &after)
	for _, cat := range after {
		if cat.ID == "CATS" && cat.ParentID != "" {
			t.Fatalf("CATS after the refused feed: %+v", cat)
		}
	}
}

// F3: a discontinued product cancels its subscriptions and emails the customers, or swaps them
// to the replacement its relationships name: emailed for discontinued_replacement, silently
// for discontinued_silent_replacement. Each upcoming order follows.
func TestF3_DiscontinuedProductsOverSFTP(t *testing.T) {
	sb, c := startDropSite(t)
	for _, s := range []struct{ user, product string }{{"ann", "CT-4050"}, {"bob", "17550870"}, {"cy", "FT-3M"}, {"dee", "DF-30"}} {
		sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: s.user, Items: []sandboxtest.Item{{Product: s.product}}})
	}
	discontinued := func(id, rel, to string) string {
		r := ""
		if rel != "" {
			r = "<relationships><relationship><name>" + rel + "</name><related><product_id>" + to + "</product_id></related></relationship></relationships>"
		}
		return "<product><name><![CDATA[" + id + "]]></name><product_id>" + id + "</product_id><sku>" + id + "</sku><price>1.00</price>" +
			"<autoship_eligible>0</autoship_eligible><in_stock>0</in_stock><discontinued>1</discontinued>" + r + "</product>\n"
	}
	feed := "<products>\n" + discontinued("CT-4050", "discontinued_replacement", "CT-4051") +
		discontinued("17550870", "discontinued_silent_replacement", "CT-4051") +
		discontinued("FT-3M", "", "") + discontinued("DF-30", "discontinued_replacement", "NOPE") + "</products>\n"
	sandboxtest.Put(t, c, "incoming/"+demoID+".Products.xml", []byte(feed))

	rep := lastFeed(t, sb)
	e := rep.Effects
	if rep.Accepted != 4 || e == nil || e.Swapped != 2 || e.Cancelled != 2 || e.Emails != 3 || e.OrdersChanged != 2 || e.OrdersCancelled != 2 {
		t.Fatalf("report: %+v effects %+v", rep, e)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Rule != "F3" || !strings.Contains(rep.Findings[0].Message, "NOPE") {
		t.Fatalf("findings: %+v", rep.Findings)
	}
	var subs []og.Subscription
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/subscriptions", nil).JSON(t, &subs)
	state := map[string]string{}
	for _, s := range subs {
		state[s.Customer] = s.ProductID + "/" + s.Status
	}
	if state["ann"] != "CT-4051/active" || state["bob"] != "CT-4051/active" || state["cy"] != "FT-3M/cancelled" || state["dee"] != "DF-30/cancelled" {
		t.Fatalf("subscriptions: %v", state)
	}
	var kinds []string
	for _, m := range sandboxtest.Emails(t, sb, demoID) {
		kinds = append(kinds, m.To[:strings.Index(m.To, "@")]+":"+m.Kind)
	}
	if strings.Join(kinds, ",") != "ann:subscription_swapped,cy:subscription_cancelled,dee:subscription_cancelled" {
		t.Fatalf("emails: %v", kinds)
	}
	orders := map[string]og.Order{}
	for _, o := range sandboxtest.Orders(t, sb, demoID) {
		orders[o.Customer] = o
	}
	if o := orders["ann"]; o.Status != og.OrderScheduled || o.Items[0].ProductID != "CT-4051" || o.Items[0].Name == "CT-4050" {
		t.Fatalf("ann's upcoming order: %+v", o)
	}
	// Cancelled with all its subscriptions, the order still shows what it was for.
	if o := orders["cy"]; o.Status != og.OrderCancelled || o.StatusCode != og.StatusCancelled || len(o.Items) != 1 || o.Items[0].ProductID != "FT-3M" || len(o.Subscriptions) != 1 {
		t.Fatalf("cy's upcoming order: %+v", o)
	}
	// The swapped subscriptions are placed with their new product; the cancelled are not.
	sum := sandboxtest.Advance(t, sb, "60d")
	for _, o := range sandboxtest.Orders(t, sb, demoID) {
		if (o.Customer == "cy" || o.Customer == "dee") && o.Status != og.OrderCancelled {
			t.Fatalf("an order of a cancelled subscription: %+v", o)
		}
		if o.Customer == "ann" && o.Status == og.OrderPlaced && !strings.Contains(o.XML, "CT-4051") {
			t.Fatalf("ann's order went out without the replacement:\n%s", o.XML)
		}
	}
	if sum["orders"].(map[string]any)["placed"].(float64) == 0 {
		t.Fatalf("nothing placed after the swaps: %v", sum)
	}
}

// F3 with F7: a feed the sandbox could not read to its end keeps the products read before the
// break, but does not swap or cancel subscriptions, nor email customers, for the discontinued
// ones among them: a typo further down is not the catalogue the merchant meant.
func TestF3_AFeedReadPartWayChangesNoSubscription(t *testing.T) {
	sb, c := startDropSite(t)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "ann", Items: []sandboxtest.Item{{Product: "CT-4050"}}})
	feed := "<products>\n<product><name><![CDATA[CT-4050]]></name><product_id>CT-4050</product_id><sku>CT-4050</sku><price>1.00</price>" +
		"<autoship_eligible>0</autoship_eligible><in_stock>0</in_stock><discontinued>1</discontinued>" +
		"<relationships><relationship><name>discontinued_replacement</name><related><product_id>DF-30</product_id></related></relationship></relationships></product>\n" +
		"<product><name>Bits & Bobs</name><product_id>BB</product_id></product>\n</products>\n"
	sandboxtest.Put(t, c, "incoming/"+demoID+".Products.xml", []byte(feed))
	rep := lastFeed(t, sb)
	found := false
	for _, f := range rep.Findings {
		found = found || f.Rule == "F3" && strings.Contains(f.Message, "not read to its end") && strings.Contains(f.Message, "CT-4050")
	}
	if rep.Complete || !found || rep.Effects == nil || rep.Effects.Swapped != 0 || rep.Effects.Emails != 0 || rep.Via != og.FeedViaSFTP {
		t.Fatalf("report of a feed read part-way: %+v effects %+v", rep, rep.Effects)
	}
	var subs []og.Subscription
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/subscriptions", nil).JSON(t, &subs)
	if len(subs) != 1 || subs[0].ProductID != "CT-4050" || subs[0].Status != og.SubscriptionActive {
		t.Fatalf("the subscription changed: %+v", subs)
	}
	if emails := sandboxtest.Emails(t, sb, demoID); len(emails) != 0 {
		t.Fatalf("customers were emailed: %+v", emails)
	}
}

// F3 with P4: a subscription swapped to a replacement keeps the price it locked at checkout;
// one that locked nothing takes the replacement's price. Its upcoming order and the order XML
// follow.
func TestF3_SwapKeepsALockedPrice_P4(t *testing.T) {
	sb, c := startDropSite(t)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "pia", Items: []sandboxtest.Item{{Product: "17550870", Price: "10.00"}}})
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "quin", Items: []sandboxtest.Item{{Product: "17550870"}}})
	feed := `<products><product><name><![CDATA[Old Litter]]></name><product_id>17550870</product_id><sku>17550870</sku><price>12.99</price>` +
		`<autoship_eligible>0</autoship_eligible><in_stock>0</in_stock><discontinued>1</discontinued>` +
		`<relationships><relationship><name>discontinued_replacement</name><related><product_id>DF-30</product_id></related></relationship></relationships></product></products>`
	sandboxtest.Put(t, c, "incoming/"+demoID+".Products.xml", []byte(feed))
	if e := lastFeed(t, sb).Effects; e == nil || e.Swapped != 2 {
		t.Fatalf("effects: %+v", e)
	}
	var subs []og.Subscription
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/subscriptions", nil).JSON(t, &subs)
	got := map[string]string{}
	for _, s := range subs {
		got[s.Customer] = fmt.Sprintf("%s@%s locked=%v", s.ProductID, s.Price, s.PriceLocked)
	}
	if got["pia"] != "DF-30@10.00 locked=true" || got["quin"] != "DF-30@54.99 locked=false" {
		t.Fatalf("subscriptions after the swap: %v", got)
	}
	price := func(o og.Order) string { return o.Items[0].ProductID + "@" + o.Items[0].Price.String() }
	for _, o := range sandboxtest.Orders(t, sb, demoID) {
		if want := map[string]string{"pia": "DF-30@10.00", "quin": "DF-30@54.99"}[o.Customer]; price(o) != want {
			t.Fatalf("%s's upcoming order: %s, want %s", o.Customer, price(o), want)
		}
	}
	sandboxtest.Advance(t, sb, "40d")
	placed := 0
	for _, o := range sandboxtest.Orders(t, sb, demoID) {
		if o.Status != og.OrderPlaced {
			continue
		}
		placed++
		want := map[string]string{"pia": "<price>10.00</price>", "quin": "<price>54.99</price>"}[o.Customer]
		if !strings.Contains(o.XML, want) || !strings.Contains(o.XML, "DF-30") {
			t.Fatalf("%s's order XML lacks %s:\n%s", o.Customer, want, o.XML)
		}
	}
	if placed < 2 {
		t.Fatalf("%d orders placed in 40 days", placed)
	}
}

// F4, F6 through the drop site: an out-of-stock product pauses its orders until a feed puts
// it back in stock; every/every_period set the frequency a checkout without one gets.
func TestF4_F6_StockAndDefaultFrequencyOverSFTP(t *testing.T) {
	sb, c := startDropSite(t)
	product := func(inStock, every, period string) []byte {
		return []byte(`<products><product><name><![CDATA[Dental Chews]]></name><product_id>CHEWS</product_id><sku>CHEWS</sku><price>9.99</price>` +
			`<autoship_eligible>1</autoship_eligible><in_stock>` + inStock + `</in_stock><every>` + every + `</every><every_period>` + period + `</every_period></product></products>`)
	}
	sandboxtest.Put(t, c, "incoming/"+demoID+".Products.xml", product("1", "1", "2")) // F6: weekly
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "eve", Items: []sandboxtest.Item{{Product: "CHEWS"}}})
	var subs []og.Subscription
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/subscriptions", nil).JSON(t, &subs)
	if len(subs) != 1 || subs[0].Every != 1 || subs[0].EveryPeriod != og.PeriodWeek || subs[0].NextOrderDate.String() != "2026-01-11" {
		t.Fatalf("subscription: %+v", subs)
	}
	sandboxtest.Put(t, c, "incoming/"+demoID+".Products.xml", product("0", "1", "2"))
	sandboxtest.Advance(t, sb, "7d") // past Jan 11, 6:00 Chicago
	o := sandboxtest.Orders(t, sb, demoID)[0]
	if o.Status != og.OrderScheduled || !strings.Contains(o.Paused, "F4") || len(o.Attempts) != 0 {
		t.Fatalf("an order of an out-of-stock product: %+v", o)
	}
	// Clock advance counts it pending; ?status=paused finds it.
	for status, want := range map[string]int{"paused": 1, "pending": 0, "scheduled": 1} {
		var os []og.Order
		do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/orders?status="+status, nil).JSON(t, &os)
		if len(os) != want {
			t.Errorf("?status=%s: %d orders, want %d", status, len(os), want)
		}
	}
	sandboxtest.Put(t, c, "incoming/"+demoID+".Products.xml", product("1", "1", "2"))
	sandboxtest.Advance(t, sb, "1d")
	if o := sandboxtest.Orders(t, sb, demoID)[0]; o.Status != og.OrderPlaced {
		t.Fatalf("back in stock, the order is %s: %+v", o.Status, o)
	}
	// The feed arrived before the placement run (F1).
	var checks control.ChecksReport
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/checks", nil).JSON(t, &checks)
	if c := checks.Checks[len(checks.Checks)-1]; c.Name != "feed_before_placement" || c.Status != og.CheckPass {
		t.Fatalf("feed cadence check: %+v", c)
	}
}

// F1: products loaded through the control API are the sandbox's shortcut, not the merchant's
// feed job: a placement run with no feed dropped on the SFTP site before it fails the check,
// and says why; each feed report says how its file came.
func TestF1_ControlAPIProductsAreNoFeed(t *testing.T) {
	sb, _ := startDropSite(t)
	body := `[{"product_id":"CHEWS","sku":"CHEWS","name":"Dental Chews","price":"9.99","in_stock":1,"autoship_eligible":1,"every":1,"every_period":2}]`
	if r := do(t, "PUT", sb.URL()+"/_sandbox/merchants/"+demoID+"/products", body); r.Status != 200 {
		t.Fatalf("PUT products: %d %s", r.Status, r.Body)
	}
	if fs := feeds(t, sb); fs[len(fs)-1].Via != og.FeedViaControlAPI {
		t.Fatalf("the control API's report: %+v", fs[len(fs)-1])
	}
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "eve", Items: []sandboxtest.Item{{Product: "CHEWS"}}})
	sandboxtest.Advance(t, sb, "7d")
	var checks control.ChecksReport
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/checks", nil).JSON(t, &checks)
	c := checks.Checks[len(checks.Checks)-1]
	if c.Name != "feed_before_placement" || c.Status != og.CheckFail || !strings.Contains(c.Message, "the sandbox's shortcuts") {
		t.Fatalf("feed cadence check after products loaded through the control API: %+v", c)
	}
}

// F1: with feed_pickup 30m a feed waits for Ordergroove's pickup on the half hour of the
// sandbox clock; the advance that crosses it reads the file as it is then.
func TestF1_PickupEvery30Minutes(t *testing.T) {
	sb, c := startDropSite(t, func(m *og.Merchant) { m.FeedPickup = og.FeedEvery30m })
	sandboxtest.Advance(t, sb, "10m") // 12:10
	before := len(feeds(t, sb))
	sandboxtest.Put(t, c, "incoming/"+demoID+".Products.xml", []byte(`<products><product><name><![CDATA[First]]></name><product_id>P1</product_id><sku>P1</sku><price>1.00</price><in_stock>1</in_stock></product></products>`))
	if n := len(feeds(t, sb)); n != before {
		t.Fatalf("the feed was read before the pickup: %d reports", n)
	}
	// A newer upload before the pickup replaces the file: the pickup reads it as it is then.
	sandboxtest.Put(t, c, "incoming/"+demoID+".Products.xml", []byte(`<products><product><name><![CDATA[Second]]></name><product_id>P2</product_id><sku>P2</sku><price>2.00</price><in_stock>1</in_stock></product></products>`))
	if sum := sandboxtest.Advance(t, sb, "19m"); sum["feeds"].(float64) != 0 {
		t.Fatalf("read before 12:30: %v", sum)
	}
	sum := sandboxtest.Advance(t, sb, "1m")
	if sum["feeds"].(float64) != 1 {
		t.Fatalf("the 12:30 pickup read %v feeds", sum["feeds"])
	}
	rep := lastFeed(t, sb)
	if len(feeds(t, sb)) != before+1 || rep.Accepted != 1 || rep.ReceivedAt.Sub(sundayNoon.Add(30*time.Minute)).Abs() > time.Second {
		t.Fatalf("pickup report: %+v", rep)
	}
	var products []control.ProductView
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/products", nil).JSON(t, &products)
	for _, p := range products {
		if p.ProductID == "P1" {
			t.Fatal("the replaced upload was read")
		}
	}
	if sum := sandboxtest.Advance(t, sb, "2h"); sum["feeds"].(float64) != 0 {
		t.Fatalf("a file is read once per upload: %v", sum)
	}
}

// POST /_sandbox/reset empties the drop site, keeping incoming/ and outgoing/.
func TestResetEmptiesTheDropSite(t *testing.T) {
	sb, c := startDropSite(t)
	sandboxtest.Put(t, c, "incoming/"+demoID+".Products.xml", []byte(`<products/>`))
	do(t, "POST", sb.URL()+"/_sandbox/reset", nil)
	for _, dir := range []string{"incoming", "outgoing"} {
		fis, err := c.ReadDir(dir)
		if err != nil || len(fis) != 0 {
			t.Fatalf("%s after reset: %v %v", dir, fis, err)
		}
	}
}

func TestHealthNamesTheDropSite(t *testing.T) {
	sb := sandboxtest.Start(t)
	var h control.Health
	do(t, "GET", sb.URL()+"/_sandbox/health", nil).JSON(t, &h)
	if h.Surfaces["sftp"] != sb.SFTPAddr() || !strings.HasPrefix(sb.SFTPAddr(), "127.0.0.1:") {
		t.Fatalf("surfaces %v", h.Surfaces)
	}
}

// O2 batch method: a placement run drops one <orders> file of its orders in outgoing/; the
// orders wait in status 9; the merchant picks the file up, deletes it, and drops a batch
// response in incoming/, whose answers get the API method's decisions (O6). Orders left
// unanswered keep waiting, across a restart too, and are never put in another file.
func TestO2_BatchMethodOverSFTP(t *testing.T) {
	dir := t.TempDir()
	batch := func(c *config.Config) {
		c.ClockStart = sundayNoon
		c.Merchants[0].Placement.Method = og.PlacementBatch
	}
	sb := sandboxtest.StartIn(t, dir, batch)
	c := sandboxtest.SFTP(t, sb, "petstore", "petstore-sftp")
	for _, user := range []string{"fay", "gus", "hal"} {
		sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: user, OrderID: "WEB-" + user, Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek}}})
	}
	sum := sandboxtest.Advance(t, sb, "7d") // past Jan 11, 6:00 Chicago: the first run
	if sum["orders"].(map[string]any)["pending"].(float64) != 3 {
		t.Fatalf("advance: %v", sum)
	}
	name := demoID + "_batch_orders_01-11-2026_060000.xml"
	fis, err := c.ReadDir("outgoing")
	if err != nil || len(fis) != 1 || fis[0].Name() != name {
		t.Fatalf("outgoing/: %v %v", fis, err)
	}
	file := sandboxtest.Get(t, c, "outgoing/"+name)
	golden.Assert(t, "batch_orders.xml", golden.ScrubIDs(file, demoID))
	orders := map[string]og.Order{}
	for _, o := range sandboxtest.Orders(t, sb, demoID) {
		if o.PlaceDate.String() == "2026-01-11" {
			orders[o.Customer] = o
			if o.Status != og.OrderPending || o.StatusCode != og.StatusPendingBatchResponse || o.Attempts[0].File != "outgoing/"+name || !strings.Contains(string(file), o.XML[strings.Index(o.XML, "<order>"):]) {
				t.Fatalf("order %d in the batch: %+v", o.OGID, o)
			}
		}
	}
	if err := c.Remove("outgoing/" + name); err != nil { // the merchant deletes the file after pickup
		t.Fatal(err)
	}

	// The merchant answers two of the three, and names an order that does not exist.
	fay, gus, hal := orders["fay"].OGID, orders["gus"].OGID, orders["hal"].OGID
	answer := func(id int64, body string) string {
		return "  <order><ogOrderId>" + strconvI(id) + "</ogOrderId>" + body + "</order>\n"
	}
	response := "<orders>\n" + answer(fay, "<code>SUCCESS</code><orderId>M-1001</orderId>") +
		answer(gus, "<code>ERROR</code><errorCode>140</errorCode><errorMsg>Declined</errorMsg>") +
		answer(999999, "<code>SUCCESS</code><orderId>M-0</orderId>") + "</orders>\n"
	respName := demoID + ".BatchResponse01-11-2026_070000.xml"
	sandboxtest.Put(t, c, "incoming/"+respName, []byte(response))
	rep := lastFeed(t, sb)
	if rep.Kind != "batch_response" || rep.Entries != 3 || rep.Accepted != 2 || rep.Refused != 1 {
		t.Fatalf("batch response report: %+v", rep)
	}
	txt := sandboxtest.Get(t, c, "outgoing/"+respName+".report.txt")
	golden.Assert(t, "batch_response_report.txt", golden.Scrub(txt, map[string]string{demoID: "<MERCHANT_ID>"}))

	byCustomer := func() map[string]og.Order {
		out := map[string]og.Order{}
		for _, o := range sandboxtest.Orders(t, sb, demoID) {
			if o.PlaceDate.String() == "2026-01-11" {
				out[o.Customer] = o
			}
		}
		return out
	}
	now := byCustomer()
	if o := now["fay"]; o.Status != og.OrderPlaced || o.StatusCode != og.StatusSuccess || o.MerchantOrderID != "M-1001" {
		t.Fatalf("fay: %+v", o)
	}
	if o := now["gus"]; o.Status != og.OrderRejected || o.ErrorCode != "140" {
		t.Fatalf("gus: %+v", o)
	}
	if o := now["hal"]; o.StatusCode != og.StatusPendingBatchResponse {
		t.Fatalf("hal: %+v", o)
	}
	var kinds []string
	for _, m := range sandboxtest.Emails(t, sb, demoID) {
		if m.Kind != og.EmailReminder {
			kinds = append(kinds, m.To[:strings.Index(m.To, "@")]+":"+m.Kind)
		}
	}
	if strings.Join(kinds, ",") != "fay:order_placed,gus:order_rejected_payment" {
		t.Fatalf("emails: %v", kinds)
	}

	// hal's order waits across a restart and is in no later file.
	sb.Close()
	sb = sandboxtest.StartIn(t, dir, batch)
	c = sandboxtest.SFTP(t, sb, "petstore", "petstore-sftp")
	sandboxtest.Advance(t, sb, "1d")
	if o := byCustomer()["hal"]; o.StatusCode != og.StatusPendingBatchResponse || len(o.Attempts) != 1 {
		t.Fatalf("hal after a restart and a run: %+v", o)
	}
	for _, fi := range mustReadDir(t, c, "outgoing") {
		if strings.HasPrefix(fi.Name(), demoID+"_batch_orders") {
			if f := sandboxtest.Get(t, c, "outgoing/"+fi.Name()); strings.Contains(string(f), "<orderOgId>"+strconvI(hal)+"<") {
				t.Fatalf("hal's order went out again in %s", fi.Name())
			}
		}
	}
	// A late answer still counts; a second answer to a finished order is refused.
	sandboxtest.Put(t, c, "incoming/"+demoID+".BatchResponse01-12-2026_070000.xml", []byte("<orders>"+answer(hal, "<code>SUCCESS</code><orderId>M-1003</orderId>")+answer(fay, "<code>SUCCESS</code><orderId>M-1001</orderId>")+"</orders>"))
	rep = lastFeed(t, sb)
	if rep.Accepted != 1 || rep.Refused != 1 || !strings.Contains(rep.Findings[0].Message, "does not await an answer") {
		t.Fatalf("late answers: %+v", rep)
	}
	if o := byCustomer()["hal"]; o.Status != og.OrderPlaced {
		t.Fatalf("hal: %+v", o)
	}
}

// startBatchMerchant starts the demo merchant on the batch method at sundayNoon, and logs in to
// its drop site.
func startBatchMerchant(t *testing.T) (*sandbox.Sandbox, *sftp.Client) {
	sb := sandboxtest.Start(t, func(c *config.Config) {
		c.ClockStart = sundayNoon
		c.Merchants[0].Placement.Method = og.PlacementBatch
	})
	return sb, sandboxtest.SFTP(t, sb, "petstore", "petstore-sftp")
}

// O2, REFERENCE §6: an order of a batch file that is never answered waits in status 9, and its
// subscription goes on to its next orders all the same (Ordergroove never stops a subscription
// for an order); an answer that comes late adds none.
func TestO2_UnansweredBatchOrderDoesNotStopItsSubscription(t *testing.T) {
	sb, c := startBatchMerchant(t)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "ida", OrderID: "WEB-ida", Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek}}})
	sandboxtest.Advance(t, sb, "7d")  // Jan 11: the first order goes out in a file
	sandboxtest.Advance(t, sb, "21d") // no answer ever comes
	dates := map[string]int{}
	var first og.Order
	for _, o := range sandboxtest.Orders(t, sb, demoID) {
		dates[o.PlaceDate.String()]++
		if o.PlaceDate.String() == "2026-01-11" {
			first = o
		}
	}
	if first.StatusCode != og.StatusPendingBatchResponse {
		t.Fatalf("the unanswered order: %+v", first)
	}
	// Each next order is made at the run of its date (Feb 1 is the last run so far).
	want := map[string]int{"2026-01-11": 1, "2026-01-18": 1, "2026-01-25": 1, "2026-02-01": 1}
	if fmt.Sprint(dates) != fmt.Sprint(want) {
		t.Fatalf("orders by date %v, want %v", dates, want)
	}
	// The late answer places the first order and adds no other.
	resp := "<orders><order><ogOrderId>" + strconvI(first.OGID) + "</ogOrderId><code>SUCCESS</code><orderId>M-1</orderId></order></orders>"
	sandboxtest.Put(t, c, "incoming/"+demoID+".BatchResponse01-11-2026_070000.xml", []byte(resp))
	if rep := lastFeed(t, sb); rep.Accepted != 1 || len(rep.Findings) != 1 || !strings.Contains(rep.Findings[0].Message, "is still in outgoing/: the merchant deletes the order file once it has picked it up (O2)") {
		t.Fatalf("a response while its order file is still in outgoing/: %+v", rep)
	}
	sandboxtest.Advance(t, sb, "1d")
	after := map[string]int{}
	for _, o := range sandboxtest.Orders(t, sb, demoID) {
		after[o.PlaceDate.String()]++
		if o.OGID == first.OGID && o.Status != og.OrderPlaced {
			t.Fatalf("the order answered late: %+v", o)
		}
	}
	if fmt.Sprint(after) != fmt.Sprint(want) {
		t.Fatalf("orders by date after the late answer %v, want %v", after, want)
	}
}

// O2, O6d: a batch order answered 999 is retried in the next run's file, and stands for its
// day's order when it is placed, as an API order does: the next file of a daily subscription
// holds the retry, not the retry and the next day's order.
func TestO2_BatchRetryAfter999IsNotDoubled(t *testing.T) {
	sb, c := startBatchMerchant(t)
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "jo", OrderID: "WEB-jo", Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodDay}}})
	sandboxtest.Advance(t, sb, "1d") // Jan 5, 6:00 Chicago: the first file
	first := sandboxtest.Orders(t, sb, demoID)[0]
	resp := "<orders><order><ogOrderId>" + strconvI(first.OGID) + "</ogOrderId><code>ERROR</code><errorCode>999</errorCode></order></orders>"
	sandboxtest.Put(t, c, "incoming/"+demoID+".BatchResponse01-05-2026_070000.xml", []byte(resp))
	sandboxtest.Advance(t, sb, "1d") // Jan 6: the next file
	var files []string
	for _, fi := range mustReadDir(t, c, "outgoing") {
		if strings.Contains(fi.Name(), "_batch_orders_01-06-2026") {
			files = append(files, string(sandboxtest.Get(t, c, "outgoing/"+fi.Name())))
		}
	}
	if len(files) != 1 || strings.Count(files[0], "<orderOgId>") != 1 || !strings.Contains(files[0], "<orderOgId>"+strconvI(first.OGID)+"<") {
		t.Fatalf("Jan 6's files: %q; want one holding the retry only", files)
	}
}

// O4: what a batch response file must look like, refused line by line.
func TestO4_BadBatchResponses(t *testing.T) {
	sb, c := startDropSite(t, func(m *og.Merchant) { m.Placement.Method = og.PlacementBatch })
	for _, tc := range []struct{ name, body, want string }{
		{"single_order_root", `<order><code>SUCCESS</code></order>`, "wraps its answers in <orders>"},
		{"no_og_order_id", "<orders>\n<order><code>SUCCESS</code></order></orders>", "has no <ogOrderId>"},
		{"not_an_id", "<orders>\n<order><ogOrderId>abc</ogOrderId><code>SUCCESS</code></order></orders>", "is not an order id"},
		{"broken_xml", "<orders>\n<order><ogOrderId>1</ogOrderId>", "answers after it were not read"},
		{"entity_expansion", `<?xml version="1.0"?><!DOCTYPE o [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><orders>&b;</orders>`, "well-formed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := demoID + ".BatchResponse01-11-2026_0" + strconvI(int64(len(tc.name)%10)) + "0000.xml"
			sandboxtest.Put(t, c, "incoming/"+file, []byte(tc.body))
			rep := lastFeed(t, sb)
			all := ""
			for _, f := range rep.Findings {
				all += f.Rule + " line " + strconvI(int64(f.Line)) + ": " + f.Message + "\n"
			}
			if rep.Accepted != 0 || !strings.Contains(all, tc.want) {
				t.Fatalf("report %+v:\n%s", rep, all)
			}
		})
	}
}

func mustReadDir(t *testing.T, c *sftp.Client, dir string) []os.FileInfo {
	t.Helper()
	fis, err := c.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return fis
}

func strconvI(i int64) string { return fmt.Sprint(i) }

// Two batch responses answering the same orders at once decide each order once (O2).
func TestO2_ConcurrentBatchResponsesDecideOnce(t *testing.T) {
	sb, c1 := startDropSite(t, func(m *og.Merchant) { m.Placement.Method = og.PlacementBatch })
	c2 := sandboxtest.SFTP(t, sb, "petstore", "petstore-sftp")
	const n = 30
	for i := range n {
		sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: fmt.Sprintf("u%02d", i), OrderID: fmt.Sprintf("WEB-%d", i), Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek}}})
	}
	sandboxtest.Advance(t, sb, "7d")
	var ok, bad strings.Builder
	ok.WriteString("<orders>")
	bad.WriteString("<orders>")
	for _, o := range sandboxtest.Orders(t, sb, demoID) {
		if o.StatusCode == og.StatusPendingBatchResponse {
			fmt.Fprintf(&ok, "<order><ogOrderId>%d</ogOrderId><code>SUCCESS</code><orderId>M-%d</orderId></order>", o.OGID, o.OGID)
			fmt.Fprintf(&bad, "<order><ogOrderId>%d</ogOrderId><code>ERROR</code><errorCode>140</errorCode><errorMsg>x</errorMsg></order>", o.OGID)
		}
	}
	ok.WriteString("</orders>")
	bad.WriteString("</orders>")
	var wg sync.WaitGroup
	for k, up := range []struct {
		c    *sftp.Client
		body string
	}{{c1, ok.String()}, {c2, bad.String()}} {
		wg.Go(func() {
			if err := put(up.c, fmt.Sprintf("incoming/%s.BatchResponse01-11-2026_07000%d.xml", demoID, k), []byte(up.body)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	decided := 0
	for _, o := range sandboxtest.Orders(t, sb, demoID) {
		if o.PlaceDate.String() == "2026-01-11" {
			if o.Status != og.OrderPlaced && o.Status != og.OrderRejected || len(o.Attempts) != 1 {
				t.Fatalf("order %d: %s with %d attempts", o.OGID, o.Status, len(o.Attempts))
			}
			decided++
		}
	}
	emails := 0
	for _, m := range sandboxtest.Emails(t, sb, demoID) {
		if m.Kind == og.EmailPlaced || m.Kind == og.EmailPaymentIssue {
			emails++
		}
	}
	rs := feeds(t, sb)
	applied := rs[len(rs)-1].Accepted + rs[len(rs)-2].Accepted
	if decided != n || emails != n || applied != n {
		t.Fatalf("%d orders decided, %d emails, %d answers applied; want %d each", decided, emails, applied, n)
	}
}

// What a merchant does to its own site never stops the clock: a feed waiting for the F1
// pickup that is gone by then (even replaced by a folder) is noted, and time goes on.
func TestF1_PickupOfAVanishedFeed(t *testing.T) {
	sb, c := startDropSite(t, func(m *og.Merchant) { m.FeedPickup = og.FeedEvery30m })
	name := "incoming/" + demoID + ".Products.xml"
	sandboxtest.Put(t, c, name, []byte(`<products/>`))
	if err := c.Remove(name); err != nil {
		t.Fatal(err)
	}
	if err := c.Mkdir(name); err != nil {
		t.Fatal(err)
	}
	sandboxtest.Advance(t, sb, "1h")
	sandboxtest.Advance(t, sb, "1h")
	var page og.JournalPage
	do(t, "GET", sb.URL()+"/_sandbox/journal?surface=sftp", nil).JSON(t, &page)
	found := false
	for _, e := range page.Entries {
		found = found || strings.Contains(e.Note, "30-minute pickup")
	}
	if !found {
		t.Fatalf("the pickup left no word in the journal: %+v", page.Entries)
	}
}

// put uploads a file; unlike sandboxtest.Put it may run on any goroutine.
func put(c *sftp.Client, path string, data []byte) error {
	f, err := c.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// O2, O6a: a batch whose file could not be written (outgoing/ was not a folder at the run) is
// the merchant's to fix: the advance goes on (the clock, and every other merchant's runs, are
// not held up by one drop site), the journal says why, and the file is written at the next
// run, with the same orders; the orders are in no second file.
func TestO2_UnwrittenBatchIsWrittenLater(t *testing.T) {
	sb, c := startDropSite(t, func(m *og.Merchant) { m.Placement.Method = og.PlacementBatch })
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "ivy", OrderID: "WEB-ivy", Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek}}})
	outgoing := filepath.Join(sb.Config().DataDir, "sftp", demoID, "outgoing")
	if err := os.Remove(outgoing); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(outgoing, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := sb.Clock().Now()
	if r := do(t, "POST", sb.URL()+"/_sandbox/clock/advance", map[string]string{"by": "7d"}); r.Status != 200 {
		t.Fatalf("an advance whose batch file cannot be written: %d %s", r.Status, r.Body)
	}
	if moved := sb.Clock().Now().Sub(before); moved < 7*24*time.Hour {
		t.Fatalf("the clock moved %s of 7 days", moved)
	}
	var page og.JournalPage
	do(t, "GET", sb.URL()+"/_sandbox/journal?surface=sftp&limit=5", nil).JSON(t, &page)
	if len(page.Entries) == 0 || !strings.Contains(page.Entries[0].Note, "could not drop outgoing/") || !slices.Contains(page.Entries[0].Rules, "O6") {
		t.Fatalf("the journal does not say the file could not be dropped: %+v", page.Entries)
	}
	o := sandboxtest.Orders(t, sb, demoID)[0]
	if o.StatusCode != og.StatusPendingBatchResponse {
		t.Fatalf("the order before its file is written: %+v", o)
	}
	if err := os.Remove(outgoing); err != nil {
		t.Fatal(err)
	}
	sandboxtest.Advance(t, sb, "1d") // the merchant's next run
	name := demoID + "_batch_orders_01-11-2026_060000.xml"
	file := sandboxtest.Get(t, c, "outgoing/"+name)
	if n := strings.Count(string(file), "<order>"); n != 1 || !strings.Contains(string(file), fmt.Sprintf("<orderOgId>%d</orderOgId>", o.OGID)) {
		t.Fatalf("the batch file holds %d orders:\n%s", n, file)
	}
	if fis := mustReadDir(t, c, "outgoing"); len(fis) != 1 {
		t.Fatalf("outgoing/ holds %d files", len(fis))
	}
}

// O2, O6a: a folder the merchant made where the next batch file goes (its name is predictable)
// holds up that merchant's orders only; the advance goes on, and once the folder is gone the
// file is written.
func TestO2_FolderWhereTheBatchFileGoes(t *testing.T) {
	sb, c := startDropSite(t, func(m *og.Merchant) { m.Placement.Method = og.PlacementBatch })
	sandboxtest.Subscribe(t, sb, sandboxtest.Checkout{UserID: "ivy", OrderID: "WEB-ivy", Items: []sandboxtest.Item{{Product: "DF-30", Every: 1, Period: og.PeriodWeek}}})
	name := "outgoing/" + demoID + "_batch_orders_01-11-2026_060000.xml"
	if err := c.Mkdir(name); err != nil {
		t.Fatal(err)
	}
	if r := do(t, "POST", sb.URL()+"/_sandbox/clock/advance", map[string]string{"by": "7d"}); r.Status != 200 {
		t.Fatalf("an advance whose batch file has a folder in its place: %d %s", r.Status, r.Body)
	}
	if err := c.RemoveDirectory(name); err != nil {
		t.Fatal(err)
	}
	sandboxtest.Advance(t, sb, "1d")
	if file := sandboxtest.Get(t, c, name); !strings.Contains(string(file), "<orderOgId>") {
		t.Fatalf("the batch file once the folder is gone:\n%s", file)
	}
}
