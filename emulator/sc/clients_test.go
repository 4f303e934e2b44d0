package sc_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/ogsandbox/ogsandbox/emulator/config"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox/sandboxtest"
)

// magentoBody is the purchase POST of the Magento 2 module (M23 DataMap): raw json_encode
// with "\/" escapes, only email and cc_exp_date URL-encoded, amounts with four decimals from
// the database, a float discounted price, og_cart_tracking false with the offers script's
// tracking array, and a one-digit expiry month.
func magentoBody(orderID string) string {
	body := map[string]any{
		"merchant_id": demo.ID, "og_cart_tracking": false, "merchant_order_id": orderID, "session_id": "",
		"user": map[string]any{
			"user_id": "m23-customer", "first_name": "Ann", "last_name": "Lee", "email": url.QueryEscape("ann+shop@example.com"),
			"phone_number": "555 0100",
			"shipping_address": map[string]any{"first_name": "Ann", "last_name": "Lee", "address": "1 Main St", "city": "Springfield",
				"state_province_code": "IL", "zip_postal_code": "62701", "phone": "555 0100", "country_code": "US"},
			"billing_address": map[string]any{"first_name": "Ann", "last_name": "Lee", "address": "1 Main St", "city": "Springfield",
				"state_province_code": "IL", "zip_postal_code": "62701", "phone": "555 0100", "country_code": "US"},
		},
		"payment": map[string]any{"token_id": "1::braintree-token::braintree", "cc_holder": enc("Ann Lee"),
			"cc_exp_date": url.QueryEscape(enc("3/2027")), "cc_type": "2"},
		"products": []any{
			map[string]any{"product": "DF-30", "sku": "DF-30-LB",
				"purchase_info": map[string]any{"quantity": 2, "price": "54.9900", "discounted_price": 1.3000000000000007, "total": "109.9800"}},
			map[string]any{"product": "LEASH-RED", "sku": "LEASH-RED",
				"purchase_info": map[string]any{"quantity": 1, "price": "14.0000", "discounted_price": "14.0000", "total": "14.0000"}},
		},
		"tracking": []any{map[string]any{"product": "DF-30", "offer": "3b0f6a1e5efc12e49d61bc764e106cf6", "every": 2, "every_period": 2}},
	}
	b, _ := json.Marshal(body) // Go escapes nothing; PHP's json_encode escapes '/'
	return strings.ReplaceAll(string(b), "/", `\/`)
}

func TestRealClients_Magento(t *testing.T) {
	sb := sandboxtest.Start(t)
	r := post(t, sb, magentoBody("100000042"), "Authorization", auth("m23-customer"), "Content-Type", "application/json")
	res := decode(t, r)
	if r.Status != 201 {
		t.Fatalf("an M23 checkout: %d %s", r.Status, r.Body)
	}
	for _, want := range []string{"E2", "C2", "P3"} { // one-digit month, unencoded values, float price
		if !res.hasRule(want) {
			t.Errorf("no %s warning for the M23 body: %s", want, r.Body)
		}
	}
	var subs []og.Subscription
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/subscriptions", nil).JSON(t, &subs)
	if len(subs) != 1 || subs[0].ProductID != "DF-30" || subs[0].Every != 2 || subs[0].Quantity != 2 {
		t.Fatalf("subscriptions from the M23 tracking array: %+v", subs)
	}
	var cs []og.Customer
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/customers", nil).JSON(t, &cs)
	// The holder and expiry are listed as the merchant sent them: encrypted with its hash key
	// (E1; kept at rest under the sandbox's own key, E4).
	pm := cs[0].Payments[0]
	exp, _, err1 := ogcrypto.Decrypt(demo.HashKey, "cc_exp_date", pm.CCExpDate)
	holder, _, err2 := ogcrypto.Decrypt(demo.HashKey, "cc_holder", pm.CCHolder)
	if cs[0].Email != "ann+shop@example.com" || err1 != nil || err2 != nil || exp != "03/2027" || holder != "Ann Lee" {
		t.Fatalf("customer from the M23 body: %+v (expiry %q, holder %q)", cs[0], exp, holder)
	}
}

