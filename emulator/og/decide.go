package og

import (
	"fmt"
	"strings"
	"time"
)

// PlacementResponse is a merchant's answer to an order as O4 shapes it:
// <order><code>SUCCESS</code><orderId>…</orderId></order> or
// <order><code>ERROR</code><errorCode>…</errorCode><errorMsg>…</errorMsg></order>.
type PlacementResponse struct {
	Code         string // SUCCESS or ERROR
	OrderID      string
	ErrorCode    string
	ErrorMsg     string
	ResponseCode string // optional: 010 "created and processing"
	OGOrderID    string // batch responses name the order (O4)
}

// Answer is what came back from one placement of an order.
type Answer struct {
	// Transport is set when no answer arrived: the connection was refused or reset, or the
	// merchant's endpoint took longer than its timeout (O6a).
	Transport  string
	HTTPStatus int
	// Response is the parsed answer, nil when the body could not be understood; ParseError
	// then says why (O6c).
	Response   *PlacementResponse
	ParseError string
}

// ErrorCodes are the error codes of O5 and what each means.
var ErrorCodes = map[string]string{
	"020": "technical issue when placing the order",
	"100": "invalid credit card type",
	"110": "invalid credit card number",
	"120": "invalid credit card expiration date",
	"130": "invalid billing address",
	"140": "payment declined",
	"150": "PayPal issue",
	"160": "payment declined, do not retry",
	"170": "no default card on file",
	"180": "strong customer authentication (SCA) requested",
	"999": "generic order processing issue (temporary)",
}

// EmailFor returns the email kind a rejection with code sends (O6b: the email depends on the
// code).
func EmailFor(code string) string {
	switch code {
	case "020":
		return EmailTechnical
	case "100", "110", "120", "140", "160", "170":
		return EmailPaymentIssue
	case "130":
		return EmailBillingAddress
	case "150":
		return EmailPayPal
	case "180":
		return EmailSCA
	}
	return EmailGeneric
}

// Retries after a 999 (O6d), and the longest retry window of an unreachable endpoint (O6a).
const (
	Max999Retries   = 3
	OutcomePlaced   = "placed"
	OutcomeRejected = "rejected"
	OutcomePending  = "pending"
)

// Decision is what Ordergroove does with an order after an answer (O6, S4).
type Decision struct {
	Status       string // OrderPlaced, OrderRejected or OrderPending
	StatusCode   int    // S4
	Rule         string // O6a, O6b, O6c, O6d
	Text         string // the decision, in words, for the attempts ledger
	Email        string // the email kind the customer gets, "" for none
	ErrorCode    string
	ErrorMessage string
	OrderID      string // the merchant's order id (SUCCESS)
	Retry        bool   // handled again at the next placement run
	Retries999   int
	FailingSince *time.Time
	Done         bool // the order is finished: the subscriptions' next orders are due
	// Advance moves the subscriptions on to their next orders while this one stays pending
	// (O6d: no answer to the last retry): Ordergroove never stops a subscription for an order.
	Advance  bool
	Warnings []Diagnostic
	// Gone says the order no longer exists (a reset forgot it while it was being placed):
	// nothing was decided.
	Gone bool
}

// Outcome is the decision as the clock advance summary counts it.
func (d Decision) Outcome() string {
	switch d.Status {
	case OrderPlaced:
		return OutcomePlaced
	case OrderRejected:
		return OutcomeRejected
	}
	return OutcomePending
}

// Decide applies O6a-d to an answer. o is the order as it stood before the attempt; window says
// how long an unreachable endpoint is retried (O6a); now is the placement run the attempt
// belongs to, in sandbox time.
func Decide(o *Order, a Answer, window RetryWindow, now time.Time) Decision {
	if a.Response != nil {
		return decideResponse(o, a.Response, now)
	}
	noAnswer := a.Transport != "" || a.HTTPStatus >= 500 || a.HTTPStatus == 0
	if !noAnswer {
		// O6c: an answer that cannot be understood is rejected, not retried, not notified.
		return Decision{Status: OrderRejected, StatusCode: StatusResponseError, Rule: "O6c", Done: true,
			Text: fmt.Sprintf("the answer (HTTP %d) could not be understood: %s; the order is rejected, not retried, and the customer is not notified (O6c)", a.HTTPStatus, a.ParseError)}
	}
	what := a.Transport
	if what == "" {
		what = fmt.Sprintf("HTTP %d without an order answer", a.HTTPStatus)
	}
	if o.Retries999 > 0 {
		// O6d: "if OG does not receive any responses to the retries, the order will remain in
		// a pending status and the customer will not be notified."
		d := Decision{Status: OrderPending, StatusCode: StatusConnectionError, Rule: "O6d", Retries999: o.Retries999 + 1}
		if d.Retries999 > Max999Retries {
			d.Advance = true
			d.Text = fmt.Sprintf("no answer to the last 999 retry (%s): the order stays pending, the customer is not notified, and the subscriptions go on to their next orders (O6d)", what)
			return d
		}
		d.Retry = true
		d.Text = fmt.Sprintf("no answer to 999 retry %d of %d (%s): retried at the next placement run (O6d)", o.Retries999, Max999Retries, what)
		return d
	}
	since := now
	if o.FailingSince != nil {
		since = *o.FailingSince
	}
	d := Decision{Status: OrderPending, StatusCode: StatusConnectionError, Rule: "O6a", FailingSince: &since}
	until := window.Until(since)
	if !now.Before(until) {
		d.Status, d.Done = OrderRejected, true
		d.Text = fmt.Sprintf("the endpoint has not answered since %s (%s); the retry window (90 days or the subscription's frequency, whichever is shorter) ended at %s: the order is no longer retried and the customer is not notified (O6a)",
			since.Format(time.RFC3339), what, until.Format(time.RFC3339))
		return d
	}
	d.Retry = true
	d.Text = fmt.Sprintf("no answer (%s): retried at the next placement run, until %s (O6a)", what, until.Format(time.RFC3339))
	return d
}

