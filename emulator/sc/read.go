package sc

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
)

// Staging's own words for refusals (REFERENCE §3.4), used as the values of the errors object.
// The diagnostics beside them say which rule, which field and what was expected.
const (
	msgRequired        = "This field is required."
	msgBlank           = "This field may not be blank."
	msgInvalid         = "This value is not valid."
	msgMerchantString  = "Merchant ID must be a string"
	msgSessionString   = "Session ID must be a string"
	msgSessionNull     = "Session id cannot be null"
	msgOrderIDNull     = "Merchant order id cannot be null"
	msgPaymentMissing  = "Missing payment data to create record"
	msgEncryption      = "The credit card encryption is not valid"
	msgExpiry          = "Expiration date is not valid, received: "
	msgInvalidMerchant = "Invalid Merchant "
	msgASCII           = "Only ASCII characters are supported"
)

// need says how a field may be absent.
type need int

const (
	optional need = iota
	required      // missing or blank: refused
	blankOK       // missing: refused; blank: a warning
	wanted        // P2 lists it, real clients omit it (SFCC sends no phone_number): a warning
)

// reader turns the decoded body into an og.Purchase, collecting findings: diagnostics for
// the developer, and the errors object's entries (field → staging's message).
type reader struct {
	key     string // the merchant's hash key, for the encrypted fields (E1)
	diags   []og.Diagnostic
	errs    map[string]any
	secrets []string // values the journal must mask (a card number, E4)
	// cartless is og_cart_tracking: false: subscription_info and tracking_override then
	// describe the subscription, and P2's fields in them are wanted.
	cartless bool
}

func (r *reader) fail(rule, path, wire, why string) {
	r.diags = append(r.diags, og.Finding(rule, path, why))
	if _, ok := r.errs[path]; !ok {
		r.errs[path] = wire
	}
}

func (r *reader) warn(rule, path, why string) { r.diags = append(r.diags, og.Warning(rule, path, why)) }

func (r *reader) failed() bool { return len(r.errs) > 0 }

// whenCartless is wanted for cartless creation and optional otherwise (P4: with cart tracking
// the session decides, and subscription_info is ignored).
func (r *reader) whenCartless() need {
	if r.cartless {
		return wanted
	}
	return optional
}

// missing reports an absent (or null) field according to n.
func (r *reader) missing(p string, n need) {
	switch n {
	case required, blankOK:
		r.fail("P2", p, msgRequired, p+" is required (P2)")
	case wanted:
		r.warn("P2", p, p+" is missing; P2 lists it as required")
	}
}

// str reads a string field. A number is taken as its digits (user and product ids are numbers
// in some stores), with a warning.
func (r *reader) str(obj map[string]any, path, key string, n need) string {
	p := join(path, key)
	var s string
	switch x := obj[key].(type) {
	case nil:
		r.missing(p, n)
		return ""
	case string:
		s = x
	case json.Number:
		s = x.String()
		r.warn("P2", p, fmt.Sprintf("%s was sent as the number %s; P2 wants a string", p, og.Clip(s)))
	default:
		r.fail("P2", p, msgInvalid, fmt.Sprintf("%s must be a string, got %s", p, og.JSONKind(x)))
		return ""
	}
	if strings.TrimSpace(s) == "" {
		switch n {
		case required:
			r.fail("P2", p, msgBlank, p+" is blank; it is required (P2)")
		case blankOK, wanted:
			r.warn("P2", p, p+" is blank")
		}
		return s
	}
	if s == "null" || s == "undefined" {
		r.warn("P2", p, fmt.Sprintf("%s is the string %s: the client encoded a missing value", p, quote(s)))
	}
	r.ascii(p, s)
	if cardTextKeys[key] {
		r.noCard(p, s, " (13-19 digits passing the Luhn check), not a name or an address: Ordergroove never receives card numbers (E4, X2); check which value the integration maps here")
	}
	return s
}

// cardTextKeys are a customer's text fields, where a card number is never meant (phone numbers
// and ids may be long runs of digits, and are not checked).
var cardTextKeys = map[string]bool{"first_name": true, "last_name": true, "address": true, "address2": true, "city": true, "company_name": true, "label": true}

