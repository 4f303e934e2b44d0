package feed

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/internal/golden"
)

func readCats(t *testing.T, data string, known ...string) (og.FeedReport, []og.Category) {
	t.Helper()
	var got []og.Category
	isKnown := func(id string) bool {
		for _, k := range known {
			if k == id {
				return true
			}
		}
		return false
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
