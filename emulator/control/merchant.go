package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ogsandbox/ogsandbox/emulator/faults"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
	"github.com/ogsandbox/ogsandbox/emulator/web"
)

// FeedLog keeps feed reports.
type FeedLog interface {
	RecordFeed(ctx context.Context, merchantID string, r og.FeedReport) error
	Feeds(ctx context.Context, merchantID string) ([]og.FeedReport, error)
}

// Ingest reads product feeds into the catalogue, with their effects (F3), and keeps the report.
type Ingest interface {
	Products(ctx context.Context, m *og.Merchant, name string, r io.Reader, format, via string) (og.FeedReport, error)
}

// AttemptLog lists a merchant's purchase POST attempts, for the P8 checks.
type AttemptLog interface {
	Attempts(ctx context.Context, merchantID string) ([]og.PurchaseAttempt, error)
}

// MaxProductsBody bounds a PUT of products: a 100,000-product feed is about 60 MB.
const MaxProductsBody = 256 << 20

func (srv *Server) registerMerchant(r web.Router) {
	base := Prefix + "/merchants/:merchant_id"
	r.GET(base+"/subscriptions", srv.subscriptions)
	r.GET(base+"/customers", srv.customers)
	r.GET(base+"/products", srv.products)
	r.PUT(base+"/products", srv.putProducts)
	r.GET(base+"/feeds", srv.feeds)
	r.GET(base+"/categories", srv.categories)
	r.PUT(base+"/sessions/:session_id", srv.putSession)
	r.GET(base+"/checks", srv.checks)
	r.GET(base+"/orders", srv.orders)
	r.GET(base+"/emails", srv.emails)
	r.GET(Prefix+"/faults", srv.getFaults)
	r.PUT(Prefix+"/faults", srv.putFaults)
	r.DELETE(Prefix+"/faults", srv.deleteFaults)
}

// merchant resolves the :merchant of the path, or writes the 404.
func (srv *Server) merchant(c echo.Context) (*og.Merchant, error) {
	id := c.Param("merchant_id")
	m, ok := srv.Merchants.ByID(id)
	if !ok {
		var ids []string
		for _, x := range srv.Merchants.All() {
			ids = append(ids, x.ID)
		}
		return nil, Fail(c, http.StatusNotFound, "merchant_id", fmt.Sprintf("no merchant %q is configured", id), "one of "+strings.Join(ids, ", "))
	}
	web.SetMerchant(c, m.ID)
	return m, nil
}

// filters are the query parameters that pick records by value: an empty one is refused (a
// script whose variable was unset would list everything). Others (the journal's cursor) may
// be empty.
var filters = []string{"customer", "status", "subscription"}