func decideResponse(o *Order, r *PlacementResponse, now time.Time) Decision {
	switch strings.ToUpper(r.Code) {
	case "SUCCESS":
		d := Decision{Status: OrderPlaced, StatusCode: StatusSuccess, OrderID: r.OrderID, Email: EmailPlaced, Done: true,
			Text: fmt.Sprintf("SUCCESS: placed as the merchant's order %s", r.OrderID)}
		if r.OrderID == "" {
			d.Warnings = append(d.Warnings, Warning("O4", "orderId", "SUCCESS without an orderId: O4 answers <order><code>SUCCESS</code><orderId>…</orderId></order>"))
			d.Text = "SUCCESS (without an orderId): placed"
		}
		return d
	case "ERROR":
	default:
		return Decision{Status: OrderRejected, StatusCode: StatusResponseError, Rule: "O6c", Done: true,
			Text: fmt.Sprintf("the answer's code is %q, neither SUCCESS nor ERROR: rejected, not retried, the customer is not notified (O6c)", r.Code)}
	}
	sent := strings.TrimSpace(r.ErrorCode)
	code := sent // "20" is O5's 020
	if len(code) > 0 && len(code) < 3 && allDigits(code) {
		code = strings.Repeat("0", 3-len(code)) + code
	}
	meaning, known := ErrorCodes[code]
	if !known {
		// The order keeps what the merchant sent: padded, "40" would read as a code of O5's.
		return Decision{Status: OrderRejected, StatusCode: StatusResponseError, Rule: "O6c", Done: true, ErrorCode: sent, ErrorMessage: r.ErrorMsg,
			Text: fmt.Sprintf("ERROR with errorCode %q, which is not one of O5's codes (020, 100-180, 999): the answer cannot be understood; rejected, not retried, the customer is not notified (O6c)", r.ErrorCode)}
	}
	if code == "999" {
		d := Decision{Status: OrderPending, StatusCode: StatusGenericError, Rule: "O6d", ErrorCode: code, ErrorMessage: r.ErrorMsg, Retries999: o.Retries999 + 1}
		if o.Retries999 >= Max999Retries {
			d.Status, d.StatusCode, d.Email, d.Done = OrderRejected, StatusRejected, EmailGeneric, true
			d.Text = fmt.Sprintf("999 again after %d retries: rejected, and the customer is notified (O6d)", Max999Retries)
			return d
		}
		d.Retry = true
		d.Text = fmt.Sprintf("999 (%s): retry %d of %d at the next placement run (O6d)", meaning, o.Retries999+1, Max999Retries)
		return d
	}
	return Decision{Status: OrderRejected, StatusCode: StatusRejected, Rule: "O6b", Email: EmailFor(code), ErrorCode: code, ErrorMessage: r.ErrorMsg, Done: true,
		Text: fmt.Sprintf("ERROR %s (%s): rejected, and the customer is notified (%s) (O6b)", code, meaning, EmailFor(code))}
}

// RetryWindow is how long an unreachable endpoint is retried for an order (O6a): 90 days or
// the shortest frequency of its subscriptions, whichever is shorter, counted on the merchant's
// calendar (a month is a calendar month; a day across a daylight-saving change is still a day).
type RetryWindow struct {
	Freqs []Frequency
	Loc   *time.Location // nil: UTC
}

// MaxRetryDays is the longest O6a window.
const MaxRetryDays = 90

// Until returns when the window that opened at since closes: the same local time of day on the
// date the window ends.
func (w RetryWindow) Until(since time.Time) time.Time {
	loc := w.Loc
	if loc == nil {
		loc = time.UTC
	}
	local := since.In(loc)
	start := DateOf(local, loc)
	end := start.AddDays(MaxRetryDays)
	for _, f := range w.Freqs {
		if f.IsZero() {
			continue
		}
		if n := f.NextFrom(start, start.Day); n.After(start) && n.Before(end) {
			end = n
		}
	}
	return time.Date(end.Year, end.Month, end.Day, local.Hour(), local.Minute(), local.Second(), local.Nanosecond(), loc)
}