// paymentKeys are the fields of a purchase POST's payment (P2, E1-E4).
var paymentKeys = map[string]bool{"token_id": true, "label": true, "payment_method": true, "cc_holder": true, "cc_exp_date": true,
	"cc_type": true, "cc_number": true, "cc_last_4": true, "cc_number_ending": true}

// quote quotes a value a client sent for a diagnostic, clipped (og.Clip): a 40 KB value is not
// echoed.
func quote(s string) string { return strconv.Quote(og.Clip(s)) }

// ascii refuses non-ASCII text (C1).
func (r *reader) ascii(p, s string) {
	if i := og.NonASCII(s); i >= 0 {
		r.fail("C1", p, msgASCII, fmt.Sprintf("%s has a non-ASCII or control character at byte %d (%s): Ordergroove accepts ASCII only (C1)", p, i, quote(s)))
	}
}

// integer reads a whole number sent as a JSON number or a string of digits.
func (r *reader) integer(obj map[string]any, path, key string, n need) (int, bool) {
	p := join(path, key)
	var s string
	switch x := obj[key].(type) {
	case nil:
		r.missing(p, n)
		return 0, false
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
		if s == "" {
			if n == required || n == blankOK {
				r.fail("P2", p, msgBlank, p+" is blank; it is required (P2)")
			}
			return 0, false
		}
	default:
		r.fail("P2", p, msgInvalid, fmt.Sprintf("%s must be a whole number, got %s", p, og.JSONKind(x)))
		return 0, false
	}
	if whole, zeros, ok := strings.Cut(s, "."); ok && whole != "" && len(whole) <= 10 && strings.Trim(zeros, "0") == "" && len(zeros) <= 10 {
		// Django REST framework's IntegerField, which staging's messages are, reads "2.0" as 2;
		// PHP's json_encode of a float and Magento's qty_ordered ("2.0000") write it so.
		r.warn("P2", p, fmt.Sprintf("%s %s was read as the whole number %s; P2 wants a whole number", p, quote(s), whole))
		s = whole
	}
	v, err := strconv.Atoi(s)
	if err != nil || len(s) > 10 {
		r.fail("P2", p, msgInvalid, fmt.Sprintf("%s %s is not a whole number", p, quote(s)))
		return 0, false
	}
	return v, true
}

// money reads an amount sent as a JSON number or a decimal string. Clients send what their
// platform computes (Magento "54.9900", float tails): finer than a cent is rounded, with a
// warning, since staging's amounts are cents.
func (r *reader) money(obj map[string]any, path, key string, n need) (og.Money, bool) {
	p := join(path, key)
	var s string
	switch x := obj[key].(type) {
	case nil:
		r.missing(p, n)
		return 0, false
	case json.Number:
		s = x.String()
	case string:
		s = x
	default:
		r.fail("P2", p, msgInvalid, fmt.Sprintf("%s must be a decimal amount, got %s", p, og.JSONKind(x)))
		return 0, false
	}
	m, exact, err := og.ParseAmount(s)
	if err != nil {
		r.fail("P2", p, msgInvalid, fmt.Sprintf("%s: %v (e.g. \"19.99\")", p, err))
		return 0, false
	}
	if !exact {
		r.warn("P3", p, fmt.Sprintf("%s %s is finer than a cent: taken as %s", p, quote(s), m))
	}
	if m < 0 {
		r.fail("P2", p, msgInvalid, fmt.Sprintf("%s %s is negative", p, m))
		return 0, false
	}
	return m, true
}

// object reads a nested object.
func (r *reader) object(obj map[string]any, path, key string, n need) map[string]any {
	p := join(path, key)
	switch x := obj[key].(type) {
	case nil:
		r.missing(p, n)
	case map[string]any:
		return x
	case string:
		if x != "" {
			r.fail("P2", p, msgInvalid, fmt.Sprintf("%s must be an object, got a string", p))
		} else {
			r.missing(p, n) // an empty string for an object: what some clients send for none
		}
	case []any:
		hint := ""
		if len(x) == 0 {
			hint = " (PHP's json_encode writes an empty array for an empty object: send {}, with JSON_FORCE_OBJECT or new stdClass, or leave the field out)"
		}
		r.fail("P2", p, msgInvalid, fmt.Sprintf("%s must be an object, got %s%s", p, og.JSONKind(x), hint))
	default:
		r.fail("P2", p, msgInvalid, fmt.Sprintf("%s must be an object, got %s", p, og.JSONKind(x)))
	}
	return nil
}

