package sc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// Body forms of P1: real clients send the JSON raw, or behind create_request=, and URL-encode
// either the whole JSON (Python's quote) or each string value (SFCC's encodeURIComponent).
const (
	formRaw           = "raw JSON"
	formPrefixed      = "create_request=<JSON>"
	formPrefixedWhole = "create_request=<URL-encoded JSON>"
	formWhole         = "URL-encoded JSON"
)

// MaxBody bounds a purchase POST body: a checkout is a few kilobytes.
const MaxBody = 1 << 20

// maxJSONDepth bounds the nesting of the body: a purchase nests four levels.
const maxJSONDepth = 16

// decoded is a body after P1's reading: the JSON object with every string leaf decoded (C2).
type decoded struct {
	obj       map[string]any
	form      string
	perField  bool     // some string value carried percent escapes
	unencoded []string // fields whose raw value has characters URL-encoding escapes
	plus      []string // fields whose value looks form-encoded: '+' for a space (see formPlus)
	diags     []og.Diagnostic
	// While parsing: the fields whose values were percent-decoded, and the diagnostics about
	// single values (both dropped for a value a repeated name replaced).
	percent   []string
	leafDiags []og.Diagnostic
}

// unreserved reports whether encodeURIComponent leaves c as it is.
func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0
}

// decodeBody reads the body as REFERENCE §3.2 recipes: strip create_request=, percent-decode
// the whole once if it starts with %7B, parse the JSON, then percent-decode each string value
// with path rules (a '+' stays a '+': phone numbers and base64 carry them).
func decodeBody(raw []byte) (*decoded, *og.Error) {
	d := &decoded{form: formRaw}
	if bytes.HasPrefix(raw, []byte{0x1f, 0x8b}) {
		return nil, og.Errorf(og.EINVALID, "P1", "body", "the body is gzip-compressed: send the purchase JSON uncompressed, with no Content-Encoding")
	}
	if bytes.HasPrefix(raw, []byte("\xef\xbb\xbf")) {
		return nil, og.Errorf(og.EINVALID, "P1", "body", "the body starts with a UTF-8 byte-order mark (EF BB BF): send the JSON without it (an editor or a .NET StreamWriter adds one)")
	}
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, "create_request=") {
		s, d.form = strings.TrimSpace(strings.TrimPrefix(s, "create_request=")), formPrefixed
	}
	if len(s) >= 3 && strings.EqualFold(s[:3], "%7B") {
		// A raw '+' is a space only in form encoding (Python's quote_plus), which writes spaces
		// as '+' and never as %20, and escapes JSON's ':' and ','; encodeURI and Go's PathEscape
		// leave a literal '+' alone, and the ':' and ',' between members too.
		unescape := url.PathUnescape
		if strings.Contains(s, "+") && !strings.Contains(s, "%20") && !strings.ContainsAny(s, ":,") {
			unescape = url.QueryUnescape
			d.diags = append(d.diags, og.Warning("C2", "body", "the body is URL-encoded as a form (spaces as '+'): each '+' was read as a space; a literal '+' must be %2B"))
		}
		dec, err := unescape(s)
		if err != nil {
			return nil, og.Errorf(og.EINVALID, "P1", "body", "the body starts as URL-encoded JSON (%%7B) but does not decode: %v", err)
		}
		s = dec
		if d.form == formPrefixed {
			d.form = formPrefixedWhole
		} else {
			d.form = formWhole
		}
		d.diags = append(d.diags, og.Warning("C2", "body", fmt.Sprintf("the whole body is URL-encoded (read as %s): staging decodes it, but the guide says not to URL-encode the entire POST; URL-encode each string value instead (C2)", d.form)))
	}
	switch {
	case s == "":
		return nil, og.Errorf(og.EINVALID, "P1", "body", "the body is empty; P1 wants the purchase JSON, raw or as create_request=<json>")
	case !strings.HasPrefix(s, "{"):
		hint := ""
		if strings.HasPrefix(s, `"{`) || strings.HasPrefix(s, `"%7B`) || strings.HasPrefix(s, `"%7b`) || len(s) >= 6 && strings.EqualFold(s[:6], "%22%7B") {
			hint = " (it is a JSON string holding the object: the purchase JSON was encoded twice, e.g. json.dumps or JSON.stringify of a string; encode the object once)"
		} else if strings.Contains(s, "=") && strings.Contains(s, "&") {
			hint = " (it looks like a form of several fields: the purchase POST is one JSON object, optionally behind create_request=)"
		}
		return nil, og.Errorf(og.EINVALID, "P1", "body", "the body is not a JSON object%s", hint)
	}
	obj, err := d.parse(s)
	if err != nil {
		return nil, err
	}
	d.obj = obj
	if inner, ok := obj["create_request"]; ok && obj["merchant_id"] == nil {
		// Python's requests.post(url, json={"create_request": purchase}) and its kin.
		holds := "the purchase object"
		if _, isString := inner.(string); isString {
			holds = "the purchase JSON as a string (encoded twice)"
		}
		return nil, og.Errorf(og.EINVALID, "P1", "body", "the body is a JSON object whose member create_request holds %s: create_request= is a form prefix written before the JSON (create_request={...}), not a JSON key; send the purchase object itself, raw or after create_request=", holds)
	}
	if len(d.plus) > 0 {
		list := listed(d.plus)
		d.diags = append(d.diags, og.Warning("C2", list[0], fmt.Sprintf(
			"values hold '+' between words, as form encoding writes a space (PHP urlencode, Python quote_plus, Java URLEncoder) (%s): staging decodes each value as a URL path would, so each '+' stays a plus; encode with rawurlencode, quote or encodeURIComponent, which write a space as %%20 (C2)", strings.Join(list, ", "))))
	}
	if d.form != formWhole && d.form != formPrefixedWhole && len(d.unencoded) > 0 {
		list := listed(d.unencoded)
		what := "string values were sent without URL-encoding"
		if d.perField {
			what = "some string values were URL-encoded and these were not"
		}
		d.diags = append(d.diags, og.Warning("C2", list[0], fmt.Sprintf(
			"%s (%s); C2: each string value is URL-encoded (the body as a whole is not). Staging decodes every value, so a raw value holding '%%' changes", what, strings.Join(list, ", "))))
	}
	return d, nil
}

