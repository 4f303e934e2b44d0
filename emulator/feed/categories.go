package feed

import (
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// MaxCategories bounds a categories feed: it is read whole, to check that parents exist and
// that no category is its own ancestor.
const MaxCategories = 100_000

// ReadCategories reads a Product Categories feed (F8), <MERCHANT_ID>.ProductCategories.xml.
// Its schema is not public (REFERENCE §5); the sandbox reads this one:
//
//	<categories>
//	  <category>
//	    <category_id>CAT-TREATS</category_id>          required, at most 64 characters
//	    <name><![CDATA[Cat Treats]]></name>            required, at most 1024, in CDATA (F7)
//	    <parent_id>CATS</parent_id>                    optional: another category's id
//	  </category>
//	</categories>
//
// maxCategoryDepth bounds a walk up the catalogue's parent links, beyond the file's.
const maxCategoryDepth = 10_000

// known reports whether a category id is already in the catalogue, and its parent there (a
// parent may come from an earlier feed). Valid categories go to accept; a category whose parent
// is unknown is kept with a warning; categories that would be their own ancestors, through this
// file's links and the catalogue's, are refused.
func ReadCategories(r io.Reader, name string, now time.Time, known func(id string) (parent string, ok bool), accept func([]og.Category) error) (og.FeedReport, error) {
	rep := og.FeedReport{File: name, Kind: "categories", ReceivedAt: now, Findings: []og.Diagnostic{}}
	entries, rootOK := readCategoryEntries(r, &rep)
	if !rootOK && rep.Errors() == 0 {
		rep.Add(og.Diagnostic{Rule: "F8", Line: 1, Severity: og.SeverityError, Message: "the file holds no <categories> element"})
	}
	rep.Entries = len(entries)
	byID := map[string]int{}
	ok := make([]bool, len(entries))
	for i, e := range entries {
		where := "categories[" + label(e.ID, i) + "]."
		fail := func(field, msg string) {
			rep.Add(og.Diagnostic{Rule: "F8", Field: where + field, Line: e.at(field), Severity: og.SeverityError, Message: msg})
			ok[i] = false
		}
		ok[i] = true
		switch {
		case e.ID == "":
			fail("category_id", "category_id is missing; it is required")
		case len(e.ID) > maxCategory:
			fail("category_id", fmt.Sprintf("category_id is %d characters; at most %d", len(e.ID), maxCategory))
		}
		switch {
		case e.Name == "":
			fail("name", "name is missing; it is required")
		case len(e.Name) > maxName:
			fail("name", fmt.Sprintf("name is %d characters; at most %d", len(e.Name), maxName))
		case !e.nameCDATA:
			rep.Add(og.Diagnostic{Rule: "F7", Field: where + "name", Line: e.at("name"), Severity: og.SeverityWarning,
				Message: "category names should always be wrapped in CDATA (<name><![CDATA[...]]></name>)"})
		}
		for _, v := range []struct{ field, s string }{{"category_id", e.ID}, {"name", e.Name}, {"parent_id", e.ParentID}} {
			if at := og.NonASCII(v.s); at >= 0 {
				rep.Add(og.Diagnostic{Rule: "C1", Field: where + v.field, Line: e.at(v.field), Severity: og.SeverityError,
					Message: fmt.Sprintf("%s has a non-ASCII character at byte %d: feeds are ASCII only (C1)", v.field, at)})
				ok[i] = false
			}
		}
		if !ok[i] {
			continue // an invalid entry does not replace a valid one
		}
		if prev, dup := byID[e.ID]; dup {
			rep.Add(og.Diagnostic{Rule: "F8", Field: where + "category_id", Line: e.at("category_id"), Severity: og.SeverityWarning,
				Message: fmt.Sprintf("category_id %s appears again (first at line %d): the later entry wins", e.ID, entries[prev].at("category_id"))})
		}
		byID[e.ID] = i
	}
	// Parents come from this file or the catalogue. No category may be its own ancestor: one
	// pass over the parent links, this file's first and then the catalogue's, finds every cycle
	// (each category is walked once); a cycle is refused in this file's categories.
	parentOf := func(id string) (string, bool) {
		if j, inFile := byID[id]; inFile && ok[j] {
			return entries[j].ParentID, true
		}
		return known(id)
	}
	const (
		unseen = iota
		walking
		walked
	)
	state := make(map[string]int, len(byID))
	for i, e := range entries {
		id := e.ID
		if !ok[i] || byID[id] != i || state[id] != unseen {
			continue
		}
		var path []string
		cur := id
		for steps := 0; cur != "" && state[cur] == unseen && steps < len(entries)+maxCategoryDepth; steps++ {
			parent, exists := parentOf(cur)
			if !exists {
				break
			}
			state[cur] = walking
			path = append(path, cur)
			cur = parent
		}
		if cur != "" && state[cur] == walking {
			// path from cur's place on is a cycle; each member's finding shows it from there.
			at := slices.Index(path, cur)
			cycle := path[at:]
			for k, c := range cycle {
				var chain []string
				for t := 0; t <= min(len(cycle), 10); t++ {
					chain = append(chain, cycle[(k+t)%len(cycle)])
				}
				msg := strings.Join(chain, " → ")
				if len(cycle) > 10 {
					msg = strings.Join(chain[:10], " → ") + fmt.Sprintf(" → … (%d more) → %s", len(cycle)-10, c)
				}
				j, inFile := byID[c]
				if !inFile {
					continue // the catalogue's: this file's link into the cycle is what is refused
				}
				rep.Add(og.Diagnostic{Rule: "F8", Field: "categories[" + c + "].parent_id", Line: entries[j].at("parent_id"), Severity: og.SeverityError,
					Message: fmt.Sprintf("category %s is its own ancestor: %s", c, msg)})
				ok[j] = false
			}
		}
		for _, c := range path {
			state[c] = walked
		}
	}
	for i, e := range entries {
		id := e.ID
		if !ok[i] || byID[id] != i || e.ParentID == "" {
			continue
		}
		if j, inFile := byID[e.ParentID]; inFile && !ok[j] {
			rep.Add(og.Diagnostic{Rule: "F8", Field: "categories[" + id + "].parent_id", Line: e.at("parent_id"), Severity: og.SeverityWarning,
				Message: fmt.Sprintf("parent_id %s is refused in this feed: the category is kept without its parent being known", e.ParentID)})
		} else if _, stored := known(e.ParentID); !inFile && !stored {
			rep.Add(og.Diagnostic{Rule: "F8", Field: "categories[" + id + "].parent_id", Line: e.at("parent_id"), Severity: og.SeverityWarning,
				Message: fmt.Sprintf("parent_id %s is not a category of this feed or of the catalogue", e.ParentID)})
		}
	}
	var batch []og.Category
	for i, e := range entries {
		switch {
		case !ok[i]:
			rep.Refused++
			continue
		case byID[e.ID] != i:
			rep.Accepted++
			continue // a later entry of the same id wins
		}
		rep.Accepted++
		c := e.Category
		c.Source, c.UpdatedAt = name, now
		batch = append(batch, c)
		if len(batch) == BatchSize {
			if err := accept(batch); err != nil {
				return rep, err
			}
			batch = nil
		}
	}
	rep.Complete = rootOK
	// In line order; the note that findings were left out stays last.
	fs := rep.Findings[:min(len(rep.Findings), og.MaxFindings)]
	sort.SliceStable(fs, func(a, b int) bool { return fs[a].Line < fs[b].Line })
	if len(batch) > 0 {
		return rep, accept(batch)
	}
	return rep, nil
}

type categoryEntry struct {
	og.Category
	line      int // of <category>
	lines     map[string]int
	nameCDATA bool
}

// at is the line of a field of the entry, or of the entry when the field is missing.
func (e *categoryEntry) at(field string) int {
	if l, ok := e.lines[field]; ok {
		return l
	}
	return e.line
}

// readCategoryEntries reads the <category> entries; a syntax error stops the reading with a
// finding, keeping what came before.
func readCategoryEntries(r io.Reader, rep *og.FeedReport) (entries []categoryEntry, rootOK bool) {
	rc := &recorder{r: skipBOM(bufio.NewReaderSize(r, 64<<10))}
	d := xml.NewDecoder(rc)
	d.Strict = true
	d.CharsetReader = latin1Reader
	var cur *categoryEntry
	var field string
	var text strings.Builder
	cdata := false
	depth := 0
	for {
		rc.reset()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return entries, rootOK
		}
		line, _ := d.InputPos()
		if err != nil {
			rep.Add(syntaxFinding(err, line))
			rep.Add(og.Diagnostic{Rule: "F8", Line: line, Severity: og.SeverityWarning, Message: "categories after this line were not read"})
			return entries, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1:
				if t.Name.Local != "categories" {
					rep.Add(og.Diagnostic{Rule: "F8", Line: line, Severity: og.SeverityError,
						Message: fmt.Sprintf("the root element is <%s>; a categories feed is <categories><category>…</category></categories>", t.Name.Local)})
					return nil, false
				}
				rootOK = true
			case depth == 2 && t.Name.Local == "category":
				if len(entries) >= MaxCategories {
					rep.Add(og.Diagnostic{Rule: "F8", Line: line, Severity: og.SeverityError, Message: fmt.Sprintf("more than %d categories: the rest were not read", MaxCategories)})
					return entries, false
				}
				cur = &categoryEntry{line: line, lines: map[string]int{}}
			case depth == 3 && cur != nil:
				field = t.Name.Local
				cur.lines[field] = line
				text.Reset()
				cdata = false
			default:
				rep.Add(og.Diagnostic{Rule: "F8", Field: t.Name.Local, Line: line, Severity: og.SeverityWarning, Message: fmt.Sprintf("<%s> is not part of a categories feed: ignored", t.Name.Local)})
				if err := d.Skip(); err != nil {
					rep.Add(syntaxFinding(err, line))
					return entries, false
				}
				depth--
			}
		case xml.CharData:
			if depth == 3 && cur != nil {
				if text.Len()+len(t) > maxEntryBytes {
					rep.Add(og.Diagnostic{Rule: "F8", Field: field, Line: line, Severity: og.SeverityError, Message: "an element's text is over 1 MiB: categories after this line were not read"})
					return entries, false
				}
				text.Write(t)
				if rc.cdata() {
					cdata = true
				}
			}
		case xml.EndElement:
			depth--
			switch {
			case depth == 2 && cur != nil:
				v := strings.TrimSpace(text.String())
				switch field {
				case "category_id":
					cur.ID = v
				case "name":
					cur.Name, cur.nameCDATA = v, cdata
				case "parent_id":
					cur.ParentID = v
				default:
					rep.Add(og.Diagnostic{Rule: "F8", Field: field, Line: line, Severity: og.SeverityWarning, Message: fmt.Sprintf("unknown element <%s> is ignored", field)})
				}
			case depth == 1 && cur != nil:
				entries = append(entries, *cur)
				cur = nil
			}
		}
	}
}

func label(id string, i int) string {
	if id != "" {
		return id
	}
	return fmt.Sprintf("#%d", i+1)
}
