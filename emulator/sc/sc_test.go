package sc_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/config"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox/sandboxtest"
	"github.com/ogsandbox/ogsandbox/emulator/web"
	"github.com/ogsandbox/ogsandbox/internal/golden"
)

var do = sandboxtest.Do

// P1: every body form real clients send creates the subscription.
func TestP1_BodyForms(t *testing.T) {
	sb := sandboxtest.Start(t)
	for i, tc := range []struct {
		name string
		body func(obj) string
		path string
	}{
		{"P1/raw_json_per_field_encoded", rawJSON, "/subscription/create"},
		{"P1/create_request_prefix", prefixed, "/subscription/create"},
		{"P1/sfcc_pretty_printed_prefix", sfcc, "/subscription/create"},
		{"P1/whole_body_url_encoded", wholeEncoded, "/subscription/create"},
		{"P1/whole_body_url_encoded_no_prefix", wholeNoPrefix, "/subscription/create"},
		{"P1/magento_partly_encoded", magento, "/subscription/create"},
		{"P1/trailing_slash", prefixed, "/subscription/create/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := fmt.Sprint("form-", i)
			p := set(purchase(fmt.Sprint("P1-", i)), "user.user_id", user)
			r := do(t, "POST", sb.URL()+tc.path, tc.body(p), "Authorization", auth(user), "Content-Type", "application/json")
			res := decode(t, r)
			if r.Status != 201 || res.Result != "Subscription request received" || !og.IsHex(res.SubsReqID, 24) {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			// Staging decodes a body URL-encoded as a whole, though the guide says not to.
			whole := strings.Contains(tc.name, "whole_body")
			if warned := strings.Contains(string(r.Body), "the whole body is URL-encoded"); warned != whole {
				t.Errorf("C2 warning about the whole body: %v, want %v: %s", warned, whole, r.Body)
			}
		})
	}
	// Values survive every form exactly: a '+' in a phone number stays a '+', spaces decode.
	var cs []og.Customer
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/customers", nil).JSON(t, &cs)
	if len(cs) != 7 {
		t.Fatalf("%d customers after 7 forms", len(cs))
	}
	for _, c := range cs {
		if c.PhoneNumber != "+1 555 0100" || c.Addresses[0].Address != "75 Broad St" || c.Email != "nick@example.com" {
			t.Errorf("customer %s: phone %q address %q email %q", c.MerchantUserID, c.PhoneNumber, c.Addresses[0].Address, c.Email)
		}
	}
	var subs []og.Subscription
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/subscriptions", nil).JSON(t, &subs)
	if len(subs) != 7 {
		t.Fatalf("%d subscriptions after 7 purchases", len(subs))
	}
}

func gzipped(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	io.WriteString(w, s)
	w.Close()
	return b.String()
}

func TestP1_BodyRefusals(t *testing.T) {
	sb := sandboxtest.Start(t)
	for _, tc := range []struct{ name, body, want string }{
		{"P1/empty", "", "the body is empty"},
		{"P1/not_json", "merchant_id=x&user=y", "looks like a form"},
		{"P1/broken_json", `{"merchant_id": `, "not valid JSON"},
		{"P1/trailing_text", `{"a":1} {"b":2}`, "text after"},
		{"P1/trailing_bracket", `{"a":1}}`, "text after its JSON object, which ends at offset 7 of the JSON as read"}, // encoding/json's More() let this one through
		{"P1/broken_json_says_where", `{"merchant_id": "x",, "user": {}}`, "at offset 20"},
		{"P1/broken_json_quotes_nothing", `{"payment": {"cvv": "987",, "cc_type": "1"}}`, "at offset 26 (in /payment)"},
		{"P1/truncated", `{"merchant_id": "x", "user": {"user_id": "u`, "unexpected end of the text at offset 43 (in /user/user_id)"},
		{"P1/array", `[1,2]`, "not a JSON object"},
		{"P1/bad_whole_encoding", `%7B%zz`, "does not decode"},
		{"P1/too_deep", strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40), "nests deeper"},
		{"P1/deeper_than_json_reads", strings.Repeat(`{"a":`, 50000), "exceeded max depth"}, // the place is clipped
		{"P1/byte_order_mark", "\ufeff" + `{"merchant_id": "x"}`, "byte-order mark"},
		{"P1/gzip", gzipped(`{"merchant_id": "x"}`), "gzip-compressed"},
		{"P1/wrapped_in_a_create_request_member", `{"create_request": {"merchant_id": "x"}}`, "holds the purchase object: create_request= is a form prefix"},
		{"P1/create_request_member_holds_a_string", `{"create_request": "{\"merchant_id\": \"x\"}"}`, "as a string (encoded twice)"},
		{"P1/json_encoded_twice", `create_request="{\"merchant_id\": \"x\"}"`, "the purchase JSON was encoded twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, sb, tc.body)
			res := decode(t, r)
			field, msg, _ := res.diag(t, "P1")
			if r.Status != 400 || field != "body" || !strings.Contains(msg, tc.want) || res.Errors["body"] == nil {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			// The answer is journaled as it is: a refusal never quotes the body (a cvv here).
			if strings.Contains(string(r.Body), "987") {
				t.Fatalf("the refusal quotes the body: %s", r.Body)
			}
			if len(r.Body) > 4096 {
				t.Fatalf("a %d-byte refusal: %.300s…", len(r.Body), r.Body)
			}
		})
	}
	for _, tc := range []struct {
		method, path string
		status       int
		want         string
	}{
		{"GET", "/subscription/create", 405, "the purchase POST is POST /subscription/create"},
		{"POST", "/subscription/0123456789abcdef01234567/response", 405, "is GET /subscription/0123456789abcdef01234567/response"},
		{"POST", "/subscription/create/response", 405, "is GET /subscription/create/response"},
		{"POST", "/subscription/create//", 404, "a trailing slash is allowed"},
		{"POST", "/subscription/new", 404, "POST /subscription/create"},
		{"POST", "//subscription/create", 404, "doubled slash"},
	} {
		r := do(t, tc.method, sb.URL()+tc.path, nil)
		var body struct {
			Detail      string          `json:"detail"`
			Diagnostics []og.Diagnostic `json:"diagnostics"`
		}
		json.Unmarshal(r.Body, &body)
		if r.Status != tc.status || body.Detail == "" || len(body.Diagnostics) != 1 || body.Diagnostics[0].Rule != "P1" || !strings.Contains(body.Diagnostics[0].Message, tc.want) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, r.Status, r.Body)
		}
	}
	big := strings.Repeat(" ", 2<<20)
	if r := post(t, sb, big); r.Status != 413 {
		t.Fatalf("a 2 MiB body: %d", r.Status)
	}
}

