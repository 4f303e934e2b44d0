package og

import (
	"context"
	"fmt"
	"time"
)

// Order statuses as the control API reports them.
const (
	OrderScheduled = "scheduled" // unsent: waiting for its placement date
	OrderPending   = "pending"   // sent and waiting: a retry, a batch response, an answer that never came
	OrderPlaced    = "placed"
	OrderRejected  = "rejected"
	OrderCancelled = "cancelled"
)

// Order status codes of the REST API (S4).
const (
	StatusUnsent               = 1
	StatusRejected             = 3
	StatusCancelled            = 4
	StatusSuccess              = 5
	StatusSendNow              = 6
	StatusPendingBatchResponse = 9
	StatusConnectionError      = 13
	StatusResponseError        = 14
	StatusGenericError         = 15
	StatusCreditCardRetry      = 18
)

// Order is a recurring order: the items of one customer's subscriptions that share a payment,
// a shipping address and a date (REFERENCE §6), placed at the merchant's endpoint (O2).
type Order struct {
	OGID            int64       `json:"id"`        // orderOgId
	PublicID        string      `json:"public_id"` // orderPublicId
	Customer        string      `json:"customer_id"`
	Payment         string      `json:"payment"`
	ShippingAddress string      `json:"shipping_address"`
	Subscriptions   []string    `json:"subscription_ids"`
	Items           []OrderItem `json:"items"`
	PlaceDate       Date        `json:"place_date"` // the merchant's calendar day it is placed on
	Status          string      `json:"status"`
	StatusCode      int         `json:"status_code"` // S4
	// DueAt is the placement run that next handles the order (sandbox time); zero when none.
	DueAt    time.Time `json:"due_at,omitzero"`
	Attempts []Attempt `json:"attempts"`
	// AttemptsDropped counts the oldest attempts no longer kept (the ledger keeps the latest
	// 50): set when orders are listed.
	AttemptsDropped int    `json:"attempts_dropped,omitempty"`
	ErrorCode       string `json:"error_code"`
	ErrorMessage    string `json:"error_message,omitempty"`
	MerchantOrderID string `json:"merchant_order_id"` // the orderId the merchant answered
	XML             string `json:"xml"`               // the last order XML sent
	// Retries999 counts the placements retried after a 999 answer (O6d).
	Retries999 int `json:"retries_999,omitempty"`
	// FailingSince is when the first unanswered placement happened (O6a's window starts).
	FailingSince *time.Time `json:"failing_since,omitempty"`
	// ReminderSent is when the order reminder went out; item prices then are kept for O7.
	ReminderSent *time.Time `json:"reminder_sent,omitempty"`
	Paused       string     `json:"paused,omitempty"` // why a run left it unsent (F4)
	// PausedSince is the run that first left it unsent (F4); OutOfStockNotices counts the
	// emails the customer got about it (REFERENCE §6: days 1, 15 and 30).
	PausedSince       *time.Time `json:"paused_since,omitempty"`
	OutOfStockNotices int        `json:"out_of_stock_notices,omitempty"`
	// SplitInto is the order this one's out-of-stock items were split into (F4): a feed
	// looking for a subscription's upcoming order follows it (F3).
	SplitInto int64     `json:"split_into,omitempty"`
	Created   time.Time `json:"created_at"`
	Updated   time.Time `json:"updated_at"`
}

// Open reports whether a placement run may still handle the order.
func (o *Order) Open() bool { return o.Status == OrderScheduled || o.Status == OrderPending }

// OrderItem is one line of an order (O3 order/items/item).
type OrderItem struct {
	PublicID             string         `json:"public_id"`
	Subscription         string         `json:"subscription_id,omitempty"`
	ProductID            string         `json:"product_id"`
	SKU                  string         `json:"sku"`
	Name                 string         `json:"name"`
	Quantity             int            `json:"quantity"`
	Price                Money          `json:"price"`          // unit price charged (price lock applied)
	UnitDiscount         Money          `json:"unit_discount"`  // recurring discount per unit
	ReminderPrice        *Money         `json:"reminder_price"` // unit price when the reminder went out (O7)
	OfferPublicID        string         `json:"offer,omitempty"`
	OfferProfilePublicID string         `json:"offer_profile,omitempty"`
	OneTime              bool           `json:"one_time,omitempty"` // type one-time (instant upsell)
	Components           []Component    `json:"components,omitempty"`
	Frequency            *Frequency     `json:"frequency,omitempty"`
	StartDate            Date           `json:"start_date"`
	OriginalOrderID      string         `json:"original_order_id,omitempty"`
	ExtraData            map[string]any `json:"extra_data,omitempty"`
}

// Discount is the item's discount: per-unit discount × quantity (O3).
func (it *OrderItem) Discount() Money { return it.UnitDiscount.Mul(it.Quantity) }

