package og

import (
	"context"
	"time"
)

// Product is a catalogue entry as a product feed describes it (F2).
type Product struct {
	ProductID        string            `json:"product_id"`
	SKU              string            `json:"sku"`
	Name             string            `json:"name"`
	Price            Money             `json:"price"`
	DetailsURL       string            `json:"details_url,omitempty"`
	ImageURL         string            `json:"image_url,omitempty"`
	AutoshipEligible bool              `json:"autoship_eligible"`
	InStock          bool              `json:"in_stock"`
	Discontinued     bool              `json:"discontinued"`
	Groups           []ProductGroup    `json:"groups,omitempty"`
	Categories       []string          `json:"categories,omitempty"`
	ExtraData        map[string]string `json:"extra_data,omitempty"`
	Relationships    []Relationship    `json:"relationships,omitempty"`
	Frequency        *Frequency        `json:"default_frequency,omitempty"` // F6
	Source           string            `json:"source,omitempty"`            // the feed file, or "control API"
	UpdatedAt        time.Time         `json:"updated_at"`
}

// ProductGroup is a group of a product: products sharing a sku_swap group are swappable (F5).
type ProductGroup struct {
	Type string `json:"type,omitempty"` // "sku_swap", "incentive" or empty
	Name string `json:"name"`
}

// Relationship names related products; discontinued_replacement and
// discontinued_silent_replacement name a discontinued product's replacement (F3).
type Relationship struct {
	Name    string   `json:"name"`
	Related []string `json:"related"`
}

// Relationship names of F3.
const (
	RelReplacement       = "discontinued_replacement"
	RelSilentReplacement = "discontinued_silent_replacement"
)

// VariantName is the SKU swap label of a product (F5): extra_data variant_name, else its name.
func (p *Product) VariantName() string {
	if v := p.ExtraData["variant_name"]; v != "" {
		return v
	}
	return p.Name
}

// SubscribableProblem says why a product cannot become a subscription at checkout, or "" if
// it can (F2 autoship_eligible, F3 discontinued, F4 in_stock).
func (p *Product) SubscribableProblem() (rule, msg string) {
	switch {
	case p.Discontinued:
		return "F3", "product " + p.ProductID + " is discontinued"
	case !p.AutoshipEligible:
		return "F2", "product " + p.ProductID + " is not autoship_eligible in the catalogue"
	case !p.InStock:
		return "F4", "product " + p.ProductID + " is out of stock (in_stock 0): no subscription offers are served for it"
	}
	return "", ""
}

// CatalogueService keeps each merchant's products.
type CatalogueService interface {
	// UpsertProducts adds or replaces products, returning what each did to subscriptions
	// (discontinued products cancel or swap them, F3).
	UpsertProducts(ctx context.Context, merchantID string, ps []Product) (CatalogueEffects, error)
	FindProducts(ctx context.Context, merchantID string) ([]Product, error)
}

// CatalogueEffects are what ingesting products did beyond storing them.
type CatalogueEffects struct {
	Upserted  int `json:"upserted"`
	Cancelled int `json:"subscriptions_cancelled"`
	Swapped   int `json:"subscriptions_swapped"`
}
