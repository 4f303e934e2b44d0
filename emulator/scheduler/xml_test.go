package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
	"github.com/ogsandbox/ogsandbox/internal/golden"
)

const key = "Mt!ZQ45q&GHsgiRD8{NB-_h87#rjvbn0"

var merchant = &og.Merchant{ID: "0e5de2bedc5e11e3a2e4bc764e106cf4", PublicID: "9d0e5d6c3a1211ecb9090242ac120002", Name: "Pet Store", HashKey: key, Location: time.UTC}

func money(s string) og.Money { m, _ := og.ParseMoney(s); return m }

// orderContext is the seed's example order (O3): Nicholas Bundy's Training Treat Pack.
func orderContext() *og.OrderContext {
	freq := og.Frequency{Every: 2, EveryPeriod: og.PeriodWeek}
	ship := og.Address{PublicID: "a1", FirstName: "Nicholas", LastName: "Bundy", Address: "75 Broad St", Address2: "Fl 23",
		City: "New York", StateProvinceCode: "NY", ZipPostalCode: "10004", CountryCode: "US"}
	return &og.OrderContext{
		Merchant: merchant,
		Order: &og.Order{
			OGID: 17071718, PublicID: "0a52e64caa1911ecbea15e94dbd6dbd0", PlaceDate: og.Date{Year: 2022, Month: 3, Day: 23},
			Items: []og.OrderItem{{
				PublicID: "53045416aae111ecb1798e2cf0ff778f", Subscription: "74ec471c8c1211eb898efe0ed7e0111f",
				OfferPublicID: "a60cd8da1f6111ea9096bc764e101db1", OfferProfilePublicID: "a5e467c41f6111eabd2bbc764e101db1",
				Quantity: 2, SKU: "17550870", Name: "Training Treat Pack", ProductID: "17550870",
				Price: money("12.99"), UnitDiscount: money("2.60"), Frequency: &freq,
				StartDate: og.Date{Year: 2022, Month: 3, Day: 17}, OriginalOrderID: "977968",
			}},
		},
		Customer: &og.Customer{MerchantUserID: "DC69410241", OGID: 4778263, FirstName: "Nicholas", LastName: "Bundy",
			Email: "nicholas.bundy@ordergroove.com", Locale: "en-us"},
		Payment: &og.Payment{PublicID: "3c9efe848c0511ebaf4c2ec47f35ff80", TokenID: "ABC123456789DEF", CCType: 1,
			CCExpDate: "01/2019", PaymentMethod: "credit card"},
		Shipping: &ship,
	}
}

// O3: the order XML of each variant, against golden files; what the seed's example shows is
// what these carry: CDATA on text fields, amounts exact, the expiry encrypted (E3).
func TestO3_OrderXML(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *og.OrderContext)
	}{
		{"seed_example", func(*og.OrderContext) {}},
		{"components_and_extra_data", func(c *og.OrderContext) {
			it := &c.Order.Items[0]
			it.Components = []og.Component{{ProductID: "B987654", SKU: "B987654", Quantity: 2}, {ProductID: "C000000", SKU: "C000000", Quantity: 2}}
			it.ExtraData = map[string]any{"pet_name": "Rover", "breed": "Great Pyrenees", "notes": map[string]any{"allergies": "chicken & beef"}}
		}},
		{"two_items_one_time_and_paypal", func(c *og.OrderContext) {
			c.Order.Items = append(c.Order.Items, og.OrderItem{PublicID: "6b1f", ProductID: "CT-4050", SKU: "50020401",
				Name: "Max's Delectable Cat Treatz - Tuna & Salmon", Quantity: 1, Price: money("4.99"), OneTime: true})
			c.Payment = &og.Payment{PublicID: "pp1", TokenID: "paypal-token", PaymentMethod: "PayPal", CCExpDate: "12/2099", CCHolder: "Nicholas Bundy", Label: "PayPal nick@example.com"}
			c.Billing = &og.Address{FirstName: "Nick", LastName: "Bundy", Address: "1 Billing Way", City: "Albany", StateProvinceCode: "NY", ZipPostalCode: "12207", CountryCode: "US", CompanyName: "Bundy & Co"}
		}},
		{"no_payment", func(c *og.OrderContext) { c.Payment = nil }},
	} {
		t.Run("O3/"+tc.name, func(t *testing.T) {
			c := orderContext()
			tc.edit(c)
			b, err := OrderXML(c)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, "order_"+tc.name, b)
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(b); err != nil {
				t.Fatalf("the order XML does not parse: %v", err)
			}
		})
	}
}