// FinalPrice is price × quantity − discount (O3).
func (it *OrderItem) FinalPrice() Money { return it.Price.Mul(it.Quantity) - it.Discount() }

// Attempt is one placement of an order: recorded before the order XML is sent, completed
// with the answer and the decision taken on it.
type Attempt struct {
	// No numbers the order's attempts from 1; the ledger keeps the latest ones.
	No          int        `json:"number"`
	At          time.Time  `json:"time"` // sandbox time
	Wall        time.Time  `json:"wall_time"`
	Method      string     `json:"method"` // api or batch
	URL         string     `json:"url,omitempty"`
	Request     string     `json:"request"`        // the order XML
	File        string     `json:"file,omitempty"` // batch method: the order file it went out in
	HTTPStatus  int        `json:"http_status,omitempty"`
	Response    string     `json:"response"`        // empty when none came (Error says why)
	Error       string     `json:"error,omitempty"` // transport failure: refused, timed out
	DurationMS  float64    `json:"duration_ms,omitempty"`
	Decision    string     `json:"decision,omitempty"` // empty while the answer is awaited
	Rule        string     `json:"rule,omitempty"`     // O6a, O6b, O6c, O6d
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
}

// Answered reports whether the attempt has its outcome.
func (a *Attempt) Answered() bool { return a.Decision != "" }

// Email is a customer email Ordergroove would have sent.
type Email struct {
	Kind           string    `json:"kind"`
	To             string    `json:"to"`
	OrderID        int64     `json:"order_id"` // 0 for an email about a subscription
	SubscriptionID string    `json:"subscription_id"`
	ErrorCode      string    `json:"error_code"`
	Subject        string    `json:"subject"`
	At             time.Time `json:"at"`
}

// Email kinds.
const (
	EmailReminder       = "order_reminder"
	EmailPlaced         = "order_placed"
	EmailPaymentIssue   = "order_rejected_payment"         // 100, 110, 120, 140, 160, 170
	EmailBillingAddress = "order_rejected_billing_address" // 130
	EmailPayPal         = "order_rejected_paypal"          // 150
	EmailSCA            = "order_rejected_sca"             // 180
	EmailTechnical      = "order_rejected_technical"       // 020
	EmailGeneric        = "order_rejected_generic"         // 999 after its retries
	EmailOutOfStock     = "order_out_of_stock"             // F4: days 1 and 15 of the wait (REFERENCE §6)
	EmailOutOfStockEnd  = "order_cancelled_out_of_stock"   // F4: day 30, the order is cancelled
	EmailCancelled      = "subscription_cancelled"         // F3: discontinued product
	EmailSwapped        = "subscription_swapped"           // F3: discontinued_replacement
)

// OrderFilter selects orders; zero fields match everything.
type OrderFilter struct {
	Customer     string
	Subscription string
	Status       string
}

// OrderService keeps orders, their attempts, and the emails they cause.
type OrderService interface {
	FindOrders(ctx context.Context, merchantID string, f OrderFilter) ([]Order, error)
	FindEmails(ctx context.Context, merchantID string) ([]Email, error)
	// LastAttemptAt returns the sandbox time of a merchant's latest placement attempt, zero
	// when none was made.
	LastAttemptAt(ctx context.Context, merchantID string) (time.Time, error)
}

// OrderContext is everything the placement of one order reads.
type OrderContext struct {
	Merchant      *Merchant
	Order         *Order
	Customer      *Customer
	Payment       *Payment
	Shipping      *Address
	Billing       *Address
	Subscriptions map[string]*Subscription
	Products      map[string]*Product
}

// PriceOrder brings an order's items up to date before it is placed: name and sku from the
// catalogue, the unit price of the subscription's locked price (P4) or else the catalogue's,
// and never more than the price the customer was shown in the order reminder (O7: the lower of
// the two). It returns the items that cannot be placed now, by index, and why for the first:
// a product out of stock (F4), or no longer in the catalogue.
func PriceOrder(c *OrderContext) (held []int, why string) {
	for i := range c.Order.Items {
		it := &c.Order.Items[i]
		p := c.Products[it.ProductID]
		if p == nil {
			held = append(held, i)
			if why == "" {
				why = fmt.Sprintf("product %s is no longer in the catalogue", it.ProductID)
			}
			continue
		}
		it.Name, it.SKU = p.Name, p.SKU
		price := p.Price
		if s := c.Subscriptions[it.Subscription]; s != nil && s.PriceLocked {
			price = s.Price
		}
		if it.ReminderPrice != nil && *it.ReminderPrice < price {
			price = *it.ReminderPrice
		}
		it.Price = price
		if !p.InStock {
			held = append(held, i)
			if why == "" {
				why = fmt.Sprintf("product %s is out of stock (in_stock 0): the order waits for it (F4)", it.ProductID)
			}
		}
	}
	return held, why
}

