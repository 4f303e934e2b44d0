package store

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// fill sets every field of v (a pointer) to a value that is not its zero, recursively, so that
// a round trip exercises each one.
func fill(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Pointer:
		if depth > 4 {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 11, 22, 10, 30, 0, 123, time.UTC)))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		if depth > 4 {
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fill(s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, depth+1)
		fill(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Interface:
		v.Set(reflect.ValueOf(map[string]any{"n": 1.5, "s": "é<&>", "l": []any{true, nil}}))
	case reflect.String:
		v.SetString("v\u00e9<&>\"")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(7.25)
	case reflect.Bool:
		v.SetBool(true)
	}
}

// The store decodes with the v2 decoder in v1 mode (unmarshal); every value was written by
// encoding/json. Each stored type, filled and empty, must read back exactly as encoding/json
// reads it.
func TestUnmarshalReadsWhatEncodingJSONReads(t *testing.T) {
	types := []any{
		&og.Customer{}, &og.Subscription{}, &og.Product{}, &og.PurchaseResult{}, &og.Session{},
		&og.PurchaseAttempt{}, &orderHead{}, &og.OrderItem{}, &og.JournalEntry{}, &og.Batch{},
	}
	for _, proto := range types {
		typ := reflect.TypeOf(proto).Elem()
		for _, filled := range []bool{false, true} {
			val := reflect.New(typ)
			if filled {
				fill(val.Elem(), 0)
			}
			raw, err := marshal(val.Interface())
			if err != nil {
				t.Fatalf("%s: marshal: %v", typ, err)
			}
			want, got := reflect.New(typ), reflect.New(typ)
			errWant := json.Unmarshal(raw, want.Interface())
			errGot := unmarshal(raw, got.Interface())
			if (errWant == nil) != (errGot == nil) {
				t.Fatalf("%s (filled %v): encoding/json says %v, unmarshal says %v\n%s", typ, filled, errWant, errGot, raw)
			}
			if !reflect.DeepEqual(want.Interface(), got.Interface()) {
				t.Errorf("%s (filled %v) reads differently:\nencoding/json %+v\nunmarshal     %+v\nfrom %s", typ, filled, want.Elem(), got.Elem(), raw)
			}
		}
	}
	// Values encoding/json takes and the v2 decoder refuses by default.
	var c og.Customer
	if err := unmarshal([]byte("{\"first_name\":\"a\xffb\",\"FIRST_NAME\":\"x\",\"first_name\":\"c\"}"), &c); err != nil || c.FirstName != "c" {
		t.Errorf("invalid UTF-8, duplicate and case-folded names: %v, %q", err, c.FirstName)
	}
}
