package feed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/internal/golden"
)

var now = time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)

func read(t *testing.T, data string) (og.FeedReport, []og.Product) {
	t.Helper()
	var got []og.Product
	rep, err := ReadProducts(strings.NewReader(data), "test.Products.xml", now, func(ps []og.Product) error {
		got = append(got, ps...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep, got
}

// F2-F7, C1: every finding of a mixed feed, with its line and rule, as a golden report.
func TestMixedFeedReport(t *testing.T) {
	data, err := os.ReadFile("testdata/mixed.Products.xml")
	if err != nil {
		t.Fatal(err)
	}
	rep, got := read(t, string(data))
	if rep.Entries != 9 || rep.Accepted != 2 || rep.Refused != 7 || !rep.Complete {
		t.Fatalf("products %d accepted %d refused %d complete %v", rep.Entries, rep.Accepted, rep.Refused, rep.Complete)
	}
	if len(got) != 2 || got[1].ProductID != "GOOD-1" || got[1].Price != 1899 {
		t.Fatalf("accepted %+v; want GOOD-1 twice, the later entry last", got)
	}
	good := got[0]
	if good.Price != 1999 || !good.AutoshipEligible || !good.InStock || good.Frequency == nil || good.Frequency.Days() != 42 ||
		good.VariantName() != "Large" || good.Groups[0].Type != "sku_swap" || good.Name != "Good Dog Food & Treats" {
		t.Fatalf("GOOD-1: %+v", good)
	}
	b, _ := json.Marshal(rep)
	golden.JSON(t, "mixed_report", b, nil)
}

func TestEntityTricksDoNothing(t *testing.T) {
	for name, data := range map[string]string{
		"external_entity": `<?xml version="1.0"?><!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><products><product><name>&xxe;</name></product></products>`,
		"billion_laughs":  `<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><products><product><name>&b;</name></product></products>`,
	} {
		t.Run(name, func(t *testing.T) {
			rep, got := read(t, data)
			if len(got) != 0 || rep.Complete || len(rep.Findings) == 0 || rep.Findings[0].Rule != "F7" || !strings.Contains(rep.Findings[0].Message, "not well-formed") {
				t.Fatalf("report %+v", rep)
			}
			if b, _ := json.Marshal(rep); bytes.Contains(b, []byte("root:")) {
				t.Fatal("the file's content leaked into the report")
			}
		})
	}
}

func TestTruncatedFeedKeepsWhatCameBefore(t *testing.T) {
	data := `<products>
<product><name><![CDATA[A]]></name><product_id>A</product_id><sku>A</sku><price>1.00</price><in_stock>1</in_stock></product>
<product><name><![CDATA[B]]></name><product_id>B</product_id><sku>B</sku><pri`
	rep, got := read(t, data)
	if len(got) != 1 || got[0].ProductID != "A" || rep.Complete || rep.Entries != 2 || rep.Refused != 1 {
		t.Fatalf("report %+v, got %d", rep, len(got))
	}
	last := rep.Findings[len(rep.Findings)-1]
	if last.Line != 3 || !strings.Contains(last.Message, "truncated") {
		t.Fatalf("finding %+v", last)
	}
}

func TestWrongRoot(t *testing.T) {
	rep, _ := read(t, `<catalog><product/></catalog>`)
	if len(rep.Findings) != 1 || !strings.Contains(rep.Findings[0].Message, "root element is <catalog>") {
		t.Fatalf("%+v", rep)
	}
	rep, _ = read(t, ``)
	if len(rep.Findings) != 1 || !strings.Contains(rep.Findings[0].Message, "no <products>") {
		t.Fatalf("%+v", rep)
	}
}

// The JSON form of PUT products validates exactly as the feed does.
func TestJSONProducts(t *testing.T) {
	var got []og.Product
	rep, err := ReadProductsJSON(strings.NewReader(`[
	 {"product_id":"J1","sku":"J1","name":"Json One","price":"9.99","in_stock":1,"autoship_eligible":true,"groups":[{"type":"sku_swap","name":"G"}],"extra_data":{"variant_name":"Small"},"default_frequency":{"every":1,"every_period":3}},
	 {"product_id":"J2","sku":"J2","name":"Json Two","price":9.9,"in_stock":1},
	 {"product_id":"J3","sku":"J3","name":"Json Three","price":"1.00","in_stock":"yes"},
	 {"product_id":"J4","sku":"J4","name":"Json Four","price":"1.00","in_stock":1,"discontinued":1}
	]`), "put", now, func(ps []og.Product) error { got = append(got, ps...); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepted != 1 || rep.Refused != 3 || got[0].Frequency.EveryPeriod != 3 || got[0].VariantName() != "Small" {
		t.Fatalf("report %+v, got %+v", rep, got)
	}
	rules := map[string]bool{}
	for _, f := range rep.Findings {
		rules[f.Rule+" "+f.Field] = true
	}
	for _, want := range []string{"F2 products[J2].price", "F2 products[J3].in_stock", "F3 products[J4].discontinued"} {
		if !rules[want] {
			t.Errorf("no finding %s in %v", want, rules)
		}
	}
}

// A JSON field whose value has the wrong shape refuses its product, naming the field and what
// it should be: dropping it would report a product accepted without its groups or relations.
func TestJSONProductsOfTheWrongShape(t *testing.T) {
	base := `"sku":"W","name":"W","price":"1.00","in_stock":1,"autoship_eligible":1`
	for _, tc := range []struct{ field, body, want string }{
		{"groups", `"groups":"abc"`, `groups should be an array of {"type", "name"} objects or of names, not a string`},
		{"groups", `"groups":{"group":[]}`, "not an object"},
		{"categories", `"categories":"single"`, "categories should be an array of category ids, not a string"},
		{"relationships", `"relationships":"x"`, "relationships should be an array"},
		{"extra_data", `"extra_data":[{"key":"k","value":"v"}]`, `extra_data should be an object of "key": "value" fields, not an array`},
		{"name", `"name":["a"]`, "name should be a string, a number or a boolean, not an array"},
		{"price", `"price":{"v":1}`, "price should be a string, a number or a boolean, not an object"},
		{"default_frequency", `"default_frequency":3`, "not a number"},
	} {
		body := `[{"product_id":"W",` + base + `,` + tc.body + `}, 7]`
		rep, err := ReadProductsJSON(strings.NewReader(body), "put", now, func([]og.Product) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, f := range rep.Findings {
			found = found || f.Severity == og.SeverityError && strings.HasSuffix(f.Field, tc.field) && strings.Contains(f.Message, tc.want)
		}
		if rep.Accepted != 0 || rep.Refused != 2 || !found {
			t.Errorf("%s: accepted %d, refused %d, findings %+v", tc.body, rep.Accepted, rep.Refused, rep.Findings)
		}
		if last := rep.Findings[len(rep.Findings)-1]; !strings.Contains(last.Message, "product #2 is a number, not a JSON object") {
			t.Errorf("a number in the array: %+v", last)
		}
	}
}

// A JSON array cut short is not complete, whether the cut falls inside a product or after
// one: the ingester holds back F3's swaps for an incomplete list.
func TestJSONProductsCutShortAreIncomplete(t *testing.T) {
	p := `{"product_id":"J1","sku":"J1","name":"J","price":"1.00","in_stock":1}`
	for body, complete := range map[string]bool{"[" + p + "]": true, "[" + p: false, "[" + p + ",": false, "[" + p + `,{"product_id":"J2"`: false, "[]": true} {
		rep, err := ReadProductsJSON(strings.NewReader(body), "put", now, func([]og.Product) error { return nil })
		if err != nil || rep.Complete != complete {
			t.Errorf("%s: complete %v, want %v (%v)", body, rep.Complete, complete, err)
		}
	}
}

// C1: a feed that is not UTF-8 is refused saying so; a UTF-8 byte order mark is no text of the
// feed (it drew "text outside any <product>").
func TestFeedEncodings(t *testing.T) {
	product := `<products><product><name><![CDATA[A]]></name><product_id>A</product_id><sku>A</sku><price>1.00</price><in_stock>1</in_stock></product></products>`
	rep, got := read(t, "\xef\xbb\xbf"+product)
	if len(got) != 1 || len(rep.Findings) != 0 {
		t.Fatalf("a feed with a byte order mark: %d products, findings %+v", len(got), rep.Findings)
	}
	for name, data := range map[string]string{
		"shift_jis_declared": `<?xml version="1.0" encoding="Shift_JIS"?>` + product,
		"utf16_undeclared":   "\xff\xfe<\x00p\x00r\x00o\x00d\x00",
	} {
		rep, _ := read(t, data)
		if len(rep.Findings) == 0 {
			t.Fatalf("%s: no finding", name)
		}
		if f := rep.Findings[len(rep.Findings)-1]; f.Rule != "C1" || !strings.Contains(f.Message, "save it as UTF-8") && !strings.Contains(f.Message, "save the file as UTF-8") || strings.Contains(f.Message, "CharsetReader") {
			t.Errorf("%s: %+v", name, f)
		}
	}
}

// F6: a default frequency no checkout could take (more than ten years between orders) is
// refused in the feed, on its field, rather than at a checkout that never sent it.
func TestF6_DefaultFrequencyBeyondTenYears(t *testing.T) {
	rep, got := read(t, `<products><product><name><![CDATA[A]]></name><product_id>A</product_id><sku>A</sku><price>1.00</price><in_stock>1</in_stock><every>9999999999</every><every_period>4</every_period></product></products>`)
	if len(got) != 0 || len(rep.Findings) != 1 || rep.Findings[0].Rule != "F6" || rep.Findings[0].Field != "products[A].every" && !strings.HasSuffix(rep.Findings[0].Field, "every") || !strings.Contains(rep.Findings[0].Message, "ten years") {
		t.Fatalf("%d products, findings %+v", len(got), rep.Findings)
	}
}

// F2: a product's findings are all reported, so that fixing one does not reveal the next: a
// bad every and a bad every_period each get theirs. A negative price is named as such.
func TestF2_EveryFindingOfAProduct(t *testing.T) {
	for _, tc := range []struct {
		fields string
		want   map[string]string // field → what its finding says
	}{
		{`<every>0</every><every_period>0</every_period>`, map[string]string{"every": "positive whole number", "every_period": "must be 1 (days)"}},
		{`<every>12345678901</every><every_period>5</every_period>`, map[string]string{"every": "at most 10 digits", "every_period": "must be 1 (days)"}},
		{`<every>2</every><every_period>9</every_period>`, map[string]string{"every_period": "must be 1 (days)"}},
	} {
		rep, got := read(t, `<products><product><name><![CDATA[A]]></name><product_id>A</product_id><sku>A</sku><price>1.00</price><in_stock>1</in_stock>`+tc.fields+`</product></products>`)
		found := map[string]string{}
		for _, f := range rep.Findings {
			found[f.Field[strings.LastIndex(f.Field, ".")+1:]] = f.Message
		}
		if len(got) != 0 || len(found) != len(tc.want) {
			t.Errorf("%s: %d products, findings %+v", tc.fields, len(got), rep.Findings)
			continue
		}
		for field, want := range tc.want {
			if !strings.Contains(found[field], want) {
				t.Errorf("%s: %s says %q, want %q", tc.fields, field, found[field], want)
			}
		}
	}
	rep, _ := read(t, `<products><product><name><![CDATA[A]]></name><product_id>A</product_id><sku>A</sku><price>-1.00</price><in_stock>1</in_stock></product></products>`)
	if len(rep.Findings) != 1 || !strings.Contains(rep.Findings[0].Message, "price -1.00 is negative") {
		t.Errorf("a negative price: %+v", rep.Findings)
	}
}

// F2, REFERENCE §5: an empty optional autoship_eligible is warned about and means what leaving
// it out means (eligible), not 0; an F3 refusal says when a flag was left out.
func TestF2_EmptyOptionalFlagIsLeftOut(t *testing.T) {
	rep, got := read(t, `<products><product><name><![CDATA[A]]></name><product_id>A</product_id><sku>A</sku><price>1.00</price><in_stock>1</in_stock><autoship_eligible></autoship_eligible></product></products>`)
	if len(got) != 1 || !got[0].AutoshipEligible || len(rep.Findings) != 1 || !strings.Contains(rep.Findings[0].Message, "present but empty") {
		t.Fatalf("an empty autoship_eligible: %+v, findings %+v", got, rep.Findings)
	}
	rep, _ = read(t, `<products><product><name><![CDATA[A]]></name><product_id>A</product_id><sku>A</sku><price>1.00</price><in_stock>0</in_stock><discontinued>1</discontinued></product></products>`)
	if len(rep.Findings) != 1 || !strings.Contains(rep.Findings[0].Message, "(it has 1, by leaving it out and 0)") {
		t.Fatalf("a discontinued product that leaves autoship_eligible out: %+v", rep.Findings)
	}
}

// F2: a product listed twice whose later copy is refused keeps the earlier one, and the report
// says so (the later entry wins only when it is valid).
func TestF2_RefusedRepeatSaysTheEarlierStands(t *testing.T) {
	prod := func(price string) string {
		return `<product><name><![CDATA[W]]></name><product_id>W2</product_id><sku>W2</sku><price>` + price + `</price><in_stock>1</in_stock></product>`
	}
	rep, got := read(t, "<products>\n"+prod("4.00")+"\n"+prod("1.5")+"\n</products>")
	if len(got) != 1 || got[0].Price.String() != "4.00" {
		t.Fatalf("stored %+v", got)
	}
	found := false
	for _, f := range rep.Findings {
		found = found || strings.Contains(f.Message, "product_id W2 appears again, refused: the entry at line 2 stands") && f.Line == 3
	}
	if !found {
		t.Fatalf("findings %+v", rep.Findings)
	}
}

// F3: a discontinued product whose replacement, in the same file, cannot take its subscriptions
// (itself, or a product discontinued or not eligible, before or after it) is warned about with
// its line; a good replacement, or one the file does not hold (it may be in the catalogue), is
// not.
func TestF3_ReplacementsTheFileRulesOut(t *testing.T) {
	prod := func(id, flags, repl string) string {
		rel := ""
		if repl != "" {
			rel = `<relationships><relationship><name>discontinued_replacement</name><related><product_id>` + repl + `</product_id></related></relationship></relationships>`
		}
		return `<product><name><![CDATA[` + id + `]]></name><product_id>` + id + `</product_id><sku>` + id + `</sku><price>1.00</price>` + flags + rel + "</product>\n"
	}
	gone := `<in_stock>0</in_stock><autoship_eligible>0</autoship_eligible><discontinued>1</discontinued>`
	feed := "<products>\n" + prod("S3", gone, "S4") + prod("S4", gone, "") + prod("S5", gone, "S5") + prod("S6", gone, "S7") +
		prod("S7", `<in_stock>1</in_stock>`, "") + prod("S8", gone, "ELSEWHERE") + prod("S9", gone, "S10") + prod("S10", `<in_stock>1</in_stock><autoship_eligible>0</autoship_eligible>`, "") + "</products>"
	rep, _ := read(t, feed)
	var got []string
	for _, f := range rep.Findings {
		if f.Rule == "F3" {
			got = append(got, fmt.Sprintf("%d:%s", f.Line, f.Message))
		}
	}
	want := []string{
		"2:the replacement S4 of discontinued product S3 is discontinued or not autoship_eligible (line 3): its subscriptions will be cancelled instead of swapped",
		"4:the replacement S5 of discontinued product S5 is the product itself: its subscriptions will be cancelled instead of swapped",
		"8:the replacement S10 of discontinued product S9 is discontinued or not autoship_eligible (line 9): its subscriptions will be cancelled instead of swapped",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("F3 findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A comment over the 1 MiB bound stops the reading, and the report says so without calling
// the file ill-formed or the comment an element's text.
func TestHugeCommentIsNamedForWhatItIs(t *testing.T) {
	rep, _ := read(t, `<products><!--`+strings.Repeat("x", 1<<20+10)+`--></products>`)
	if n := len(rep.Findings); n == 0 || strings.Contains(rep.Findings[n-1].Message, "not well-formed") || !strings.Contains(rep.Findings[n-1].Message, "a comment) is over 1 MiB") {
		t.Fatalf("findings %+v", rep.Findings)
	}
}

// C1: a feed declaring Latin-1, Windows-1252 or US-ASCII, as PHP and Java writers do by
// default, is read when its text is ASCII; a Latin-1 character in it is refused as non-ASCII.
func TestFeedDeclaringLatin1(t *testing.T) {
	product := func(name string) string {
		return `<products><product><name><![CDATA[` + name + `]]></name><product_id>A</product_id><sku>A</sku><price>1.00</price><in_stock>1</in_stock></product></products>`
	}
	for _, enc := range []string{"ISO-8859-1", "windows-1252", "US-ASCII"} {
		rep, got := read(t, `<?xml version="1.0" encoding="`+enc+`"?>`+product("Dog Food"))
		if len(got) != 1 || len(rep.Findings) != 0 {
			t.Errorf("an ASCII feed declaring %s: %d products, findings %+v", enc, len(got), rep.Findings)
		}
	}
	rep, got := read(t, `<?xml version="1.0" encoding="ISO-8859-1"?>`+product("Caf\xe9"))
	if len(got) != 0 || len(rep.Findings) == 0 || rep.Findings[0].Rule != "C1" {
		t.Errorf("a Latin-1 é: %d products, findings %+v", len(got), rep.Findings)
	}
}