// UnitPrice is what the customer would pay per unit of s today: its locked price (P4), or the
// catalogue's.
func UnitPrice(s *Subscription, p *Product) Money {
	if s.PriceLocked || p == nil {
		return s.Price
	}
	return p.Price
}

// NewOrderItem is the order line of subscription s.
func NewOrderItem(s *Subscription, p *Product, now time.Time) OrderItem {
	it := OrderItem{
		PublicID: NewPublicID(now), Subscription: s.PublicID, ProductID: s.ProductID, SKU: s.SKU,
		Quantity: s.Quantity, Price: UnitPrice(s, p), OfferPublicID: s.Offer, Components: s.Components,
		StartDate: s.StartDate, OriginalOrderID: s.MerchantOrderID, ExtraData: s.ExtraData,
	}
	f := s.Frequency
	it.Frequency = &f
	if p != nil {
		it.Name, it.SKU = p.Name, p.SKU
	}
	return it
}

// EmailSubject is the subject line of an email of kind about order o.
func EmailSubject(kind string, o *Order, code string) string {
	switch kind {
	case EmailReminder:
		return fmt.Sprintf("Your order %d ships on %s", o.OGID, o.PlaceDate)
	case EmailPlaced:
		return fmt.Sprintf("Your order %d has been placed", o.OGID)
	case EmailPaymentIssue:
		return fmt.Sprintf("There was a problem with the payment for order %d (%s)", o.OGID, code)
	case EmailBillingAddress:
		return fmt.Sprintf("Please check the billing address for order %d", o.OGID)
	case EmailPayPal:
		return fmt.Sprintf("There was a problem with PayPal for order %d", o.OGID)
	case EmailSCA:
		return fmt.Sprintf("Your bank asks you to confirm order %d", o.OGID)
	case EmailTechnical, EmailGeneric:
		return fmt.Sprintf("We could not place order %d", o.OGID)
	case EmailOutOfStock:
		return fmt.Sprintf("Order %d waits for an item out of stock", o.OGID)
	case EmailOutOfStockEnd:
		return fmt.Sprintf("Order %d was cancelled: an item stayed out of stock for %d days", o.OGID, OutOfStockDays)
	}
	return kind
}

// OutOfStockDays is how long an order waits for an item out of stock before it is cancelled;
// the customer is emailed on its days 1, 15 and 30 (F4, REFERENCE §6).
const OutOfStockDays = 30

// Hold is what a placement run does with an order it cannot place now (F4: an item out of
// stock, or no longer in the catalogue): the order waits, retried at each run, for up to
// OutOfStockDays from the run that first held it; the customer is emailed on day 1 and day 15
// (EmailOutOfStock), and on day 30 the order is cancelled (EmailOutOfStockEnd). It returns the
// email to send ("" for none) and whether the order is cancelled; why is the run's reason.
func Hold(o *Order, why string, run time.Time, loc *time.Location) (email string, cancelled bool) {
	if o.PausedSince == nil {
		t := run
		o.PausedSince = &t
	}
	day := DateOf(*o.PausedSince, loc).DaysUntil(DateOf(run, loc)) + 1
	if day >= OutOfStockDays {
		o.Status, o.StatusCode, o.Paused = OrderCancelled, StatusCancelled, ""
		o.ErrorMessage = fmt.Sprintf("cancelled after %d days waiting: %s (F4, REFERENCE §6: retried daily for 30 days, then cancelled)", day, why)
		o.OutOfStockNotices++
		return EmailOutOfStockEnd, true
	}
	o.Paused = why
	if o.OutOfStockNotices == 0 || o.OutOfStockNotices == 1 && day >= 15 {
		o.OutOfStockNotices++
		return EmailOutOfStock, false
	}
	return "", false
}

// SubscriptionEmailSubject is the subject line of an email of kind about subscription s (F3):
// product is the discontinued product, replacement the one it was swapped to.
func SubscriptionEmailSubject(kind string, s *Subscription, product, replacement string) string {
	switch kind {
	case EmailCancelled:
		return fmt.Sprintf("Your subscription to %s has been cancelled: the product is discontinued", product)
	case EmailSwapped:
		return fmt.Sprintf("Your subscription to %s now delivers %s: the product is discontinued", product, replacement)
	}
	return kind
}

// Due is an order an index names for a time: a placement run, a reminder.
type Due struct {
	OGID int64
	At   time.Time
}

