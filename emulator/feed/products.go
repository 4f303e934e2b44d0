package feed

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// Bounds of one product entry: its elements and its text. A feed is streamed; only one entry
// is held at a time.
const (
	maxNodes      = 10_000
	maxEntryBytes = 1 << 20
	maxDepth      = 8
	// BatchSize is how many valid products ReadProducts hands to accept at a time.
	BatchSize = 500
)

// recorder is the decoder's byte source. It notes what the validator needs of the token being
// read — whether it opens with CDATA, whether it holds an entity reference (F7) — and bounds a
// token's size, without keeping the token's bytes.
type recorder struct {
	r    *bufio.Reader
	head [len(cdataOpen)]byte
	n    int // bytes of the current token
	amp  bool
}

const cdataOpen = "<![CDATA["

var errTokenTooLarge = errors.New("one piece of the file (an element's text, a tag with its attributes, or a comment) is over 1 MiB")

// reset starts a new token.
func (rc *recorder) reset() { rc.n, rc.amp = 0, false }

// cdata reports whether the current token is a CDATA section.
func (rc *recorder) cdata() bool { return rc.n >= len(cdataOpen) && string(rc.head[:]) == cdataOpen }

func (rc *recorder) ReadByte() (byte, error) {
	b, err := rc.r.ReadByte()
	if err == nil {
		if rc.n >= maxEntryBytes {
			return 0, errTokenTooLarge
		}
		if rc.n < len(rc.head) {
			rc.head[rc.n] = b
		}
		rc.n++
		if b == '&' {
			rc.amp = true
		}
	}
	return b, err
}

func (rc *recorder) Read(p []byte) (int, error) { return readBytes(p, rc.ReadByte) }

// readBytes fills p a byte at a time from next: a Read for a ByteReader.
func readBytes(p []byte, next func() (byte, error)) (int, error) {
	for i := range p {
		b, err := next()
		if err != nil {
			return i, err
		}
		p[i] = b
	}
	return len(p), nil
}

// node is one element of a product entry.
type node struct {
	name     string
	attrs    map[string]string
	line     int
	text     strings.Builder
	cdata    bool // some text came from CDATA
	plain    bool // some non-blank text came from outside CDATA
	entity   bool
	children []*node
}

func (n *node) value() value {
	t := strings.TrimSpace(n.text.String())
	return value{text: t, line: n.line, cdata: n.cdata && !n.plain, entity: n.entity, empty: t == "" && len(n.children) == 0}
}