const extraDataWhy = ": extra_data is kept and sent in the order XML as it is, and Ordergroove never receives card numbers (E4, X2)"

// extraData reads a free-form extra_data object: its names and strings are text like any
// other, ASCII only (C1), however deep.
func (r *reader) extraData(obj map[string]any, path string) map[string]any {
	x := r.object(obj, path, "extra_data", optional)
	var walk func(p string, v any)
	walk = func(p string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(v)) { // the diagnostics in one order
				if og.NonASCII(k) >= 0 {
					r.ascii(p+" (a name in it)", k)
				}
				walk(p+"."+k, v[k])
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", p, i), e)
			}
		case string:
			r.ascii(p, v)
			r.noCard(p, v, extraDataWhy)
		case json.Number:
			r.noCard(p, v.String(), extraDataWhy)
		}
	}
	if x != nil {
		walk(join(path, "extra_data"), x)
	}
	return x
}

// noCard refuses a text that is, or holds, a card number (E4): a value that is one is
// registered for the journal to mask whole; one inside other text, the journal masks as it
// masks every card number. why follows "<field> holds a card number".
func (r *reader) noCard(p, s, why string) {
	whole := og.LooksLikeCardNumber(s)
	if !whole && og.MaskCardNumbers(s) == s {
		return
	}
	if whole {
		r.secrets = append(r.secrets, s)
	}
	r.fail("E4", p, msgInvalid, fmt.Sprintf("%s holds a card number%s", p, why))
}

// ident bounds an identifier the sandbox keys records by (P2).
func (r *reader) ident(p, s string) {
	if len(s) > og.MaxIdentifier {
		r.fail("P2", p, msgInvalid, fmt.Sprintf("%s is %d bytes long; the sandbox takes identifiers of up to %d bytes (Ordergroove documents no limit; its product ids are up to 64 characters)", p, len(s), og.MaxIdentifier))
	}
}