// AttemptStart is an attempt about to be made: the order's items as priced for it, and the
// attempt with its request.
type AttemptStart struct {
	OGID    int64
	Items   []OrderItem
	Attempt Attempt
	// Updated is the order's Updated as read to prepare the attempt: an order changed since
	// (cancelled, its items swapped) is not started, and waits for the next run.
	Updated time.Time
}

// AttemptResult is how an attempt went on the wire, beside the Answer that Decide reads.
type AttemptResult struct {
	HTTPStatus int
	Response   string
	Error      string
	DurationMS float64
}

// PlacementStore is what the scheduler needs of storage.
type PlacementStore interface {
	LastRun(merchantID string) (time.Time, bool, error)
	SetLastRun(merchantID string, t time.Time)
	DueOrders(merchantID string, at time.Time) ([]Due, error)
	DueReminders(merchantID string, at time.Time) ([]Due, error)
	Inflight(merchantID string) ([]int64, error)
	// OrderContext loads what an order's XML is built from; its attempts come without their
	// bodies (LastAttempt has them).
	OrderContext(ctx context.Context, m *Merchant, id int64) (*OrderContext, error)
	// LastAttempt returns an order's latest attempt with the XML it sent and the answer it
	// got; ok is false when the order has none.
	LastAttempt(ctx context.Context, merchantID string, id int64) (a Attempt, ok bool, err error)
	// BeginAttempts records attempts durably before their orders are sent (exactly once). It
	// returns the orders it did not start: changed since they were prepared, or no longer open.
	BeginAttempts(ctx context.Context, merchantID string, starts []AttemptStart) (skipped []int64, err error)
	// FinishAttempt decides on an answer (O6) and applies the decision; run is the placement
	// run of the attempt.
	FinishAttempt(ctx context.Context, m *Merchant, id int64, a Answer, r AttemptResult, run time.Time) (Decision, error)
	// PauseOrder holds an order a run cannot place (Hold): it waits for the next run, or is
	// cancelled after OutOfStockDays, its subscriptions going on to their next orders.
	// It does nothing to an order no longer open (held false).
	PauseOrder(ctx context.Context, m *Merchant, id int64, reason string, run time.Time) (held, cancelled bool, err error)
	// SplitOrder moves the items of an order that can go out now into a new order, due now,
	// and leaves the order with the items it waits for (F4), to be held (REFERENCE §6: the
	// out-of-stock items are split into a separate order). It returns the new order's id, 0
	// when nothing was split (the order changed, or has been sent before).
	SplitOrder(ctx context.Context, m *Merchant, id int64, items []string, run time.Time) (int64, error)
	RemindOrder(ctx context.Context, m *Merchant, id int64, prices map[string]Money, at time.Time) error
	// Flush returns once every decision applied so far is committed, with the first failure
	// of one committed behind its caller.
	Flush() error
}

// Batch is one batch order file (O2): the orders of one placement run of a batch-method
// merchant, dropped in its SFTP outgoing/ folder, each awaiting its answer in a batch response
// file (status 9).
type Batch struct {
	File    string    `json:"file"` // outgoing/<MERCHANT_ID>_batch_orders_MM-DD-YYYY_HHMMSS.xml
	Run     time.Time `json:"run"`
	Orders  []int64   `json:"orders"`
	Written bool      `json:"written"` // false until the file is on the drop site
	Created time.Time `json:"created_at"`
}

// BatchStore is what the batch method needs of storage beyond PlacementStore.
type BatchStore interface {
	// BeginBatch records a batch's attempts durably, each order awaiting its answer (status
	// 9), before the file is written.
	// The batch it returns lists the orders it started (see BeginAttempts).
	BeginBatch(ctx context.Context, merchantID string, b Batch, starts []AttemptStart) (Batch, error)
	// AdvanceAwaiting moves on the subscriptions of orders still awaiting a batch answer
	// whose next date has come by run: Ordergroove never stops a subscription for an order.
	AdvanceAwaiting(ctx context.Context, m *Merchant, run time.Time) error
	// BatchWritten records that a batch's file is on the drop site.
	BatchWritten(ctx context.Context, merchantID, file string) error
	// UnwrittenBatches returns the batches recorded and never written (a crash in between).
	UnwrittenBatches(merchantID string) ([]Batch, error)
	// AnswerBatch applies a batch response's answer to an order awaiting it in file, as
	// FinishAttempt does (now is the placement time the decision is taken at); ok is false
	// when the order does not await that file's answer. It commits behind the caller.
	AnswerBatch(ctx context.Context, m *Merchant, id int64, file string, a Answer, r AttemptResult, now time.Time) (d Decision, ok bool, err error)
	// Batch returns a batch by its file name.
	Batch(merchantID, file string) (Batch, bool, error)
	// AwaitingBatch returns the batch file an order awaits its answer from, if it does.
	AwaitingBatch(merchantID string, id int64) (file string, ok bool, err error)
}