// P1: a literal '+' survives whole-body encoders that leave it alone; form encoding's '+' is a
// space.
func TestP1_PlusInWholeBodyEncoding(t *testing.T) {
	sb := sandboxtest.Start(t)
	p := set(purchase("PLUS-1"), "user.phone_number", "+15550100")
	if r := post(t, sb, "create_request="+url.PathEscape(jsonOf(p, ""))); r.Status != 201 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	p = set(set(purchase("PLUS-2"), "user.user_id", "cust-2"), "user.phone_number", "+15550100")
	form := "create_request=" + url.QueryEscape(jsonOf(p, "")) // Python's quote_plus: spaces as '+'
	r := post(t, sb, form, "Authorization", auth("cust-2"))
	if r.Status != 201 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	// PathEscape of a body with no space anywhere: no %20 to tell it from form encoding, but
	// the ':' and ',' between members that form encoding would have escaped.
	p = set(set(set(purchase("PLUS-3"), "user.user_id", "cust-3"), "user.phone_number", "+15550100"), "user.email", "nick+orders@example.com")
	for field, v := range map[string]string{"address": "75-Broad-St", "address2": "Fl-23", "city": "New-York", "first_name": "Nicholas", "phone": "+15550100"} {
		set(p, "user.shipping_address."+field, v)
	}
	if body := "create_request=" + url.PathEscape(jsonOf(p, "")); strings.Contains(body, "%20") {
		t.Fatalf("the body has a space: %s", body)
	} else if r := post(t, sb, body, "Authorization", auth("cust-3")); r.Status != 201 || strings.Contains(string(r.Body), "read as a space") {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var cs []og.Customer
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/customers", nil).JSON(t, &cs)
	for _, c := range cs {
		city := "New York"
		if c.MerchantUserID == "cust-3" {
			city = "New-York"
			if c.Email != "nick+orders@example.com" {
				t.Errorf("%s: email %q", c.MerchantUserID, c.Email)
			}
		}
		if c.PhoneNumber != "+15550100" || c.Addresses[0].City != city {
			t.Errorf("%s: phone %q city %q", c.MerchantUserID, c.PhoneNumber, c.Addresses[0].City)
		}
	}
}

func TestP7_OneTimeCheckoutWithEmptyPayment(t *testing.T) {
	sb := sandboxtest.Start(t)
	p := set(purchase("ONE-1"), "payment", obj{})
	set(p, "products", []any{oneTime("LEASH-RED", "LEASH-RED", "14.00")})
	set(p, "payment", obj{"cc_number_ending": "1111"}) // the REST field name, plain
	if r := post(t, sb, prefixed(p)); r.Status != 201 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	set(p, "merchant_order_id", "ONE-2")
	set(p, "payment", obj{}) // SFCC with its payment preferences off
	if r := post(t, sb, prefixed(p)); r.Status != 201 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
}

// Faults are for the purchase POST of the merchant they name; a poll of the status endpoint or
// a request that fails authentication does not use them up.
func TestFaultScope(t *testing.T) {
	acme := config.DemoMerchant()
	acme.ID, acme.PublicID, acme.SFTP.Username, acme.APIKeys = "acme", "acme-pub", "acme", []string{"acme-key-0123456789"}
	sb := sandboxtest.Start(t, func(c *config.Config) { c.Merchants = append(c.Merchants, acme) })
	res := decode(t, post(t, sb, prefixed(purchase("SCOPE-0"))))
	putFaults(t, sb, obj{"surface": "sc", "status": 503, "count": 1, "merchant_id": demo.ID})
	do(t, "GET", sb.URL()+"/subscription/"+res.SubsReqID+"/response", nil, "x-api-key", demo.APIKeys[0])
	post(t, sb, prefixed(purchase("SCOPE-X")), "Authorization", `{"public_id":"`+demo.PublicID+`","ts":1,"sig_field":"cust-1","sig":"x"}`)
	other := set(purchase("SCOPE-A"), "merchant_id", "acme")
	if r := post(t, sb, prefixed(other), "x-api-key", "acme-key-0123456789"); r.Status != 201 {
		t.Fatalf("another merchant's checkout: %d %s", r.Status, r.Body)
	}
	if r := do(t, "POST", sb.URL()+"/subscription/create/", prefixed(purchase("SCOPE-1")), "Authorization", auth("cust-1")); r.Status != 503 {
		t.Fatalf("the demo merchant's next purchase POST (trailing slash): %d, want the injected 503", r.Status)
	}
	if r := putFaults(t, sb, obj{"surface": "sc", "status": 503, "merchant_id": "nobody"}); r.Status != 400 {
		t.Fatalf("a fault for an unknown merchant: %d", r.Status)
	}
}

// X2: what a diagnostic quotes is masked in the journal like the body it comes from.
func TestJournalMasksDiagnostics(t *testing.T) {
	sb := sandboxtest.Start(t)
	card := enc("4111111111111111")
	p := set(purchase("MASK-1"), "payment.cc_number", url.QueryEscape(url.QueryEscape(card)))
	post(t, sb, prefixed(p))
	j := do(t, "GET", sb.URL()+"/_sandbox/journal?surface=sc", nil)
	if strings.Contains(string(j.Body), card) || strings.Contains(string(j.Body), url.QueryEscape(card)) {
		t.Fatalf("the journal shows the card's ciphertext: %s", j.Body)
	}
}