// A1-A4, X3, M2: authentication, and the diagnostics of its usual mistakes.
func TestA_Authentication(t *testing.T) {
	other := og.Merchant{ID: "acme", PublicID: "acme-public", Name: "Acme", HashKey: strings.Repeat("a", 32), Timezone: "UTC", Location: time.UTC,
		SFTP: og.SFTPLogin{Username: "acme"}, APIKeys: []string{"acme-key-123456"}, Placement: og.Placement{Method: "api", Hours: []int{6}, Timeout: time.Second}}
	sb := sandboxtest.Start(t, func(c *config.Config) {
		c.Merchants = append(c.Merchants, other)
		c.Demo = true
	})
	now := time.Now().Unix()
	sig := ogcrypto.Sign(demo.HashKey, "cust-1", now)
	hdr := func(ts, sig string) string {
		return `{"public_id":"` + demo.PublicID + `","ts":` + ts + `,"sig_field":"cust-1","sig":"` + sig + `"}`
	}
	hexSig := func() string {
		raw, _ := base64Std(sig)
		return fmt.Sprintf("%x", raw)
	}()
	stale := now - 3*3600 - 12*60
	for i, tc := range []struct {
		name   string
		header []string
		body   func(obj) obj
		status int
		rule   string
		want   string
		once   bool // the diagnostic is the only one on its field
	}{
		{name: "A4/ts_number", header: []string{"Authorization", hdr(fmt.Sprint(now), sig)}, status: 201},
		{name: "A4/ts_string", header: []string{"Authorization", hdr(`"`+fmt.Sprint(now)+`"`, sig)}, status: 201},
		{name: "A4/pretty_printed", header: []string{"Authorization", "{     \"public_id\": \"" + demo.PublicID + "\",\t     \"ts\": \"" + fmt.Sprint(now) + "\",     \"sig_field\": \"cust-1\",     \"sig\": \"" + sig + "\" }"}, status: 201},
		{name: "A4/php_slash_escapes", header: []string{"Authorization", hdr(fmt.Sprint(now), strings.ReplaceAll(sig, "/", `\/`))}, status: 201},
		{name: "X3/application_api_key", header: []string{"x-api-key", demo.APIKeys[0]}, status: 201},
		{name: "A1/hex_digest", header: []string{"Authorization", hdr(fmt.Sprint(now), hexSig)}, status: 401, rule: "A1", want: "hex digest"},
		{name: "A4/url_encoded_header", header: []string{"Authorization", url.QueryEscape(hdr(fmt.Sprint(now), sig))}, status: 401, rule: "A4", want: "URL-encoded"},
		{name: "A3/stale_ts", header: []string{"Authorization", hdr(fmt.Sprint(stale), ogcrypto.Sign(demo.HashKey, "cust-1", stale))}, status: 401, rule: "A3", want: "3h12m old"},
		{name: "A2/milliseconds", header: []string{"Authorization", hdr(fmt.Sprint(now*1000), sig)}, status: 401, rule: "A2", want: "milliseconds"},
		{name: "A4/unknown_public_id", header: []string{"Authorization", strings.Replace(hdr(fmt.Sprint(now), sig), demo.PublicID, "nobody", 1)}, status: 401, rule: "A4", want: `no merchant has public_id "nobody"`},
		// The SFCC cartridge sends one id as both; staging takes it (REFERENCE §1.2).
		{name: "A4/merchant_id_as_public_id", header: []string{"Authorization", strings.Replace(hdr(fmt.Sprint(now), sig), demo.PublicID, demo.ID, 1)}, status: 201, rule: "A4", want: "is the merchant_id of"},
		{name: "M1/public_id_as_merchant_id", header: []string{"Authorization", hdr(fmt.Sprint(now), sig)}, body: func(o obj) obj { return set(o, "merchant_id", demo.PublicID) }, status: 201, rule: "M1", want: "is the merchant's public_id"},
		{name: "A1/wrong_key", header: []string{"Authorization", hdr(fmt.Sprint(now), ogcrypto.Sign(other.HashKey, "cust-1", now))}, status: 401, rule: "A1", want: "does not match"},
		{name: "A1/url_encoded_sig_said_once", header: []string{"Authorization", hdr(fmt.Sprint(now), url.QueryEscape(sig))}, status: 401, rule: "A1", want: "URL-encoded", once: true},
		{name: "A4/missing", header: []string{"X-Nothing", "1"}, status: 401, rule: "A4", want: "missing"},
		{name: "X3/unknown_api_key", header: []string{"x-api-key", "nope-123456789"}, status: 401, rule: "X3", want: "not an API key"},
		{name: "A4/sig_field_is_not_the_user", header: []string{"Authorization", auth("someone-else")}, status: 401, rule: "A4", want: `sig_field "someone-else"`},
		{name: "M2/other_merchants_id_in_body", header: []string{"Authorization", hdr(fmt.Sprint(now), sig)}, body: func(o obj) obj { return set(o, "merchant_id", "acme") }, status: 401, rule: "M2", want: "not the merchant the request authenticated as"},
		{name: "M2/other_merchants_key_for_this_merchant", header: []string{"x-api-key", "acme-key-123456"}, status: 401, rule: "M2", want: "not the merchant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := purchase(fmt.Sprint("A-", i))
			if tc.body != nil {
				p = tc.body(p)
			}
			r := post(t, sb, prefixed(p), tc.header...)
			res := decode(t, r)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if tc.rule == "" {
				return
			}
			field, msg, _ := res.diag(t, tc.rule)
			if tc.once {
				n := 0
				for _, d := range res.Diagnostics {
					if d.Field == field {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d diagnostics on %s: %s", n, field, r.Body)
				}
			}
			if !strings.Contains(msg, tc.want) || tc.status >= 400 && (res.Error == "" || len(res.Errors) == 0) {
				t.Fatalf("%s diagnostic %q, want it to contain %q: %s", tc.rule, msg, tc.want, r.Body)
			}
			if tc.name == "A4/unknown_public_id" && res.Error != "Invalid Merchant nobody" {
				t.Fatalf("error %q, want staging's \"Invalid Merchant nobody\" (REFERENCE §3.4)", res.Error)
			}
		})
	}
	// A refusal of a header naming the demo merchant is journaled under it: the commonest
	// integration failures (a hex signature, a stale ts) show in the merchant's journal.
	var page og.JournalPage
	do(t, "GET", sb.URL()+"/_sandbox/journal?surface=sc&merchant="+demo.ID+"&limit=100", nil).JSON(t, &page)
	seen := map[string]bool{}
	for _, e := range page.Entries {
		for _, r := range e.Rules {
			seen[fmt.Sprint(e.Status, " ", r)] = true
		}
	}
	for _, want := range []string{"401 A1", "401 A2", "401 A3"} { // refused before the merchant was known to be theirs
		if !seen[want] {
			t.Errorf("the demo merchant's journal has no %s: %v", want, seen)
		}
	}
	// No subscription was written by a refused request, for either merchant.
	var subs []og.Subscription
	do(t, "GET", sb.URL()+"/_sandbox/merchants/acme/subscriptions", nil).JSON(t, &subs)
	if len(subs) != 0 {
		t.Fatalf("merchant acme has %d subscriptions after requests authenticated as the demo merchant", len(subs))
	}
}

