package og

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxIdentifier bounds the identifiers a merchant chooses that the sandbox keys records by
// (user_id, merchant_order_id, session_id): Ordergroove documents no limit, and a bound gives a
// clear P2 refusal instead of a storage error.
const MaxIdentifier = 1024

// Purchase is a purchase POST (P1, P2) after parsing: every string value decoded (C2), every
// encrypted field decrypted and checked (E1, E2). It is what a checkout applies.
type Purchase struct {
	MerchantOrderID string
	SessionID       string
	CartTracking    bool // false: cartless creation, og_cart_tracking false (P2, P4)
	User            PurchaseUser
	Payment         *PurchasePayment
	Products        []PurchaseProduct
	Tracking        []Optin // top-level tracking array (OG.getOptins() output)
}

// PurchaseUser is the user object of P2.
type PurchaseUser struct {
	UserID      string
	FirstName   string
	LastName    string
	Email       string
	PhoneNumber string
	ExtraData   map[string]any
	Shipping    Address
	Billing     *Address
}

// PurchasePayment is the payment object of P2, decrypted (E1). It never holds a card number
// (E4): at most its last four digits.
type PurchasePayment struct {
	TokenID        string
	CCHolder       string // decrypted
	CCExpDate      string // decrypted, normalised to MM/YYYY (E2)
	CCType         int
	CCNumberEnding string
	Label          string
	PaymentMethod  string // "credit card" or "PayPal"
}

// HasData reports whether the payment can pay for orders: a token, or card details.
func (p *PurchasePayment) HasData() bool {
	return p != nil && (p.TokenID != "" || p.CCNumberEnding != "" || p.CCExpDate != "")
}

// PurchaseProduct is one entry of products[] (P2).
type PurchaseProduct struct {
	Index           int // position in products[], for field paths in diagnostics
	ProductID       string
	SKU             string
	Quantity        int   // purchase_info.quantity
	Price           Money // purchase_info.price, per unit
	DiscountedPrice Money // purchase_info.discounted_price, per unit
	Total           Money // purchase_info.total
	Subscription    *PurchaseSubscription
	Override        *Optin // tracking_override (in subscription_info, or beside it)
}

// PurchaseSubscription is subscription_info (P2, P4).
type PurchaseSubscription struct {
	Price                  *Money // locks the subscription price (P4)
	Quantity               int
	InitialOrderOffsetDays int  // P3: signed, moves the first order date
	FirstOrderPlaceDate    Date // REFERENCE §3.3
	ExtraData              map[string]any
	Components             []Component
}

// at names a field of the opt-in (every, every_period) for a diagnostic: where the request
// had it, else as the tracking_override of product p.
func (o *Optin) at(p *PurchaseProduct, field string) string {
	base := fmt.Sprintf("products[%d].tracking_override", p.Index)
	if o != nil && o.At != "" {
		base = o.At
	}
	if field == "" {
		return base
	}
	return base + "." + field
}

// Optin is a subscription opt-in: a product, an offer and a frequency. The offers script
// records them for a cart session; cartless creation carries them as tracking_override.
type Optin struct {
	ProductID string `json:"product"`
	Offer     string `json:"offer,omitempty"`
	Frequency
	// FirstOrderPlaceDate is the offers script's first-order-place-date (REFERENCE §6): the
	// first order's date, as subscription_info's is for cartless creation.
	FirstOrderPlaceDate Date `json:"first_order_place_date,omitzero"`
	ZeroSent            bool `json:"-"` // the frequency was sent as 0/0, not left blank (B2)
	// At is where the request had it (products[0].subscription_info.tracking_override,
	// tracking[1]), for diagnostics.
	At string `json:"-"`
}

// Session is a cart session's opt-ins (P7), recorded through the control API until the offers
// script exists: PUT /_sandbox/merchants/{id}/sessions/{session_id}.
type Session struct {
	SessionID string    `json:"session_id"`
	Optins    []Optin   `json:"optins"`
	UpdatedAt time.Time `json:"updated_at"`
}