// knownParams refuses a query parameter the endpoint does not take: a misspelt filter would
// otherwise list everything, as if it matched. A parameter given twice is refused too (only
// one value would be used), and an empty filter. It reports false once it has answered.
func knownParams(c echo.Context, names ...string) (bool, error) {
	var unknown []string
	for k := range c.QueryParams() {
		if !slices.Contains(names, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		for _, k := range names {
			switch vs := c.QueryParams()[k]; {
			case len(vs) > 1:
				return false, Fail(c, http.StatusBadRequest, k, fmt.Sprintf("%s is given %d times; a filter takes one value", k, len(vs)), "one "+k)
			case len(vs) == 1 && vs[0] == "" && slices.Contains(filters, k):
				return false, Fail(c, http.StatusBadRequest, k, fmt.Sprintf("%s is empty: it would match nothing, or look as if it listed everything", k), "a "+k+" to filter by, or no "+k+" parameter to list every one")
			}
		}
		return true, nil
	}
	slices.Sort(unknown)
	expected := "no query parameters"
	if len(names) > 0 {
		expected = "only " + strings.Join(names, ", ")
	}
	return false, Fail(c, http.StatusBadRequest, unknown[0], fmt.Sprintf("unknown query parameter %q", unknown[0]), expected)
}

// subscriptions lists the merchant's subscriptions: ?customer= and ?status= filter.
func (srv *Server) subscriptions(c echo.Context) error {
	m, err := srv.merchant(c)
	if m == nil {
		return err
	}
	if ok, err := knownParams(c, "customer", "status"); !ok {
		return err
	}
	status := c.QueryParam("status")
	if status != "" && status != og.SubscriptionActive && status != og.SubscriptionCancelled {
		return Fail(c, http.StatusBadRequest, "status", fmt.Sprintf("unknown subscription status %q", status), "active or cancelled")
	}
	subs, err := srv.Subscriptions.FindSubscriptions(c.Request().Context(), m.ID, og.SubscriptionFilter{Customer: c.QueryParam("customer")})
	if err != nil {
		return err
	}
	if status != "" {
		subs = slices.DeleteFunc(subs, func(s og.Subscription) bool { return s.Status != status })
	}
	products, err := srv.catalogue(c, m)
	if err != nil {
		return err
	}
	for i := range subs {
		// What the customer pays today (P4): the locked price, or the catalogue's, which an
		// unlocked subscription follows; a cancelled one keeps the price it had.
		if subs[i].Live() {
			subs[i].Price = og.UnitPrice(&subs[i], products[subs[i].ProductID])
		}
	}
	return c.JSON(http.StatusOK, subs)
}

// catalogue returns the merchant's products by id.
func (srv *Server) catalogue(c echo.Context, m *og.Merchant) (map[string]*og.Product, error) {
	ps, err := srv.Catalogue.FindProducts(c.Request().Context(), m.ID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*og.Product, len(ps))
	for i := range ps {
		out[ps[i].ProductID] = &ps[i]
	}
	return out, nil
}

// customers lists the merchant's customers: ?customer= (a merchant user id) filters.
func (srv *Server) customers(c echo.Context) error {
	m, err := srv.merchant(c)
	if m == nil {
		return err
	}
	if ok, err := knownParams(c, "customer"); !ok {
		return err
	}
	cs, err := srv.Customers.FindCustomers(c.Request().Context(), m.ID)
	if err != nil {
		return err
	}
	if id := c.QueryParam("customer"); id != "" {
		cs = slices.DeleteFunc(cs, func(x og.Customer) bool { return x.MerchantUserID != id })
	}
	for i := range cs {
		for j := range cs[i].Payments {
			pm := &cs[i].Payments[j]
			// A token shaped like a card number is kept (gateways' network tokens look like
			// one, and orders carry it) but shown as the journal shows it: its last four (E4).
			if og.LooksLikeCardNumber(pm.TokenID) {
				pm.TokenID = og.Mask(strings.ReplaceAll(pm.TokenID, " ", ""))
			}
			// The holder and expiry are shown as the merchant sent them: encrypted with its
			// hash key (E1), which the developer can decrypt to check what was kept.
			for _, f := range []*string{&pm.CCHolder, &pm.CCExpDate} {
				if *f != "" {
					*f = ogcrypto.MustEncrypt(m.HashKey, *f)
				}
			}
		}
	}
	return c.JSON(http.StatusOK, cs)
}

// ProductView is a catalogue entry with the products it can be swapped to (F5).
type ProductView struct {
	og.Product
	SwapWith []og.SwapOption `json:"swap_with,omitempty"`
}

func (srv *Server) products(c echo.Context) error {
	m, err := srv.merchant(c)
	if m == nil {
		return err
	}
	if ok, err := knownParams(c); !ok {
		return err
	}
	ps, err := srv.Catalogue.FindProducts(c.Request().Context(), m.ID)
	if err != nil {
		return err
	}
	sets := og.SwapSets(ps)
	out := make([]ProductView, len(ps))
	for i := range ps {
		out[i] = ProductView{Product: ps[i], SwapWith: sets[ps[i].ProductID]}
	}
	return c.JSON(http.StatusOK, out)
}

// categories lists the catalogue's categories (F8).
func (srv *Server) categories(c echo.Context) error {
	m, err := srv.merchant(c)
	if m == nil {
		return err
	}
	if ok, err := knownParams(c); !ok {
		return err
	}
	cs, err := srv.Catalogue.FindCategories(c.Request().Context(), m.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cs)
}

func (srv *Server) feeds(c echo.Context) error {
	m, err := srv.merchant(c)
	if m == nil {
		return err
	}
	if ok, err := knownParams(c); !ok {
		return err
	}
	rs, err := srv.Feeds.Feeds(c.Request().Context(), m.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rs)
}

// putProducts upserts catalogue entries without SFTP: a product feed XML body or a JSON array
// of products with the feed's field names, validated exactly as a feed (F2-F7). The answer is
// the feed report: 200 when every product was ingested, 207 when some were refused, 400 when
// none was.
func (srv *Server) putProducts(c echo.Context) error {
	m, err := srv.merchant(c)
	if m == nil {
		return err
	}
	ctx := c.Request().Context()
	body := &readErrors{r: io.LimitReader(c.Request().Body, MaxProductsBody)}
	br := bufio.NewReader(body)
	name := "PUT /_sandbox/merchants/" + m.ID + "/products"
	var rep og.FeedReport
	switch firstByte(br) {
	case '<', 0xFF, 0xFE: // a UTF-16 feed (its byte-order mark) is an XML feed the reader refuses for it (C1), as over SFTP
		rep, err = srv.Ingest.Products(ctx, m, name, br, "xml", og.FeedViaControlAPI)
	case '[':
		rep, err = srv.Ingest.Products(ctx, m, name, br, "json", og.FeedViaControlAPI)
	case '{':
		rep, err = srv.Ingest.Products(ctx, m, name, io.MultiReader(strings.NewReader("["), br, strings.NewReader("]")), "json", og.FeedViaControlAPI)
	default:
		return Fail(c, http.StatusBadRequest, "body", "the body is neither a product feed (XML) nor JSON products", `a <products> feed, or a JSON array such as [{"product_id": "P1", "sku": "P1", "name": "Dog food", "price": "19.99", "in_stock": 1}]`)
	}
	if err != nil {
		return err
	}
	status := http.StatusOK
	if body.err != nil {
		// The body was cut short: what arrived was ingested, and the report says so.
		rep.Complete = false
		status = http.StatusBadRequest
		msg := fmt.Sprintf("reading the body failed after %d bytes (%v): the products before the failure were ingested; send the rest again", body.n, body.err)
		if web.Stalled(body.err) {
			status = http.StatusRequestTimeout
			msg = fmt.Sprintf("the body stopped arriving after %d bytes: the products before it were ingested; send the rest again", body.n)
		}
		rep.Findings = append(rep.Findings, og.Finding("F1", "body", msg))
		web.AddDiagnostics(c, rep.Findings...)
		return c.JSON(status, rep)
	}
	web.AddDiagnostics(c, rep.Findings...)
	switch {
	case rep.Accepted == 0 && (rep.Refused > 0 || rep.Errors() > 0):
		status = http.StatusBadRequest
	case rep.Refused > 0 || !rep.Complete:
		status = http.StatusMultiStatus
	}
	return c.JSON(status, rep)
}

// readErrors remembers the first failure of a body read other than its end, and counts bytes.
type readErrors struct {
	r   io.Reader
	n   int64
	err error
}

func (e *readErrors) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n += int64(n)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

func firstByte(br *bufio.Reader) byte {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0
		}
		if b != ' ' && b != '\t' && b != '\r' && b != '\n' && b != 0xef && b != 0xbb && b != 0xbf {
			br.UnreadByte()
			return b
		}
	}
}