func base64Std(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

// P2, P3, C1, C2, E1, E2, E4: what a request must hold, and how each mistake is named.
func TestP2_FieldRules(t *testing.T) {
	sb := sandboxtest.Start(t)
	otherKey := strings.Repeat("k", 32)
	for i, tc := range []struct {
		name   string
		form   func(obj) string // prefixed when nil
		edit   func(obj) obj
		status int
		rule   string
		field  string
		wire   string // the errors object's message for field
		want   string // in the diagnostic
	}{
		{name: "P2/missing_email", edit: func(o obj) obj { return set(o, "user.email", nil) }, status: 400, rule: "P2", field: "user.email", wire: "This field is required."},
		{name: "P2/blank_user_id", edit: func(o obj) obj { return set(o, "user.user_id", "") }, status: 400, rule: "P2", field: "user.user_id", wire: "This field may not be blank."},
		{name: "P2/bad_email", edit: func(o obj) obj { return set(o, "user.email", "nick-at-example") }, status: 400, rule: "P2", field: "user.email", want: "not an email address"},
		{name: "P2/merchant_order_id_null", edit: func(o obj) obj { return set(o, "merchant_order_id", nil) }, status: 400, rule: "P2", field: "merchant_order_id", wire: "Merchant order id cannot be null"},
		{name: "P2/merchant_id_missing", edit: func(o obj) obj { return set(o, "merchant_id", nil) }, status: 400, rule: "P2", field: "merchant_id", wire: "This field is required."},
		{name: "P2/merchant_id_number", edit: func(o obj) obj { return set(o, "merchant_id", 196) }, status: 400, rule: "P2", field: "merchant_id", wire: "Merchant ID must be a string"},
		{name: "P2/session_id_missing_with_cart_tracking", edit: func(o obj) obj { return set(o, "og_cart_tracking", nil) }, status: 400, rule: "P2", field: "session_id", wire: "Session id cannot be null"},
		{name: "P2/session_id_number", edit: func(o obj) obj { return set(set(o, "og_cart_tracking", nil), "session_id", 12) }, status: 400, rule: "P2", field: "session_id", wire: "Session ID must be a string"},
		{name: "P2/missing_shipping_address", edit: func(o obj) obj { return set(o, "user.shipping_address", nil) }, status: 400, rule: "P2", field: "user.shipping_address"},
		{name: "P2/missing_city", edit: func(o obj) obj { return set(o, "user.shipping_address.city", nil) }, status: 400, rule: "P2", field: "user.shipping_address.city"},
		{name: "P2/no_products", edit: func(o obj) obj { return set(o, "products", []any{}) }, status: 400, rule: "P2", field: "products", want: "products is empty"},
		{name: "P2/missing_purchase_info", edit: func(o obj) obj { return set(o, "products.0.purchase_info", nil) }, status: 400, rule: "P2", field: "products[0].purchase_info"},
		{name: "P2/quantity_not_a_number", edit: func(o obj) obj { return set(o, "products.0.purchase_info.quantity", "two") }, status: 400, rule: "P2", field: "products[0].purchase_info.quantity", want: "not a whole number"},
		{name: "P3/price_finer_than_a_cent_is_rounded", edit: func(o obj) obj { return set(o, "products.0.purchase_info.price", "54.999") }, status: 201, rule: "P3", field: "products[0].purchase_info.price", want: "taken as 55.00"},
		{name: "P2/price_not_a_number", edit: func(o obj) obj { return set(o, "products.0.purchase_info.price", "cheap") }, status: 400, rule: "P2", field: "products[0].purchase_info.price", want: "not a decimal amount"},
		{name: "P3/every_8000_years", edit: func(o obj) obj {
			set(o, "products.0.subscription_info.tracking_override.every", "8000")
			return set(o, "products.0.subscription_info.tracking_override.every_period", "4")
		}, status: 400, rule: "P3", want: "more than ten years"},
		{name: "P3/huge_initial_order_offset", edit: func(o obj) obj { return set(o, "products.0.subscription_info.initial_order_offset_days", "999999") }, status: 400, rule: "P3", field: "products[0].subscription_info.initial_order_offset_days"},
		{name: "P2/cartless_subscription_info_without_tracking_override", edit: func(o obj) obj { return set(o, "products.0.subscription_info.tracking_override", nil) }, status: 400, rule: "P2", want: "needs it to subscribe"},
		{name: "P2/payment_without_token_or_card", edit: func(o obj) obj { return set(o, "payment", obj{"label": "visa"}) }, status: 400, rule: "P2", field: "payment", wire: "Missing payment data to create record"},
		{name: "E4/cc_last_4_holding_a_full_number", edit: func(o obj) obj { return set(o, "payment.cc_last_4", enc("5500005555555559")) }, status: 201, rule: "E4", field: "payment.cc_last_4", want: "only the last four digits were kept"},
		{name: "P2/empty_payment_with_a_subscription", edit: func(o obj) obj { return set(o, "payment", obj{}) }, status: 400, rule: "P2", field: "payment", wire: "Missing payment data to create record"},
		{name: "P2/subscription_without_payment", edit: func(o obj) obj { return set(o, "payment", nil) }, status: 400, rule: "P2", field: "payment", wire: "Missing payment data to create record"},
		{name: "P3/country_code_three_letters", edit: func(o obj) obj { return set(o, "user.shipping_address.country_code", "USA") }, status: 400, rule: "P3", field: "user.shipping_address.country_code", want: "at most two"},
		{name: "P3/cc_type_7", edit: func(o obj) obj { return set(o, "payment.cc_type", "7") }, status: 400, rule: "P3", field: "payment.cc_type", want: "1 (Visa)"},
		{name: "P3/negative_every_period_is_named", edit: func(o obj) obj {
			return set(o, "products.0.subscription_info.tracking_override.every_period", "-2")
		}, status: 400, rule: "P3", field: "products[0].subscription_info.tracking_override.every_period", want: "tracking_override.every_period is -2"},
		{name: "P2/subscription_quantity_negative", edit: func(o obj) obj { return set(o, "products.0.subscription_info.quantity", "-2") }, status: 400, rule: "P2", field: "products[0].subscription_info.quantity", want: "at least one"},
		{name: "P2/subscription_quantity_zero", edit: func(o obj) obj { return set(o, "products.0.subscription_info.quantity", "0") }, status: 400, rule: "P2", field: "products[0].subscription_info.quantity", want: "at least one"},
		{name: "P3/total_beyond_any_amount", edit: func(o obj) obj {
			set(o, "products.0.purchase_info.quantity", "9999999999")
			set(o, "products.0.purchase_info.price", "99999999.99")
			return set(o, "products.0.purchase_info.discounted_price", "99999999.99")
		}, status: 201, rule: "P3", field: "products[0].purchase_info.total", want: "beyond any amount"},
		{name: "P3/every_period_9", edit: func(o obj) obj { return set(o, "products.0.subscription_info.tracking_override.every_period", "9") }, status: 400, rule: "P3", want: "every_period 9"},
		{name: "P3/bad_first_order_place_date", edit: func(o obj) obj { return set(o, "products.0.subscription_info.first_order_place_date", "12/01/2027") }, status: 400, rule: "P3", field: "products[0].subscription_info.first_order_place_date"},
		{name: "C1/accented_name", edit: func(o obj) obj { return set(o, "user.first_name", "José") }, status: 400, rule: "C1", field: "user.first_name", wire: "Only ASCII characters are supported"},
		{name: "C1/percent_encoded_utf8", edit: func(o obj) obj { return set(o, "user.shipping_address.city", "\u00e9vry") }, status: 400, rule: "C1", field: "user.shipping_address.city"},
		{name: "C1/raw_utf8_in_the_body", form: unencodedValues, edit: func(o obj) obj { return set(o, "user.last_name", "M\u00fcller") }, status: 400, rule: "C1", field: "user.last_name"},
		{name: "E1/holder_encrypted_with_another_key", edit: func(o obj) obj {
			return set(o, "payment.cc_holder", ogcrypto.MustEncrypt(otherKey, "Nicholas Bundy"))
		}, status: 400, rule: "E1", field: "payment.cc_holder", wire: "The credit card encryption is not valid", want: "another key"},
		{name: "E1/holder_not_encrypted", edit: func(o obj) obj { return set(o, "payment.cc_holder", "Nicholas Bundy") }, status: 400, rule: "E1", field: "payment.cc_holder"},
		{name: "E2/two_digit_year", edit: func(o obj) obj { return set(o, "payment.cc_exp_date", enc("03/27")) }, status: 400, rule: "E2", field: "payment.cc_exp_date", wire: "Expiration date is not valid, received: 03/27"},
		{name: "E2/one_digit_month_is_a_warning", edit: func(o obj) obj { return set(o, "payment.cc_exp_date", enc("3/2027")) }, status: 201, rule: "E2", field: "payment.cc_exp_date", want: "one-digit month"},
		{name: "E2/paypal_expiry", edit: func(o obj) obj {
			return set(set(o, "payment.payment_method", "PayPal"), "payment.cc_exp_date", enc("01/2030"))
		}, status: 201, rule: "E2", want: "12/2099"},
		{name: "E4/full_card_number_kept_as_last_four", edit: func(o obj) obj { return set(o, "payment.cc_number", enc("4111111111111111")) }, status: 201, rule: "E4", want: "only the last four digits were kept"},
		{name: "P3/total_is_not_discounted_price_times_quantity", edit: func(o obj) obj { return set(o, "products.0.purchase_info.total", "2.75") }, status: 201, rule: "P3", want: "is not discounted_price × quantity"},
		{name: "P3/lower_case_country", edit: func(o obj) obj { return set(o, "user.shipping_address.country_code", "us") }, status: 201, rule: "P3", want: "not upper case"},
		{name: "P2/missing_phone_number_is_a_warning", edit: func(o obj) obj { return set(o, "user.phone_number", nil) }, status: 201, rule: "P2", field: "user.phone_number"},
		{name: "P2/both_session_and_cartless", edit: func(o obj) obj { return set(o, "session_id", "0e5de2bedc5e11e3a2e4bc764e106cf4.123.1700000000") }, status: 201, rule: "P2", field: "session_id", want: "both sent"},
		{name: "E4/token_id_shaped_like_a_card_number", edit: func(o obj) obj { return set(o, "payment.token_id", "4000 0566 5566 5556") }, status: 201, rule: "E4", field: "payment.token_id", want: "shaped like a card number"},
		{name: "E1/cc_number_in_clear", edit: func(o obj) obj { return set(o, "payment.cc_number", "4242424242424242") }, status: 400, rule: "E1", field: "payment.cc_number", want: "card number in clear"},
		{name: "E1/expiry_in_clear", edit: func(o obj) obj { return set(o, "payment.cc_exp_date", "03/2027") }, status: 400, rule: "E1", field: "payment.cc_exp_date", want: "expiry in clear"},
		{name: "E2/blank_expiry", edit: func(o obj) obj { return set(o, "payment.cc_exp_date", "") }, status: 400, rule: "E2", field: "payment.cc_exp_date", wire: "Expiration date is not valid, received: "},
		{name: "E1/expiry_a_number_is_no_ciphertext", edit: func(o obj) obj { return set(o, "payment.cc_exp_date", 32027) }, status: 400, rule: "E1", field: "payment.cc_exp_date", wire: "The credit card encryption is not valid"},
		{name: "E2/missing_expiry", edit: func(o obj) obj { return set(o, "payment.cc_exp_date", nil) }, status: 400, rule: "E2", field: "payment.cc_exp_date", wire: "Expiration date is not valid, received: "},
		{name: "C1/holder_not_ascii_once_decrypted", edit: func(o obj) obj { return set(o, "payment.cc_holder", enc("José Bundy")) }, status: 400, rule: "C1", field: "payment.cc_holder", want: "non-ASCII character at byte 3"},
		{name: "E4/holder_is_a_card_number", edit: func(o obj) obj { return set(o, "payment.cc_holder", enc("5555 5555 5555 4444")) }, status: 400, rule: "E4", field: "payment.cc_holder", want: "decrypts to a card number"},
		{name: "P2/missing_every", edit: func(o obj) obj { return set(o, "products.0.subscription_info.tracking_override.every", nil) }, status: 400, rule: "P2", field: "products[0].subscription_info.tracking_override.every", want: "requires every"},
		{name: "B2/zero_frequency_in_the_tracking_array", edit: func(o obj) obj {
			set(o, "products.0.subscription_info", nil)
			o["tracking"] = []any{obj{"product": "DF-30", "offer": "o", "every": 0, "every_period": 0}}
			return o
		}, status: 400, rule: "B2", field: "tracking[0].every", want: "one-time purchase (B2)"},
		{name: "B2/zero_frequency_is_not_a_subscription", edit: func(o obj) obj {
			set(o, "products.0.subscription_info.tracking_override.every", "0")
			return set(o, "products.0.subscription_info.tracking_override.every_period", 0)
		}, status: 400, rule: "B2", field: "products[0].subscription_info.tracking_override.every", want: "one-time purchase (B2)"},
		{name: "P4/tracking_entry_for_a_product_not_in_the_checkout", edit: func(o obj) obj {
			set(o, "products.0.subscription_info", nil)
			o["tracking"] = []any{obj{"product": "DF-30-LB", "offer": "o", "every": 2, "every_period": 2}}
			return o
		}, status: 201, rule: "P4", field: "tracking[0].product", want: `names product "DF-30-LB", which is not in this checkout's products[] (DF-30): it creates no subscription ("DF-30-LB" is the sku of products[0]; a tracking entry names its product id, "DF-30")`},
		{name: "P3/year_zero_first_order_place_date", edit: func(o obj) obj { return set(o, "products.0.subscription_info.first_order_place_date", "0000-01-01") }, status: 400, rule: "P3", field: "products[0].subscription_info.first_order_place_date"},
		{name: "F2/a_long_sku_is_clipped_in_the_diagnostic", edit: func(o obj) obj { return set(o, "products.0.sku", strings.Repeat("S", 200_000)) }, status: 201, rule: "F2", field: "products[0].sku", want: "… (200000 bytes)"},
		{name: "P3/cc_type_a_name", edit: func(o obj) obj { return set(o, "payment.cc_type", "Visa") }, status: 400, rule: "P3", field: "payment.cc_type", want: "is a name; P3 wants the card type's number: 1 (Visa)"},
		{name: "P2/php_empty_array_for_an_object", edit: func(o obj) obj { return set(o, "user.extra_data", []any{}) }, status: 400, rule: "P2", field: "user.extra_data", want: "PHP's json_encode writes an empty array for an empty object"},
		{name: "P2/quantity_2.0000_is_2", edit: func(o obj) obj { return set(o, "products.0.purchase_info.quantity", "2.0000") }, status: 201, rule: "P2", field: "products[0].purchase_info.quantity", want: `was read as the whole number 2`},
		{name: "P2/every_a_float_4.0_is_4", edit: func(o obj) obj {
			return set(o, "products.0.subscription_info.tracking_override.every", json.Number("4.0"))
		}, status: 201, rule: "P2", field: "products[0].subscription_info.tracking_override.every", want: `was read as the whole number 4`},
		{name: "P2/quantity_2.5_is_not_whole", edit: func(o obj) obj { return set(o, "products.0.purchase_info.quantity", "2.5") }, status: 400, rule: "P2", field: "products[0].purchase_info.quantity", want: "is not a whole number"},
		{name: "C1/non_ascii_in_extra_data", edit: func(o obj) obj { return set(o, "user.extra_data", obj{"note": "caf\u00e9"}) }, status: 400, rule: "C1", field: "user.extra_data.note"},
		{name: "C1/non_ascii_name_in_extra_data", edit: func(o obj) obj {
			return set(o, "products.0.subscription_info.extra_data", obj{"br\u00e9ed": "pug"})
		}, status: 400, rule: "C1", field: "products[0].subscription_info.extra_data (a name in it)"},
		{name: "E4/a_card_number_as_the_first_name", edit: func(o obj) obj { return set(o, "user.first_name", "4242424242424242") }, status: 400, rule: "E4", field: "user.first_name", want: "holds a card number"},
		{name: "E4/a_card_number_in_an_address", edit: func(o obj) obj { return set(o, "user.shipping_address.address", "card 4111111111111111") }, status: 400, rule: "E4", field: "user.shipping_address.address", want: "holds a card number"},
		{name: "E4/a_card_number_in_extra_data", edit: func(o obj) obj { return set(o, "user.extra_data", obj{"card_number": "4111111111111111"}) }, status: 400, rule: "E4", field: "user.extra_data.card_number", want: "extra_data is kept"},
		{name: "E4/a_card_number_as_a_json_number", edit: func(o obj) obj { return set(o, "payment.card_number", json.Number("4111111111111111")) }, status: 400, rule: "E4", field: "payment.card_number", want: "holds a card number in clear"},
		{name: "E4/a_card_number_under_another_name", edit: func(o obj) obj { return set(o, "payment.card_number", "5555 5555 5555 4444") }, status: 400, rule: "E4", field: "payment.card_number", want: "holds a card number in clear"},
		{name: "P3/offset_beside_a_first_order_date_is_not_applied", edit: func(o obj) obj {
			set(o, "products.0.subscription_info.first_order_place_date", "2030-01-15")
			return set(o, "products.0.subscription_info.initial_order_offset_days", "3")
		}, status: 201, rule: "P3", field: "products[0].subscription_info.initial_order_offset_days", want: "was not applied: first_order_place_date 2030-01-15 sets the first order date itself"},
		{name: "P3/yearly_is_a_warning", edit: func(o obj) obj {
			return set(o, "products.0.subscription_info.tracking_override.every_period", "4")
		}, status: 201, rule: "P3", field: "products[0].subscription_info.tracking_override.every_period", want: "beyond P3's"},
		{name: "P2/missing_subscription_quantity_is_a_warning", edit: func(o obj) obj { return set(o, "products.0.subscription_info.quantity", nil) }, status: 201, rule: "P2", field: "products[0].subscription_info.quantity"},
		{name: "P2/missing_offer_is_a_warning", edit: func(o obj) obj { return set(o, "products.0.subscription_info.tracking_override.offer", nil) }, status: 201, rule: "P2", field: "products[0].subscription_info.tracking_override.offer"},
		{name: "P2/numeric_user_id", edit: func(o obj) obj { return set(o, "user.user_id", 4242) }, status: 401, rule: "A4", want: "sig_field"},
		{name: "C1/a_long_value_is_clipped_in_the_diagnostic", edit: func(o obj) obj { return set(o, "user.first_name", strings.Repeat("a", 40_000)+"\u00e9") }, status: 400, rule: "C1", field: "user.first_name", want: "… (40002 bytes)"},
		{name: "P2/merchant_order_id_a_huge_number", edit: func(o obj) obj { return set(o, "merchant_order_id", json.Number(strings.Repeat("7", 40_000))) }, status: 400, rule: "P2", field: "merchant_order_id", want: "40000 bytes long"},
		{name: "P2/user_an_empty_string", edit: func(o obj) obj { return set(o, "user", "") }, status: 400, rule: "P2", field: "user", wire: "This field is required."},
		{name: "P2/merchant_order_id_too_long", edit: func(o obj) obj { return set(o, "merchant_order_id", strings.Repeat("M", og.MaxIdentifier+1)) }, status: 400, rule: "P2", field: "merchant_order_id", want: "identifiers of up to 1024 bytes"},
		{name: "P2/session_id_too_long", edit: func(o obj) obj {
			return set(set(o, "og_cart_tracking", nil), "session_id", strings.Repeat("s", 40_000))
		}, status: 400, rule: "P2", field: "session_id", want: "40000 bytes long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.edit(purchase(fmt.Sprint("P2-", i)))
			form := prefixed
			if tc.form != nil {
				form = tc.form
			}
			r := post(t, sb, form(p))
			res := decode(t, r)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			field, msg, sev := res.diag(t, tc.rule)
			if tc.field != "" && field != tc.field {
				t.Errorf("%s diagnostic on %q, want %q", tc.rule, field, tc.field)
			}
			if tc.want != "" && !strings.Contains(msg, tc.want) {
				t.Errorf("%s diagnostic %q, want it to contain %q", tc.rule, msg, tc.want)
			}
			if (tc.status == 201) != (sev == og.SeverityWarning) && tc.rule != "A4" {
				t.Errorf("severity %q for a %d", sev, tc.status)
			}
			if tc.wire != "" && res.Errors[tc.field] != tc.wire {
				t.Errorf("errors[%q] = %v, want staging's %q", tc.field, res.Errors[tc.field], tc.wire)
			}
			if tc.status == 400 && res.ErrorMessage == "" && res.Error == "" {
				t.Errorf("a 400 without error_message: %s", r.Body)
			}
			// Staging's merchant errors are {"error": ...}, the others {"error_message": ...}
			// (REFERENCE §3.4).
			if tc.wire == "Merchant ID must be a string" && (res.Error != tc.wire || res.ErrorMessage != "") {
				t.Errorf("error %q, error_message %q: want staging's {\"error\": %q}", res.Error, res.ErrorMessage, tc.wire)
			}
			if tc.name == "P2/merchant_id_missing" && (res.Error != "" || res.ErrorMessage != tc.wire) {
				t.Errorf("error %q, error_message %q: an undocumented merchant_id error stays under error_message", res.Error, res.ErrorMessage)
			}
		})
	}
	// E4: a phone number may be a long run of digits passing the Luhn check: it is not taken
	// for a card number.
	if r := post(t, sb, prefixed(set(purchase("E4-PHONE"), "user.phone_number", "3530111333300000"))); r.Status != 201 {
		t.Errorf("a long phone number: %d %s", r.Status, r.Body)
	}
	// E4: the card number itself was neither stored nor journaled.
	var cs []og.Customer
	r := do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/customers", nil)
	r.JSON(t, &cs)
	found := false
	for _, pm := range cs[0].Payments {
		found = found || pm.CCNumberEnding == "1111"
	}
	j := do(t, "GET", sb.URL()+"/_sandbox/journal?surface=sc&limit=1000", nil)
	for _, secret := range []string{"4111111111111111", "5500005555555559", "4242424242424242", enc("4111111111111111"), encodeURIComponent(enc("4111111111111111")), encodeURIComponent(enc("5500005555555559")),
		"5555 5555 5555 4444", "Nicholas Bundy\"", "03/27"} { // what encrypted fields decrypt to, too
		if strings.Contains(string(r.Body), secret) || strings.Contains(string(j.Body), secret) {
			t.Errorf("the card number or its ciphertext %q was kept", secret)
		}
	}
	if !found {
		t.Fatal("the last four digits of the card were not kept")
	}
	// A card-shaped token is kept as the token (gateways' network tokens look like this), but
	// the journal and the customers listing mask it.
	for _, form := range []string{"4000 0566 5566 5556", "4000%200566%205566%205556", "4000056655665556"} {
		if strings.Contains(string(j.Body), form) || strings.Contains(string(r.Body), form) {
			t.Errorf("the journal or the customers listing kept the card-shaped token %q", form)
		}
	}
	if !strings.Contains(string(r.Body), `"token_id":"****5556"`) {
		t.Errorf("the customers listing does not show the card-shaped token's last four: %.400s", r.Body)
	}
}