// readPurchase reads a decoded purchase POST (P2-P4, C1, E1-E4). bodyMerchant is the body's
// merchant_id, checked against the authenticated merchant by the caller (M2).
func readPurchase(key string, body map[string]any) (p og.Purchase, bodyMerchant string, r *reader) {
	r = &reader{key: key, errs: map[string]any{}}
	switch x := body["merchant_id"].(type) {
	case string:
		bodyMerchant = x
	case nil:
		r.fail("P2", "merchant_id", msgRequired, "merchant_id is required (P2)")
	default:
		r.fail("P2", "merchant_id", msgMerchantString, fmt.Sprintf("merchant_id must be a string, got %s", og.JSONKind(x)))
	}

	p.CartTracking = true
	switch x := body["og_cart_tracking"].(type) {
	case nil:
	case bool:
		p.CartTracking = x
	case string:
		if b, err := strconv.ParseBool(x); err == nil {
			p.CartTracking = b
			r.warn("P2", "og_cart_tracking", fmt.Sprintf("og_cart_tracking is the string %q; send the JSON boolean %v", x, b))
		} else {
			r.fail("P2", "og_cart_tracking", msgInvalid, fmt.Sprintf("og_cart_tracking %s is not true or false", quote(x)))
		}
	default:
		r.fail("P2", "og_cart_tracking", msgInvalid, "og_cart_tracking must be true or false, got "+og.JSONKind(x))
	}
	r.cartless = !p.CartTracking
	switch x := body["session_id"].(type) {
	case nil:
		if p.CartTracking {
			r.fail("P2", "session_id", msgSessionNull, "session_id is required unless og_cart_tracking is false (cartless creation, P2)")
		}
	case string:
		p.SessionID = x
		r.ascii("session_id", x)
		r.ident("session_id", x)
		switch {
		case x == "" && p.CartTracking:
			r.warn("P7", "session_id", "session_id is empty (no og_session_id cookie?): without a cart session every product is a one-time purchase")
		case x != "" && !p.CartTracking:
			r.warn("P2", "session_id", "session_id and og_cart_tracking: false were both sent; cartless creation ignores the cart session (P2: one or the other)")
		}
	default:
		r.fail("P2", "session_id", msgSessionString, "session_id must be a string, got "+og.JSONKind(x))
	}
	switch x := body["merchant_order_id"].(type) {
	case bool, map[string]any, []any:
		r.fail("P2", "merchant_order_id", msgInvalid, "merchant_order_id must be a string, got "+og.JSONKind(x))
	case nil:
		r.fail("P2", "merchant_order_id", msgOrderIDNull, "merchant_order_id is required: the merchant's order number of this checkout (P2)")
	case string:
		if strings.TrimSpace(x) == "" {
			r.fail("P2", "merchant_order_id", msgOrderIDNull, "merchant_order_id is blank")
		}
		r.ascii("merchant_order_id", x)
		r.ident("merchant_order_id", x)
		p.MerchantOrderID = x
	case json.Number:
		p.MerchantOrderID = x.String()
		r.ident("merchant_order_id", p.MerchantOrderID)
		r.warn("P2", "merchant_order_id", "merchant_order_id was sent as a number; P2 wants a string")
	default:
		r.fail("P2", "merchant_order_id", msgInvalid, "merchant_order_id must be a string, got "+og.JSONKind(x))
	}

	if u := r.object(body, "", "user", required); u != nil {
		p.User = r.user(u)
	}
	if pm, present := body["payment"]; present && pm != nil {
		if obj := r.object(body, "", "payment", optional); obj != nil {
			p.Payment = r.payment(obj)
		}
	}
	switch list := body["products"].(type) {
	case []any:
		if len(list) == 0 {
			r.fail("P2", "products", msgRequired, "products is empty: a purchase POST lists every product of the checkout (P2, P7)")
		}
		for i, item := range list {
			path := "products[" + strconv.Itoa(i) + "]"
			obj, ok := item.(map[string]any)
			if !ok {
				r.fail("P2", path, msgInvalid, path+" must be an object, got "+og.JSONKind(item))
				continue
			}
			p.Products = append(p.Products, r.product(obj, path, i))
		}
	case nil:
		r.fail("P2", "products", msgRequired, "products is required (P2)")
	default:
		r.fail("P2", "products", msgInvalid, "products must be an array, got "+og.JSONKind(list))
	}
	if list, ok := body["tracking"].([]any); ok {
		for i, item := range list {
			path := "tracking[" + strconv.Itoa(i) + "]"
			obj, ok := item.(map[string]any)
			if !ok {
				r.fail("P2", path, msgInvalid, path+" must be an object, got "+og.JSONKind(item))
				continue
			}
			o := r.optin(obj, path, optional)
			if nested := r.object(obj, path, "tracking_override", optional); nested != nil {
				o = r.optin(nested, path+".tracking_override", optional)
			}
			if o.ProductID == "" {
				o.ProductID = r.str(obj, path, "product", required)
			}
			p.Tracking = append(p.Tracking, o)
			if !p.CartTracking {
				r.trackedProductListed(p.Products, path, o.ProductID)
			}
		}
	}
	return p, bodyMerchant, r
}

// trackedProductListed warns when tracking entry path names a product that is not in the
// checkout's products[]: it creates nothing, silently (P4). A SKU or variant id in place of the
// product id is the usual cause.
func (r *reader) trackedProductListed(products []og.PurchaseProduct, path, id string) {
	if id == "" || len(products) == 0 {
		return
	}
	for _, pp := range products {
		if pp.ProductID == id {
			return
		}
	}
	why := "an opt-in for a product left out of the cart is ignored; a SKU or variant id in place of the product id is the usual mistake"
	ids := make([]string, 0, len(products))
	for _, pp := range products {
		ids = append(ids, pp.ProductID)
		if pp.SKU == id {
			why = fmt.Sprintf("%s is the sku of products[%d]; a tracking entry names its product id, %s", quote(id), pp.Index, quote(pp.ProductID))
		}
	}
	r.warn("P4", path+".product", fmt.Sprintf("%s names product %s, which is not in this checkout's products[] (%s): it creates no subscription (%s)",
		path, quote(id), og.Clip(strings.Join(ids, ", ")), why))
}

