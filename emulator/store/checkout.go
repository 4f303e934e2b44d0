package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/admit"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
	bolt "go.etcd.io/bbolt"
)

var (
	_ og.CheckoutService     = (*DB)(nil)
	_ og.CustomerService     = (*DB)(nil)
	_ og.SubscriptionService = (*DB)(nil)
)

// Staging's message for a repeated merchant_order_id (P6).
const msgConflict = "A request with the given merchant_order_id was already received and processed"

// Checkout applies a purchase POST in one transaction, committed to disk before it returns
// (P5, P6): the customer, their addresses and payment first, as staging creates them, then one
// subscription per product the plan subscribes. A merchant_order_id already processed is a 409
// carrying the ids the first request created. The work is done optimistically (see view): in
// the request's goroutine, with the single writer only checking and storing it.
func (db *DB) Checkout(ctx context.Context, m *og.Merchant, p *og.Purchase) (*og.PurchaseResult, error) {
	now := db.now()
	// A checkout with nothing to write (a 409, a returning customer's 400) answers from what it
	// read, all of it committed: ids of stored records and the first request's answer, which no
	// later write changes. (Other callers may decide from a record a write queued behind them
	// changes, so they still go through the check.)
	return optimisticIn(admit.From(ctx), db, m.ID, true, func(v *view) (*og.PurchaseResult, error) { return checkout(v, m, p, now) })
}

// keyCustomerSeq is the counter of customers' og ids, in the ids bucket.
const keyCustomerSeq = "\x00seq.customer"

func checkout(v *view, m *og.Merchant, p *og.Purchase, now time.Time) (*og.PurchaseResult, error) {
	reqID, err := v.get(bOrderIDs, p.MerchantOrderID)
	if err != nil {
		return nil, err
	}
	if reqID != nil {
		var prev og.PurchaseResult
		if _, err := v.getJSON(bRequests, string(reqID), &prev); err != nil {
			return nil, err
		}
		res := &og.PurchaseResult{
			Status: http.StatusConflict, MerchantOrderID: p.MerchantOrderID, At: now,
			Customer: prev.Customer, ShippingAddress: prev.ShippingAddress, Payment: prev.Payment,
			Subscriptions: []map[string]string{},
			Errors:        map[string]any{"merchant_order_id": msgConflict},
			Diagnostics: []og.Diagnostic{og.Finding("P6", "merchant_order_id", fmt.Sprintf(
				"merchant_order_id %q was already received and processed at %s (subs_req_id %s, status %d); resending a checkout needs a new merchant_order_id (P8)",
				p.MerchantOrderID, prev.At.Format(time.RFC3339), prev.SubsReqID, prev.Status))},
		}
		if prev.Customer != p.User.UserID {
			// The ids are the first checkout's, and it was another customer's: they are not
			// this customer's to see (S3).
			res.Customer, res.ShippingAddress, res.Payment = "", "", ""
			res.Diagnostics[0].Message = fmt.Sprintf("merchant_order_id %q was already used by another customer's checkout at %s; each checkout needs its own merchant_order_id (P6, P8). That checkout's ids are not returned to this customer",
				p.MerchantOrderID, prev.At.Format(time.RFC3339))
		}
		return res, nil
	}

	catalogue := map[string]*og.Product{}
	for _, pp := range p.Products {
		if _, seen := catalogue[pp.ProductID]; seen {
			continue
		}
		if prod, err := getShared[og.Product](v, bProducts, pp.ProductID); err != nil {
			return nil, err
		} else if prod != nil {
			catalogue[pp.ProductID] = prod
		}
	}
	var session, optins *og.Session
	if p.SessionID != "" {
		var s og.Session
		if ok, err := v.getJSON(bSessions, p.SessionID, &s); err != nil {
			return nil, err
		} else if ok {
			session = &s
		}
	}
	if p.CartTracking {
		optins = session
	}
	plan := og.PlanCheckout(m, p, catalogue, optins, now)

	cust, err := upsertCustomer(v, &p.User, now)
	if err != nil {
		return nil, err
	}
	shipping := upsertAddress(v, cust, &p.User.Shipping, now)
	var payment string
	if p.Payment != nil {
		billing := ""
		if p.User.Billing != nil {
			billing = upsertAddress(v, cust, p.User.Billing, now)
		}
		payment = upsertPayment(v, cust, sealed(v.db.paymentKey, p.Payment), billing, now)
	}
	// A repeat checkout that changes nothing leaves the record alone: concurrent checkouts of
	// one customer then do not invalidate each other's work (see view).
	if cust.changed {
		cust.Updated = now
		if err := v.putJSON(bCustomers, cust.MerchantUserID, &cust.Customer); err != nil {
			return nil, err
		}
	}

	subs := []map[string]string{}
	up := newUpcoming(v, m, now)
	for _, ps := range plan.Subscribe {
		s := og.Subscription{
			PublicID: og.NewPublicID(now), Customer: cust.MerchantUserID,
			ProductID: ps.Catalogue.ProductID, SKU: ps.Catalogue.SKU, Quantity: ps.Quantity,
			Price: ps.Price, PriceLocked: ps.PriceLocked, Frequency: ps.Frequency,
			Status: og.SubscriptionActive, NextOrderDate: ps.NextOrder, StartDate: ps.StartDate,
			Offer: ps.Offer, Payment: payment, ShippingAddress: shipping,
			MerchantOrderID: p.MerchantOrderID, SessionID: p.SessionID, AnchorDay: ps.AnchorDay,
			ExtraData: ps.ExtraData, Components: ps.Components, CreatedAt: now, UpdatedAt: now,
		}
		if err := v.putJSON(bSubscriptions, s.PublicID, &s); err != nil {
			return nil, err
		}
		if err := up.add(&s, ps.Catalogue); err != nil {
			return nil, err
		}
		v.put(bCustomerSubs, string(customerSubKey(s.Customer, s.PublicID)), []byte{})
		v.put(bProductSubs, productSubKey(s.ProductID, s.PublicID), []byte{})
		subs = append(subs, map[string]string{ps.Product.ProductID: s.PublicID})
	}
	if err := up.save(); err != nil {
		return nil, err
	}

	errs := map[string]any{}
	for prod, fields := range plan.ProductErrors {
		errs[prod] = fields
	}
	for field, msg := range plan.RequestErrors {
		errs[field] = msg
	}
	res := &og.PurchaseResult{
		Status: plan.Status(len(subs)), MerchantOrderID: p.MerchantOrderID, At: now,
		Customer: cust.MerchantUserID, ShippingAddress: shipping, Payment: payment,
		Subscriptions: subs, Errors: errs, Diagnostics: plan.Diagnostics,
		NonSubscription: plan.Requested == 0,
	}
	if res.Status == http.StatusBadRequest {
		return res, nil // nothing subscribed: the merchant may fix the request and resend it as is
	}
	res.SubsReqID = og.NewRequestID(now)
	if err := v.putJSON(bRequests, res.SubsReqID, res); err != nil {
		return nil, err
	}
	v.put(bOrderIDs, p.MerchantOrderID, []byte(res.SubsReqID))
	if session != nil {
		v.del(bSessions, p.SessionID) // P7: the cart session is cleared once its checkout is logged
	}
	return res, nil
}