// C1: tabs and line breaks are ASCII.
func TestC1_LineBreaksAreASCII(t *testing.T) {
	sb := sandboxtest.Start(t)
	if r := post(t, sb, prefixed(set(purchase("NL-1"), "user.shipping_address.address2", "Fl 23\r\nSuite 4\t"))); r.Status != 201 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
}

// C2: values sent without URL-encoding are accepted with one warning that lists them.
func TestC2_UnencodedValuesWarnOnce(t *testing.T) {
	sb := sandboxtest.Start(t)
	r := post(t, sb, unencodedValues(purchase("C2-1")))
	res := decode(t, r)
	field, msg, sev := res.diag(t, "C2")
	if r.Status != 201 || sev != og.SeverityWarning || !strings.Contains(msg, "without URL-encoding") || field == "" {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	n := 0
	for _, d := range res.Diagnostics {
		if d.Rule == "C2" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d C2 warnings, want one listing the fields", n)
	}
	// Values form-encoded (PHP urlencode, Python quote_plus) keep their '+' (P1's path
	// decoding): the warning says so, and names the encoder to use, not "not URL-encoded".
	body := prefixed(set(set(purchase("C2-PLUS"), "user.first_name", "MARYANN"), "user.shipping_address.address", "ADDRESSLINE"))
	body = strings.NewReplacer(`"MARYANN"`, `"Mary+Ann"`, `"ADDRESSLINE"`, `"1+Main+St%2C+Apt+4"`).Replace(body)
	r = post(t, sb, body)
	res = decode(t, r)
	var plus []og.Diagnostic
	for _, d := range res.Diagnostics {
		if d.Rule == "C2" {
			plus = append(plus, og.Diagnostic{Rule: d.Rule, Field: d.Field, Message: d.Message})
		}
	}
	if r.Status != 201 || len(plus) != 1 || plus[0].Field != "user.first_name" || !strings.Contains(plus[0].Message, "(user.first_name, user.shipping_address.address): staging decodes each value as a URL path would, so each '+' stays a plus") || !strings.Contains(plus[0].Message, "rawurlencode") {
		t.Fatalf("%d, C2 warnings %+v: %s", r.Status, plus, r.Body)
	}
	// What correct clients send is not taken for form encoding: encodeURI and PathEscape leave
	// '+' alone and write %20, a phone's leading '+', a plus address, base64 in extra_data.
	body = prefixed(set(set(set(purchase("C2-NOPLUS"), "user.shipping_address.company_name", "COMPANY"), "user.extra_data", obj{"token": "TOKEN"}), "user.phone_number", "PHONE"))
	body = strings.NewReplacer(`"COMPANY"`, `"AT+T%20Wireless"`, `"TOKEN"`, `"ab+cd%2Fef+gh=="`, `"PHONE"`, `"+12125550100"`).Replace(body)
	if r := post(t, sb, body); r.Status != 201 || strings.Contains(string(r.Body), "stays a plus") {
		t.Fatalf("a correct client's '+' taken for form encoding: %d %s", r.Status, r.Body)
	}
	// A tracking entry for a product of the checkout is no P4 warning.
	tracked := set(purchase("P4-LISTED"), "products.0.subscription_info", nil)
	tracked["tracking"] = []any{obj{"product": "DF-30", "offer": "o", "every": 2, "every_period": 2}}
	if r := post(t, sb, prefixed(tracked)); r.Status != 201 || strings.Contains(string(r.Body), `"P4"`) {
		t.Fatalf("a tracking entry for a listed product: %d %s", r.Status, r.Body)
	}
	// A clean per-field encoded request has no diagnostics at all: staging's exact 201.
	r = post(t, sb, prefixed(purchase("C2-2")))
	if r.Status != 201 || strings.Contains(string(r.Body), "diagnostics") {
		t.Fatalf("clean request: %d %s", r.Status, r.Body)
	}
	golden.JSONIDs(t, "p5_created", r.Body)
}

// P5-P7: the outcomes of a checkout.
func TestP6_Outcomes(t *testing.T) {
	sb := sandboxtest.Start(t)
	keep := []string{demo.ID, demo.PublicID}
	t.Run("P6/207_some_created_some_not", func(t *testing.T) {
		p := purchase("OUT-207")
		set(p, "products", []any{product("DF-30", "DF-30-LB", "54.99", 4, 2), product("LITTER-20", "LITTER-20", "17.49", 1, 3), oneTime("LEASH-RED", "LEASH-RED", "14.00")})
		r := post(t, sb, prefixed(p))
		res := decode(t, r)
		if r.Status != 207 || len(res.Subscriptions) != 1 || res.Subscriptions[0]["DF-30"] == "" || res.Errors["LITTER-20"] == nil || res.Customer != "cust-1" || res.Payment == "" || res.ShippingAddress == "" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		golden.JSONIDs(t, "p6_207", r.Body, keep...)
	})
	t.Run("P6/207_errors_name_the_field_at_fault", func(t *testing.T) {
		p := purchase("OUT-207-FREQ")
		every0 := product("DF-30", "DF-30-LB", "54.99", 4, 2)
		set(every0, "subscription_info.tracking_override.every", "0")
		period9 := product("17550870", "17550870", "12.99", 1, 3)
		set(period9, "subscription_info.tracking_override.every_period", "9")
		set(p, "products", []any{product("CT-4050", "50020401", "4.99", 2, 2), every0, period9})
		r := post(t, sb, prefixed(p))
		var res struct{ Errors map[string]map[string]string }
		r.JSON(t, &res)
		if r.Status != 207 || res.Errors["DF-30"]["tracking_override.every"] != "Invalid frequency" || res.Errors["17550870"]["tracking_override.every_period"] != "Invalid frequency" ||
			len(res.Errors["DF-30"]) != 1 || len(res.Errors["17550870"]) != 1 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("P6/400_nothing_created_ids_still_returned", func(t *testing.T) {
		p := purchase("OUT-400")
		set(p, "products", []any{product("NO-SUCH", "NO-SUCH", "1.00", 1, 3), product("OLD-KIBBLE", "OLD-KIBBLE", "29.99", 1, 3)})
		r := post(t, sb, prefixed(p))
		res := decode(t, r)
		if r.Status != 400 || len(res.Subscriptions) != 0 || res.Customer != "cust-1" || res.Payment == "" || !res.hasRule("F1") || !res.hasRule("F3") {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		golden.JSONIDs(t, "p6_400_products", r.Body, keep...)
		// Nothing was processed: the same merchant_order_id may be resent once fixed.
		set(p, "products", []any{product("CT-4050", "50020401", "4.99", 2, 2)})
		if r := post(t, sb, prefixed(p)); r.Status != 201 {
			t.Fatalf("resend after a 400: %d %s", r.Status, r.Body)
		}
	})
	t.Run("P6/409_repeated_merchant_order_id", func(t *testing.T) {
		created := decode(t, post(t, sb, prefixed(purchase("OUT-409"))))
		var first result
		do(t, "GET", sb.URL()+"/subscription/"+created.SubsReqID+"/response", nil, "x-api-key", demo.APIKeys[0]).JSON(t, &first)
		r := post(t, sb, prefixed(purchase("OUT-409")))
		res := decode(t, r)
		if r.Status != 409 || first.Payment == "" || res.Payment != first.Payment || res.ShippingAddress != first.ShippingAddress || res.ErrorMessage != "A request with the given merchant_order_id was already received and processed" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		golden.JSONIDs(t, "p6_409", r.Body, keep...)

		// Another customer's checkout with that merchant_order_id is a 409 too, without the
		// first customer's ids; and a storefront signature reads only its own requests (S3).
		other := purchase("OUT-409")
		set(other["user"].(obj), "user_id", "cust-2")
		r = post(t, sb, prefixed(other), "Authorization", auth("cust-2"))
		res = decode(t, r)
		_, msg, _ := res.diag(t, "P6")
		if r.Status != 409 || res.Customer != "" || res.Payment != "" || res.ShippingAddress != "" || !strings.Contains(msg, "another customer's checkout") {
			t.Fatalf("another customer's 409: %d %s", r.Status, r.Body)
		}
		path := sb.URL() + "/subscription/" + created.SubsReqID + "/response"
		if st := do(t, "GET", path, nil, "Authorization", auth("cust-2")); st.Status != 404 || !strings.Contains(string(st.Body), `"S3"`) {
			t.Fatalf("cust-2 reading cust-1's purchase request: %d %s", st.Status, st.Body)
		}
		if st := do(t, "GET", path, nil, "Authorization", auth("cust-1")); st.Status != 200 || strings.Contains(string(st.Body), "diagnostics") {
			t.Fatalf("cust-1 reading its own purchase request: %d %s", st.Status, st.Body)
		}
		// The merchant_id as public_id is taken here too, and said.
		asID := strings.Replace(auth("cust-1"), demo.PublicID, demo.ID, 1)
		if st := do(t, "GET", path, nil, "Authorization", asID); st.Status != 200 || !strings.Contains(string(st.Body), "is the merchant_id of") {
			t.Fatalf("reading with the merchant_id as public_id: %d %s", st.Status, st.Body)
		}
		// A signature over a blank sig_field is nobody's, not everybody's.
		if st := do(t, "GET", path, nil, "Authorization", auth("")); st.Status != 403 {
			t.Fatalf("a blank sig_field reading cust-1's purchase request: %d %s", st.Status, st.Body)
		}
	})
	t.Run("P7/non_subscription_checkout", func(t *testing.T) {
		p := purchase("OUT-P7")
		set(p, "products", []any{oneTime("LEASH-RED", "LEASH-RED", "14.00")})
		set(p, "payment", nil)
		r := post(t, sb, prefixed(p))
		res := decode(t, r)
		if r.Status != 201 || res.SubsReqID == "" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		st := do(t, "GET", sb.URL()+"/subscription/"+res.SubsReqID+"/response", nil, "x-api-key", demo.APIKeys[0])
		if st.Status != 200 || !strings.Contains(string(st.Body), `"subscriptions":[]`) {
			t.Fatalf("status of a non-subscription checkout: %d %s", st.Status, st.Body)
		}
	})
}

// The subscription a checkout creates: frequency, price lock, first order date, opt-ins.
func TestSubscriptionDetails(t *testing.T) {
	start := time.Date(2026, 1, 31, 15, 0, 0, 0, time.UTC) // 09:00 in Chicago, Jan 31
	sb := sandboxtest.Start(t, func(c *config.Config) { c.ClockStart = start })
	// A signature is judged on wall time (A3), whatever the sandbox clock reads.
	subsOf := func(orderID string) []og.Subscription {
		var all, out []og.Subscription
		do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/subscriptions", nil).JSON(t, &all)
		for _, s := range all {
			if s.MerchantOrderID == orderID {
				out = append(out, s)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		edit func(obj) obj
		want func(og.Subscription) string
	}{
		{"P3/monthly_from_jan_31_lands_on_feb_28", func(o obj) obj {
			return set(o, "products", []any{product("17550870", "17550870", "12.99", 1, 3)})
		}, func(s og.Subscription) string {
			return check(s.NextOrderDate.String() == "2026-02-28", "next order %s", s.NextOrderDate)
		}},
		{"P3/initial_order_offset_days", func(o obj) obj {
			return set(o, "products.0.subscription_info.initial_order_offset_days", "-3")
		}, func(s og.Subscription) string {
			return check(s.NextOrderDate.String() == "2026-02-25", "next order %s, want 4 weeks - 3 days", s.NextOrderDate)
		}},
		{"P3/first_order_place_date", func(o obj) obj {
			return set(o, "products.0.subscription_info.first_order_place_date", "2026-02-10")
		}, func(s og.Subscription) string {
			return check(s.NextOrderDate.String() == "2026-02-10", "next order %s", s.NextOrderDate)
		}},
		{"P4/subscription_info_price_locks", func(o obj) obj {
			return set(o, "products.0.subscription_info.price", "49.99")
		}, func(s og.Subscription) string {
			return check(s.Price == 4999 && s.PriceLocked, "price %s locked %v", s.Price, s.PriceLocked)
		}},
		{"P2/quantity_from_subscription_info", func(o obj) obj {
			return set(o, "products.0.subscription_info.quantity", "3")
		}, func(s og.Subscription) string { return check(s.Quantity == 3, "quantity %d", s.Quantity) }},
		{"F6/blank_frequency_takes_the_product_default", func(o obj) obj {
			set(o, "products.0.subscription_info.tracking_override.every", "")
			return set(o, "products.0.subscription_info.tracking_override.every_period", "")
		}, func(s og.Subscription) string {
			return check(s.Every == 4 && s.EveryPeriod == 2, "frequency %v", s.Frequency)
		}},
		{"P2/tracking_override_beside_subscription_info", func(o obj) obj {
			p := oneTime("FT-3M", "FT-3M", "39.99")
			p["tracking_override"] = obj{"offer": "o", "every": "3", "every_period": "3"}
			return set(o, "products", []any{p})
		}, func(s og.Subscription) string { return check(s.ProductID == "FT-3M" && s.Every == 3, "%+v", s) }},
		{"P2/top_level_tracking_array", func(o obj) obj {
			set(o, "products", []any{oneTime("CT-4051", "50020402", "4.99")})
			return set(o, "tracking", []any{obj{"product": "CT-4051", "offer": "o", "every": "1", "every_period": "2"}})
		}, func(s og.Subscription) string {
			return check(s.ProductID == "CT-4051" && s.Every == 1 && s.EveryPeriod == 2, "%+v", s)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "SUB-" + tc.name
			r := post(t, sb, prefixed(tc.edit(purchase(id))))
			if r.Status != 201 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			subs := subsOf(id)
			if len(subs) != 1 {
				t.Fatalf("%d subscriptions", len(subs))
			}
			if msg := tc.want(subs[0]); msg != "" {
				t.Fatal(msg)
			}
			if subs[0].StartDate.String() != "2026-01-31" || subs[0].Status != og.SubscriptionActive || subs[0].Payment == "" {
				t.Fatalf("subscription %+v", subs[0])
			}
		})
	}
}

func check(ok bool, format string, args ...any) string {
	if ok {
		return ""
	}
	return fmt.Sprintf(format, args...)
}

// P7: with cart tracking, the session's opt-ins decide, and the session is cleared.
func TestP7_CartSessionOptins(t *testing.T) {
	sb := sandboxtest.Start(t)
	session := demo.ID + ".482910.1769000000"
	sessURL := sb.URL() + "/_sandbox/merchants/" + demo.ID + "/sessions/" + session
	// Frequencies as numbers or, as the purchase POST and the offers script write them, strings.
	r := do(t, "PUT", sessURL, obj{"optins": []any{obj{"product": "CT-4050", "every": "3", "every_period": 2}, obj{"product": "DF-30"}}})
	var recorded og.Session
	if r.Status != 200 || json.Unmarshal(r.Body, &recorded) != nil || len(recorded.Optins) != 2 || recorded.Optins[0].Every != 3 || recorded.UpdatedAt.IsZero() {
		t.Fatalf("PUT session: %d %s", r.Status, r.Body)
	}
	cart := func(id string) obj {
		p := purchase(id)
		delete(p, "og_cart_tracking")
		p["session_id"] = session
		return set(p, "products", []any{oneTime("CT-4050", "50020401", "4.99"), oneTime("DF-30", "DF-30-LB", "54.99"), oneTime("LEASH-RED", "LEASH-RED", "14.00")})
	}
	if r := post(t, sb, prefixed(cart("CART-1"))); r.Status != 201 {
		t.Fatalf("checkout: %d %s", r.Status, r.Body)
	}
	var subs []og.Subscription
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/subscriptions", nil).JSON(t, &subs)
	if len(subs) != 2 {
		t.Fatalf("opt-ins of CT-4050 and DF-30 made %d subscriptions", len(subs))
	}
	for _, s := range subs {
		if s.ProductID == "CT-4050" && (s.Every != 3 || s.EveryPeriod != 2) || s.ProductID == "DF-30" && (s.Every != 4 || s.EveryPeriod != 2) {
			t.Fatalf("frequency of %s: %v (opt-in, else the product's default)", s.ProductID, s.Frequency)
		}
	}
	// The session was cleared: the same cart again is one-time purchases only, and says why.
	r = post(t, sb, prefixed(cart("CART-2")))
	res := decode(t, r)
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/subscriptions", nil).JSON(t, &subs)
	if r.Status != 201 || len(subs) != 2 {
		t.Fatalf("second checkout on a cleared session: %d %s, %d subscriptions", r.Status, r.Body, len(subs))
	}
	if _, msg, _ := res.diag(t, "P7"); !strings.Contains(msg, "no recorded subscription opt-ins") {
		t.Fatalf("P7 warning %q", msg)
	}
	for _, tc := range []struct{ body, field string }{
		{`{"optins":[{"every":1,"every_period":3}]}`, "optins[0].product"},
		{`{"optins":[{"product":"X","every":1,"every_period":9}]}`, "optins[0].every_period"},
		{`{"opt_ins":[]}`, "opt_ins"},
		{`{"optins":[{"product":"X","every":"weekly","every_period":2}]}`, "optins"},
		{`{"optins":[{"product":"X","every":0,"every_period":2}]}`, "optins[0].every"},
		{`{"optins":[{"product":"X","every":99999999,"every_period":2}]}`, "optins[0].every"},
		{`{"optins":[{"product":"X","first_order_place_date":"04/01/2027"}]}`, "optins[0].first_order_place_date"},
		{`null`, "optins"},
		{`{"optins":[{"product":"X","every":0,"every_period":"0"}]}`, "optins[0].every"},
	} {
		if r := do(t, "PUT", sessURL, tc.body); r.Status != 400 || !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`) {
			t.Errorf("PUT session %s: %d %s", tc.body, r.Status, r.Body)
		}
	}
	// Opt-ins a checkout would refuse are recorded, and named at once.
	r = do(t, "PUT", sessURL, obj{"optins": []any{obj{"product": "NOPE"}, obj{"product": "LEASH-RED"}}})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"field":"optins[0].product"`) || !strings.Contains(string(r.Body), `"field":"optins[1].`) {
		t.Errorf("opt-ins of an unknown product and of one without a default frequency: %d %s", r.Status, r.Body)
	}
	// The offers script's first-order-place-date sets the first order's date (REFERENCE §6).
	do(t, "PUT", sessURL, obj{"optins": []any{obj{"product": "CT-4050", "every": 1, "every_period": 3, "first_order_place_date": "2031-04-01"}}})
	if r := post(t, sb, prefixed(cart("CART-3"))); r.Status != 201 {
		t.Fatalf("checkout with a first order date: %d %s", r.Status, r.Body)
	}
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/subscriptions", nil).JSON(t, &subs)
	if last := subs[len(subs)-1]; len(subs) != 3 || last.NextOrderDate.String() != "2031-04-01" {
		t.Errorf("the opt-in's first order date: %d subscriptions, the last on %s", len(subs), last.NextOrderDate)
	}
	// Opt-ins a checkout would refuse are recorded, and each is warned about for its first
	// problem: a product not in the catalogue (F1), not eligible (F2, before any frequency),
	// without a frequency or a default one (F6).
	if r := do(t, "PUT", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/products", `[{"product_id":"NOFREQ-1","sku":"NOFREQ-1","name":"No default frequency","price":"1.00","in_stock":"1","autoship_eligible":"1"}]`); r.Status != 200 {
		t.Fatalf("PUT products: %d %s", r.Status, r.Body)
	}
	var warned struct{ Diagnostics []og.Diagnostic }
	do(t, "PUT", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/sessions/WARNED", obj{"optins": []any{obj{"product": "NOPE"}, obj{"product": "LEASH-RED"}, obj{"product": "NOFREQ-1"}}}).JSON(t, &warned)
	var got []string
	for _, d := range warned.Diagnostics {
		got = append(got, d.Rule+" "+d.Field)
	}
	if want := "F1 optins[0].product,F2 optins[1].product,F6 optins[2].every"; strings.Join(got, ",") != want {
		t.Errorf("warnings of a session's opt-ins: %s, want %s", strings.Join(got, ","), want)
	}
	// A session id too long to be one is refused, not a storage error.
	long := sb.URL() + "/_sandbox/merchants/" + demo.ID + "/sessions/" + strings.Repeat("s", 40_000)
	if r := do(t, "PUT", long, `{"optins":[]}`); r.Status != 400 || !strings.Contains(string(r.Body), `"field":"session_id"`) {
		t.Errorf("PUT a 40,000-byte session id: %d %.300s", r.Status, r.Body)
	}
	// Every form of the body is read strictly: no field is silently dropped.
	for body, want := range map[string]string{
		`[{"product":"DF-30","frequency":"4w"}]`:                `unknown field`,
		`{"optins":[{"product":"DF-30"}]} garbage`:              `text after the JSON value`,
		`[{"product":"DF-30"}] [1]`:                             `text after the JSON value`,
		`{"session_id":"OTHER","optins":[{"product":"DF-30"}]}`: `"field":"session_id"`,
	} {
		if r := do(t, "PUT", sessURL, body); r.Status != 400 || !strings.Contains(string(r.Body), want) {
			t.Errorf("PUT a session %s: %d %.300s; want 400 with %s", body, r.Status, r.Body, want)
		}
	}
}

// P1: GET /subscription/{subs_req_id}/response.
func TestP1_ResponseEndpoint(t *testing.T) {
	sb := sandboxtest.Start(t)
	res := decode(t, post(t, sb, prefixed(purchase("RESP-1"))))
	url := sb.URL() + "/subscription/" + res.SubsReqID + "/response"
	for _, hdr := range [][]string{{"x-api-key", demo.APIKeys[0]}, {"Authorization", auth("cust-1")}} {
		r := do(t, "GET", url, nil, hdr...)
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		golden.JSONIDs(t, "p1_response", r.Body, demo.ID)
	}
	if r := do(t, "GET", url, nil); r.Status != 403 || !strings.Contains(string(r.Body), "Authentication Failed") {
		t.Fatalf("no credentials: %d %s", r.Status, r.Body)
	}
	if r := do(t, "GET", sb.URL()+"/subscription/0123456789abcdef01234567/response", nil, "x-api-key", demo.APIKeys[0]); r.Status != 404 {
		t.Fatalf("unknown id: %d %s", r.Status, r.Body)
	}
	if r := do(t, "GET", sb.URL()+"/subscription/nope/response", nil, "x-api-key", demo.APIKeys[0]); r.Status != 404 || !strings.Contains(string(r.Body), "P5") {
		t.Fatalf("malformed id: %d %s", r.Status, r.Body)
	}
	if up := strings.ToUpper(res.SubsReqID); up != res.SubsReqID { // an id of digits only has no upper case
		if r := do(t, "GET", sb.URL()+"/subscription/"+up+"/response", nil, "x-api-key", demo.APIKeys[0]); r.Status != 404 || !strings.Contains(string(r.Body), "upper-case letters") {
			t.Fatalf("an upper-case id: %d %s", r.Status, r.Body)
		}
	}
	// A fault makes it answer "pending" (202), as staging does while it processes.
	do(t, "PUT", sb.URL()+"/_sandbox/faults", obj{"surface": "sc", "path": "/subscription/*/response", "status": 202, "count": 1})
	if r := do(t, "GET", url, nil, "x-api-key", demo.APIKeys[0]); r.Status != 202 || string(r.Body) != "Response is pending. Please try again soon." {
		t.Fatalf("pending: %d %s", r.Status, r.Body)
	}
	if r := do(t, "GET", url, nil, "x-api-key", demo.APIKeys[0]); r.Status != 200 {
		t.Fatalf("after the pending fault: %d %s", r.Status, r.Body)
	}
}

// Group commits keep every concurrent checkout, and a merchant_order_id is processed once.
func TestConcurrentCheckouts(t *testing.T) {
	sb := sandboxtest.Start(t)
	var wg sync.WaitGroup
	statuses := make([]int, 48)
	for i := range 48 {
		wg.Go(func() {
			id := fmt.Sprint("CONC-", i)
			if i >= 32 {
				id = "CONC-SAME" // 16 racing copies of one checkout
			}
			p := purchase(id)
			set(p, "user.user_id", fmt.Sprint("cust-", i%8))
			r := post(t, sb, prefixed(p), "Authorization", auth(fmt.Sprint("cust-", i%8)))
			statuses[i] = r.Status
		})
	}
	wg.Wait()
	created, conflicts := 0, 0
	for i, st := range statuses {
		switch {
		case st == 201:
			created++
		case st == 409 && i >= 32:
			conflicts++
		default:
			t.Errorf("request %d: %d", i, st)
		}
	}
	if created != 33 || conflicts != 15 {
		t.Fatalf("%d created and %d conflicts; want 33 and 15", created, conflicts)
	}
	var subs []og.Subscription
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/subscriptions", nil).JSON(t, &subs)
	if len(subs) != 33 {
		t.Fatalf("%d subscriptions stored for 33 acknowledged checkouts", len(subs))
	}
}

// Every purchase POST is in the journal, under its merchant, with the rules it broke.
func TestJournalRecordsPurchasePosts(t *testing.T) {
	sb := sandboxtest.Start(t)
	post(t, sb, prefixed(purchase("J-1")))
	post(t, sb, prefixed(set(purchase("J-2"), "user.email", nil)))
	var page og.JournalPage
	do(t, "GET", sb.URL()+"/_sandbox/journal?surface=sc&merchant="+demo.ID, nil).JSON(t, &page)
	if len(page.Entries) != 2 {
		t.Fatalf("%d sc entries", len(page.Entries))
	}
	bad, good := page.Entries[0], page.Entries[1]
	if bad.Status != 400 || len(bad.Rules) != 1 || bad.Rules[0] != "P2" || good.Status != 201 || good.MerchantID != demo.ID {
		t.Fatalf("entries: %+v / %+v", bad, good)
	}
	if !strings.Contains(good.Note, "create_request=<JSON>") || !strings.Contains(good.Note, "decoded one by one") {
		t.Fatalf("the journal does not say how the body was read: %q", good.Note)
	}
}

var _ = sandbox.Version

// Warnings name only what the client sent: a yearly frequency (P3) only from a purchase POST's
// tracking_override, not from a cart session's opt-in; a tracking[] entry's offer (SFCC and M23
// send it in a nested tracking_override) is optional; subscription_info's wanted fields only
// for cartless creation.
func TestWarningsNameOnlyWhatTheClientSent(t *testing.T) {
	sb := sandboxtest.Start(t)
	session := demo.ID + ".1.1769000000"
	if r := do(t, "PUT", sb.URL()+"/_sandbox/merchants/"+demo.ID+"/sessions/"+session, obj{"optins": []any{obj{"product": "DF-30", "every": 1, "every_period": 4}}}); r.Status != 200 {
		t.Fatalf("PUT session: %d %s", r.Status, r.Body)
	}
	cart := purchase("WARN-1")
	delete(cart, "og_cart_tracking")
	cart["session_id"] = session
	set(cart, "products.0.subscription_info.quantity", nil)
	set(cart, "products.0.subscription_info.tracking_override.offer", nil)
	tracking := purchase("WARN-2")
	set(tracking, "products.0.subscription_info", nil)
	tracking["tracking"] = []any{obj{"product": "DF-30", "tracking_override": obj{"offer": "o1", "every": "2", "every_period": "2"}}}
	for name, p := range map[string]obj{"cart session, yearly opt-in": cart, "tracking with a nested tracking_override": tracking} {
		r := post(t, sb, prefixed(p))
		res := decode(t, r)
		if r.Status != 201 {
			t.Fatalf("%s: %d %s", name, r.Status, r.Body)
		}
		for _, d := range res.Diagnostics {
			if d.Rule == "P3" && strings.Contains(d.Message, "year") || d.Rule == "P2" && (strings.HasSuffix(d.Field, ".offer") || strings.HasSuffix(d.Field, ".quantity")) {
				t.Errorf("%s: %s on %s: %s", name, d.Rule, d.Field, d.Message)
			}
		}
	}
}

// The control API's lists filter by what CONTROL.md and the README name, and refuse a
// parameter they do not take: a misspelt filter must not list everything as if it matched.
func TestControlListFilters(t *testing.T) {
	sb := sandboxtest.Start(t)
	for _, user := range []string{"cust-1", "cust-2"} {
		p := set(purchase("FILTER-"+user), "user.user_id", user)
		if r := post(t, sb, prefixed(p), "Authorization", auth(user)); r.Status != 201 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	}
	base := sb.URL() + "/_sandbox/merchants/" + demo.ID
	count := func(path string) int {
		t.Helper()
		var list []json.RawMessage
		r := do(t, "GET", base+path, nil)
		if r.Status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
		}
		r.JSON(t, &list)
		return len(list)
	}
	for path, want := range map[string]int{
		"/subscriptions": 2, "/subscriptions?status=active": 2, "/subscriptions?status=cancelled": 0,
		"/subscriptions?customer=cust-2": 1, "/customers": 2, "/customers?customer=cust-2": 1, "/orders?customer=cust-1": 1,
	} {
		if got := count(path); got != want {
			t.Errorf("GET %s: %d entries, want %d", path, got, want)
		}
	}
	for path, field := range map[string]string{
		"/subscriptions?custmer=cust-2": "custmer", "/subscriptions?status=paused": "status",
		"/customers?user_id=cust-2": "user_id", "/orders?state=placed": "state",
	} {
		var refusal map[string]string // one JSON object: the refusal, and nothing listed after it
		if r := do(t, "GET", base+path, nil); r.Status != 400 || json.Unmarshal(r.Body, &refusal) != nil || refusal["field"] != field {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
		}
	}
}

// X2/E4: a purchase answered without being processed — refused authorization, an injected
// fault, a body that is not JSON — is journaled with its card data masked, as a processed one
// is, and under the merchant its header names.
func TestX2_UnprocessedPurchasesAreMaskedInTheJournal(t *testing.T) {
	sb := sandboxtest.Start(t)
	p := purchase("MASK-1")
	set(p, "payment.token_id", "5555555555554444")
	set(p, "payment.cc_holder", "Clear Holdername")
	set(p, "payment.cc_exp_date", "09/2031")
	bad := `{"public_id":"` + demo.PublicID + `","ts":"abc","sig_field":"cust-1","sig":"x"}`
	if r := post(t, sb, prefixed(p), "Authorization", bad); r.Status != 401 {
		t.Fatalf("a bad ts: %d %s", r.Status, r.Body)
	}
	putFaults(t, sb, obj{"surface": "sc", "status": 503, "count": 1})
	if r := post(t, sb, prefixed(p)); r.Status != 503 {
		t.Fatalf("the fault: %d %s", r.Status, r.Body)
	}
	if r := post(t, sb, `{"payment": {"cc_number": 4111 1111 1111 1111, "x": [4000056655665556`); r.Status != 400 {
		t.Fatalf("a body that is not JSON: %d %s", r.Status, r.Body)
	}
	maskedJournal(t, sb, "surface=sc&merchant="+demo.ID, 3, // the 401, the 503 and the 400
		"5555555555554444", "Clear Holdername", "Clear%20Holdername", "09/2031", "09%2F2031", "4111 1111 1111 1111", "4000056655665556")
}

// maskedJournal returns the journal entries of query, newest first, after checking that there
// are n and that none of their text holds any of secrets (X2).
func maskedJournal(t *testing.T, sb *sandbox.Sandbox, query string, n int, secrets ...string) ([]og.JournalEntry, string) {
	t.Helper()
	j := do(t, "GET", sb.URL()+"/_sandbox/journal?limit=50&"+query, nil)
	var page og.JournalPage
	j.JSON(t, &page)
	if len(page.Entries) != n {
		t.Fatalf("%d journal entries for %s, want %d", len(page.Entries), query, n)
	}
	for _, secret := range secrets {
		if strings.Contains(string(j.Body), secret) {
			t.Errorf("the journal keeps %q", secret)
		}
	}
	return page.Entries, string(j.Body)
}

// X2: the journal keeps a body's first 64 KiB; a secret the cut falls inside is masked too. A
// parsed body registers its card-shaped token, so the digits before the cut go; a body nothing
// parsed has its payment fields' ciphertexts masked, and a final run of digits that may begin
// a card number.
func TestX2_SecretsCutShortByTheJournalBoundAreMasked(t *testing.T) {
	sb := sandboxtest.Start(t)
	token := "5555555555554444"
	// cutAt pads body (whose pad is "PADHERE") so that the journal's cut falls 8 characters into
	// token.
	cutAt := func(body, token string) string {
		i := strings.Index(body, token) - len("PADHERE")
		return strings.Replace(body, "PADHERE", strings.Repeat("a", web.MaxRecordedBody-8-i), 1)
	}
	p := purchase("CUT-1")
	set(p, "payment.token_id", token)
	set(p, "aa_padding", "PADHERE") // sorts before payment
	if r := post(t, sb, cutAt(prefixed(p), token)); r.Status != 201 {
		t.Fatalf("a 64 KiB purchase: %d %s", r.Status, r.Body)
	}
	notJSON := `{"aa":"PADHERE","payment":{"cc_holder":"` + enc("Clear Holdername") + `","cc_exp_date":"` + enc("09/2031") + `","n":4111111111111111`
	if r := post(t, sb, cutAt(notJSON, "4111111111111111")); r.Status != 400 {
		t.Fatalf("a body that is not JSON: %d %s", r.Status, r.Body)
	}
	entries, _ := maskedJournal(t, sb, "surface=sc&merchant="+demo.ID, 2, // the 201 and the 400
		"55555555", "41111111", enc("Clear Holdername"), enc("09/2031"))
	for _, e := range entries {
		if !e.Request.Truncated || !strings.HasSuffix(e.Request.Body, "****") {
			t.Errorf("the %d's body (truncated %v) ends %q, want the secret the cut falls in masked", e.Status, e.Request.Truncated, e.Request.Body[max(0, len(e.Request.Body)-40):])
		}
	}
}

// P2: a quantity that is not a whole number is refused once, for what it is, not also as a
// quantity of 0.
func TestP2_QuantityNotANumberIsOneRefusal(t *testing.T) {
	sb := sandboxtest.Start(t)
	for i, q := range []string{"1.5", "abc"} {
		r := post(t, sb, prefixed(set(purchase(fmt.Sprint("QTY-", i)), "products.0.purchase_info.quantity", q)))
		res := decode(t, r)
		n := 0
		for _, d := range res.Diagnostics {
			if d.Field == "products[0].purchase_info.quantity" {
				n++
			}
		}
		if r.Status != 400 || n != 1 {
			t.Errorf("quantity %q: %d with %d diagnostics on the field, want 400 with 1: %s", q, r.Status, n, r.Body)
		}
	}
}

// X2, E4: a body refused before anything parsed it (413) has its payment fields masked by
// name; a card number in a field that does not name it (an address line, a payment label) is
// masked wherever it is, spaces URL-encoded or not.
func TestX2_CardNumbersAndCiphertextsAreMaskedInEveryBody(t *testing.T) {
	sb := sandboxtest.Start(t)
	p := purchase("MASK-413")
	set(p, "payment.cc_holder", enc("Clear Holdername"))
	set(p, "payment.cc_exp_date", enc("09/2031"))
	set(p, "zz_padding", strings.Repeat("x", 1<<20)) // sorts after payment
	if r := post(t, sb, prefixed(p)); r.Status != 413 {
		t.Fatalf("a body over 1 MiB: %d %s", r.Status, r.Body)
	}
	// A card number inside free text is refused (E4, X2: none accepted or stored), and masked
	// in the journal all the same.
	p = purchase("MASK-FREE-TEXT")
	set(p, "user.shipping_address.address2", "Apt 4111 1111 1111 1111")
	set(p, "payment.label", "Visa 5555555555554444")
	if r := post(t, sb, prefixed(p)); r.Status != 400 || !strings.Contains(string(r.Body), `"field":"user.shipping_address.address2"`) || !strings.Contains(string(r.Body), `"field":"payment.label"`) {
		t.Fatalf("a card number in free text: %d %s", r.Status, r.Body)
	}
	// The 413 and the 400; a 413 has no merchant: it is not authenticated.
	_, body := maskedJournal(t, sb, "surface=sc", 2, enc("Clear Holdername"), encodeURIComponent(enc("Clear Holdername")),
		enc("09/2031"), encodeURIComponent(enc("09/2031")), "4111 1111 1111 1111", "4111%201111%201111%201111", "5555555555554444")
	if !strings.Contains(body, "****1111") || !strings.Contains(body, "****4444") {
		t.Errorf("the card numbers' last four are not shown")
	}
}