// O3 arithmetic and E3, checked field by field on the seed's example.
func TestO3_Amounts(t *testing.T) {
	b, _ := OrderXML(orderContext())
	doc := etree.NewDocument()
	doc.ReadFromBytes(b)
	get := func(path string) string { return doc.FindElement(path).Text() }
	for path, want := range map[string]string{
		"order/items/item/discount":                   "5.20", // 2.60 per unit × 2
		"order/items/item/unitary_discount":           "2.60",
		"order/items/item/finalPrice":                 "20.78", // 12.99 × 2 − 5.20, as the seed's example
		"order/items/item/price":                      "12.99",
		"order/head/orderSubtotalValue":               "20.78",
		"order/head/orderDiscount":                    "5.20",
		"order/head/orderTotalValue":                  "20.78",
		"order/head/orderCcType":                      "Visa",
		"order/head/orderOgDate":                      "2022-03-23",
		"order/items/item/subscription/frequencyDays": "14",
		"order/customer/customerShippingAddress":      "75 Broad St Fl 23",
	} {
		if got := get(path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	exp, _, err := ogcrypto.Decrypt(key, "orderCcExpire", get("order/head/orderCcExpire"))
	if err != nil || exp != "01/2019" {
		t.Fatalf("orderCcExpire decrypts to %q, %v (E3)", exp, err)
	}
	if n := doc.FindElement("order/head/orderCcNumber"); n == nil || n.Text() != "" {
		t.Fatal("orderCcNumber carries something: Ordergroove never holds a card number (E4)")
	}
	if !strings.Contains(string(b), "<orderCcExpire><![CDATA[") || !strings.Contains(string(b), "<name><![CDATA[Training Treat Pack]]></name>") {
		t.Fatal("CDATA missing where the seed's example has it")
	}
}

// O4: what a merchant may answer.
func TestO4_ParseResponse(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		code, id   string
		errCode    string
		err        string
	}{
		{name: "success", body: `<?xml version="1.0" encoding="UTF-8"?><order><code>SUCCESS</code><orderId>1224</orderId></order>`, code: "SUCCESS", id: "1224"},
		{name: "success_with_whitespace_and_cdata", body: "\n<order>\n  <code> SUCCESS </code>\n  <orderId><![CDATA[A-1224]]></orderId>\n  <errorMsg />\n</order>\n", code: "SUCCESS", id: "A-1224"},
		{name: "error", body: `<order><code>ERROR</code><errorCode>110</errorCode><errorMsg>The credit card number provided is not valid.</errorMsg></order>`, code: "ERROR", errCode: "110"},
		{name: "processing_010", body: `<order><code>SUCCESS</code><responseCode>010</responseCode><orderId>9</orderId></order>`, code: "SUCCESS", id: "9"},
		{name: "empty", body: "", err: "empty"},
		{name: "json", body: `{"code":"SUCCESS"}`, err: "no XML element"},
		{name: "html_error_page", body: "<html><body>Internal Server Error</body></html>", err: "root element is <html>"},
		{name: "batch_form", body: `<orders><order><ogOrderId>1</ogOrderId><code>SUCCESS</code></order></orders>`, err: "batch"},
		{name: "no_code", body: `<order><orderId>1</orderId></order>`, err: "no <code>"},
		{name: "too_deep", body: strings.Repeat("<a>", 20) + strings.Repeat("</a>", 20), err: "not XML"},
		{name: "two_documents", body: `<order><code>SUCCESS</code><orderId>1</orderId></order><order><code>ERROR</code><errorCode>140</errorCode></order>`, err: "2 top-level elements"},
		{name: "over_the_bound", body: "<order><code>SUCCESS</code><orderId>1</orderId>" + strings.Repeat(" ", MaxResponse) + "</order>", err: "the body is over 1048576 bytes (the sandbox reads no more)"},
		{name: "two_codes", body: `<order><code>SUCCESS</code><code>ERROR</code><orderId>1</orderId></order>`, err: "more than one <code>"},
	} {
		t.Run("O4/"+tc.name, func(t *testing.T) {
			r, err := ParseResponse([]byte(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || r.Code != tc.code || r.OrderID != tc.id || r.ErrorCode != tc.errCode {
				t.Fatalf("ParseResponse = %+v, %v", r, err)
			}
		})
	}
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte(`<order><code>SUCCESS</code><orderId>1</orderId></order>`))
	f.Add([]byte(`<order><code>ERROR</code><errorCode>999</errorCode></order>`))
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE o [<!ENTITY a "b">]><order>&a;</order>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseResponse(body)
		if err == nil && (r == nil || r.Code == "") {
			t.Fatalf("accepted %q without a code", body)
		}
		if err == nil {
			_ = og.Decide(&og.Order{}, og.Answer{HTTPStatus: 200, Response: r}, og.RetryWindow{}, time.Unix(0, 0))
		}
	})
}

// O6a: why no answer arrived, for a person; a send the sandbox's own shutdown cut is not
// blamed on the merchant.
func TestTransportError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("Post: %w", context.Canceled), "the sandbox stopped"},
		{fmt.Errorf("Post: %w", context.DeadlineExceeded), "no answer within 3s"},
		{errors.New("dial tcp: connection refused"), "nothing listens"},
		{io.EOF, "closed without an answer"},
	} {
		if got := transportError(tc.err, 3*time.Second); !strings.Contains(got, tc.want) {
			t.Errorf("transportError(%v) = %q, want it to contain %q", tc.err, got, tc.want)
		}
	}
}