func customerSubKey(user, sub string) []byte {
	return append(append([]byte(user), 0), sub...)
}

// customerRec is a customer being updated, and whether anything about it changed.
type customerRec struct {
	og.Customer
	changed bool
}

// upsertCustomer creates the customer of a checkout, or updates it from a repeat checkout.
func upsertCustomer(v *view, u *og.PurchaseUser, now time.Time) (*customerRec, error) {
	c := &customerRec{}
	// A repeat checkout mostly leaves its customer as stored: decoded once, shared while the
	// stored bytes stay the same, and copied here (addresses and payments are values; extra
	// data is replaced, never changed in place).
	shared, err := getShared[og.Customer](v, bCustomers, u.UserID)
	if err != nil {
		return nil, err
	}
	if shared != nil {
		c.Customer = *shared
		c.Addresses, c.Payments = slices.Clone(shared.Addresses), slices.Clone(shared.Payments)
	} else {
		seq, err := v.nextID(keyCustomerSeq)
		if err != nil {
			return nil, err
		}
		c.Customer = og.Customer{MerchantUserID: u.UserID, OGID: seq, Live: true, Created: now, Locale: "en-us"}
		c.changed = true
	}
	if c.FirstName != u.FirstName || c.LastName != u.LastName || c.Email != u.Email || c.PhoneNumber != u.PhoneNumber {
		c.FirstName, c.LastName, c.Email, c.PhoneNumber = u.FirstName, u.LastName, u.Email, u.PhoneNumber
		c.changed = true
	}
	if u.ExtraData != nil && !sameJSON(c.ExtraData, u.ExtraData) {
		c.ExtraData = u.ExtraData
		c.changed = true
	}
	return c, nil
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// upsertAddress returns the id of the customer's address equal to a, creating it if needed.
func upsertAddress(v *view, c *customerRec, a *og.Address, now time.Time) string {
	for i := range c.Addresses {
		if c.Addresses[i].SameAs(a) {
			return c.Addresses[i].PublicID
		}
	}
	n := *a
	n.PublicID, n.Customer, n.Live, n.Created = og.NewPublicID(now), c.MerchantUserID, true, now
	c.Addresses = append(c.Addresses, n)
	c.changed = true
	v.put(bIDs, n.PublicID, idRef("address", c.MerchantUserID))
	return n.PublicID
}

// upsertPayment returns the id of the customer's payment with p's token, updated from p, or of
// a new payment. Only a token and what may be shown of a card are kept (E4).
func upsertPayment(v *view, c *customerRec, p *og.PurchasePayment, billing string, now time.Time) string {
	for i := range c.Payments {
		pm := &c.Payments[i]
		if p.TokenID != "" && pm.TokenID == p.TokenID {
			before := *pm
			pm.CCType, pm.CCHolder, pm.CCExpDate, pm.Label, pm.PaymentMethod = p.CCType, p.CCHolder, p.CCExpDate, p.Label, p.PaymentMethod
			if p.CCNumberEnding != "" {
				pm.CCNumberEnding = p.CCNumberEnding
			}
			if billing != "" {
				pm.BillingAddress = billing
			}
			pm.Live = true
			c.changed = c.changed || *pm != before
			return pm.PublicID
		}
	}
	pm := og.Payment{
		PublicID: og.NewPublicID(now), Customer: c.MerchantUserID, TokenID: p.TokenID, CCType: p.CCType,
		CCHolder: p.CCHolder, CCExpDate: p.CCExpDate, CCNumberEnding: p.CCNumberEnding,
		PaymentMethod: p.PaymentMethod, Label: p.Label, BillingAddress: billing, Live: true, Created: now,
	}
	c.Payments = append(c.Payments, pm)
	c.changed = true
	v.put(bIDs, pm.PublicID, idRef("payment", c.MerchantUserID))
	return pm.PublicID
}

// sealed returns the payment with its holder and expiry sealed with the store's key: the
// platform keeps only tokens and the encrypted holder and expiry (E4). The encryption has no
// IV, so an unchanged holder is an unchanged payment.
func sealed(key string, p *og.PurchasePayment) *og.PurchasePayment {
	out := *p
	for _, f := range []*string{&out.CCHolder, &out.CCExpDate} {
		if *f != "" {
			*f = ogcrypto.Seal(key, *f)
		}
	}
	return &out
}

// opened returns a stored payment with its holder and expiry in clear: for the order XML,
// which encrypts them with the merchant's key (E3), and for the customers listing, which does
// too. A payment stored in clear by an older version is taken as it is.
func opened(key string, pm og.Payment) og.Payment {
	pm.CCHolder, _ = ogcrypto.Open(key, pm.CCHolder)
	pm.CCExpDate, _ = ogcrypto.Open(key, pm.CCExpDate)
	return pm
}

func idRef(kind, user string) []byte { return append(append([]byte(kind), 0), user...) }

// PurchaseResponse returns what a processed purchase POST did (P1).
func (db *DB) PurchaseResponse(ctx context.Context, merchantID, subsReqID string) (*og.PurchaseResult, error) {
	var res og.PurchaseResult
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bRequests)
		if err != nil {
			return err
		}
		found, err := getJSON(b, subsReqID, &res)
		if err == nil && !found {
			err = og.Errorf(og.ENOTFOUND, "P1", "subs_req_id", "no purchase request %q for this merchant", subsReqID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// PutSession records a cart session's opt-ins.
func (db *DB) PutSession(ctx context.Context, merchantID string, s og.Session) (og.Session, error) {
	s.UpdatedAt = db.now()
	return s, db.commit.do(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bSessions)
		if err != nil {
			return err
		}
		return putJSON(b, s.SessionID, &s)
	})
}

// FindSubscriptions returns a merchant's subscriptions in creation order.
func (db *DB) FindSubscriptions(ctx context.Context, merchantID string, f og.SubscriptionFilter) ([]og.Subscription, error) {
	out := []og.Subscription{}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		subs, err := mbucket(tx, merchantID, bSubscriptions)
		if err != nil {
			return err
		}
		if f.Customer == "" {
			return eachJSON(subs, func(_ []byte, s *og.Subscription) error { out = append(out, *s); return nil })
		}
		idx, _ := mbucket(tx, merchantID, bCustomerSubs)
		prefix := append([]byte(f.Customer), 0)
		c := idx.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			var s og.Subscription
			if ok, err := getJSON(subs, string(k[len(prefix):]), &s); err != nil {
				return err
			} else if ok {
				out = append(out, s)
			}
		}
		return nil
	})
	return out, err
}

// FindCustomers returns a merchant's customers with their addresses and payments, holders and
// expiries in clear: a caller that shows them encrypts them (E1, E4).
func (db *DB) FindCustomers(ctx context.Context, merchantID string) ([]og.Customer, error) {
	cs, err := list[og.Customer](db, merchantID, bCustomers, nil)
	for i := range cs {
		for j := range cs[i].Payments {
			cs[i].Payments[j] = opened(db.paymentKey, cs[i].Payments[j])
		}
	}
	return cs, err
}

// RecordAttempt records a purchase POST for the P8 checks, without waiting for the commit.
func (db *DB) RecordAttempt(merchantID string, a og.PurchaseAttempt) {
	_ = db.appendLog(merchantID, bAttempts, &a, maxAttempts)
}

// Attempts returns a merchant's purchase POST attempts in order.
func (db *DB) Attempts(ctx context.Context, merchantID string) ([]og.PurchaseAttempt, error) {
	db.commit.flush()
	return list[og.PurchaseAttempt](db, merchantID, bAttempts, nil)
}
