package scheduler

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/beevik/etree"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
)

// OrderXML builds the order XML of O3 for one order, in the order and with the CDATA of the
// seed's example: ids and amounts as text, names and free text in CDATA, empty fields as
// empty elements. Amounts are exact (og.Money); the expiry is AES-encrypted (E3) and no card
// number is ever sent (E4).
func OrderXML(c *og.OrderContext) ([]byte, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	order := doc.CreateElement("order")
	o, m := c.Order, c.Merchant

	var subtotal, discount og.Money
	for i := range o.Items {
		subtotal += o.Items[i].FinalPrice()
		discount += o.Items[i].Discount()
	}
	head := order.CreateElement("head")
	text(head, "orderOgId", strconv.FormatInt(o.OGID, 10))
	text(head, "orderPublicId", o.PublicID)
	cdata(head, "orderOgDate", o.PlaceDate.String())
	text(head, "orderSourcePartnerId", m.ID)
	cdata(head, "orderSourcePartnerName", m.Name)
	text(head, "orderItemsCount", strconv.Itoa(len(o.Items)))
	text(head, "orderSubtotalValue", subtotal.String())
	text(head, "orderSubtotalDiscount", og.Money(0).String())
	text(head, "orderSalesTax", og.Money(0).String())
	text(head, "orderDiscount", discount.String())
	text(head, "orderShipping", og.Money(0).String())
	text(head, "orderTotalValue", subtotal.String())
	text(head, "orderCurrency", "USD")
	pm := c.Payment
	if pm == nil {
		pm = &og.Payment{}
	}
	text(head, "orderPaymentPublicId", pm.PublicID)
	text(head, "orderPaymentDataLocation", "OG")
	method := "CC"
	if strings.EqualFold(pm.PaymentMethod, "paypal") {
		method = "PayPal"
	}
	text(head, "orderPaymentMethod", method)
	cdata(head, "orderCcType", og.CardTypeNames[pm.CCType])
	cdata(head, "orderCcOwner", encrypt(m.HashKey, pm.CCHolder))
	text(head, "orderCcNumber", "") // E4: Ordergroove never holds a card number
	cdata(head, "orderCcExpire", encrypt(m.HashKey, pm.CCExpDate))
	cdata(head, "orderTokenId", pm.TokenID)
	cdata(head, "orderPaymentLabel", pm.Label)

	cu := c.Customer
	customer := order.CreateElement("customer")
	text(customer, "customerOgId", strconv.FormatInt(cu.OGID, 10))
	cdata(customer, "customerPartnerId", cu.MerchantUserID)
	cdata(customer, "customerName", strings.TrimSpace(cu.FirstName+" "+cu.LastName))
	cdata(customer, "customerFirstName", cu.FirstName)
	cdata(customer, "customerLastName", cu.LastName)
	cdata(customer, "customerEmail", cu.Email)
	cdata(customer, "customerLocale", cu.Locale)
	ship := c.Shipping
	if ship == nil {
		ship = &og.Address{}
	}
	bill := c.Billing
	if bill == nil {
		bill = ship
	}
	for _, a := range []struct {
		prefix string
		addr   *og.Address
	}{{"customerShipping", ship}, {"customerBilling", bill}} {
		cdata(customer, a.prefix+"FirstName", a.addr.FirstName)
		cdata(customer, a.prefix+"LastName", a.addr.LastName)
		cdata(customer, a.prefix+"Address", strings.TrimSpace(a.addr.Address+" "+a.addr.Address2))
		cdata(customer, a.prefix+"Address1", a.addr.Address)
		cdata(customer, a.prefix+"Address2", a.addr.Address2)
		cdata(customer, a.prefix+"City", a.addr.City)
		cdata(customer, a.prefix+"State", a.addr.StateProvinceCode)
		cdata(customer, a.prefix+"Zip", a.addr.ZipPostalCode)
		cdata(customer, a.prefix+"Phone", a.addr.Phone)
		cdata(customer, a.prefix+"Fax", a.addr.Fax)
		cdata(customer, a.prefix+"Company", a.addr.CompanyName)
		cdata(customer, a.prefix+"Country", a.addr.CountryCode)
	}

	items := order.CreateElement("items")
	for i := range o.Items {
		it := &o.Items[i]
		item := items.CreateElement("item")
		text(item, "publicId", it.PublicID)
		text(item, "offerPublicId", it.OfferPublicID)
		text(item, "offerProfilePublicId", it.OfferProfilePublicID)
		if it.OneTime {
			text(item, "type", "one-time")
		}
		text(item, "qty", strconv.Itoa(it.Quantity))
		cdata(item, "sku", it.SKU)
		cdata(item, "name", it.Name)
		cdata(item, "product_id", it.ProductID)
		text(item, "discount", it.Discount().String())
		// Not in the seed's example; Ordergroove's current one has it (REFERENCE §6).
		text(item, "unitary_discount", it.UnitDiscount.String())
		text(item, "finalPrice", it.FinalPrice().String())
		text(item, "price", it.Price.String())
		if len(it.Components) > 0 {
			comps := item.CreateElement("components")
			for _, cp := range it.Components {
				comp := comps.CreateElement("component")
				text(comp, "product_id", cp.ProductID)
				text(comp, "sku", cp.SKU)
				text(comp, "qty", strconv.Itoa(cp.Quantity))
			}
		}
		if it.Subscription != "" && it.Frequency != nil {
			sub := item.CreateElement("subscription")
			text(sub, "publicId", it.Subscription)
			text(sub, "startDate", it.StartDate.String())
			text(sub, "originalOrderId", it.OriginalOrderID)
			text(sub, "every", strconv.Itoa(it.Frequency.Every))
			text(sub, "everyPeriod", strconv.Itoa(it.Frequency.EveryPeriod))
			text(sub, "frequencyDays", strconv.Itoa(it.Frequency.Days()))
			if len(it.ExtraData) > 0 {
				extraData(sub.CreateElement("extraData"), it.ExtraData)
			}
		}
	}
	doc.Indent(0)
	var b bytes.Buffer
	if _, err := doc.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func text(parent *etree.Element, tag, value string) {
	e := parent.CreateElement(tag)
	if value != "" {
		e.SetText(value)
	}
}

// cdata writes value in CDATA, as the seed wraps applicable fields ("Ordergroove will wrap
// applicable fields of the request in CDATA"); an empty value is an empty element. A value
// holding "]]>" cannot be in one CDATA section and is escaped instead.
func cdata(parent *etree.Element, tag, value string) {
	e := parent.CreateElement(tag)
	switch {
	case value == "":
	case strings.Contains(value, "]]>"):
		e.SetText(value)
	default:
		e.SetCData(value)
	}
}

// extraData writes the subscription's extra data as the purchase POST carried it: one element
// per key, values in CDATA, nested objects as nested elements.
func extraData(parent *etree.Element, data map[string]any) {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		tag := xmlName(k)
		switch v := data[k].(type) {
		case map[string]any:
			extraData(parent.CreateElement(tag), v)
		case nil:
			parent.CreateElement(tag)
		default:
			cdata(parent, tag, fmt.Sprint(v))
		}
	}
}