// jsonOptions reads the body as encoding/json would: a repeated name keeps its last value, and
// invalid UTF-8 becomes U+FFFD (then refused as non-ASCII where it matters, P2).
var jsonOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// parse reads the JSON object s and decodes every string leaf as it goes (C2), noting how each
// was encoded; numbers stay json.Number. It is one pass over the tokens: the purchase POST's
// throughput depends on it (issue 3). Refusals come in encoding/json's order: a syntax error
// anywhere, then text after the object, then nesting.
func (d *decoded) parse(s string) (map[string]any, *og.Error) {
	p := parser{d: d, dec: jsontext.NewDecoder(strings.NewReader(s), jsonOptions...)}
	tok, err := p.dec.ReadToken()
	var v any
	if err == nil {
		v, err = p.value(tok)
	}
	if err == nil {
		at := p.dec.InputOffset()
		if _, end := p.dec.ReadToken(); end != io.EOF {
			return nil, og.Errorf(og.EINVALID, "P1", "body", "the body has text after its JSON object, which ends at offset %d of the JSON as read (%s)", at, d.form)
		}
	}
	switch {
	case err != nil:
		return nil, og.Errorf(og.EINVALID, "P1", "body", "the body is not valid JSON (read as %s): %s", d.form, og.JSONSyntax(err))
	case p.tooDeep:
		return nil, og.Errorf(og.EINVALID, "P1", "body", "the body nests deeper than %d levels; a purchase nests four", maxJSONDepth)
	}
	d.perField = len(d.percent) > 0
	d.diags = append(d.diags, d.leafDiags...)
	return v.(map[string]any), nil
}

// parser builds the body's values from dec; path is the dotted path of the value being read
// (user.shipping_address.city, products[0].sku), made a string only when a diagnostic names it.
type parser struct {
	d       *decoded
	dec     *jsontext.Decoder
	path    []byte
	tooDeep bool // a container nests deeper than maxJSONDepth: its contents were skipped
}

