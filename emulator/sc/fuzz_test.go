package sc

import (
	"testing"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

const fuzzKey = "Mt!ZQ45q&GHsgiRD8{NB-_h87#rjvbn0"

// FuzzPurchaseBody feeds arbitrary bodies through every step that reads them: the P1 body
// forms, the per-field decoding (C2) and the field rules (P2-P4, C1, E1-E4). Nothing may panic,
// and every refusal must name a rule and a field.
func FuzzPurchaseBody(f *testing.F) {
	for _, s := range []string{
		`{"merchant_id":"m","merchant_order_id":"1","og_cart_tracking":false,"user":{"user_id":"u","first_name":"a","last_name":"b","email":"a%40b.c","shipping_address":{"first_name":"a","last_name":"b","address":"x","city":"y","state_province_code":"NY","zip_postal_code":"1","phone":"1","country_code":"US"}},"payment":{"token_id":"t","cc_holder":"kwWZ%2F53%2Bx32tmofPBfCppQzDFDlnWL9lCXQ%2Fq5nFNdk%3D","cc_exp_date":"kwWZ%2F53%2Bx32tmofPBfCppQzDFDlnWL9lCXQ%2Fq5nFNdk%3D","cc_type":"1"},"products":[{"product":"p","sku":"s","subscription_info":{"quantity":"1","tracking_override":{"offer":"o","every":"1","every_period":"3"}},"purchase_info":{"quantity":"1","price":"1.00","discounted_price":"1.00","total":"1.00"}}]}`,
		`create_request=%7B%22merchant_id%22%3A%22m%22%7D`,
		`create_request={"products":[{"subscription_info":{"components":"","price":"2%2E00"}}],"tracking":[{"product":1}]}`,
		`{"user":{"email":"%zz","first_name":"\u00e9"},"payment":{"cc_number":"x"}}`,
		`%7B`, `{`, `create_request=`, `{"products":[[[[]]]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := decodeBody(raw)
		if err != nil {
			if err.Rule == "" || err.Field == "" || err.Message == "" {
				t.Fatalf("refusal without rule, field or message: %+v", err)
			}
			return
		}
		p, _, r := readPurchase(fuzzKey, d.obj)
		for field, v := range r.errs {
			if field == "" || v == nil {
				t.Fatalf("errors object entry %q = %v", field, v)
			}
		}
		for _, diag := range r.diags {
			if diag.Rule == "" || diag.Message == "" {
				t.Fatalf("diagnostic without rule or message: %+v", diag)
			}
		}
		if p.Payment != nil && len(p.Payment.CCNumberEnding) > 4 {
			t.Fatalf("a card number longer than its last four digits was kept (E4): %q", p.Payment.CCNumberEnding)
		}
		if !r.failed() {
			m := &og.Merchant{ID: "m", Location: nil}
			og.PlanCheckout(m, &p, map[string]*og.Product{}, nil, fuzzNow)
		}
	})
}

var fuzzNow = mustTime("2026-01-05T12:00:00Z")
