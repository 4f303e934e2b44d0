package og

import (
	"fmt"
	"sort"
	"time"
)

// PurchaseAttempt is one purchase POST as the conformance checks of P8 see it.
type PurchaseAttempt struct {
	MerchantOrderID string    `json:"merchant_order_id"`
	Status          int       `json:"status"` // 0: the connection was dropped, no answer
	At              time.Time `json:"at"`     // sandbox time
	Wall            time.Time `json:"wall"`
	// Answered is when the answer went out (wall time): a request of the same
	// merchant_order_id that arrived before it is a concurrent duplicate (a double submit),
	// not a resend of the answer. Zero in records from before it was kept.
	Answered time.Time `json:"answered,omitzero"`
	// Conn numbers the connection the request came on, and ConnOpened is when the sandbox
	// accepted it (wall time): a request on the connection of an earlier answer, or on one
	// opened after that answer, was sent once it was out. Zero in records from before they
	// were kept.
	Conn       uint64    `json:"conn,omitempty"`
	ConnOpened time.Time `json:"conn_opened,omitzero"`
	Fault      string    `json:"fault,omitempty"`
	// DelayMS is the latency injected before the answer; WaitedMS how long the client waited
	// for it (less than DelayMS when it gave up, which is what a 5-second timeout does).
	DelayMS  float64 `json:"delay_ms,omitempty"`
	WaitedMS float64 `json:"waited_ms,omitempty"`
}

// failed reports whether the merchant saw this attempt fail in a way P8 says to resend: a 5xx,
// no answer, or an answer later than the 5-second timeout.
func (a *PurchaseAttempt) failed() bool {
	return a.Status >= 500 || a.Status == 0 || a.timedOut()
}

// timedOut reports whether the client gave up before a delayed answer.
func (a *PurchaseAttempt) timedOut() bool { return a.DelayMS > 0 && a.WaitedMS < a.DelayMS }

// Check is one conformance finding about the merchant's own behaviour.
type Check struct {
	Rule            string `json:"rule"`
	Name            string `json:"name"`
	Status          string `json:"status"` // CheckPass, CheckFail, CheckPending, CheckNotObserved
	MerchantOrderID string `json:"merchant_order_id,omitempty"`
	Message         string `json:"message"`
}

// Check statuses.
const (
	CheckPass        = "pass"
	CheckFail        = "fail"
	CheckPending     = "pending"      // not decidable yet: the window is still open
	CheckNotObserved = "not_observed" // nothing happened that the check could judge
)

// P8 windows: three resends within 10 minutes of a 5xx, then one after 24 hours.
const (
	resendWindow  = 10 * time.Minute
	lateResend    = 24 * time.Hour
	clientTimeout = 5 * time.Second
	// lateWindow is how long after the 24 hours the last resend may come: "after 24 hours"
	// read as the day after. It makes a verdict final: a check pending until then, and a
	// resend days later is not the one P8 asks for.
	lateWindow = 24 * time.Hour
	// raceWindow is how long after an answer a request on another connection, opened before
	// that answer, may still have been sent with the answered one (see checkConflicts).
	raceWindow = time.Second
)

// checkConflicts judges P6/P8's "a 409 is retried only with a new merchant_order_id" on the
// attempts of one merchant_order_id, in arrival order. A request resends a 409 only if it was
// sent once that 409 was answered, and once the id's first request was answered: before then
// the client could not know the id was taken, and the requests are a double submit (the 409s
// refuse them, as they should).
//
// When a request was sent is not when the sandbox began reading it: under load, requests sent
// together start being handled milliseconds apart, after the first answers. So a request that
// began after an answer counts as sent after it only when nothing else could have happened:
// it came on that answer's connection (HTTP/1.1 sends the next request once the answer is
// read), or on a connection opened after the answer, or it began a whole raceWindow later.
func checkConflicts(id string, as []PurchaseAttempt) (Check, bool) {
	// settled reports whether b was sent once a's answer was out (records from before answers
	// or connections were recorded count as after when they began after).
	settled := func(a, b *PurchaseAttempt) bool {
		switch {
		case a.Answered.IsZero():
			return true
		case b.Wall.Before(a.Answered):
			return false
		case b.Conn == 0 || a.Conn == 0:
			return true
		}
		return b.Conn == a.Conn || b.ConnOpened.After(a.Answered) || b.Wall.Sub(a.Answered) >= raceWindow
	}
	seen := false
	for i := range as {
		a := &as[i]
		if a.Status != 409 {
			continue
		}
		seen = true
		after := 0
		for j := i + 1; j < len(as); j++ {
			// One sent on the 409's own connection came once the client had read it.
			sameConn := as[j].Conn != 0 && as[j].Conn == a.Conn && !as[j].Wall.Before(a.Answered)
			if sameConn || settled(a, &as[j]) && settled(&as[0], &as[j]) {
				after++
			}
		}
		if after > 0 {
			return Check{Rule: "P8", Name: "no_resend_after_409", Status: CheckFail, MerchantOrderID: id,
				Message: fmt.Sprintf("merchant_order_id %s was answered 409 at %s and sent again %d time(s) with the same id after that answer; a 409 is retried only with a new merchant_order_id (P6, P8)", id, a.At.Format(time.RFC3339), after)}, true
		}
	}
	if !seen {
		return Check{}, false
	}
	concurrent := 0
	for j := 1; j < len(as); j++ {
		if !settled(&as[0], &as[j]) {
			concurrent++
		}
	}
	msg := fmt.Sprintf("merchant_order_id %s was answered 409 and not sent again", id)
	if concurrent > 0 {
		msg += fmt.Sprintf(" (%d request(s) with it arrived before its first request was answered, or within %s of that answer on a connection opened before it: a double submit, not a resend)", concurrent, raceWindow)
	}
	return Check{Rule: "P8", Name: "no_resend_after_409", Status: CheckPass, MerchantOrderID: id, Message: msg}, true
}

