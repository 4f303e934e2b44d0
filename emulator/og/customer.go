package og

import (
	"context"
	"time"
)

// Customer is a merchant's customer, identified by the merchant's own user id (the raw data
// point of A1, sig_field of A4).
type Customer struct {
	MerchantUserID string         `json:"merchant_user_id"`
	OGID           int64          `json:"og_id"` // customerOgId of the order XML
	FirstName      string         `json:"first_name"`
	LastName       string         `json:"last_name"`
	Email          string         `json:"email"`
	PhoneNumber    string         `json:"phone_number"`
	Locale         string         `json:"locale,omitempty"`
	ExtraData      map[string]any `json:"extra_data,omitempty"`
	Live           bool           `json:"live"`
	Created        time.Time      `json:"created"`
	Updated        time.Time      `json:"updated"`
	Addresses      []Address      `json:"addresses,omitempty"`
	Payments       []Payment      `json:"payments,omitempty"`
}

// Address is a shipping or billing address (P2).
type Address struct {
	PublicID          string    `json:"public_id"`
	Customer          string    `json:"customer"`
	FirstName         string    `json:"first_name"`
	LastName          string    `json:"last_name"`
	CompanyName       string    `json:"company_name,omitempty"`
	Address           string    `json:"address"`
	Address2          string    `json:"address2,omitempty"`
	City              string    `json:"city"`
	StateProvinceCode string    `json:"state_province_code"`
	ZipPostalCode     string    `json:"zip_postal_code"`
	Phone             string    `json:"phone"`
	Fax               string    `json:"fax,omitempty"`
	CountryCode       string    `json:"country_code"`
	Live              bool      `json:"live"`
	Created           time.Time `json:"created"`
}

// SameAs reports whether two addresses are the same place for the same person, so that a
// repeat checkout reuses the address rather than creating a copy.
func (a *Address) SameAs(b *Address) bool {
	return a.FirstName == b.FirstName && a.LastName == b.LastName && a.CompanyName == b.CompanyName &&
		a.Address == b.Address && a.Address2 == b.Address2 && a.City == b.City &&
		a.StateProvinceCode == b.StateProvinceCode && a.ZipPostalCode == b.ZipPostalCode &&
		a.Phone == b.Phone && a.Fax == b.Fax && a.CountryCode == b.CountryCode
}

// Payment is a customer's payment method: a token and what may be shown of the card, never
// its number (E4).
type Payment struct {
	PublicID string `json:"public_id"`
	Customer string `json:"customer"`
	TokenID  string `json:"token_id"`
	CCType   int    `json:"cc_type"` // 1 Visa, 2 MasterCard, 3 Amex, 4 Discover (P3)
	// The holder and the expiry (MM/YYYY, E2) are kept AES-encrypted with the store's own key
	// (E4); the order context holds them in clear, for the order XML to encrypt (E3). A
	// payment stored by an older version holds them in clear.
	CCHolder       string    `json:"cc_holder"`
	CCExpDate      string    `json:"cc_exp_date"`
	CCNumberEnding string    `json:"cc_number_ending,omitempty"`
	PaymentMethod  string    `json:"payment_method"` // "credit card" or "PayPal"
	Label          string    `json:"label,omitempty"`
	BillingAddress string    `json:"billing_address,omitempty"`
	Live           bool      `json:"live"`
	Created        time.Time `json:"created"`
}

// CardTypeNames are the card types of P3 (and 5, 6 of the public credit-card-types reference).
var CardTypeNames = map[int]string{1: "Visa", 2: "MasterCard", 3: "American Express", 4: "Discover", 5: "Diners Club", 6: "JCB"}

// CustomerService reads customers with their addresses and payments.
type CustomerService interface {
	FindCustomers(ctx context.Context, merchantID string) ([]Customer, error)
}