// ReadProducts streams a product feed from r: every <product> of <products> is validated
// (F2-F7, C1); valid products go to accept in batches of BatchSize; the report lists every
// finding with its line. A file that stops being well-formed part-way keeps the products read
// before the fault, and the report says where reading stopped. accept's error aborts reading.
func ReadProducts(r io.Reader, name string, now time.Time, accept func([]og.Product) error) (Report, error) {
	rep := Report{File: name, Kind: "products", ReceivedAt: now, Findings: []og.Diagnostic{}}
	rc := &recorder{r: skipBOM(bufio.NewReaderSize(r, 64<<10))}
	d := xml.NewDecoder(rc)
	d.Strict = true
	d.CharsetReader = latin1Reader
	var batch []og.Product
	seen := map[string]int{}
	// For F3's replacements, checked once the whole file is read: the discontinued products
	// that name one, and the products no subscription can be swapped to (a minority: the file
	// is not held whole).
	type swapTo struct {
		line                 int
		product, replacement string
	}
	var replaced []swapTo
	unusable := map[string]string{} // product id → why it cannot be a replacement
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := accept(batch)
		batch = batch[:0]
		return err
	}

	var stack []*node // open elements inside the current <product>
	var entry *node
	depth := 0
	rootSeen, rootClosed := false, false
	nodes := 0
	for {
		rc.reset()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			line, _ := d.InputPos()
			rep.Add(syntaxFinding(err, line))
			if entry != nil {
				rep.Entries++
				rep.Refused++
			}
			if ferr := flush(); ferr != nil {
				return rep, ferr
			}
			return rep, nil
		}
		line, _ := d.InputPos()
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1:
				rootSeen = true
				if t.Name.Local != "products" {
					rep.Add(og.Diagnostic{Rule: "F2", Field: t.Name.Local, Line: line, Severity: og.SeverityError,
						Message: fmt.Sprintf("the root element is <%s>; a product feed is <products><product>...</product></products>", t.Name.Local)})
					return rep, flush()
				}
			case depth == 2:
				if t.Name.Local != "product" {
					rep.Add(og.Diagnostic{Rule: "F2", Field: t.Name.Local, Line: line, Severity: og.SeverityWarning,
						Message: fmt.Sprintf("<%s> inside <products> is not a <product>: ignored", t.Name.Local)})
					if err := d.Skip(); err != nil {
						rep.Add(syntaxFinding(err, line))
						return rep, flush()
					}
					depth--
					continue
				}
				entry = &node{name: "product", line: line}
				stack = []*node{entry}
				nodes = 0
			default:
				if depth > maxDepth || nodes >= maxNodes {
					rep.Add(og.Diagnostic{Rule: "F2", Field: t.Name.Local, Line: line, Severity: og.SeverityError,
						Message: "the product entry nests too deep or holds too many elements for a product feed"})
					return rep, flush()
				}
				nodes++
				n := &node{name: t.Name.Local, line: line}
				for _, a := range t.Attr {
					if n.attrs == nil {
						n.attrs = map[string]string{}
					}
					n.attrs[a.Name.Local] = a.Value
				}
				parent := stack[len(stack)-1]
				parent.children = append(parent.children, n)
				stack = append(stack, n)
			}
		case xml.EndElement:
			depth--
			switch {
			case depth == 0:
				rootClosed = true
			case depth == 1 && entry != nil:
				rep.Entries++
				raw := toRaw(entry, rep.Entries-1)
				p, ok := validate(raw, &rep, now, name)
				if ok {
					if prev, dup := seen[p.ProductID]; dup {
						rep.Add(og.Diagnostic{Rule: "F2", Field: "products[" + p.ProductID + "].product_id", Line: entry.line, Severity: og.SeverityWarning,
							Message: fmt.Sprintf("product_id %s appears again (first at line %d): the later entry wins", p.ProductID, prev)})
					}
					seen[p.ProductID] = entry.line
					delete(unusable, p.ProductID) // the later entry wins
					if p.Discontinued || !p.AutoshipEligible {
						unusable[p.ProductID] = fmt.Sprintf("is discontinued or not autoship_eligible (line %d)", entry.line)
					}
					if r, _ := p.Replacement(); p.Discontinued && r != "" {
						replaced = append(replaced, swapTo{entry.line, p.ProductID, r})
					}
					rep.Accepted++
					batch = append(batch, p)
					if len(batch) >= BatchSize {
						if err := flush(); err != nil {
							return rep, err
						}
					}
				} else {
					rep.Refused++
					if prev, dup := seen[p.ProductID]; dup && p.ProductID != "" {
						rep.Add(og.Diagnostic{Rule: "F2", Field: "products[" + p.ProductID + "].product_id", Line: entry.line, Severity: og.SeverityWarning,
							Message: fmt.Sprintf("product_id %s appears again, refused: the entry at line %d stands", p.ProductID, prev)})
					}
				}
				entry, stack = nil, nil
			case entry != nil && len(stack) > 1:
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			if len(stack) == 0 {
				if depth <= 1 && len(bytes.TrimSpace(t)) > 0 {
					rep.Add(og.Diagnostic{Rule: "F2", Line: line, Severity: og.SeverityWarning, Message: "text outside any <product> is ignored"})
				}
				continue
			}
			n := stack[len(stack)-1]
			n.text.Write(t)
			if rc.cdata() {
				n.cdata = true
			} else if len(bytes.TrimSpace(t)) > 0 {
				n.plain = true
				if rc.amp {
					n.entity = true
				}
			}
		}
	}
	rep.Complete = rootSeen && rootClosed
	if !rootSeen {
		rep.Add(og.Diagnostic{Rule: "F2", Severity: og.SeverityError, Line: 1, Message: "the file holds no <products> element"})
	}
	// F3: a replacement no subscription can be swapped to makes the swap a cancellation. One
	// not in this file may be in the catalogue: that is for the feed's effects to say.
	for _, r := range replaced {
		why := unusable[r.replacement]
		if r.replacement == r.product {
			why = "is the product itself"
		}
		if why != "" {
			rep.Add(og.Diagnostic{Rule: "F3", Field: "products[" + r.product + "].relationships", Line: r.line, Severity: og.SeverityWarning,
				Message: fmt.Sprintf("the replacement %s of discontinued product %s %s: its subscriptions will be cancelled instead of swapped", r.replacement, r.product, why)})
		}
	}
	return rep, flush()
}

