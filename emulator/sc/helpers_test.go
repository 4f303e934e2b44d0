package sc_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/config"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox/sandboxtest"
)

var demo = config.DemoMerchant()

// obj is a JSON object under construction.
type obj = map[string]any

func enc(plain string) string { return ogcrypto.MustEncrypt(demo.HashKey, plain) }

// product is a products[] entry subscribing (cartless) to id every/period.
func product(id, sku, price string, every, period int) obj {
	return obj{
		"product": id, "sku": sku,
		"subscription_info": obj{"quantity": "1", "tracking_override": obj{"offer": "offer-1", "every": fmt.Sprint(every), "every_period": fmt.Sprint(period)}},
		"purchase_info":     obj{"quantity": "1", "price": price, "discounted_price": price, "total": price},
	}
}

// oneTime is a products[] entry bought once.
func oneTime(id, sku, price string) obj {
	return obj{"product": id, "sku": sku, "purchase_info": obj{"quantity": "1", "price": price, "discounted_price": price, "total": price}}
}

// purchase is a valid cartless purchase POST for customer cust-1, subscribing to DF-30.
func purchase(orderID string) obj {
	return obj{
		"merchant_id":       demo.ID,
		"og_cart_tracking":  false,
		"merchant_order_id": orderID,
		"user": obj{
			"user_id": "cust-1", "first_name": "Nicholas", "last_name": "Bundy",
			"email": "nick@example.com", "phone_number": "+1 555 0100",
			"shipping_address": obj{
				"first_name": "Nicholas", "last_name": "Bundy", "address": "75 Broad St", "address2": "Fl 23",
				"city": "New York", "state_province_code": "NY", "zip_postal_code": "10004",
				"phone": "5550100", "country_code": "US",
			},
		},
		"payment": obj{
			"token_id": "tok-visa-1", "cc_holder": enc("Nicholas Bundy"), "cc_exp_date": enc("03/2027"), "cc_type": "1",
		},
		"products": []any{product("DF-30", "DF-30-LB", "54.99", 4, 2)},
	}
}

// set sets a dotted path in o ("user.email", "products.0.sku"); a nil value deletes it.
func set(o obj, path string, v any) obj {
	parts := strings.Split(path, ".")
	var cur any = o
	for i, p := range parts {
		last := i == len(parts)-1
		switch c := cur.(type) {
		case obj:
			if last {
				if v == nil {
					delete(c, p)
				} else {
					c[p] = v
				}
				return o
			}
			cur = c[p]
		case []any:
			var n int
			fmt.Sscan(p, &n)
			if last {
				c[n] = v
				return o
			}
			cur = c[n]
		}
	}
	return o
}

// encodeURIComponent is JavaScript's: what SFCC applies to each string value.
func encodeURIComponent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// perField URL-encodes every string value of v, as SFCC does.
func perField(v any) any {
	switch x := v.(type) {
	case obj:
		out := obj{}
		for k, c := range x {
			out[k] = perField(c)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, c := range x {
			out[i] = perField(c)
		}
		return out
	case string:
		return encodeURIComponent(x)
	}
	return v
}

func jsonOf(v any, indent string) string {
	var b strings.Builder
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	e.SetIndent("", indent)
	e.Encode(v)
	return strings.TrimSpace(b.String())
}

// Body forms of P1.
func rawJSON(o obj) string         { return jsonOf(perField(o), "") }
func prefixed(o obj) string        { return "create_request=" + jsonOf(perField(o), "") }
func sfcc(o obj) string            { return "create_request=" + jsonOf(perField(o), "     ") }
func wholeEncoded(o obj) string    { return "create_request=" + url.QueryEscape(jsonOf(o, "")) }
func wholeNoPrefix(o obj) string   { return url.PathEscape(jsonOf(o, "")) }
func unencodedValues(o obj) string { return jsonOf(o, "") }
func magento(o obj) string {
	// M23 encodes only email and cc_exp_date.
	c := perField(o).(obj)
	u := o["user"].(obj)
	cu := jsonCopy(u)
	cu["email"] = url.QueryEscape(u["email"].(string))
	c["user"] = cu
	pm := jsonCopy(o["payment"].(obj))
	pm["cc_exp_date"] = url.QueryEscape(pm["cc_exp_date"].(string))
	c["payment"] = pm
	return jsonOf(c, "")
}

func jsonCopy(o obj) obj {
	var out obj
	b, _ := json.Marshal(o)
	json.Unmarshal(b, &out)
	return out
}

// auth is the A4 authorization header of user, signed now.
func auth(user string) string {
	return ogcrypto.HeaderJSON(demo.HashKey, demo.PublicID, user, time.Now().Unix())
}

// post sends a purchase POST with the authorization of user cust-1 (or the given headers).
func post(t *testing.T, sb *sandbox.Sandbox, body string, header ...string) sandboxtest.Response {
	t.Helper()
	if len(header) == 0 {
		header = []string{"Authorization", auth("cust-1")}
	}
	return sandboxtest.Do(t, "POST", sb.URL()+"/subscription/create", body, header...)
}

// result is a purchase POST answer, decoded.
type result struct {
	Result          string              `json:"result"`
	SubsReqID       string              `json:"subs_req_id"`
	Customer        string              `json:"customer"`
	ShippingAddress string              `json:"shipping_address"`
	Payment         string              `json:"payment"`
	Subscriptions   []map[string]string `json:"subscriptions"`
	Errors          map[string]any      `json:"errors"`
	ErrorMessage    string              `json:"error_message"`
	Error           string              `json:"error"`
	Diagnostics     []struct {
		Rule, Field, Message, Severity string
	} `json:"diagnostics"`
}

func decode(t *testing.T, r sandboxtest.Response) result {
	t.Helper()
	var res result
	r.JSON(t, &res)
	return res
}

// diag returns the first diagnostic of rule (an error one if there is one), or fails the test.
func (res result) diag(t *testing.T, rule string) (field, message, severity string) {
	t.Helper()
	found := false
	for _, d := range res.Diagnostics {
		if d.Rule == rule && (!found || severity == "warning" && d.Severity != "warning") {
			field, message, severity, found = d.Field, d.Message, d.Severity, true
		}
	}
	if !found {
		t.Fatalf("no %s diagnostic in %+v", rule, res.Diagnostics)
	}
	return
}

func (res result) hasRule(rule string) bool {
	for _, d := range res.Diagnostics {
		if d.Rule == rule {
			return true
		}
	}
	return false
}