func (r *reader) user(u map[string]any) og.PurchaseUser {
	var pu og.PurchaseUser
	pu.UserID = r.str(u, "user", "user_id", required)
	r.ident("user.user_id", pu.UserID)
	pu.FirstName = r.str(u, "user", "first_name", required)
	pu.LastName = r.str(u, "user", "last_name", required)
	pu.Email = r.str(u, "user", "email", required)
	if e := pu.Email; e != "" && (!strings.Contains(e, "@") || strings.HasPrefix(e, "@") || strings.HasSuffix(e, "@")) {
		r.fail("P2", "user.email", "Enter a valid email address.", fmt.Sprintf("user.email %s is not an email address", quote(e)))
	}
	pu.PhoneNumber = r.str(u, "user", "phone_number", wanted)
	pu.ExtraData = r.extraData(u, "user")
	if s := r.object(u, "user", "shipping_address", required); s != nil {
		pu.Shipping = r.address(s, "user.shipping_address")
	}
	if b := r.object(u, "user", "billing_address", optional); b != nil {
		a := r.address(b, "user.billing_address")
		pu.Billing = &a
	}
	return pu
}

func (r *reader) address(a map[string]any, path string) og.Address {
	ad := og.Address{
		FirstName:         r.str(a, path, "first_name", required),
		LastName:          r.str(a, path, "last_name", required),
		CompanyName:       r.str(a, path, "company_name", optional),
		Address:           r.str(a, path, "address", required),
		Address2:          r.str(a, path, "address2", optional),
		City:              r.str(a, path, "city", required),
		StateProvinceCode: r.str(a, path, "state_province_code", blankOK),
		ZipPostalCode:     r.str(a, path, "zip_postal_code", blankOK),
		Phone:             r.str(a, path, "phone", wanted),
		Fax:               r.str(a, path, "fax", optional),
		CountryCode:       r.str(a, path, "country_code", required),
	}
	if cc := ad.CountryCode; len(cc) > 2 {
		r.fail("P3", path+".country_code", "Ensure this field has no more than 2 characters.",
			fmt.Sprintf("country_code %s has %d characters; P3: at most two (an ISO 3166 code such as US)", quote(cc), len(cc)))
	} else if cc != "" && strings.ToUpper(cc) != cc {
		r.warn("P3", path+".country_code", fmt.Sprintf("country_code %q is not upper case (ISO 3166: %s)", cc, strings.ToUpper(cc)))
	}
	return ad
}

// aes decrypts an encrypted payment field (E1).
func (r *reader) aes(obj map[string]any, path, key string, n need) (string, bool) {
	p := join(path, key)
	s := r.str(obj, path, key, n)
	if s == "" {
		return "", false
	}
	r.secrets = append(r.secrets, s)
	plain, warns, err := ogcrypto.Decrypt(r.key, p, s)
	if err != nil {
		if err.Rule == "C1" {
			r.fail("C1", p, msgEncryption, err.Message)
			return "", false
		}
		msg := err.Message
		switch {
		case og.LooksLikeCardNumber(s):
			msg = fmt.Sprintf("%s is a card number in clear, not AES ciphertext: encrypt it with the merchant's hash key (E1), and never send a card number unencrypted (E4). (%s)", p, msg)
		case plainExpiry.MatchString(s):
			msg = fmt.Sprintf("%s %s is an expiry in clear, not AES ciphertext: encrypt it with the merchant's hash key (E1). (%s)", p, quote(s), msg)
		}
		r.fail("E1", p, msgEncryption, msg)
		return "", false // the warnings about a value that did not decrypt are noise
	}
	r.diags = append(r.diags, warns...)
	if len(plain) >= 6 || key == "cc_exp_date" {
		// The journal masks what it decrypts to, too, wherever it appears (staging echoes an
		// expiry it refuses); a short holder ("Ann") would mask parts of names and emails.
		r.secrets = append(r.secrets, plain)
	}
	return plain, true
}

// plainExpiry is an expiry date as people write it (MM/YYYY, M/YY, MM-YYYY).
var plainExpiry = regexp.MustCompile(`^\d{1,2}\s*[/-]\s*\d{2}(\d{2})?$`)