// PurchaseResult is what a purchase POST did, as its answer and as
// GET /subscription/{subs_req_id}/response report it (P1, P5, P6).
type PurchaseResult struct {
	Status          int                 `json:"status"`
	SubsReqID       string              `json:"subs_req_id,omitempty"`
	MerchantOrderID string              `json:"merchant_order_id"`
	Customer        string              `json:"customer,omitempty"` // the merchant user id
	ShippingAddress string              `json:"shipping_address,omitempty"`
	Payment         string              `json:"payment,omitempty"`
	Subscriptions   []map[string]string `json:"subscriptions"`
	Errors          map[string]any      `json:"errors"`
	Diagnostics     []Diagnostic        `json:"diagnostics,omitempty"`
	// NonSubscription is true for a checkout without a subscription item (P7).
	NonSubscription bool      `json:"non_subscription_checkout"`
	At              time.Time `json:"at"`
}

// CheckoutService applies purchase POSTs.
type CheckoutService interface {
	// Checkout applies p for merchant m in one transaction, committed before it returns
	// (a 201 or 207 means the subscriptions are on disk). A merchant_order_id already
	// processed is a 409 result carrying the ids the first request created (P6).
	Checkout(ctx context.Context, m *Merchant, p *Purchase) (*PurchaseResult, error)
	// PurchaseResponse returns the result of a processed request (P1), or ENOTFOUND.
	PurchaseResponse(ctx context.Context, merchantID, subsReqID string) (*PurchaseResult, error)
	// PutSession records a cart session's opt-ins and returns them as recorded.
	PutSession(ctx context.Context, merchantID string, s Session) (Session, error)
}

// PlannedSubscription is a subscription a checkout will create.
type PlannedSubscription struct {
	Product     *PurchaseProduct
	Catalogue   *Product
	Quantity    int
	Price       Money
	PriceLocked bool
	Frequency   Frequency
	Offer       string
	NextOrder   Date
	// AnchorDay is the day of month monthly and yearly orders keep: the purchase day (bought
	// on Jan 31, monthly: Feb 28, Mar 31, Apr 30), or the requested first order date's day.
	AnchorDay  int
	StartDate  Date
	ExtraData  map[string]any
	Components []Component
}

// CheckoutPlan is what a purchase creates, decided from the request, the catalogue and the
// cart session before anything is written.
type CheckoutPlan struct {
	Subscribe     []PlannedSubscription
	ProductErrors map[string]map[string]string // product id → field → message (P6)
	RequestErrors map[string]string            // field → message: nothing is subscribed
	Diagnostics   []Diagnostic
	Requested     int // products the customer asked to subscribe to
}

// Status is the purchase POST status of the plan once `created` subscriptions exist (P5, P6):
// 201 when every subscription requested was created (or none was requested, P7), 207 when
// some were and some were not, 400 when none of those requested could be.
func (pl *CheckoutPlan) Status(created int) int {
	switch {
	case len(pl.RequestErrors) > 0:
		return http.StatusBadRequest
	case len(pl.ProductErrors) == 0:
		return http.StatusCreated
	case created > 0:
		return http.StatusMultiStatus
	default:
		return http.StatusBadRequest
	}
}