// CheckP8 judges a merchant's purchase POST behaviour (P6, P8) from its attempts, as of now
// (sandbox time): resends after a 5xx or a lost answer, 409s never resent with the same
// merchant_order_id, and a 5-second client timeout.
func CheckP8(attempts []PurchaseAttempt, now time.Time) []Check {
	byOrder := map[string][]PurchaseAttempt{}
	var orderIDs []string
	for _, a := range attempts {
		if a.MerchantOrderID == "" {
			continue
		}
		if _, ok := byOrder[a.MerchantOrderID]; !ok {
			orderIDs = append(orderIDs, a.MerchantOrderID)
		}
		byOrder[a.MerchantOrderID] = append(byOrder[a.MerchantOrderID], a)
	}
	sort.Strings(orderIDs)
	var resends, conflicts, timeouts []Check
	for _, id := range orderIDs {
		as := byOrder[id]
		sort.SliceStable(as, func(i, j int) bool { return as[i].At.Before(as[j].At) })
		if c, ok := checkResends(id, as, now); ok {
			resends = append(resends, c)
		}
		if c, ok := checkConflicts(id, as); ok {
			conflicts = append(conflicts, c)
		}
		for _, a := range as {
			if a.DelayMS <= float64(clientTimeout/time.Millisecond) {
				continue
			}
			waited := time.Duration(a.WaitedMS * float64(time.Millisecond)).Round(10 * time.Millisecond)
			delay := time.Duration(a.DelayMS * float64(time.Millisecond))
			c := Check{Rule: "P8", Name: "client_timeout_5s", MerchantOrderID: id}
			switch {
			case !a.timedOut():
				c.Status = CheckFail
				c.Message = fmt.Sprintf("the client waited the whole %s for an answer; P8 expects it to give up after 5 seconds", waited)
			case waited > clientTimeout+time.Second:
				c.Status = CheckFail
				c.Message = fmt.Sprintf("the client gave up only after %s on an answer delayed by %s; P8 expects a 5-second timeout", waited, delay)
			default:
				c.Status = CheckPass
				c.Message = fmt.Sprintf("the client gave up after %s on an answer delayed by %s", waited, delay)
			}
			timeouts = append(timeouts, c)
		}
	}
	out := append(resends, conflicts...)
	out = append(out, timeouts...)
	for _, na := range []struct {
		list      []Check
		name, how string
	}{
		{resends, "resend_after_5xx", `inject a failure with PUT /_sandbox/faults {"surface":"sc","status":503,"count":1}`},
		{conflicts, "no_resend_after_409", "send a merchant_order_id that was already processed"},
		{timeouts, "client_timeout_5s", `inject a delay with PUT /_sandbox/faults {"surface":"sc","latency":"7s","count":1}`},
	} {
		if len(na.list) == 0 {
			out = append(out, Check{Rule: "P8", Name: na.name, Status: CheckNotObserved, Message: "nothing to judge yet: " + na.how})
		}
	}
	return out
}