func (r *reader) payment(obj map[string]any) *og.PurchasePayment {
	if len(obj) == 0 {
		// SFCC sends payment: {} when its payment preferences are off: no payment. A checkout
		// that subscribes needs one, and is refused for it (P2).
		r.warn("P2", "payment", "payment is an empty object: taken as no payment (a subscription needs token_id, cc_holder, cc_exp_date and cc_type)")
		return nil
	}
	pm := &og.PurchasePayment{PaymentMethod: "credit card"}
	pm.TokenID = r.str(obj, "payment", "token_id", wanted)
	if og.LooksLikeCardNumber(pm.TokenID) {
		// Some gateways' tokens are Luhn-valid digits (network tokens), so this is not refused.
		r.secrets = append(r.secrets, pm.TokenID)
		r.warn("E4", "payment.token_id", "token_id is shaped like a card number (13-19 digits passing the Luhn check): Ordergroove never receives card numbers (E4); send the payment gateway's token. Kept as the token, masked in the journal")
	}
	pm.Label = r.str(obj, "payment", "label", optional)
	if m := r.str(obj, "payment", "payment_method", optional); m != "" {
		pm.PaymentMethod = m
	}
	if holder, ok := r.aes(obj, "payment", "cc_holder", wanted); ok {
		if og.LooksLikeCardNumber(strings.ReplaceAll(holder, " ", "")) {
			r.fail("E4", "payment.cc_holder", msgEncryption, "cc_holder decrypts to a card number, not the card holder's name: Ordergroove never receives card numbers (E4); send the name on the card")
		} else {
			pm.CCHolder = holder
		}
	}
	if v, isString := obj["cc_exp_date"].(string); (pm.TokenID != "" || obj["cc_holder"] != nil) && (obj["cc_exp_date"] == nil || isString && strings.TrimSpace(v) == "") {
		// A card payment without its expiry: staging decrypts nothing and answers its own
		// message, with nothing after "received: ".
		r.fail("E2", "payment.cc_exp_date", msgExpiry, "payment.cc_exp_date is missing or blank: a payment needs its expiry, AES-encrypted (E1) as MM/YYYY (E2; a PayPal payment's is 12/2099)")
	} else if exp, ok := r.aes(obj, "payment", "cc_exp_date", wanted); ok {
		e, warns, err := ogcrypto.ParseExpiry("payment.cc_exp_date", exp)
		r.diags = append(r.diags, warns...)
		if err != nil {
			r.fail("E2", "payment.cc_exp_date", msgExpiry+exp, err.Message)
		} else {
			pm.CCExpDate = e.String()
			if strings.EqualFold(pm.PaymentMethod, "paypal") && e != ogcrypto.PayPalExpiry {
				r.warn("E2", "payment.cc_exp_date", fmt.Sprintf("a PayPal payment's cc_exp_date is always 12/2099 (E2), got %s", e))
			}
		}
	}
	if s, isString := obj["cc_type"].(string); isString && strings.IndexFunc(s, unicode.IsLetter) >= 0 {
		r.fail("P3", "payment.cc_type", msgInvalid, fmt.Sprintf("cc_type %s is a name; P3 wants the card type's number: 1 (Visa), 2 (MasterCard), 3 (American Express) or 4 (Discover)", quote(s)))
	} else if t, ok := r.integer(obj, "payment", "cc_type", wanted); ok {
		switch {
		case t >= 1 && t <= 4:
		case t == 5 || t == 6:
			r.warn("P3", "payment.cc_type", fmt.Sprintf("cc_type %d (%s) is outside the seeds' 1-4, though the public card-type reference lists it", t, og.CardTypeNames[t]))
		default:
			r.fail("P3", "payment.cc_type", msgInvalid, fmt.Sprintf("cc_type %d: P3 wants 1 (Visa), 2 (MasterCard), 3 (American Express) or 4 (Discover)", t))
		}
		pm.CCType = t
	}
	if num, ok := r.aes(obj, "payment", "cc_number", optional); ok {
		r.secrets = append(r.secrets, num)
		pm.CCNumberEnding = r.lastFour("payment.cc_number", num)
	}
	for _, k := range []string{"cc_last_4", "cc_number_ending"} {
		v, ok := obj[k].(string)
		if !ok || v == "" || pm.CCNumberEnding != "" {
			continue
		}
		if len(v) <= 4 && og.IsDigits(v) {
			pm.CCNumberEnding = v // the REST API's plain last four digits
			continue
		}
		if plain, ok := r.aes(obj, "payment", k, optional); ok {
			r.secrets = append(r.secrets, plain)
			pm.CCNumberEnding = r.lastFour("payment."+k, plain)
		}
	}
	// A field of another name holding a card number in clear (card_number, pan): refused, as
	// cc_number in clear is.
	var clear []string
	text := func(v any) string {
		switch v := v.(type) {
		case string:
			return v
		case json.Number: // a card number sent as a JSON number
			return v.String()
		}
		return ""
	}
	for k, v := range obj {
		if !paymentKeys[k] && og.LooksLikeCardNumber(text(v)) {
			clear = append(clear, k)
		}
	}
	slices.Sort(clear) // the diagnostics in one order
	for _, k := range clear {
		r.secrets = append(r.secrets, text(obj[k]))
		r.fail("E4", "payment."+k, msgInvalid, fmt.Sprintf("payment.%s holds a card number in clear: Ordergroove never receives card numbers (E4, X2); send the gateway's token_id (and, if any, cc_number AES-encrypted, of which only the last four digits are kept)", k))
	}
	return pm
}