// PlanCheckout decides which products of p become subscriptions (P4, P7, F2-F4, F6) and when
// each first recurs (P3): pure, so that the storage applies it inside its transaction.
// catalogue holds the merchant's entries for the products p names; session is the cart
// session's opt-ins (nil when none were recorded); now is sandbox time.
func PlanCheckout(m *Merchant, p *Purchase, catalogue map[string]*Product, session *Session, now time.Time) CheckoutPlan {
	plan := CheckoutPlan{ProductErrors: map[string]map[string]string{}, RequestErrors: map[string]string{}}
	today := DateOf(now, m.Location)
	fail := func(pp *PurchaseProduct, field, rule, wire, why string) {
		key := pp.ProductID
		if _, dup := plan.ProductErrors[key]; dup && plan.ProductErrors[key][field] != "" {
			key += "#" + strconv.Itoa(pp.Index)
		}
		if plan.ProductErrors[key] == nil {
			plan.ProductErrors[key] = map[string]string{}
		}
		plan.ProductErrors[key][field] = wire
		if rule != "" { // "": the caller added its own diagnostic
			plan.Diagnostics = append(plan.Diagnostics, Finding(rule, fmt.Sprintf("products[%d].%s", pp.Index, field), why))
		}
	}
	optins := map[string]Optin{}
	if p.CartTracking && session != nil {
		for _, o := range session.Optins {
			optins[o.ProductID] = o
		}
	}
	for _, o := range p.Tracking {
		if !p.CartTracking {
			optins[o.ProductID] = o
		}
	}
	if p.CartTracking && session == nil && len(p.Products) > 0 {
		plan.Diagnostics = append(plan.Diagnostics, Warning("P7", "session_id",
			fmt.Sprintf("cart session %q has no recorded subscription opt-ins, so every product is a one-time purchase; record opt-ins with PUT /_sandbox/merchants/%s/sessions/%s, or send og_cart_tracking: false with tracking_override for cartless creation", p.SessionID, m.ID, p.SessionID)))
	}
	for i := range p.Products {
		pp := &p.Products[i]
		var optin *Optin
		switch {
		case !p.CartTracking && pp.Override != nil:
			optin = pp.Override
		case p.CartTracking && pp.Override != nil:
			plan.Diagnostics = append(plan.Diagnostics, Warning("P4", pp.Override.at(pp, ""),
				"tracking_override is for cartless creation (og_cart_tracking: false); with cart tracking the session's opt-ins decide, so it was ignored"))
		}
		if optin == nil {
			if o, ok := optins[pp.ProductID]; ok {
				optin = &o
			}
		}
		if p.CartTracking && pp.Subscription != nil {
			plan.Diagnostics = append(plan.Diagnostics, Warning("P4", fmt.Sprintf("products[%d].subscription_info", pp.Index),
				"subscription_info is for cartless creation (og_cart_tracking: false); with cart tracking it was ignored"))
		}
		if optin == nil && !p.CartTracking && pp.Subscription != nil {
			// Cartless creation names the subscription in tracking_override (P2): without it
			// staging cannot create one, and a merchant must not believe it did.
			plan.Requested++
			fail(pp, "subscription_info.tracking_override", "P2", "This field is required.",
				"subscription_info without tracking_override {offer, every, every_period}: cartless creation (og_cart_tracking: false) needs it to subscribe; send it, or leave subscription_info out for a one-time purchase")
			continue
		}
		if optin == nil {
			continue // a one-time purchase (P7)
		}
		plan.Requested++
		cat := catalogue[pp.ProductID]
		if cat == nil {
			fail(pp, "product", "F1", "Product does not exist",
				fmt.Sprintf("product %q is not in merchant %s's catalogue: drop a product feed (%s.Products.xml) or PUT /_sandbox/merchants/%s/products", pp.ProductID, m.ID, m.ID, m.ID))
			continue
		}
		if rule, why := cat.SubscribableProblem(); rule != "" {
			fail(pp, "product", rule, "Product is not eligible for subscription", why)
			continue
		}
		if pp.SKU != "" && cat.SKU != "" && pp.SKU != cat.SKU {
			plan.Diagnostics = append(plan.Diagnostics, Warning("F2", fmt.Sprintf("products[%d].sku", pp.Index),
				fmt.Sprintf("sku %q differs from the catalogue's sku %q for product %s; the catalogue's is used", Clip(pp.SKU), cat.SKU, pp.ProductID)))
		}
		freq := optin.Frequency
		if optin.ZeroSent {
			fail(pp, "tracking_override.every", "", "Invalid frequency", "")
			plan.Diagnostics = append(plan.Diagnostics, Finding("B2", optin.at(pp, "every"),
				"every 0 / every_period 0 is a one-time purchase (B2), not a subscription frequency: leave tracking_override out for a one-time purchase, or send the frequency the customer chose"))
			continue
		}
		if freq.IsZero() && cat.Frequency != nil {
			freq = *cat.Frequency // F6: the product's default frequency
		}
		if err := freq.Check(); err != nil {
			// errors is keyed by the field at fault, as the diagnostic is (staging's keying
			// inside errors is not public, REFERENCE §3.4; clients read the field named there).
			field, rule, why := "tracking_override.every", "P3", err.Error()
			switch {
			case freq.IsZero():
				rule = "P2"
				why = fmt.Sprintf("no frequency: tracking_override names no every and every_period, and product %s has no default frequency (F6); P2 requires both", pp.ProductID)
			case freq.Every == 0:
				rule = "P2"
				why = "tracking_override.every is missing or 0: P2 requires every, the number of periods between orders (a positive whole number)"
			case freq.EveryPeriod < PeriodDay || freq.EveryPeriod > PeriodYear:
				field = "tracking_override.every_period"
			}
			plan.Diagnostics = append(plan.Diagnostics, Finding(rule, optin.at(pp, strings.TrimPrefix(field, "tracking_override.")), why))
			fail(pp, field, "", "Invalid frequency", "")
			continue
		}
		if !p.CartTracking && pp.Override != nil && freq == pp.Override.Frequency && freq.EveryPeriod == PeriodYear {
			plan.Diagnostics = append(plan.Diagnostics, Warning("P3", optin.at(pp, "every_period"),
				"every_period 4 (year) is beyond P3's 1 (day), 2 (week) and 3 (month) for a purchase POST; accepted, as a product feed may set yearly frequencies (F6)"))
		}
		ps := PlannedSubscription{Product: pp, Catalogue: cat, Quantity: pp.Quantity, Price: cat.Price,
			Frequency: freq, Offer: optin.Offer, StartDate: today}
		sub := pp.Subscription
		if p.CartTracking {
			sub = nil
		}
		if sub != nil {
			if sub.Quantity > 0 {
				ps.Quantity = sub.Quantity
			}
			if sub.Price != nil {
				ps.Price, ps.PriceLocked = *sub.Price, true
			}
			ps.ExtraData, ps.Components = sub.ExtraData, sub.Components
		}
		if ps.Quantity < 1 {
			fail(pp, "purchase_info.quantity", "P2", "Invalid quantity", fmt.Sprintf("quantity %d: a subscription needs at least 1", ps.Quantity))
			continue
		}
		when := sub // what moves the first order date
		if p.CartTracking && !optin.FirstOrderPlaceDate.IsZero() {
			when = &PurchaseSubscription{FirstOrderPlaceDate: optin.FirstOrderPlaceDate}
		}
		if when != nil && !when.FirstOrderPlaceDate.IsZero() && when.InitialOrderOffsetDays != 0 {
			plan.Diagnostics = append(plan.Diagnostics, Warning("P3", fmt.Sprintf("products[%d].subscription_info.initial_order_offset_days", pp.Index),
				fmt.Sprintf("initial_order_offset_days %d was not applied: first_order_place_date %s sets the first order date itself (send one or the other)", when.InitialOrderOffsetDays, when.FirstOrderPlaceDate)))
		}
		ps.NextOrder = firstOrderDate(today, freq, when)
		ps.AnchorDay = ps.NextOrder.Day
		if when == nil || when.FirstOrderPlaceDate.IsZero() && when.InitialOrderOffsetDays == 0 {
			ps.AnchorDay = today.Day
		}
		if horizon := today.AddDays(MaxFrequencyDays); ps.NextOrder.After(horizon) {
			fail(pp, "subscription_info", "P3", "Invalid first order date",
				fmt.Sprintf("the first order date %s is more than ten years after the purchase (%s)", ps.NextOrder, today))
			continue
		}
		if !ps.NextOrder.After(today) {
			plan.Diagnostics = append(plan.Diagnostics, Warning("P3", fmt.Sprintf("products[%d].subscription_info", pp.Index),
				fmt.Sprintf("the first order date %s is not after the purchase date %s; it was moved to %s", ps.NextOrder, today, today.AddDays(1))))
			ps.NextOrder = today.AddDays(1)
			ps.AnchorDay = ps.NextOrder.Day
		}
		plan.Subscribe = append(plan.Subscribe, ps)
	}
	if len(plan.Subscribe) > 0 && !p.Payment.HasData() {
		// "If subscription information is being sent, payment becomes a required object."
		plan.RequestErrors["payment"] = "Missing payment data to create record"
		plan.Diagnostics = append(plan.Diagnostics, Finding("P2", "payment",
			fmt.Sprintf("%d product(s) would become subscriptions, and a subscription needs a payment with a token_id or the card's cc_exp_date (with cc_holder and cc_type); nothing was subscribed", len(plan.Subscribe))))
		plan.Subscribe = nil
	}
	return plan
}

// firstOrderDate is the date of a new subscription's first recurring order: the requested
// first_order_place_date, else the purchase date plus the frequency, moved by
// initial_order_offset_days (P3), on the merchant's calendar.
func firstOrderDate(today Date, f Frequency, sub *PurchaseSubscription) Date {
	if sub != nil && !sub.FirstOrderPlaceDate.IsZero() {
		return sub.FirstOrderPlaceDate
	}
	d := f.Next(today, 1)
	if sub != nil && sub.InitialOrderOffsetDays != 0 {
		d = d.AddDays(sub.InitialOrderOffsetDays)
	}
	return d
}