// checkResends judges what followed the first failure of one merchant_order_id: P8 wants 3
// resends within 10 minutes, then (if those failed too) one after 24 hours, then nothing.
func checkResends(id string, as []PurchaseAttempt, now time.Time) (Check, bool) {
	first := -1
	for i := range as {
		if as[i].failed() {
			first = i
			break
		}
	}
	if first < 0 {
		return Check{}, false
	}
	f := as[first]
	c := Check{Rule: "P8", Name: "resend_after_5xx", MerchantOrderID: id}
	var early, middle, late, tooLate []PurchaseAttempt
	succeeded := false
	for _, a := range as[first+1:] {
		d := a.At.Sub(f.At)
		switch {
		case d <= resendWindow:
			early = append(early, a)
		case d < lateResend:
			middle = append(middle, a)
		case d < lateResend+lateWindow:
			late = append(late, a)
		default:
			tooLate = append(tooLate, a)
		}
		if !a.failed() {
			succeeded = true
			break
		}
	}
	what := "a 5xx"
	if f.Status == 0 {
		what = "no answer (connection dropped)"
	} else if f.timedOut() {
		what = "an answer later than the 5-second timeout"
	}
	switch {
	case len(early) > 3:
		c.Status, c.Message = CheckFail, fmt.Sprintf("after %s at %s it was resent %d times within 10 minutes; P8 says 3", what, f.At.Format(time.RFC3339), len(early))
	case len(middle) > 0:
		c.Status, c.Message = CheckFail, fmt.Sprintf("after %s it was resent %s later, between the 10-minute retries and the 24-hour one (P8)", what, middle[0].At.Sub(f.At).Round(time.Second))
	case len(late)+len(tooLate) > 1:
		c.Status, c.Message = CheckFail, fmt.Sprintf("after %s it was resent %d times after 24 hours; P8 says once, then stop", what, len(late)+len(tooLate))
	case len(tooLate) > 0:
		c.Status, c.Message = CheckFail, fmt.Sprintf("after %s it was resent %s later: P8's resend after 24 hours comes the day after (by 48 hours)", what, tooLate[0].At.Sub(f.At).Round(time.Minute))
	case succeeded && (len(late) == 0 || len(early) == 3):
		// An answer ends the resends, but only one that came on P8's schedule: a resend that
		// gets through a day later does not make up for the 10-minute resends left out.
		c.Status, c.Message = CheckPass, fmt.Sprintf("after %s it was resent and the resend got an answer", what)
	case len(early) == 3 && len(late) == 1:
		c.Status, c.Message = CheckPass, fmt.Sprintf("after %s: 3 resends within 10 minutes, one after 24 hours, then none", what)
	case len(early) < 3 && now.Sub(f.At) <= resendWindow:
		c.Status, c.Message = CheckPending, fmt.Sprintf("after %s, %d of the 3 resends so far; the 10-minute window is open", what, len(early))
	case len(early) < 3:
		c.Status, c.Message = CheckFail, fmt.Sprintf("after %s it was resent %d times within 10 minutes; P8 says 3", what, len(early))
	case now.Sub(f.At) < lateResend+lateWindow:
		c.Status, c.Message = CheckPending, fmt.Sprintf("after %s: 3 resends within 10 minutes; the one after 24 hours is still to come, by 48 hours (advance the clock)", what)
	default:
		c.Status, c.Message = CheckFail, fmt.Sprintf("after %s: 3 resends within 10 minutes but none in the day after the first 24 hours (P8)", what)
	}
	return c, true
}

// FeedLead is how long before a placement run a product feed should have arrived: Ordergroove
// reads the feed every 30 minutes, and the merchant's feed job should run before placement
// (F1, REFERENCE §5) — daily at least, so that prices and stock are current.
const FeedLead = 24 * time.Hour

// CheckFeedCadence judges whether the merchant's product feed arrives before its placement
// runs (F1): the last run that placed orders, at lastRun, should have a product feed in the
// FeedLead before it. feeds are the merchant's feed reports.
func CheckFeedCadence(feeds []FeedReport, lastRun time.Time) Check {
	c := Check{Rule: "F1", Name: "feed_before_placement"}
	if lastRun.IsZero() {
		c.Status, c.Message = CheckNotObserved, "no placement run has sent orders yet"
		return c
	}
	var latest time.Time
	shortcut := false // products came another way: the control API or the catalogue file
	for _, f := range feeds {
		if f.Kind != "products" || f.ReceivedAt.After(lastRun) {
			continue
		}
		if f.Via != "" && f.Via != FeedViaSFTP {
			shortcut = true
			continue
		}
		if f.ReceivedAt.After(latest) {
			latest = f.ReceivedAt
		}
	}
	switch {
	case latest.IsZero():
		c.Status = CheckFail
		c.Message = fmt.Sprintf("no product feed arrived before the placement run of %s: Ordergroove places orders with the catalogue as the last feed left it (F1)", lastRun.Format(time.RFC3339))
		if shortcut {
			c.Message += "; products loaded through the control API or the catalogue file are the sandbox's shortcuts, not the merchant's feed job, which drops files on the SFTP site"
		}
	case lastRun.Sub(latest) > FeedLead:
		c.Status = CheckFail
		c.Message = fmt.Sprintf("the last product feed before the placement run of %s arrived %s earlier, at %s: run the feed at least daily, before placement (F1)",
			lastRun.Format(time.RFC3339), lastRun.Sub(latest).Round(time.Minute), latest.Format(time.RFC3339))
	default:
		c.Status = CheckPass
		c.Message = fmt.Sprintf("a product feed arrived at %s, %s before the placement run of %s (F1)", latest.Format(time.RFC3339), lastRun.Sub(latest).Round(time.Minute), lastRun.Format(time.RFC3339))
	}
	return c
}
