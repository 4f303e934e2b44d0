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

// CatalogueService keeps each merchant's products and categories.
type CatalogueService interface {
	// UpsertProducts adds or replaces products, durably.
	UpsertProducts(ctx context.Context, merchantID string, ps []Product) (CatalogueEffects, error)
	// UpsertProductsAsync is UpsertProducts that returns at once (ps may be reused); wait
	// returns once the products are durable.
	UpsertProductsAsync(ctx context.Context, merchantID string, ps []Product) (wait func() (CatalogueEffects, error))
	// ApplyDiscontinued applies F3 to the subscriptions of products now discontinued: each is
	// swapped to the product's replacement (emailed, or silently) or cancelled and emailed.
	// Feeds call it once the whole file is stored, so that a replacement may come after the
	// product it replaces.
	ApplyDiscontinued(ctx context.Context, merchantID string, productIDs []string) (CatalogueEffects, error)
	FindProducts(ctx context.Context, merchantID string) ([]Product, error)
	UpsertCategories(ctx context.Context, merchantID string, cs []Category) error
	FindCategories(ctx context.Context, merchantID string) ([]Category, error)
	// CategoryParent reports whether a category id is in the merchant's catalogue, and its
	// parent's id there.
	CategoryParent(ctx context.Context, merchantID, id string) (parent string, ok bool, err error)
}

// CatalogueEffects are what ingesting products did beyond storing them (F3).
type CatalogueEffects struct {
	Upserted        int `json:"upserted"`
	Cancelled       int `json:"subscriptions_cancelled"`
	Swapped         int `json:"subscriptions_swapped"`
	OrdersChanged   int `json:"orders_changed"`   // upcoming orders whose items were swapped or removed
	OrdersCancelled int `json:"orders_cancelled"` // upcoming orders left without items
	Emails          int `json:"emails"`
	// Findings are what the effects could not do as the feed asked (a replacement that is not
	// in the catalogue).
	Findings []Diagnostic `json:"-"`
}

// Add adds o to e.
func (e *CatalogueEffects) Add(o CatalogueEffects) {
	e.Upserted += o.Upserted
	e.Cancelled += o.Cancelled
	e.Swapped += o.Swapped
	e.OrdersChanged += o.OrdersChanged
	e.OrdersCancelled += o.OrdersCancelled
	e.Emails += o.Emails
	e.Findings = append(e.Findings, o.Findings...)
}

// Replacement returns the product a discontinued product names as its replacement (F3) and
// whether the swap is silent; "" when it names none.
func (p *Product) Replacement() (id string, silent bool) {
	for _, r := range p.Relationships {
		if len(r.Related) == 0 {
			continue
		}
		switch r.Name {
		case RelReplacement:
			return r.Related[0], false
		case RelSilentReplacement:
			return r.Related[0], true
		}
	}
	return "", false
}

// SwapOption is a product a subscription may be swapped to (F5), as the Subscription
// Manager's dropdown shows it.
type SwapOption struct {
	ProductID   string `json:"product_id"`
	VariantName string `json:"variant_name"`
	Group       string `json:"group"`
}

// SwapGroups returns the SKU swap groups of a product: its groups of type sku_swap, and
// untyped groups (F5: "products sharing a group are swappable"); incentive groups are not.
func (p *Product) SwapGroups() []string {
	var out []string
	for _, g := range p.Groups {
		if g.Type == "" || g.Type == "sku_swap" {
			out = append(out, g.Name)
		}
	}
	return out
}

// SwapSets returns, for each product, the other products it can be swapped to (F5): those
// sharing one of its swap groups, eligible and not discontinued, labelled by variant_name.
func SwapSets(ps []Product) map[string][]SwapOption {
	members := map[string][]*Product{}
	for i := range ps {
		for _, g := range ps[i].SwapGroups() {
			members[g] = append(members[g], &ps[i])
		}
	}
	out := map[string][]SwapOption{}
	for i := range ps {
		p := &ps[i]
		seen := map[string]bool{p.ProductID: true}
		for _, g := range p.SwapGroups() {
			for _, q := range members[g] {
				if seen[q.ProductID] || q.Discontinued || !q.AutoshipEligible {
					continue
				}
				seen[q.ProductID] = true
				out[p.ProductID] = append(out[p.ProductID], SwapOption{ProductID: q.ProductID, VariantName: q.VariantName(), Group: g})
			}
		}
	}
	return out
}

// Category is an entry of the Product Categories feed (F8).
type Category struct {
	ID        string    `json:"category_id"`
	Name      string    `json:"name"`
	ParentID  string    `json:"parent_id,omitempty"`
	Source    string    `json:"source,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}
