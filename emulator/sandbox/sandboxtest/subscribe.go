package sandboxtest

import (
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox"
)

// Item is a product to subscribe to in Subscribe: every Every EveryPeriod (the product's
// default when zero), Quantity of it (1 when zero).
type Item struct {
	Product  string
	Every    int
	Period   int
	Quantity int
	// Price locks the subscription's price (P4) when set ("49.99").
	Price string
}

// Checkout describes a purchase POST for Subscribe.
type Checkout struct {
	Merchant *og.Merchant // the first configured merchant when nil
	UserID   string
	OrderID  string // merchant_order_id; generated when empty
	Token    string // payment token_id ("tok-1" when empty); the reference merchant answers by it
	Items    []Item
}

var orderSeq atomic.Int64

// Subscribe creates subscriptions through the real purchase POST (cartless, signed, with
// encrypted payment fields) and fails the test unless the answer is 201.
func Subscribe(tb testing.TB, sb *sandbox.Sandbox, c Checkout) Response {
	tb.Helper()
	m := c.Merchant
	if m == nil {
		m = sb.Merchants()[0]
	}
	if c.UserID == "" {
		c.UserID = "customer-1"
	}
	if c.OrderID == "" {
		c.OrderID = fmt.Sprintf("ORDER-%d", orderSeq.Add(1))
	}
	if c.Token == "" {
		c.Token = "tok-1"
	}
	enc := func(s string) string { return url.QueryEscape(ogcrypto.MustEncrypt(m.HashKey, s)) }
	var products []any
	for _, it := range c.Items {
		q := max(it.Quantity, 1)
		override := map[string]any{"offer": "offer-1"}
		if it.Every != 0 {
			override["every"], override["every_period"] = fmt.Sprint(it.Every), fmt.Sprint(it.Period)
		}
		info := map[string]any{"quantity": fmt.Sprint(q), "tracking_override": override}
		if it.Price != "" {
			info["price"] = it.Price
		}
		products = append(products, map[string]any{
			"product": it.Product, "sku": it.Product, "subscription_info": info,
			"purchase_info": map[string]any{"quantity": fmt.Sprint(q), "price": "1.00", "discounted_price": "1.00", "total": fmt.Sprintf("%d.00", q)},
		})
	}
	body := map[string]any{
		"merchant_id": m.ID, "og_cart_tracking": false, "merchant_order_id": c.OrderID,
		"user": map[string]any{
			"user_id": c.UserID, "first_name": "Test", "last_name": "Customer", "email": url.QueryEscape(c.UserID + "@example.com"),
			"phone_number": "5550100",
			"shipping_address": map[string]any{"first_name": "Test", "last_name": "Customer", "address": "1%20Main%20St",
				"city": "Springfield", "state_province_code": "IL", "zip_postal_code": "62701", "phone": "5550100", "country_code": "US"},
		},
		"payment":  map[string]any{"token_id": url.QueryEscape(c.Token), "cc_holder": enc("Test Customer"), "cc_exp_date": enc("12/2030"), "cc_type": "1"},
		"products": products,
	}
	r := Do(tb, "POST", sb.URL()+"/subscription/create", body,
		"Authorization", ogcrypto.HeaderJSON(m.HashKey, m.PublicID, c.UserID, time.Now().Unix()))
	if r.Status != 201 {
		tb.Fatalf("purchase POST for %s: %d %s", c.UserID, r.Status, r.Body)
	}
	return r
}

// Advance moves the sandbox clock through the control API and returns its summary.
func Advance(tb testing.TB, sb *sandbox.Sandbox, by string) map[string]any {
	tb.Helper()
	r := Do(tb, "POST", sb.URL()+"/_sandbox/clock/advance", map[string]string{"by": by})
	if r.Status != 200 {
		tb.Fatalf("advance %s: %d %s", by, r.Status, r.Body)
	}
	var out map[string]any
	r.JSON(tb, &out)
	return out
}

// Orders lists a merchant's orders through the control API.
func Orders(tb testing.TB, sb *sandbox.Sandbox, merchantID string) []og.Order {
	tb.Helper()
	var os []og.Order
	Do(tb, "GET", sb.URL()+"/_sandbox/merchants/"+merchantID+"/orders", nil).JSON(tb, &os)
	return os
}

// Emails lists a merchant's customer emails through the control API.
func Emails(tb testing.TB, sb *sandbox.Sandbox, merchantID string) []og.Email {
	tb.Helper()
	var es []og.Email
	Do(tb, "GET", sb.URL()+"/_sandbox/merchants/"+merchantID+"/emails", nil).JSON(tb, &es)
	return es
}