// lastFour keeps at most the last four digits of a card field (E4): Ordergroove never holds a
// card number.
func (r *reader) lastFour(field, v string) string {
	digits := strings.Map(func(c rune) rune {
		if c >= '0' && c <= '9' {
			return c
		}
		return -1
	}, v)
	if len(digits) > 4 {
		r.warn("E4", field, fmt.Sprintf("%s holds a full card number (%d digits): Ordergroove never stores card numbers (E4); only the last four digits were kept. Send a token_id instead", field, len(digits)))
		digits = digits[len(digits)-4:]
	}
	return digits
}

func (r *reader) product(obj map[string]any, path string, index int) og.PurchaseProduct {
	pp := og.PurchaseProduct{Index: index}
	pp.ProductID = r.str(obj, path, "product", required)
	pp.SKU = r.str(obj, path, "sku", required)
	if pi := r.object(obj, path, "purchase_info", required); pi != nil {
		ip := path + ".purchase_info"
		q, parsed := r.integer(pi, ip, "quantity", required)
		pp.Quantity = q
		if parsed && q <= 0 { // a quantity that is not a whole number has its own refusal
			r.fail("P2", ip+".quantity", msgInvalid, fmt.Sprintf("%s.quantity %d: a product is bought at least once", ip, pp.Quantity))
		}
		price, ok1 := r.money(pi, ip, "price", required)
		disc, ok2 := r.money(pi, ip, "discounted_price", required)
		total, ok3 := r.money(pi, ip, "total", required)
		pp.Price, pp.DiscountedPrice, pp.Total = price, disc, total
		if want, fits := disc.MulChecked(pp.Quantity); ok2 && ok3 && pp.Quantity > 0 && !fits {
			r.warn("P3", ip+".total", fmt.Sprintf("total %s: discounted_price × quantity = %s × %d is beyond any amount (P3)", total, disc, pp.Quantity))
		} else if ok2 && ok3 && pp.Quantity > 0 && want != total {
			r.warn("P3", ip+".total", fmt.Sprintf("total %s is not discounted_price × quantity = %s × %d = %s (P3); is discounted_price the price after discount, or the discount itself?", total, disc, pp.Quantity, want))
		}
		if ok1 && ok2 && disc > price {
			r.warn("P3", ip+".discounted_price", fmt.Sprintf("discounted_price %s is above price %s", disc, price))
		}
	}
	if si := r.object(obj, path, "subscription_info", optional); si != nil {
		sp := path + ".subscription_info"
		sub := &og.PurchaseSubscription{}
		if _, present := si["price"]; present {
			if m, ok := r.money(si, sp, "price", optional); ok {
				sub.Price = &m
			}
		}
		if q, parsed := r.integer(si, sp, "quantity", r.whenCartless()); parsed && q <= 0 {
			r.fail("P2", sp+".quantity", msgInvalid, fmt.Sprintf("%s.quantity %d: a subscription is for at least one of the product", sp, q))
		} else {
			sub.Quantity = q
		}
		sub.InitialOrderOffsetDays, _ = r.integer(si, sp, "initial_order_offset_days", optional)
		if d := sub.InitialOrderOffsetDays; d > og.MaxFrequencyDays || d < -og.MaxFrequencyDays {
			r.fail("P3", sp+".initial_order_offset_days", msgInvalid, fmt.Sprintf("initial_order_offset_days %d moves the first order by more than ten years", d))
			sub.InitialOrderOffsetDays = 0
		}
		if d := r.str(si, sp, "first_order_place_date", optional); d != "" {
			if date, err := og.ParseDate(d); err != nil {
				r.fail("P3", sp+".first_order_place_date", "Date has wrong format. Use YYYY-MM-DD.", fmt.Sprintf("first_order_place_date %s is not a date YYYY-MM-DD", quote(d)))
			} else {
				sub.FirstOrderPlaceDate = date
			}
		}
		sub.ExtraData = r.extraData(si, sp)
		sub.Components = r.components(si, sp)
		if to := r.object(si, sp, "tracking_override", optional); to != nil {
			o := r.optin(to, sp+".tracking_override", r.whenCartless())
			pp.Override = &o
		}
		pp.Subscription = sub
	}
	if to := r.object(obj, path, "tracking_override", optional); to != nil && pp.Override == nil {
		o := r.optin(to, path+".tracking_override", r.whenCartless())
		pp.Override = &o
	}
	if pp.Override != nil && pp.Override.ProductID == "" {
		pp.Override.ProductID = pp.ProductID
	}
	return pp
}