// syntaxFinding explains an XML error, naming the CDATA rule where it is the likely cause.
// latin1Reader reads a feed that declares an encoding PHP and Java writers default to
// (ISO-8859-1, Windows-1252, US-ASCII): an ASCII feed is the same bytes in all of them, and any
// other character is read as Latin-1 and refused by the feed's C1 check. Other encodings are
// refused, saying feeds are UTF-8.
func latin1Reader(label string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "windows-1252", "cp1252", "us-ascii", "ascii":
		br, ok := r.(io.ByteReader)
		if !ok {
			br = bufio.NewReader(r)
		}
		return &latin1{r: br}, nil
	}
	return nil, fmt.Errorf("xml: encoding %q declared but Decoder.CharsetReader is nil", label)
}

// latin1 turns ISO-8859-1 bytes into UTF-8, a byte at a time: the decoder then reads no
// further ahead than it would, and the recorder still sees each token's own bytes.
type latin1 struct {
	r    io.ByteReader
	next byte
	has  bool
}

func (l *latin1) ReadByte() (byte, error) {
	if l.has {
		l.has = false
		return l.next, nil
	}
	b, err := l.r.ReadByte()
	if err != nil || b < utf8.RuneSelf {
		return b, err
	}
	l.next, l.has = 0x80|b&0x3f, true // the two bytes of rune(b) in UTF-8
	return 0xc0 | b>>6, nil
}

func (l *latin1) Read(p []byte) (int, error) { return readBytes(p, l.ReadByte) }

// skipBOM drops a UTF-8 byte order mark at the start of a feed: editors on Windows write one,
// and it is no text of the feed.
func skipBOM(r *bufio.Reader) *bufio.Reader {
	if b, err := r.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		r.Discard(3)
	}
	return r
}

// declaredEncoding finds the encoding a decoder could not read in its error.
var declaredEncoding = regexp.MustCompile(`encoding "([^"]*)" declared`)