// putSession records a cart session's subscription opt-ins, as the offers script would (P7).
func (srv *Server) putSession(c echo.Context) error {
	m, err := srv.merchant(c)
	if m == nil {
		return err
	}
	body, err := web.ReadBody(c, MaxBody)
	if err != nil {
		return err
	}
	const want = `{"optins": [{"product": "<product_id>", "every": 2, "every_period": 2, "offer": "<offer id>", "first_order_place_date": "YYYY-MM-DD"}]} (every/every_period may be left out for the product's default frequency; first_order_place_date is optional)`
	var in sessionIn
	trimmed := strings.TrimSpace(string(body))
	var derr error
	switch {
	case trimmed == "null" || trimmed == "":
		return Fail(c, http.StatusBadRequest, "optins", fmt.Sprintf("the body is %q, not a session's opt-ins", trimmed), want)
	case strings.HasPrefix(trimmed, "["):
		derr = strictJSON(trimmed, &in.Optins)
	default:
		derr = strictJSON(trimmed, &in)
	}
	if derr != nil {
		field, msg := jsonProblem(derr, "optins")
		return Fail(c, http.StatusBadRequest, field, "the body is not a session's opt-ins: "+msg, want)
	}
	s := og.Session{SessionID: c.Param("session_id")}
	if in.SessionID != "" && in.SessionID != s.SessionID {
		return Fail(c, http.StatusBadRequest, "session_id", fmt.Sprintf("the body's session_id %q is not the path's %q", og.Clip(in.SessionID), og.Clip(s.SessionID)), "the session_id of the path, or none")
	}
	if len(s.SessionID) > og.MaxIdentifier {
		return Fail(c, http.StatusBadRequest, "session_id", fmt.Sprintf("the session id is %d bytes long", len(s.SessionID)), fmt.Sprintf("a session id of up to %d bytes, as the purchase POST takes (P2)", og.MaxIdentifier))
	}
	catalogue, err := srv.catalogue(c, m)
	if err != nil {
		return err
	}
	var diags []og.Diagnostic
	for i, oi := range in.Optins {
		field := fmt.Sprintf("optins[%d]", i)
		o := og.Optin{ProductID: oi.ProductID, Offer: oi.Offer, Frequency: og.Frequency{Every: oi.Every.int(), EveryPeriod: oi.EveryPeriod.int()}}
		if strings.TrimSpace(o.ProductID) == "" {
			return Fail(c, http.StatusBadRequest, field+".product", "an opt-in names no product", want)
		}
		if oi.Every != nil && oi.EveryPeriod != nil && o.Frequency.IsZero() {
			return Fail(c, http.StatusBadRequest, field+".every", "every 0 / every_period 0 is a one-time purchase (B2), not a subscription opt-in", "a frequency, or every and every_period left out for the product's default")
		}
		if !o.Frequency.IsZero() {
			if err := o.Frequency.Check(); err != nil {
				at := ".every"
				if o.EveryPeriod < og.PeriodDay || o.EveryPeriod > og.PeriodYear {
					at = ".every_period"
				}
				return Fail(c, http.StatusBadRequest, field+at, err.Error(), want)
			}
		}
		if oi.FirstOrderPlaceDate != "" {
			d, err := og.ParseDate(oi.FirstOrderPlaceDate)
			if err != nil {
				return Fail(c, http.StatusBadRequest, field+".first_order_place_date", fmt.Sprintf("first_order_place_date %q is not a date", og.Clip(oi.FirstOrderPlaceDate)), "YYYY-MM-DD (the offers script's first-order-place-date)")
			}
			o.FirstOrderPlaceDate = d
		}
		// Opt-ins that cannot become subscriptions are recorded as sent, and named now: the
		// checkout would refuse them (F1, F2, F4, F6).
		// The product's own problem first: the checkout refuses it before any frequency.
		p := catalogue[o.ProductID]
		rule, why := "", ""
		if p != nil {
			rule, why = p.SubscribableProblem()
		}
		switch {
		case p == nil:
			diags = append(diags, og.Warning("F1", field+".product", fmt.Sprintf("product %q is not in the catalogue: a checkout with this opt-in will refuse it", og.Clip(o.ProductID))))
		case rule != "":
			diags = append(diags, og.Warning(rule, field+".product", why+": a checkout with this opt-in will refuse it"))
		case o.Frequency.IsZero() && p.Frequency == nil:
			diags = append(diags, og.Warning("F6", field+".every", fmt.Sprintf("no frequency, and product %s has no default frequency: a checkout with this opt-in will refuse it; give every and every_period", p.ProductID)))
		}
		s.Optins = append(s.Optins, o)
	}
	if s.Optins == nil {
		s.Optins = []og.Optin{}
	}
	s, err = srv.Checkout.PutSession(c.Request().Context(), m.ID, s)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sessionOut{Session: s, Diagnostics: diags})
}

