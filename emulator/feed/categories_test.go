package feed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/internal/golden"
)

func readCats(t *testing.T, data string, known ...string) (og.FeedReport, []og.Category) {
	t.Helper()
	var got []og.Category
	isKnown := func(id string) (string, bool) {
		for _, k := range known { // "id" or "id<parent"
			if cid, parent, _ := strings.Cut(k, "<"); cid == id {
				return parent, true
			}
		}
		return "", false
	}
	rep, err := ReadCategories(strings.NewReader(data), "test.ProductCategories.xml", now, isKnown, func(cs []og.Category) error {
		got = append(got, cs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep, got
}

// F8, F7, C1: every finding of a mixed categories feed, with its line and rule.
func TestF8_MixedCategoriesReport(t *testing.T) {
	data, err := os.ReadFile("testdata/mixed.ProductCategories.xml")
	if err != nil {
		t.Fatal(err)
	}
	rep, got := readCats(t, string(data))
	var ids []string
	for _, c := range got {
		ids = append(ids, c.ID+"("+c.Name+")")
	}
	// CATS appears twice: the later entry wins; DOG-FOOD's unknown parent is a warning.
	if want := "CAT-TREATS(Cat Treats & Snacks),DOG-FOOD(Dog Food),CATS(Cats (renamed))"; strings.Join(ids, ",") != want {
		t.Fatalf("accepted %s, want %s", strings.Join(ids, ","), want)
	}
	if rep.Entries != 8 || rep.Accepted != 4 || rep.Refused != 4 || !rep.Complete {
		t.Fatalf("entries %d accepted %d refused %d complete %v", rep.Entries, rep.Accepted, rep.Refused, rep.Complete)
	}
	var b bytes.Buffer
	if err := WriteText(&b, rep); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "mixed_categories_report.txt", b.Bytes())
	js, _ := json.MarshalIndent(rep, "", "  ")
	golden.JSON(t, "mixed_categories_report", js, nil)
}

// A parent may come from an earlier feed: the catalogue knows it.
func TestF8_ParentFromTheCatalogue(t *testing.T) {
	rep, got := readCats(t, `<categories><category><category_id>KITTENS</category_id><name><![CDATA[Kittens]]></name><parent_id>CATS</parent_id></category></categories>`, "CATS")
	if len(got) != 1 || len(rep.Findings) != 0 {
		t.Fatalf("got %v, findings %+v", got, rep.Findings)
	}
}

func TestF8_NotACategoriesFeed(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"products_feed", `<products><product/></products>`, "the root element is <products>"},
		{"empty", ``, "no <categories> element"},
		{"broken", "<categories>\n<category><category_id>A</category_id>\n<name>", "categories after this line were not read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, got := readCats(t, tc.data)
			if len(got) != 0 || rep.Complete || !strings.Contains(findings(rep), tc.want) {
				t.Fatalf("got %v complete %v findings:\n%s", got, rep.Complete, findings(rep))
			}
		})
	}
}

func findings(rep og.FeedReport) string {
	var b strings.Builder
	for _, f := range rep.Findings {
		b.WriteString(f.Rule + " " + f.Message + "\n")
	}
	return b.String()
}

// A long parent chain and a long cycle are read in one pass, and the report stays small: each
// finding shows at most ten ids of its cycle.
func TestF8_LongChainsAndCycles(t *testing.T) {
	var b strings.Builder
	b.WriteString("<categories>\n")
	cat := func(id, parent string) {
		b.WriteString("<category><category_id>" + id + "</category_id><name><![CDATA[" + id + "]]></name>")
		if parent != "" {
			b.WriteString("<parent_id>" + parent + "</parent_id>")
		}
		b.WriteString("</category>\n")
	}
	const chain, loop = 60_000, 20_000
	for i := range chain {
		parent := ""
		if i > 0 {
			parent = fmt.Sprintf("C%d", i-1)
		}
		cat(fmt.Sprintf("C%d", i), parent)
	}
	for i := range loop {
		cat(fmt.Sprintf("L%d", i), fmt.Sprintf("L%d", (i+1)%loop))
	}
	b.WriteString("</categories>\n")
	rep, got := readCats(t, b.String())
	if len(got) != chain || rep.Accepted != chain || rep.Refused != loop {
		t.Fatalf("accepted %d (%d stored), refused %d", rep.Accepted, len(got), rep.Refused)
	}
	if len(rep.Findings) > og.MaxFindings+1 {
		t.Fatalf("%d findings", len(rep.Findings))
	}
	for _, f := range rep.Findings {
		if len(f.Message) > 400 {
			t.Fatalf("a finding of %d bytes: %.200s", len(f.Message), f.Message)
		}
	}
	if !strings.Contains(rep.Findings[0].Message, "(19990 more)") {
		t.Fatalf("first finding: %s", rep.Findings[0].Message)
	}
}

// An invalid entry does not replace a valid one of the same id, and the counts say what was
// stored.
func TestF8_InvalidRepeatDoesNotReplace(t *testing.T) {
	rep, got := readCats(t, `<categories>
<category><category_id>A</category_id><name><![CDATA[Good]]></name></category>
<category><category_id>A</category_id></category>
</categories>`)
	if len(got) != 1 || got[0].Name != "Good" || rep.Accepted != 1 || rep.Refused != 1 {
		t.Fatalf("stored %+v, accepted %d, refused %d", got, rep.Accepted, rep.Refused)
	}
}

// F8: a parent link that closes a cycle through the catalogue's links (an earlier feed's) is
// refused as one within the file is.
func TestF8_CycleThroughTheCatalogue(t *testing.T) {
	rep, got := readCats(t, `<categories><category><category_id>CA</category_id><name><![CDATA[A]]></name><parent_id>CB</parent_id></category></categories>`, "CA", "CB<CA")
	if len(got) != 0 || rep.Refused != 1 || len(rep.Findings) != 1 || !strings.Contains(rep.Findings[0].Message, "category CA is its own ancestor: CA → CB → CA") {
		t.Fatalf("stored %v; report %+v", got, rep)
	}
}
