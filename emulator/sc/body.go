package sc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

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
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, og.Errorf(og.EINVALID, "P1", "body", "the body is not valid JSON (read as %s): %v", d.form, err)
	}
	if dec.More() {
		return nil, og.Errorf(og.EINVALID, "P1", "body", "the body has text after its JSON object (read as %s)", d.form)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, og.Errorf(og.EINVALID, "P1", "body", "the body is JSON but not an object")
	}
	if depth(obj, 0) > maxJSONDepth {
		return nil, og.Errorf(og.EINVALID, "P1", "body", "the body nests deeper than %d levels; a purchase nests four", maxJSONDepth)
	}
	d.obj = d.walk(obj, "").(map[string]any)
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

func depth(v any, n int) int {
	best := n
	switch x := v.(type) {
	case map[string]any:
		for _, c := range x {
			best = max(best, depth(c, n+1))
		}
	case []any:
		for _, c := range x {
			best = max(best, depth(c, n+1))
		}
	}
	return best
}

// walk decodes every string leaf of v, noting for diagnostics how each was encoded.
func (d *decoded) walk(v any, path string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			x[k] = d.walk(c, join(path, k))
		}
		return x
	case []any:
		for i, c := range x {
			x[i] = d.walk(c, path+"["+strconv.Itoa(i)+"]")
		}
		return x
	case string:
		return d.decodeString(x, path)
	}
	return v
}

func (d *decoded) decodeString(s, path string) string {
	if !strings.Contains(s, "%") {
		for i := 0; i < len(s); i++ {
			if !unreserved(s[i]) && !isAESField(path) {
				d.unencoded = append(d.unencoded, path)
				break
			}
		}
		return s
	}
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

func isAESField(path string) bool {
	return strings.HasSuffix(path, "cc_holder") || strings.HasSuffix(path, "cc_exp_date") ||
		strings.HasSuffix(path, "cc_number") || strings.HasSuffix(path, "cc_last_4")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
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