// sessionOut is a recorded session, with what its opt-ins will meet at checkout.
type sessionOut struct {
	og.Session
	Diagnostics []og.Diagnostic `json:"diagnostics,omitempty"`
}

// sessionIn is the body of a sessions PUT. Frequencies may be numbers or, as the purchase
// POST and the offers script send them, numeric strings.
type sessionIn struct {
	SessionID string          `json:"session_id"`
	Optins    []optinIn       `json:"optins"`
	UpdatedAt json.RawMessage `json:"updated_at"` // a session read back and sent again
}

type optinIn struct {
	ProductID           string   `json:"product"`
	Offer               string   `json:"offer"`
	Every               *flexInt `json:"every"` // nil: left out (the product's default)
	EveryPeriod         *flexInt `json:"every_period"`
	FirstOrderPlaceDate string   `json:"first_order_place_date"`
}

func (n *flexInt) int() int {
	if n == nil {
		return 0
	}
	return int(*n)
}

// flexInt is a whole number written as a JSON number or a string of digits.
type flexInt int

func (n *flexInt) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%s is not a whole number", b)
	}
	*n = flexInt(v)
	return nil
}

// orders lists the merchant's orders with their attempts ledger (O2-O6): ?status=, ?customer=,
// ?subscription= filter.
func (srv *Server) orders(c echo.Context) error {
	m, err := srv.merchant(c)
	if m == nil {
		return err
	}
	if ok, err := knownParams(c, "status", "customer", "subscription"); !ok {
		return err
	}
	f := og.OrderFilter{Status: c.QueryParam("status"), Customer: c.QueryParam("customer"), Subscription: c.QueryParam("subscription")}
	paused := f.Status == "paused" // scheduled orders a run left unsent under F4 (clock advance counts them pending)
	switch f.Status {
	case "", og.OrderScheduled, og.OrderPending, og.OrderPlaced, og.OrderRejected, og.OrderCancelled:
	case "paused":
		f.Status = og.OrderScheduled
	default:
		return Fail(c, http.StatusBadRequest, "status", fmt.Sprintf("unknown order status %q", f.Status), "scheduled, pending, placed, rejected or cancelled (or paused: scheduled orders held back under F4)")
	}
	os, err := srv.Orders.FindOrders(c.Request().Context(), m.ID, f)
	if err != nil {
		return err
	}
	if paused {
		os = slices.DeleteFunc(os, func(o og.Order) bool { return o.Paused == "" })
	}
	if err := srv.priceUnsent(c, m, os); err != nil {
		return err
	}
	for i := range os {
		o := &os[i]
		o.XML = og.MaskCardTokens(o.XML)
		for j := range o.Attempts {
			o.Attempts[j].Request = og.MaskCardTokens(o.Attempts[j].Request)
		}
	}
	return c.JSON(http.StatusOK, os)
}

