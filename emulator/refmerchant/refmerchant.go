// Package refmerchant is a reference merchant: an order endpoint that answers order XML the way
// a real store's does (O2, O4), so that the sandbox shows orders flowing with no merchant code
// at all, and so that a merchant can compare its own endpoint's answers with these.
//
// It checks what a careful merchant checks (SFCC's cartridge and the Magento module do): the
// Content-Type is exactly application/xml, and the authorization header's signature is the
// merchant's, over the order's customer, under two hours old (A1-A4). Then it answers by a
// rule on the order's payment token (orderTokenId) or SKUs:
//
//	decline-NNN, error-NNN  <code>ERROR</code><errorCode>NNN</errorCode> (O5), e.g. decline-140
//	temp-999-N              999 for the order's first N attempts, then SUCCESS (O6d); attempts
//	                        are counted per order (orderPublicId), and forgotten by a reset
//	garbage                 a body that is not XML (O6c)
//	down                    HTTP 503 with no body (O6a)
//	slow-DURATION           SUCCESS after DURATION (slow-45s trips a 30s timeout, O6a)
//	a SKU starting OOS-     999 "out of stock" (O6d)
//	anything else           SUCCESS with orderId REF-<orderOgId>
package refmerchant

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
)

// Path is where the sandbox serves its built-in reference merchant.
const Path = "/_reference-merchant/orders"

// maxCounted bounds the temp-999 orders whose attempts are counted at once.
const maxCounted = 100_000

// MaxBody bounds an order XML the reference merchant reads.
const MaxBody = 4 << 20

// Received is one order the reference merchant was sent, and what it answered.
type Received struct {
	OGID     string `json:"order_og_id"`
	Customer string `json:"customer"`
	Token    string `json:"token"`
	Status   int    `json:"status"`
	Answer   string `json:"answer"`
}

// Merchant is the reference merchant's endpoint.
type Merchant struct {
	Merchants *og.Merchants // whose keys verify the signatures
	Wall      func() time.Time
	Log       *slog.Logger

	mu       sync.Mutex
	attempts map[string]int // temp-999 orders answered 999 so far, by orderPublicId
	received []Received
}

// Reset forgets the orders received and the attempts counted (POST /_sandbox/reset: the
// sandbox's order ids start again, and a temp-999 order must be answered 999 again).
func (rm *Merchant) Reset() {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.attempts, rm.received = nil, nil
}

// Received returns the orders received so far.
func (rm *Merchant) ReceivedOrders() []Received {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return append([]Received(nil), rm.received...)
}

func (rm *Merchant) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status, answer := rm.answer(w, r)
	if status == 0 {
		return
	}
	if strings.HasPrefix(answer, "<") {
		w.Header().Set("Content-Type", "application/xml")
	} else {
		w.Header().Set("Content-Type", "text/plain")
	}
	w.WriteHeader(status)
	io.WriteString(w, answer)
}

func success(id string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>` + "\n<order>\n<code>SUCCESS</code>\n<orderId>" + id + "</orderId>\n</order>\n"
}

func failure(code, msg string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>` + "\n<order>\n<code>ERROR</code>\n<errorCode>" + code + "</errorCode>\n<errorMsg>" + msg + "</errorMsg>\n</order>\n"
}

// answer decides the reference merchant's answer to one request.
func (rm *Merchant) answer(w http.ResponseWriter, r *http.Request) (int, string) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "order placement is a POST of order XML"
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/xml" {
		return http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type is %q; a merchant compares it with application/xml exactly (O2)", ct)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody))
	if err != nil {
		return http.StatusBadRequest, "unreadable body"
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(body); err != nil || doc.SelectElement("order") == nil {
		return http.StatusBadRequest, "the body is not order XML (O3)"
	}
	order := doc.SelectElement("order")
	field := func(path string) string {
		if e := order.FindElement(path); e != nil {
			return strings.TrimSpace(e.Text())
		}
		return ""
	}
	ogID, customer, token := field("head/orderOgId"), field("customer/customerPartnerId"), field("head/orderTokenId")
	if msg := rm.verify(r.Header.Get("Authorization"), customer); msg != "" {
		return http.StatusForbidden, msg + " (O2: every order POST carries an A4 authorization header, signed over the order's customer)"
	}
	counted := field("head/orderPublicId") // a retry of the order carries the same one
	if counted == "" {
		counted = ogID
	}

	status, answer := http.StatusOK, success("REF-"+ogID)
	var skus []string
	for _, e := range order.FindElements("items/item/sku") {
		skus = append(skus, strings.TrimSpace(e.Text()))
	}
	switch {
	case strings.HasPrefix(token, "decline-") || strings.HasPrefix(token, "error-"):
		code := token[strings.IndexByte(token, '-')+1:]
		answer = failure(code, "Declined by the reference merchant's gateway (token "+token+")")
	case strings.HasPrefix(token, "temp-999-"):
		n, _ := strconv.Atoi(strings.TrimPrefix(token, "temp-999-"))
		rm.mu.Lock()
		if rm.attempts == nil || len(rm.attempts) >= maxCounted {
			rm.attempts = map[string]int{} // bounded: orders given up on are never placed
		}
		rm.attempts[counted]++
		attempt := rm.attempts[counted]
		if attempt > n {
			delete(rm.attempts, counted) // placed: nothing more to count
		}
		rm.mu.Unlock()
		if attempt <= n {
			answer = failure("999", fmt.Sprintf("Temporary problem, attempt %d of %d", attempt, n))
		}
	case token == "garbage":
		answer = "this is not the XML you are looking for"
	case token == "down":
		status, answer = http.StatusServiceUnavailable, ""
	case strings.HasPrefix(token, "slow-"):
		if d, err := time.ParseDuration(strings.TrimPrefix(token, "slow-")); err == nil && d <= 5*time.Minute {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return 0, ""
			}
		}
	default:
		for _, sku := range skus {
			if strings.HasPrefix(sku, "OOS-") {
				answer = failure("999", "SKU "+sku+" is out of stock")
			}
		}
	}
	rm.mu.Lock()
	rm.received = append(rm.received, Received{OGID: ogID, Customer: customer, Token: token, Status: status, Answer: answer})
	if len(rm.received) > 10_000 {
		rm.received = rm.received[len(rm.received)-10_000:]
	}
	rm.mu.Unlock()
	if rm.Log != nil {
		rm.Log.Debug("reference merchant: order", "order", ogID, "token", token, "status", status)
	}
	return status, answer
}

// verify checks the authorization header as a merchant's endpoint does (A1-A4; SFCC's verify
// wants sig_field to be the order's customer and ts a JSON number).
func (rm *Merchant) verify(header, customer string) string {
	h, err := ogcrypto.ParseAuthHeader(header)
	if err != nil {
		return "authorization: " + err.Message
	}
	m, ok := rm.Merchants.ByPublicID(h.PublicID)
	if !ok {
		return "authorization: unknown public_id " + h.PublicID
	}
	if h.SigField != customer {
		return fmt.Sprintf("authorization: sig_field %q is not the order's customer %q", h.SigField, customer)
	}
	if !strings.Contains(header, `"ts":`+strconv.FormatInt(h.TS, 10)) {
		return "authorization: ts must be a JSON number (O2)"
	}
	wall := time.Now
	if rm.Wall != nil {
		wall = rm.Wall
	}
	if verr := ogcrypto.Verify(m.HashKey, h.Signed(), wall()); verr != nil {
		return "authorization: " + verr.Error()
	}
	return ""
}
