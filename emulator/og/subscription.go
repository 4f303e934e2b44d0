package og

import (
	"context"
	"time"
)

// Subscription statuses as the control API reports them. Ordergroove itself has no status
// enum: a live subscription is active, a cancelled one has live false and a cancelled date.
const (
	SubscriptionActive    = "active"
	SubscriptionCancelled = "cancelled"
)

// Subscription is a customer's recurring purchase of one product.
type Subscription struct {
	PublicID        string         `json:"id"`
	Customer        string         `json:"customer_id"`
	ProductID       string         `json:"product_id"`
	SKU             string         `json:"sku"`
	Quantity        int            `json:"quantity"`
	Price           Money          `json:"price"`
	PriceLocked     bool           `json:"price_locked"` // subscription_info.price (P4)
	Frequency                      // every, every_period
	Status          string         `json:"status"`
	NextOrderDate   Date           `json:"next_order_date"`
	StartDate       Date           `json:"start_date"`
	AnchorDay       int            `json:"anchor_day,omitempty"` // day of month its orders keep (monthly, yearly)
	Iteration       int            `json:"iteration"`            // orders finished so far
	Offer           string         `json:"offer,omitempty"`
	Payment         string         `json:"payment,omitempty"`
	ShippingAddress string         `json:"shipping_address,omitempty"`
	MerchantOrderID string         `json:"merchant_order_id"`
	SessionID       string         `json:"session_id,omitempty"`
	ExtraData       map[string]any `json:"extra_data,omitempty"`
	Components      []Component    `json:"components,omitempty"`
	CancelReason    string         `json:"cancel_reason,omitempty"`
	Cancelled       *time.Time     `json:"cancelled,omitempty"`
	CreatedAt       time.Time      `json:"created_at"`
	UpdatedAt       time.Time      `json:"updated_at"`
}

// Live reports whether the subscription is active.
func (s *Subscription) Live() bool { return s.Status == SubscriptionActive }

// Component is one product of a bundle (O3 components/component).
type Component struct {
	ProductID string `json:"product_id"`
	SKU       string `json:"sku,omitempty"`
	Quantity  int    `json:"qty"`
}

// SubscriptionService reads subscriptions.
type SubscriptionService interface {
	FindSubscriptions(ctx context.Context, merchantID string, f SubscriptionFilter) ([]Subscription, error)
}

// SubscriptionFilter selects subscriptions; zero fields match everything.
type SubscriptionFilter struct {
	Customer string
}