// priceUnsent prices the items of orders not sent yet as a placement run would now (og.PriceOrder:
// the locked price or the catalogue's, never above the reminder's, O7), so that the listing
// says what the customer will pay; a sent order keeps what went out.
func (srv *Server) priceUnsent(c echo.Context, m *og.Merchant, os []og.Order) error {
	if !slices.ContainsFunc(os, func(o og.Order) bool { return o.Status == og.OrderScheduled }) {
		return nil
	}
	products, err := srv.catalogue(c, m)
	if err != nil {
		return err
	}
	all, err := srv.Subscriptions.FindSubscriptions(c.Request().Context(), m.ID, og.SubscriptionFilter{})
	if err != nil {
		return err
	}
	subs := make(map[string]*og.Subscription, len(all))
	for i := range all {
		subs[all[i].PublicID] = &all[i]
	}
	for i := range os {
		if os[i].Status == og.OrderScheduled {
			og.PriceOrder(&og.OrderContext{Merchant: m, Order: &os[i], Subscriptions: subs, Products: products})
		}
	}
	return nil
}

// emails lists the customer emails Ordergroove would have sent.
func (srv *Server) emails(c echo.Context) error {
	m, err := srv.merchant(c)
	if m == nil {
		return err
	}
	if ok, err := knownParams(c); !ok {
		return err
	}
	es, err := srv.Orders.FindEmails(c.Request().Context(), m.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, es)
}

// ChecksReport is the body of GET /_sandbox/merchants/{id}/checks.
type ChecksReport struct {
	MerchantID string     `json:"merchant_id"`
	Now        string     `json:"now"`
	Attempts   int        `json:"purchase_posts"`
	Checks     []og.Check `json:"checks"`
}

