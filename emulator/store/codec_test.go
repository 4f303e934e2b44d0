package store

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
	bolt "go.etcd.io/bbolt"
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
		&og.Category{}, &og.FeedReport{}, &og.Email{}, &og.Dropped{},
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

// getShared hands out one decoded product while its stored bytes stay the same, a new one as
// soon as they change (a feed or the control API updated it), and what the view itself wrote
// before that; each read is checked at commit like any other.
func TestGetSharedFollowsTheStoredBytes(t *testing.T) {
	db := MustOpen(t, Options{})
	if err := db.EnsureMerchants([]string{"m"}); err != nil {
		t.Fatal(err)
	}
	put := func(price og.Money) {
		t.Helper()
		if _, err := db.UpsertProducts(context.Background(), "m", []og.Product{{ProductID: "p", SKU: "p", Name: "P", Price: price, AutoshipEligible: true, InStock: true}}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(v *view) *og.Product {
		t.Helper()
		p, err := getShared[og.Product](v, bProducts, "p")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	inView := func(fn func(v *view)) {
		t.Helper()
		if err := db.bolt.View(func(tx *bolt.Tx) error { fn(newView(tx, db, "m")); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	put(1000)
	var first *og.Product
	inView(func(v *view) { first = read(v) })
	inView(func(v *view) {
		if again := read(v); again != first || again.Price != 1000 {
			t.Errorf("unchanged bytes: got %p (price %s), want the shared %p", again, again.Price, first)
		}
		if p, err := getShared[og.Product](v, bProducts, "absent"); p != nil || err != nil {
			t.Errorf("absent product: %v, %v", p, err)
		}
	})
	put(1250)
	inView(func(v *view) {
		now := read(v)
		if now == first || now.Price != 1250 || first.Price != 1000 {
			t.Errorf("after the price changed: got price %s (shared value now %s)", now.Price, first.Price)
		}
		v.putJSON(bProducts, "p", &og.Product{ProductID: "p", Price: 1})
		if own := read(v); own.Price != 1 {
			t.Errorf("the view's own write: price %s", own.Price)
		}
	})
	// A read through the cache is checked at commit: a view that read the product before it
	// changed is not valid afterwards.
	var stale *view
	inView(func(v *view) { read(v); stale = v })
	put(1300)
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		if stale.valid(tx) {
			t.Error("a view that read the product at 12.50 is still valid after it changed to 13.00")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// E4: a payment's holder and expiry are kept sealed with the store's key, never in clear; one
// stored in clear by an older version is read as it is.
func TestPaymentsAreSealedAtRest(t *testing.T) {
	key := strings.Repeat("k", 32)
	p := sealed(key, &og.PurchasePayment{TokenID: "t", CCHolder: "Ann Lee", CCExpDate: "03/2027"})
	if !strings.HasPrefix(p.CCHolder, "sealed:") || !strings.HasPrefix(p.CCExpDate, "sealed:") || strings.Contains(p.CCHolder+p.CCExpDate, "Ann") {
		t.Fatalf("sealed: %+v", p)
	}
	long := strings.Repeat("x", 3072) // past Decrypt's bound on what clients send: Open reads it
	for stored, want := range map[string]string{p.CCHolder: "Ann Lee", p.CCExpDate: "03/2027", "Old Clear": "Old Clear", ogcrypto.Seal(key, long): long} {
		if got := opened(key, og.Payment{CCHolder: stored}).CCHolder; got != want {
			t.Errorf("opened(%.20q) = %.20q, want %.20q", stored, got, want)
		}
	}
}
