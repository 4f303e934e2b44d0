package sc

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
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
		refObj, refOK := ref.referenceParse(s)
		if (err == nil) != refOK {
			// encoding/json's Decoder.More stops at a closing bracket: `{"a":1}}` was taken.
			trailing := strings.TrimLeft(s[len(firstValue(s)):], " \t\r\n")
			if err != nil && refOK && (strings.HasPrefix(trailing, "}") || strings.HasPrefix(trailing, "]")) {
				return
			}
			t.Fatalf("parse %q: error %v; encoding/json took it: %v", s, err, refOK)
		}
		if err != nil {
			if err.Rule != "P1" || err.Field != "body" {
				t.Fatalf("refusal %+v", err)
			}
			return
		}
		if !reflect.DeepEqual(obj, refObj) {
			t.Fatalf("parse %q:\n got %#v\nwant %#v", s, obj, refObj)
		}
		if hasDuplicateNames(s) {
			return // the walk never saw the values a repeated name replaced
		}
		slices.Sort(d.unencoded)
		slices.Sort(ref.unencoded)
		if !slices.Equal(d.unencoded, ref.unencoded) || d.perField != ref.perField {
			t.Fatalf("parse %q: unencoded %q perField %v; want %q %v", s, d.unencoded, d.perField, ref.unencoded, ref.perField)
		}
		got, want := diagTexts(d), diagTexts(ref)
		if !slices.Equal(got, want) {
			t.Fatalf("parse %q: diagnostics\n%q\nwant\n%q", s, got, want)
		}
	})
}

func firstValue(s string) string {
	dec := json.NewDecoder(strings.NewReader(s))
	var v any
	_ = dec.Decode(&v)
	return s[:dec.InputOffset()]
}

func hasDuplicateNames(s string) bool {
	_, err := jsontext.NewDecoder(strings.NewReader(s), jsontext.AllowInvalidUTF8(true)).ReadValue()
	return err != nil && strings.Contains(err.Error(), "duplicate")
}

func diagTexts(d *decoded) []string {
	var out []string
	for _, g := range d.diags {
		out = append(out, g.Rule+" "+g.Field+" "+g.Message)
	}
	slices.Sort(out)
	return out
}

// referenceParse is the parser the one-pass parse replaced, kept as its oracle.
func (d *decoded) referenceParse(s string) (map[string]any, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	obj, ok := v.(map[string]any)
	if !ok || referenceDepth(obj, 0) > maxJSONDepth {
		return nil, false
	}
	return d.referenceWalk(obj, "").(map[string]any), true
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
		return d.decodeString(x, []byte(path))
	}
	return v
}