// checks reports how the merchant's own code behaved (P8): resends after a 5xx, 409s, timeouts.
func (srv *Server) checks(c echo.Context) error {
	m, err := srv.merchant(c)
	if m == nil {
		return err
	}
	if ok, err := knownParams(c); !ok {
		return err
	}
	as, err := srv.Attempts.Attempts(c.Request().Context(), m.ID)
	if err != nil {
		return err
	}
	now := srv.Clock.Now()
	checks := og.CheckP8(as, now)
	// F1: the product feed arrives before placement.
	ctx := c.Request().Context()
	lastRun, err := srv.Orders.LastAttemptAt(ctx, m.ID)
	if err != nil {
		return err
	}
	feeds, err := srv.Feeds.Feeds(ctx, m.ID)
	if err != nil {
		return err
	}
	checks = append(checks, og.CheckFeedCadence(feeds, lastRun))
	return c.JSON(http.StatusOK, ChecksReport{MerchantID: m.ID, Now: now.Format(time.RFC3339Nano), Attempts: len(as), Checks: checks})
}

// FaultsBody is the body of the faults endpoints.
type FaultsBody struct {
	Faults []faults.Rule `json:"faults"`
}

func (srv *Server) getFaults(c echo.Context) error {
	return c.JSON(http.StatusOK, FaultsBody{Faults: srv.Faults.Rules()})
}

// putFaults replaces the injected faults: one rule object, an array of them, or
// {"faults": [...]}.
func (srv *Server) putFaults(c echo.Context) error {
	body, err := web.ReadBody(c, MaxBody)
	if err != nil {
		return err
	}
	const want = `{"surface": "sc", "status": 503, "count": 3} (or latency "6s", drop true, ratio 0.5, path "/subscription/create"); an array of them; [] to clear`
	var rules []faults.Rule
	trimmed := strings.TrimSpace(string(body))
	switch {
	case strings.HasPrefix(trimmed, "["):
		err = strictJSON(trimmed, &rules)
	case strings.Contains(trimmed, `"faults"`):
		var fb FaultsBody
		err = strictJSON(trimmed, &fb)
		rules = fb.Faults
	default:
		var r faults.Rule
		err = strictJSON(trimmed, &r)
		rules = []faults.Rule{r}
	}
	if err != nil {
		field, msg := jsonProblem(err, "")
		return Fail(c, http.StatusBadRequest, field, "the body is not a fault rule: "+msg, want)
	}
	for i := range rules {
		if m := rules[i].Merchant; m != "" {
			if _, ok := srv.Merchants.ByID(m); !ok {
				return Fail(c, http.StatusBadRequest, "merchant_id", fmt.Sprintf("no merchant %q is configured", m), want)
			}
		}
		if field, msg := faults.Check(&rules[i]); field != "" {
			if len(rules) > 1 {
				field = fmt.Sprintf("faults[%d].%s", i, field)
			}
			return Fail(c, http.StatusBadRequest, field, msg, want)
		}
	}
	srv.Faults.Set(rules)
	return c.JSON(http.StatusOK, FaultsBody{Faults: srv.Faults.Rules()})
}

func (srv *Server) deleteFaults(c echo.Context) error {
	srv.Faults.Set(nil)
	return c.JSON(http.StatusOK, FaultsBody{Faults: srv.Faults.Rules()})
}

// jsonProblem says what is wrong with a body encoding/json refused, for a person: the field at
// fault, and what it should be, without Go's type names.
func jsonProblem(err error, defaultField string) (field, msg string) {
	defer func() {
		if field == "" {
			field = "body" // the whole body is at fault: not JSON, not an object, text after it
		}
	}()
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field = te.Field
		subject := field
		switch {
		case field != "":
		case defaultField != "":
			field, subject = defaultField, "a value in "+defaultField
		default:
			subject = "the body"
		}
		want := map[reflect.Kind]string{reflect.String: "a string", reflect.Bool: "true or false", reflect.Slice: "a list",
			reflect.Map: "an object", reflect.Struct: "an object", reflect.Float64: "a number", reflect.Float32: "a number"}[te.Type.Kind()]
		if want == "" {
			want = "a whole number"
		}
		return field, fmt.Sprintf("%s is a JSON %s; it should be %s", subject, te.Value, want)
	case errors.As(err, &se):
		return defaultField, fmt.Sprintf("the body is not JSON: %v (at byte %d)", se, se.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return name, fmt.Sprintf("unknown field %q", name)
	}
	return defaultField, strings.TrimPrefix(err.Error(), "json: ")
}

func strictJSON(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF { // More misses a stray '}' or ']'
		return fmt.Errorf("text after the JSON value")
	}
	return nil
}