// xmlName makes a key usable as an element name.
func xmlName(k string) string {
	var b strings.Builder
	for i, r := range k {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '.')
		if ok {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

func encrypt(key, plain string) string {
	if plain == "" {
		return ""
	}
	ct, err := ogcrypto.Encrypt(key, plain)
	if err != nil {
		return ""
	}
	return ct
}

// MaxResponse bounds a merchant's answer to an order.
const MaxResponse = 1 << 20

// ParseResponse reads a merchant's answer (O4). A document that is not the O4 shape is an
// error saying what was wrong: the order is then rejected without retry (O6c).
func ParseResponse(body []byte) (*og.PlacementResponse, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return nil, fmt.Errorf("the body is empty; O4 wants <order><code>SUCCESS</code><orderId>…</orderId></order>")
	}
	if len(b) > MaxResponse {
		// The sender read MaxResponse+1 bytes at most: more than that is all it knows.
		return nil, fmt.Errorf("the body is over %d bytes (the sandbox reads no more); an O4 answer is a few hundred", MaxResponse)
	}
	doc := etree.NewDocument()
	doc.ReadSettings.MaxDepth = 8
	if err := doc.ReadFromBytes(b); err != nil {
		return nil, fmt.Errorf("the body is not XML (%v): %q", err, og.Clip(string(b)))
	}
	root := doc.Root()
	if root == nil {
		return nil, fmt.Errorf("the body holds no XML element: %q", og.Clip(string(b)))
	}
	if n := len(doc.ChildElements()); n > 1 {
		return nil, fmt.Errorf("the body holds %d top-level elements; O4 answers one <order>: %q", n, og.Clip(string(b)))
	}
	if root.Tag == "orders" {
		return nil, fmt.Errorf("the answer is a batch <orders> document; the API method answers one <order> (O4)")
	}
	if root.Tag != "order" {
		return nil, fmt.Errorf("the root element is <%s>; O4 answers <order>", root.Tag)
	}
	return readOrderAnswer(root)
}

// readOrderAnswer reads one <order> answer element (API or batch form).
func readOrderAnswer(e *etree.Element) (*og.PlacementResponse, error) {
	var twice string
	field := func(tag string) string {
		cs := e.SelectElements(tag)
		if len(cs) > 1 {
			twice = tag
		}
		if len(cs) > 0 {
			return strings.TrimSpace(cs[0].Text())
		}
		return ""
	}
	r := &og.PlacementResponse{
		Code: field("code"), OrderID: field("orderId"), ErrorCode: field("errorCode"),
		ErrorMsg: field("errorMsg"), ResponseCode: field("responseCode"), OGOrderID: field("ogOrderId"),
	}
	if twice != "" {
		return nil, fmt.Errorf("the <order> answer has more than one <%s>: which one holds cannot be told (O4)", twice)
	}
	if r.Code == "" {
		return nil, fmt.Errorf("the <order> answer has no <code> (SUCCESS or ERROR)")
	}
	return r, nil
}
