package sc

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// FuzzParseMatchesEncodingJSON checks the one-pass body parser against what it replaced:
// encoding/json into map[string]any (with UseNumber), then a walk decoding every string leaf.
// Both must take and refuse the same bodies, build the same object and note the same
// encodings and diagnostics.
func FuzzParseMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":"b%20c","n":1.5e3,"l":[true,false,null,{"x":"%zz"}],"payment":{"cc_holder":"a+b/c="}}`,
		`{"user":{"email":"a@b.c","first_name":"%2541"}}`, `{"a":"\u00e9\ud800"}`, "{\"a\":\"\xff\"}",
		`{"a":1}}`, `{"a":1} x`, `{"a":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}`, `{"a":{"b":"1","b":"%41"}}`,
		`{"a":-0.0e-1,"b":01}`, `{}`, `{"a"}`, "{\"a\":\"\t\"}",
		// Repeated names: what the replaced value noted goes with it.
		`{"m":"raw value%zz","m":"x"}`, `{"u":{"a":"%zz","b":"%41"},"u":{"c":"c d"}}`, `{"a":{"b":"%2541"},"a":"x","a.b":"y y"}`,
		// Nesting against syntax errors and trailing text: encoding/json's order.
		`{"a":[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]], "b": x}`, `{"a":[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]} x`, `{"a":[[[[[[[[[[[[[[[[[`,
		`{"a":[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}`, `{"a":[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]}`, `{"a":1,}`, `{"a":[1,2,]}`, `{"a" 1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !strings.HasPrefix(s, "{") {
			return // decodeBody refuses these before parsing
		}
		d := &decoded{form: formRaw}
		obj, err := d.parse(s)
		ref := &decoded{form: formRaw}
		refObj, refRefusal := ref.referenceParse(s)
		got := ""
		if err != nil {
			if err.Rule != "P1" || err.Field != "body" {
				t.Fatalf("refusal %+v", err)
			}
			got = refusalKind(err.Message)
		}
		if got != refRefusal {
			// Deliberate: encoding/json's Decoder.More stops at a closing bracket, so the old
			// reading took `{"a":1}}`; staging's parser, like any strict one, refuses it.
			trailing := strings.TrimLeft(s[len(firstValue(s)):], " \t\r\n")
			if got == "text after" && refRefusal == "" && (strings.HasPrefix(trailing, "}") || strings.HasPrefix(trailing, "]")) {
				return
			}
			t.Fatalf("parse %q: refused %q (%v); encoding/json: %q", s, got, err, refRefusal)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(obj, refObj) {
			t.Fatalf("parse %q:\n got %#v\nwant %#v", s, obj, refObj)
		}
		slices.Sort(d.unencoded)
		slices.Sort(ref.unencoded)
		if !slices.Equal(d.unencoded, ref.unencoded) || d.perField != ref.perField {
			t.Fatalf("parse %q: unencoded %q perField %v; want %q %v", s, d.unencoded, d.perField, ref.unencoded, ref.perField)
		}
		if got, want := diagTexts(d), diagTexts(ref); !slices.Equal(got, want) {
			t.Fatalf("parse %q: diagnostics\n%q\nwant\n%q", s, got, want)
		}
	})
}

// refusalKind classes a P1 refusal of parse by what it says.
func refusalKind(msg string) string {
	for _, k := range []string{"not valid JSON", "text after", "nests deeper"} {
		if strings.Contains(msg, k) {
			return k
		}
	}
	return msg
}

func firstValue(s string) string {
	dec := json.NewDecoder(strings.NewReader(s))
	var v any
	_ = dec.Decode(&v)
	return s[:dec.InputOffset()]
}

func diagTexts(d *decoded) []string {
	var out []string
	for _, g := range d.diags {
		out = append(out, g.Rule+" "+g.Field+" "+g.Message)
	}
	slices.Sort(out)
	return out
}

// referenceParse is the parser the one-pass parse replaced, kept as its oracle with the leaf
// decoding it used (strings all the way): it returns the object, or the kind of refusal.
func (d *decoded) referenceParse(s string) (map[string]any, string) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, "not valid JSON"
	}
	if dec.More() {
		return nil, "text after"
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, "not an object"
	}
	if referenceDepth(obj, 0) > maxJSONDepth {
		return nil, "nests deeper"
	}
	return d.referenceWalk(obj, "").(map[string]any), ""
}

func referenceDepth(v any, n int) int {
	best := n
	switch x := v.(type) {
	case map[string]any:
		for _, c := range x {
			best = max(best, referenceDepth(c, n+1))
		}
	case []any:
		for _, c := range x {
			best = max(best, referenceDepth(c, n+1))
		}
	}
	return best
}

func (d *decoded) referenceWalk(v any, path string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			x[k] = d.referenceWalk(c, join(path, k))
		}
		return x
	case []any:
		for i, c := range x {
			x[i] = d.referenceWalk(c, path+"["+strconv.Itoa(i)+"]")
		}
		return x
	case string:
		return d.referenceDecodeString(x, path)
	}
	return v
}

func (d *decoded) referenceDecodeString(s, path string) string {
	if !strings.Contains(s, "%") {
		for i := 0; i < len(s); i++ {
			if !unreserved(s[i]) && !referenceIsAESField(path) {
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

func referenceIsAESField(path string) bool {
	return strings.HasSuffix(path, "cc_holder") || strings.HasSuffix(path, "cc_exp_date") ||
		strings.HasSuffix(path, "cc_number") || strings.HasSuffix(path, "cc_last_4")
}
