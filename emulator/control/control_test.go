package control_test

import (
	"strings"
	"testing"

	"github.com/ogsandbox/ogsandbox/emulator/config"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox/sandboxtest"
	"github.com/ogsandbox/ogsandbox/internal/golden"
)

var (
	do   = sandboxtest.Do
	demo = config.DemoMerchant()
)

// PUT products validates exactly as a feed (F2-F7) and answers with the feed's report.
func TestPutProducts(t *testing.T) {
	sb := sandboxtest.Start(t)
	url := sb.URL() + "/_sandbox/merchants/" + demo.ID + "/products"
	r := do(t, "PUT", url, `[{"product_id":"NEW-1","sku":"NEW-1","name":"New One","price":"3.00","in_stock":1},
	                         {"product_id":"NEW-2","sku":"NEW-2","name":"New Two","price":"3.0","in_stock":1}]`)
	var rep og.FeedReport
	r.JSON(t, &rep)
	if r.Status != 207 || rep.Accepted != 1 || rep.Refused != 1 || rep.Effects.Upserted != 1 || rep.Findings[0].Rule != "F2" {
		t.Fatalf("JSON: %d %s", r.Status, r.Body)
	}
	r = do(t, "PUT", url, `<products><product><name><![CDATA[X]]></name><product_id>NEW-3</product_id><sku>NEW-3</sku><price>1.00</price><in_stock>2</in_stock></product></products>`)
	r.JSON(t, &rep)
	if r.Status != 400 || rep.Accepted != 0 || rep.Findings[0].Line != 1 {
		t.Fatalf("XML, nothing valid: %d %s", r.Status, r.Body)
	}
	r = do(t, "PUT", url, `{"product_id":"NEW-4","sku":"NEW-4","name":"Single","price":"2.50","in_stock":0}`)
	if r.Status != 200 {
		t.Fatalf("single JSON object: %d %s", r.Status, r.Body)
	}
	if r := do(t, "PUT", url, `product_id=1`); r.Status != 400 || !strings.Contains(string(r.Body), "neither a product feed") {
		t.Fatalf("not a feed: %d %s", r.Status, r.Body)
	}
	var ps []og.Product
	do(t, "GET", url, nil).JSON(t, &ps)
	names := map[string]bool{}
	for _, p := range ps {
		names[p.ProductID] = true
	}
	if !names["NEW-1"] || names["NEW-2"] || names["NEW-3"] || !names["NEW-4"] || !names["DF-30"] {
		t.Fatalf("catalogue after the PUTs: %v", names)
	}
	var feeds []og.FeedReport
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/feeds", nil).JSON(t, &feeds)
	if len(feeds) != 4 || feeds[0].File != "demo catalogue (embedded)" || feeds[0].Accepted != 8 {
		t.Fatalf("feeds: %+v", feeds)
	}
	// Reset forgets the PUT products and reloads the demo catalogue.
	do(t, "POST", sb.URL()+"/_sandbox/reset", nil)
	do(t, "GET", url, nil).JSON(t, &ps)
	if len(ps) != 8 {
		t.Fatalf("%d products after reset, want the demo's 8", len(ps))
	}
}

func TestDemoCatalogue(t *testing.T) {
	sb := sandboxtest.Start(t)
	r := do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/products", nil)
	golden.JSON(t, "demo_products", r.Body, nil)
	var feeds []og.FeedReport
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/feeds", nil).JSON(t, &feeds)
	if len(feeds) != 1 || feeds[0].Errors() != 0 || feeds[0].Refused != 0 {
		t.Fatalf("the demo catalogue has findings: %+v", feeds)
	}
}

func TestUnknownMerchant(t *testing.T) {
	sb := sandboxtest.Start(t)
	for _, path := range []string{"subscriptions", "customers", "products", "feeds", "checks"} {
		r := do(t, "GET", sb.URL()+"/_sandbox/merchants/nobody/"+path, nil)
		if r.Status != 404 || !strings.Contains(string(r.Body), `"field":"merchant_id"`) || !strings.Contains(string(r.Body), demo.ID) {
			t.Errorf("%s of an unknown merchant: %d %s", path, r.Status, r.Body)
		}
	}
}