// value builds the value that starts with tok.
func (p *parser) value(tok jsontext.Token) (any, error) {
	switch tok.Kind() {
	case '{':
		obj := map[string]any{}
		if p.dec.StackDepth() > maxJSONDepth {
			return obj, p.skip()
		}
		for {
			name, err := p.dec.ReadToken()
			if err != nil || name.Kind() == '}' {
				return obj, err
			}
			key := name.String()
			n := len(p.path)
			if n > 0 {
				p.path = append(p.path, '.')
			}
			p.path = append(p.path, key...)
			if _, dup := obj[key]; dup {
				p.d.forget(string(p.path)) // a repeated name keeps its last value only
			}
			v, err := p.next()
			p.path = p.path[:n]
			if err != nil {
				return nil, err
			}
			obj[key] = v
		}
	case '[':
		list := []any{}
		if p.dec.StackDepth() > maxJSONDepth {
			return list, p.skip()
		}
		for i := 0; ; i++ {
			tok, err := p.dec.ReadToken()
			if err != nil || tok.Kind() == ']' {
				return list, err
			}
			n := len(p.path)
			p.path = append(strconv.AppendInt(append(p.path, '['), int64(i), 10), ']')
			v, err := p.value(tok)
			p.path = p.path[:n]
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
	case '"':
		return p.d.decodeString(tok.String(), p.path), nil
	case '0':
		return json.Number(tok.String()), nil
	case 't', 'f':
		return tok.Bool(), nil
	}
	return nil, nil // null
}

func (p *parser) next() (any, error) {
	tok, err := p.dec.ReadToken()
	if err != nil {
		return nil, err
	}
	return p.value(tok)
}

// skip reads the rest of a container just opened whose members would nest deeper than
// maxJSONDepth (the top object is level 0): an empty one is fine; any other is refused once
// the whole body has been read, so that a syntax error or trailing text is reported first.
func (p *parser) skip() error {
	level := p.dec.StackDepth()
	for first := true; ; first = false {
		if _, err := p.dec.ReadToken(); err != nil {
			return err
		}
		if p.dec.StackDepth() < level {
			p.tooDeep = p.tooDeep || !first
			return nil
		}
	}
}

// forget drops what was noted about the value at path and below: a later member of the same
// name replaced it.
func (d *decoded) forget(path string) {
	under := func(p string) bool {
		return strings.HasPrefix(p, path) && (len(p) == len(path) || p[len(path)] == '.' || p[len(path)] == '[')
	}
	d.unencoded = slices.DeleteFunc(d.unencoded, under)
	d.plus = slices.DeleteFunc(d.plus, under)
	d.percent = slices.DeleteFunc(d.percent, under)
	d.leafDiags = slices.DeleteFunc(d.leafDiags, func(g og.Diagnostic) bool { return under(g.Field) })
}

// listed sorts fields and keeps the first five, with how many more there are.
func listed(fields []string) []string {
	sort.Strings(fields)
	if len(fields) > 5 {
		return append(fields[:5:5], fmt.Sprintf("and %d more", len(fields)-5))
	}
	return fields
}

func (d *decoded) decodeString(s string, at []byte) string {
	// A body URL-encoded whole was decoded whole, its '+' read as spaces: what is left is meant.
	plus := d.form != formWhole && d.form != formPrefixedWhole && formPlus(s, at)
	if plus {
		d.plus = append(d.plus, string(at))
	}
	if !strings.Contains(s, "%") {
		for i := 0; i < len(s); i++ {
			if !unreserved(s[i]) && !isAESField(at) && !(plus && s[i] == '+') {
				d.unencoded = append(d.unencoded, string(at))
				break
			}
		}
		return s
	}
	path := string(at)
	dec, err := url.PathUnescape(s)
	if err != nil {
		d.leafDiags = append(d.leafDiags, og.Warning("C2", path, fmt.Sprintf("%q has a '%%' that is not a URL escape: taken literally; URL-encode each string value (C2: %%25 for a '%%')", s)))
		return s
	}
	d.percent = append(d.percent, path)
	if strings.Contains(dec, "%") {
		if again, err := url.PathUnescape(dec); err == nil && again != dec {
			d.leafDiags = append(d.leafDiags, og.Warning("C2", path, fmt.Sprintf("%q still holds URL escapes after decoding (%q): the value was URL-encoded twice", s, dec)))
		}
	}
	return dec
}

// formPlus reports whether s, the value at path, looks form-encoded: a '+' between two letters
// or digits in a customer's text (a name, an address line) where a space was meant, and nothing
// form encoding (PHP urlencode, Python quote_plus) would not write: every other byte is an
// unreserved one or a %XX escape, and no space is written %20. An email's plus address, a
// phone's leading '+', free-form extra_data and payment fields (a token may be base64) are left
// alone.
func formPlus(s string, path []byte) bool {
	if !bytes.HasPrefix(path, []byte("user.")) || bytes.HasSuffix(path, []byte("email")) || bytes.Contains(path, []byte("extra_data")) ||
		strings.Contains(s, "%20") {
		return false
	}
	between := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			between = between || i > 0 && i+1 < len(s) && alnum(s[i-1]) && alnum(s[i+1])
		case c == '%':
			if i+2 >= len(s) || !og.IsHexDigit(s[i+1]) || !og.IsHexDigit(s[i+2]) {
				return false
			}
			i += 2
		case !unreserved(c):
			return false
		}
	}
	return between
}

func alnum(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isAESField(path []byte) bool {
	return bytes.HasSuffix(path, []byte("cc_holder")) || bytes.HasSuffix(path, []byte("cc_exp_date")) ||
		bytes.HasSuffix(path, []byte("cc_number")) || bytes.HasSuffix(path, []byte("cc_last_4"))
}

// bodyNote is the journal's record of how the body was read, for a developer comparing
// what they sent with what the sandbox understood.
func (d *decoded) note() string {
	n := "purchase POST body read as " + d.form
	if d.perField {
		n += "; string values were URL-decoded one by one"
	}
	return n
}