func syntaxFinding(err error, line int) og.Diagnostic {
	var se *xml.SyntaxError
	msg := err.Error()
	rule := "F2"
	if errors.As(err, &se) {
		line, msg = se.Line, se.Msg
		if strings.Contains(msg, "entity") || strings.Contains(msg, "invalid character") {
			rule = "F7"
			msg += ": special characters (&, <, symbols, accents) must be inside CDATA"
		}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || msg == "unexpected EOF" {
		msg = "the file ends in the middle of an element: it is truncated (was the upload complete?)"
	}
	if m := declaredEncoding.FindStringSubmatch(msg); m != nil {
		rule, msg = "C1", "the file declares encoding "+strconv.Quote(m[1])+
			": feeds are read as UTF-8, as Ordergroove reads them (or as Latin-1 when they say so); save the file as UTF-8 and keep its text ASCII (C1)"
	} else if strings.Contains(msg, "invalid UTF-8") {
		rule, msg = "C1", msg+": the file is not UTF-8 (a UTF-16 or Latin-1 file?); feeds are read as UTF-8: save it as UTF-8 and keep its text ASCII (C1)"
	}
	if errors.Is(err, errTokenTooLarge) {
		return og.Diagnostic{Rule: rule, Line: line, Severity: og.SeverityError,
			Message: "the file stops being read at this line: " + msg + ", more than a product feed holds; products after it were not read"}
	}
	return og.Diagnostic{Rule: rule, Line: line, Severity: og.SeverityError,
		Message: "the file is not well-formed XML at this line (" + msg + "); products after it were not read"}
}

// toRaw turns a product entry's elements into fields.
func toRaw(entry *node, index int) *rawProduct {
	raw := &rawProduct{line: entry.line, index: index, fields: map[string]value{}, extra: map[string]value{}}
	for _, c := range entry.children {
		switch c.name {
		case "groups":
			for _, g := range c.children {
				if g.name == "group" {
					raw.groups = append(raw.groups, rawGroup{typ: g.attrs["type"], value: g.value()})
				}
			}
		case "categories":
			for _, g := range c.children {
				if g.name == "category" {
					raw.categories = append(raw.categories, g.value())
				}
			}
		case "extra_data":
			for _, f := range c.children {
				if f.name == "field" {
					raw.extra[f.attrs["key"]] = f.value()
				}
			}
		case "relationships":
			for _, r := range c.children {
				if r.name != "relationship" {
					continue
				}
				var rr rawRelationship
				for _, x := range r.children {
					switch x.name {
					case "name":
						rr.name = x.value()
					case "related":
						for _, pid := range x.children {
							if pid.name == "product_id" {
								rr.related = append(rr.related, pid.value())
							}
						}
					}
				}
				if rr.name.line == 0 {
					rr.name.line = r.line
				}
				raw.relationships = append(raw.relationships, rr)
			}
		default:
			if !knownFields[c.name] {
				raw.unknown = append(raw.unknown, value{text: c.name, line: c.line})
				continue
			}
			raw.fields[c.name] = c.value()
		}
	}
	return raw
}

// ReadProductsJSON reads the JSON form of PUT /_sandbox/merchants/{id}/products: an array of
// products with the feed's field names, validated exactly as a feed (F2-F7, C1).
func ReadProductsJSON(r io.Reader, name string, now time.Time, accept func([]og.Product) error) (Report, error) {
	rep := Report{File: name, Kind: "products", ReceivedAt: now, Findings: []og.Diagnostic{}}
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		rep.Add(og.Diagnostic{Rule: "F2", Severity: og.SeverityError, Message: "the body is not a JSON array of products (or a product feed XML document)"})
		return rep, nil
	}
	var batch []og.Product
	complete := true
	for dec.More() {
		var v any
		if err := dec.Decode(&v); err != nil {
			rep.Add(og.Diagnostic{Rule: "F2", Severity: og.SeverityError, Message: fmt.Sprintf("product #%d is not valid JSON: %v; products after it were not read", rep.Entries+1, err)})
			complete = false
			break
		}
		obj, isObj := v.(map[string]any)
		if !isObj {
			rep.Entries++
			rep.Refused++
			rep.Add(og.Diagnostic{Rule: "F2", Field: fmt.Sprintf("products[%d]", rep.Entries-1), Severity: og.SeverityError, Message: fmt.Sprintf("product #%d is %s, not a JSON object of the feed's fields", rep.Entries, og.JSONKind(v))})
			continue
		}
		rep.Entries++
		p, ok := validate(jsonRaw(obj, rep.Entries-1), &rep, now, name)
		if !ok {
			rep.Refused++
			continue
		}
		rep.Accepted++
		batch = append(batch, p)
		if len(batch) >= BatchSize {
			if err := accept(batch); err != nil {
				return rep, err
			}
			batch = batch[:0]
		}
	}
	if complete {
		// The array must close: a body cut after a product is not the whole list.
		if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
			rep.Add(og.Diagnostic{Rule: "F2", Severity: og.SeverityError, Message: "the JSON array of products does not close with ']': the body was cut short"})
			complete = false
		}
	}
	rep.Complete = complete
	if len(batch) > 0 {
		return rep, accept(batch)
	}
	return rep, nil
}

