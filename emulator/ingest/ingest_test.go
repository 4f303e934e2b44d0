package ingest

import (
	"testing"
	"time"
)

// F1, F8, O2: Ordergroove reads only exact names; the merchant id is the part before the kind.
func TestClassify(t *testing.T) {
	for _, tc := range []struct{ name, kind, merchant string }{
		{"0e5d.Products.xml", KindProducts, "0e5d"},
		{"acme.ProductCategories.xml", KindCategories, "acme"},
		{"acme.BatchResponse01-11-2026_070000.xml", KindBatchResponse, "acme"},
		{"acme.BatchResponse1-11-2026_070000.xml", "", ""},
		{"acme.products.xml", "", ""},
		{"Products.xml", "", ""},
		{"acme.Products.xml.report.txt", "", ""},
		{"acme_batch_orders_01-11-2026_060000.xml", "", ""},
	} {
		if kind, m := Classify(tc.name); kind != tc.kind || m != tc.merchant {
			t.Errorf("Classify(%q) = %q, %q; want %q, %q", tc.name, kind, m, tc.kind, tc.merchant)
		}
	}
	if why := nearMiss("products.xml", "acme"); why == "" {
		t.Error("products.xml is not recognised as a misnamed feed")
	}
	for _, quiet := range []string{"notes.txt", "acme.Products.xml.filepart", "acme.Products.xml.tmp",
		"product_images.zip", "categories.pdf", "acme_batch_orders_01-11-2026_060000.xml"} { // not feeds; the sandbox's own order file
		if why := nearMiss(quiet, "acme"); why != "" {
			t.Errorf("%s: %s", quiet, why)
		}
	}
	for _, missed := range []string{"products.csv", "acme.Product.xml", "acme.Categories.XML", "feed.xml", "acme.Products.xml.gz"} {
		if why := nearMiss(missed, "acme"); why == "" {
			t.Errorf("%s is not reported as a misnamed feed", missed)
		}
	}
}

// F1: a file is read at the first half hour at or after its upload.
func TestPickupAt(t *testing.T) {
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, s); return v }
	for _, tc := range []struct{ upload, pickup string }{
		{"2026-01-04T12:10:00Z", "2026-01-04T12:30:00Z"},
		{"2026-01-04T12:30:00Z", "2026-01-04T12:30:00Z"},
		{"2026-01-04T12:30:00.000001Z", "2026-01-04T13:00:00Z"},
		{"2026-01-04T23:59:59Z", "2026-01-05T00:00:00Z"},
	} {
		if got := pickupAt(at(tc.upload)); !got.Equal(at(tc.pickup)) {
			t.Errorf("pickupAt(%s) = %s, want %s", tc.upload, got, tc.pickup)
		}
	}
}