// optin reads a tracking_override or tracking entry: offer, every, every_period. Blank every
// and every_period (SFCC's legacy offer mode sends "") leave the product's default frequency.
func (r *reader) optin(obj map[string]any, path string, offer need) og.Optin {
	o := og.Optin{At: path}
	if v, ok := obj["product"]; ok && v != nil {
		o.ProductID = r.str(obj, path, "product", optional)
	}
	o.Offer = r.str(obj, path, "offer", offer)
	o.Every, _ = r.integer(obj, path, "every", optional)
	o.EveryPeriod, _ = r.integer(obj, path, "every_period", optional)
	// Blank values take the product's default frequency (F6); zeros are a one-time purchase's
	// frequency, 0/0, which a subscription option may not have (B2).
	o.ZeroSent = o.Every == 0 && o.EveryPeriod == 0 && zeroLiteral(obj["every"]) && zeroLiteral(obj["every_period"])
	for _, f := range []struct {
		key string
		n   int
	}{{"every", o.Every}, {"every_period", o.EveryPeriod}} {
		if f.n < 0 {
			r.fail("P3", path+"."+f.key, msgInvalid, fmt.Sprintf("%s.%s is %d: every and every_period are positive whole numbers", path, f.key, f.n))
		}
	}
	return o
}

func (r *reader) components(obj map[string]any, path string) []og.Component {
	list, ok := obj["components"].([]any)
	if !ok {
		return nil // SFCC sends components: "" when there are none
	}
	var out []og.Component
	for i, c := range list {
		cp := path + ".components[" + strconv.Itoa(i) + "]"
		m, ok := c.(map[string]any)
		if !ok {
			r.fail("P2", cp, msgInvalid, cp+" must be an object")
			continue
		}
		comp := og.Component{SKU: r.str(m, cp, "sku", optional)}
		if _, ok := m["product_id"]; ok {
			comp.ProductID = r.str(m, cp, "product_id", optional)
		} else {
			comp.ProductID = r.str(m, cp, "product", required)
		}
		if q, ok := r.integer(m, cp, "quantity", optional); ok {
			comp.Quantity = q
		} else if q, ok := r.integer(m, cp, "qty", optional); ok {
			comp.Quantity = q
		}
		out = append(out, comp)
	}
	return out
}

// zeroLiteral reports whether v is a zero sent as a number or a string of digits.
func zeroLiteral(v any) bool {
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		return err == nil && n == 0
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		return err == nil && n == 0
	}
	return false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
