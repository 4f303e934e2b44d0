package feed

import (
	"bytes"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// FuzzReadProducts: no input crashes the feed reader; every finding names a rule; the counts
// add up; every accepted product passed F2's bounds.
func FuzzReadProducts(f *testing.F) {
	f.Add([]byte(`<products><product><name><![CDATA[A & B]]></name><product_id>1</product_id><sku>1</sku><price>1.00</price><in_stock>1</in_stock></product></products>`))
	f.Add([]byte(`<products><product><price>"1.0"</price><discontinued>1</discontinued><every>1</every></product>`))
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><products>&a;</products>`))
	f.Add([]byte(`<products><product><relationships><relationship><name>x</name></relationship></relationships></product></products>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []og.Product
		rep, err := ReadProducts(bytes.NewReader(data), "f.xml", time.Unix(0, 0), func(ps []og.Product) error {
			got = append(got, ps...)
			return nil
		})
		if err != nil {
			t.Fatalf("ReadProducts failed on its own input: %v", err)
		}
		if rep.Accepted != len(got) || rep.Accepted+rep.Refused != rep.Entries {
			t.Fatalf("counts: %d accepted (%d handed over), %d refused, %d products", rep.Accepted, len(got), rep.Refused, rep.Entries)
		}
		for _, d := range rep.Findings {
			if d.Rule == "" || d.Message == "" {
				t.Fatalf("finding without rule or message: %+v", d)
			}
		}
		for _, p := range got {
			if p.ProductID == "" || len(p.ProductID) > 64 || len(p.Name) > 1024 || p.Price > og.MaxPrice || p.Price < 0 {
				t.Fatalf("accepted an out-of-bounds product: %+v", p)
			}
		}
	})
}
