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
	f.Add([]byte("\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><products><product><name><![CDATA[Caf\xe9]]></name></product></products>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []og.Product
		rep, err := ReadProducts(bytes.NewReader(data), "f.xml", time.Unix(0, 0), func(ps []og.Product) error {
			got = append(got, ps...)
			return nil
		})
		checkProductsReport(t, rep, got, err)
	})
}

// checkProductsReport holds what every products reading promises, whatever its input: the
// counts add up, every finding names its rule, and every accepted product is within bounds.
func checkProductsReport(t *testing.T, rep Report, got []og.Product, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("the reader failed on its own input: %v", err)
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
}

// FuzzReadProductsJSON: the control API's JSON products, as FuzzReadProducts reads feeds.
func FuzzReadProductsJSON(f *testing.F) {
	f.Add([]byte(`[{"product_id":"J1","sku":"J1","name":"J","price":"9.99","in_stock":1,"groups":[{"type":"sku_swap","name":"G"}],"extra_data":{"k":"v"},"default_frequency":{"every":1,"every_period":3}}]`))
	f.Add([]byte(`[{"product_id":"J","groups":"x","relationships":[{"name":"discontinued_replacement","related":{"product_id":2}}]},1,null,[]]`))
	f.Add([]byte(`[{"name":["a"],"price":{"v":1},"categories":[[1]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []og.Product
		rep, err := ReadProductsJSON(bytes.NewReader(data), "put", time.Unix(0, 0), func(ps []og.Product) error {
			got = append(got, ps...)
			return nil
		})
		checkProductsReport(t, rep, got, err)
	})
}

// FuzzReadCategories: no input crashes the categories reader; the counts add up; every
// accepted category has an id and a name within bounds, and no accepted category is its own
// ancestor.
func FuzzReadCategories(f *testing.F) {
	f.Add([]byte(`<categories><category><category_id>A</category_id><name><![CDATA[A]]></name></category></categories>`))
	f.Add([]byte(`<categories><category><category_id>A</category_id><name>A</name><parent_id>B</parent_id></category><category><category_id>B</category_id><name>B</name><parent_id>A</parent_id></category></categories>`))
	f.Add([]byte(`<categories><category><category_id>A</category_id><category_id>B</category_id><x><y/></x></category><z/></categories>`))
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><categories>&a;</categories>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []og.Category
		rep, err := ReadCategories(bytes.NewReader(data), "f.xml", time.Unix(0, 0), func(string) (string, bool) { return "", false }, func(cs []og.Category) error {
			got = append(got, cs...)
			return nil
		})
		if err != nil {
			t.Fatalf("ReadCategories failed on its own input: %v", err)
		}
		if rep.Accepted+rep.Refused != rep.Entries || len(got) > rep.Accepted {
			t.Fatalf("counts: %d accepted (%d handed over), %d refused, %d entries", rep.Accepted, len(got), rep.Refused, rep.Entries)
		}
		parent := map[string]string{}
		for _, c := range got {
			if c.ID == "" || len(c.ID) > 64 || c.Name == "" || len(c.Name) > 1024 {
				t.Fatalf("accepted an out-of-bounds category: %+v", c)
			}
			parent[c.ID] = c.ParentID
		}
		for id := range parent {
			seen := map[string]bool{}
			for p := id; p != ""; p = parent[p] {
				if seen[p] {
					t.Fatalf("accepted categories form a cycle through %s", id)
				}
				seen[p] = true
			}
		}
		for _, d := range rep.Findings {
			if d.Rule == "" || d.Message == "" {
				t.Fatalf("finding without rule or message: %+v", d)
			}
		}
	})
}