// jsonRaw maps a JSON product onto the feed's fields. JSON has no CDATA: texts count as
// wrapped. Flags may be 0/1 or booleans; a default frequency may be every/every_period or
// {"default_frequency": {"every", "every_period"}}.
func jsonRaw(obj map[string]any, index int) *rawProduct {
	raw := &rawProduct{index: index, fields: map[string]value{}, extra: map[string]value{}}
	wrong := func(field, want string, got any) {
		raw.wrongType = append(raw.wrongType, value{text: field + "\t" + want + ", not " + og.JSONKind(got)})
	}
	// field is the value's path, for a refusal when it is not a scalar.
	str := func(field string, v any) value {
		switch x := v.(type) {
		case string:
			return value{text: x, cdata: true, empty: strings.TrimSpace(x) == ""}
		case json.Number:
			return value{text: x.String(), cdata: true}
		case bool:
			if x {
				return value{text: "1", cdata: true}
			}
			return value{text: "0", cdata: true}
		case nil:
			return value{empty: true}
		default:
			wrong(field, "a string, a number or a boolean", x)
			return value{empty: true}
		}
	}
	list := func(field string, v any, want string) []any {
		l, ok := v.([]any)
		if !ok && v != nil {
			wrong(field, want, v)
		}
		return l
	}
	object := func(field string, v any, want string) map[string]any {
		m, ok := v.(map[string]any)
		if !ok && v != nil {
			wrong(field, want, v)
		}
		return m
	}
	for k, v := range obj {
		switch k {
		case "groups":
			for _, g := range list(k, v, `an array of {"type", "name"} objects or of names`) {
				switch x := g.(type) {
				case map[string]any:
					t, _ := x["type"].(string)
					raw.groups = append(raw.groups, rawGroup{typ: t, value: str("groups.name", x["name"])})
				default:
					raw.groups = append(raw.groups, rawGroup{value: str("groups", x)})
				}
			}
		case "categories":
			for _, c := range list(k, v, "an array of category ids") {
				raw.categories = append(raw.categories, str("categories", c))
			}
		case "extra_data":
			for ek, ev := range object(k, v, `an object of "key": "value" fields`) {
				raw.extra[ek] = str("extra_data."+ek, ev)
			}
		case "relationships":
			for _, r := range list(k, v, `an array of {"name", "related"} objects`) {
				m := object("relationships[]", r, `an object {"name", "related"}`)
				rr := rawRelationship{name: str("relationships.name", m["name"])}
				switch rel := m["related"].(type) {
				case []any:
					for _, x := range rel {
						rr.related = append(rr.related, str("relationships.related", x))
					}
				case map[string]any:
					rr.related = append(rr.related, str("relationships.related.product_id", rel["product_id"]))
				case string:
					rr.related = append(rr.related, str("relationships.related", rel))
				case nil:
				default:
					wrong("relationships.related", "an array of product ids", rel)
				}
				raw.relationships = append(raw.relationships, rr)
			}
		case "default_frequency":
			m := object(k, v, `an object {"every", "every_period"}`)
			raw.fields["every"], raw.fields["every_period"] = str("default_frequency.every", m["every"]), str("default_frequency.every_period", m["every_period"])
		case "source", "updated_at":
			// what GET products shows: accepted back, not validated
		default:
			if !knownFields[k] {
				raw.unknown = append(raw.unknown, value{text: k})
				continue
			}
			raw.fields[k] = str(k, v)
		}
	}
	return raw
}
