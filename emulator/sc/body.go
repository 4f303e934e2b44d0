package sc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

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
	diags     []og.Diagnostic
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
		// as '+' and never as %20; encodeURI and Go's PathEscape leave a literal '+' alone.
		unescape := url.PathUnescape
		if strings.Contains(s, "+") && !strings.Contains(s, "%20") {
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
	}
	switch {
	case s == "":
		return nil, og.Errorf(og.EINVALID, "P1", "body", "the body is empty; P1 wants the purchase JSON, raw or as create_request=<json>")
	case !strings.HasPrefix(s, "{"):
		hint := ""
		if strings.Contains(s, "=") && strings.Contains(s, "&") {
			hint = " (it looks like a form of several fields: the purchase POST is one JSON object, optionally behind create_request=)"
		}
		return nil, og.Errorf(og.EINVALID, "P1", "body", "the body is not a JSON object%s", hint)
	}
	obj, err := d.parse(s)
	if err != nil {
		return nil, err
	}
	d.obj = obj
	if d.form != formWhole && d.form != formPrefixedWhole && len(d.unencoded) > 0 {
		sort.Strings(d.unencoded)
		list := d.unencoded
		if len(list) > 5 {
			list = append(list[:5:5], fmt.Sprintf("and %d more", len(d.unencoded)-5))
		}
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
// throughput depends on it (issue 3).
func (d *decoded) parse(s string) (map[string]any, *og.Error) {
	dec := jsontext.NewDecoder(strings.NewReader(s), jsonOptions...)
	p := parser{d: d, dec: dec}
	v, err := p.value()
	if err == nil {
		if _, end := dec.ReadToken(); end != io.EOF {
			return nil, og.Errorf(og.EINVALID, "P1", "body", "the body has text after its JSON object (read as %s)", d.form)
		}
	}
	switch {
	case errors.Is(err, errTooDeep):
		return nil, og.Errorf(og.EINVALID, "P1", "body", "the body nests deeper than %d levels; a purchase nests four", maxJSONDepth)
	case err != nil:
		why := strings.TrimPrefix(err.Error(), "jsontext: ")
		var se *jsontext.SyntacticError
		if errors.As(err, &se) && se.ByteOffset >= 0 && se.ByteOffset <= int64(len(s)) {
			why += " (near " + near(s, int(se.ByteOffset)) + ")"
		}
		return nil, og.Errorf(og.EINVALID, "P1", "body", "the body is not valid JSON (read as %s): %s", d.form, why)
	}
	return v.(map[string]any), nil
}

var errTooDeep = errors.New("too deep")

// near quotes the text around offset i of s, for a syntax error's diagnostic: in backquotes,
// which JSON text rarely holds, else Go-quoted.
func near(s string, i int) string {
	t := s[max(0, i-16):min(len(s), i+16)]
	if strings.ContainsFunc(t, func(r rune) bool { return r == '`' || r < ' ' || r == utf8.RuneError }) {
		return strconv.Quote(t)
	}
	return "`" + t + "`"
}

// parser builds the body's values from dec; path is the dotted path of the value being read
// (user.shipping_address.city, products[0].sku), made a string only when a diagnostic names it.
type parser struct {
	d    *decoded
	dec  *jsontext.Decoder
	path []byte
}

func (p *parser) value() (any, error) {
	// A value read inside n containers nests n levels deep; the top object is level 0.
	if p.dec.StackDepth() > maxJSONDepth {
		return nil, errTooDeep
	}
	tok, err := p.dec.ReadToken()
	if err != nil {
		return nil, err
	}
	switch tok.Kind() {
	case '{':
		obj := map[string]any{}
		for p.dec.PeekKind() != '}' {
			name, err := p.dec.ReadToken()
			if err != nil {
				return nil, err
			}
			key := name.String()
			n := len(p.path)
			if n > 0 {
				p.path = append(p.path, '.')
			}
			p.path = append(p.path, key...)
			v, err := p.value()
			p.path = p.path[:n]
			if err != nil {
				return nil, err
			}
			obj[key] = v
		}
		_, err := p.dec.ReadToken()
		return obj, err
	case '[':
		list := []any{}
		for i := 0; p.dec.PeekKind() != ']'; i++ {
			n := len(p.path)
			p.path = append(strconv.AppendInt(append(p.path, '['), int64(i), 10), ']')
			v, err := p.value()
			p.path = p.path[:n]
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		_, err := p.dec.ReadToken()
		return list, err
	case '"':
		return p.d.decodeString(tok.String(), p.path), nil
	case '0':
		return json.Number(tok.String()), nil
	case 't', 'f':
		return tok.Bool(), nil
	}
	return nil, nil // null
}

func (d *decoded) decodeString(s string, at []byte) string {
	if !strings.Contains(s, "%") {
		for i := 0; i < len(s); i++ {
			if !unreserved(s[i]) && !isAESField(at) {
				d.unencoded = append(d.unencoded, string(at))
				break
			}
		}
		return s
	}
	path := string(at)
	dec, err := url.PathUnescape(s)
	if err != nil {
		d.diags = append(d.diags, og.Warning("C2", path, fmt.Sprintf("%q has a '%%' that is not a URL escape: taken literally; URL-encode each string value (C2: %%25 for a '%%')", s)))
		return s
	}
	d.perField = true
	if strings.Contains(dec, "%") {
		if again, err := url.PathUnescape(dec); err == nil && again != dec {
			d.diags = append(d.diags, og.Warning("C2", path, fmt.Sprintf("%q still holds URL escapes after decoding (%q): the value was URL-encoded twice", s, dec)))
		}
	}
	return dec
}

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
