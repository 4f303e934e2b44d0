// Package scheduler places recurring orders as Ordergroove does (O1-O7): at each merchant's
// placement hours on its calendar, on the sandbox clock, it sends every order due by then to
// the merchant's endpoint as order XML (O2, O3), reads the answer (O4), and applies
// Ordergroove's decision to it (O5, O6): placed, rejected and emailed, retried at the next run,
// or left pending. Order reminders go out ahead of the order, and the price the customer saw
// then is the most they pay (O7).
//
// The scheduler is og.Work: the clock runner calls it when a placement run falls due, in real
// time or during POST /_sandbox/clock/advance, which answers once every run it crossed is done.
// Each attempt is recorded before it is sent and answered right after (exactly once): after a
// crash an unanswered attempt counts as no answer (O6a) and is resent with the same orderOgId.
package scheduler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
	"github.com/ogsandbox/ogsandbox/emulator/web"
)

// Bounds of a placement run.
const (
	// Concurrency is how many orders of a run are in flight at once.
	Concurrency = 16
	// chunk is how many orders are recorded before sending in one commit.
	chunk = 256
)

// Scheduler places orders.
type Scheduler struct {
	Merchants *og.Merchants
	Store     og.PlacementStore
	Clock     og.Clock
	Journal   og.JournalService
	Log       *slog.Logger
	// URL returns the endpoint a merchant's orders go to (the reference merchant when its
	// configuration names none).
	URL func(m *og.Merchant) string
	// Client sends the orders; each request carries its merchant's timeout.
	Client *http.Client
	// Homes and Batches serve the batch method (O2): order files on the SFTP drop site.
	Homes   og.Homes
	Batches og.BatchStore

	mu         sync.Mutex
	lastRun    map[string]time.Time
	batchLocks map[string]*sync.Mutex
}

// Start loads each merchant's last placement run (a new merchant starts from now: runs before
// the sandbox knew it are not replayed) and treats any attempt left unanswered by a crash as
// no answer (O6a): the order is retried at the next run, with the same orderOgId.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	s.lastRun = map[string]time.Time{}
	s.mu.Unlock()
	if s.Client == nil {
		s.Client = &http.Client{
			Transport: &http.Transport{MaxIdleConnsPerHost: Concurrency, MaxConnsPerHost: Concurrency},
			// A redirect would turn the order POST into a GET without its body: the answer
			// is the redirect itself, which is not an order answer (O6c).
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	now := s.Clock.Now()
	for _, m := range s.Merchants.All() {
		last, ok, err := s.Store.LastRun(m.ID)
		if err != nil {
			return err
		}
		if !ok {
			last = now
			s.Store.SetLastRun(m.ID, last)
		}
		s.mu.Lock()
		s.lastRun[m.ID] = last
		s.mu.Unlock()
		ids, err := s.Store.Inflight(m.ID)
		if err != nil {
			return err
		}
		for _, id := range ids {
			const why = "the sandbox stopped while the order was being placed: no answer was recorded"
			if _, err := s.Store.FinishAttempt(ctx, m, id, og.Answer{Transport: why}, og.AttemptResult{Error: why}, last); err != nil {
				return fmt.Errorf("recover order %d of %s: %w", id, m.ID, err)
			}
			s.Log.Warn("placement: an attempt had no answer when the sandbox stopped; retried at the next run (O6a)", "merchant", m.ID, "order", id)
		}
		if err := s.recoverBatches(ctx, m); err != nil {
			return fmt.Errorf("batch files of %s: %w", m.ID, err)
		}
	}
	return nil
}

// NextDue returns the next placement run of any merchant (O1).
func (s *Scheduler) NextDue(ctx context.Context) (time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best time.Time
	for _, m := range s.Merchants.All() {
		last, ok := s.lastRun[m.ID]
		if !ok {
			continue
		}
		if next := og.NextRun(last, m.Placement.Hours, m.Location); !next.IsZero() && (best.IsZero() || next.Before(best)) {
			best = next
		}
	}
	return best, !best.IsZero(), nil
}

// RunDue performs, in order, every placement run due by now, merchant by merchant.
func (s *Scheduler) RunDue(ctx context.Context, now time.Time) (og.RunReport, error) {
	var rep og.RunReport
	for _, m := range s.Merchants.All() {
		for {
			s.mu.Lock()
			last, ok := s.lastRun[m.ID]
			s.mu.Unlock()
			if !ok {
				break
			}
			run := og.NextRun(last, m.Placement.Hours, m.Location)
			if run.IsZero() || run.After(now) {
				break
			}
			r, err := s.run(ctx, m, run)
			rep.Add(r)
			if err != nil {
				return rep, err
			}
			s.mu.Lock()
			s.lastRun[m.ID] = run
			s.mu.Unlock()
			s.Store.SetLastRun(m.ID, run)
		}
	}
	return rep, nil
}

// run is one placement run of merchant m: reminders that are due, then every order due.
func (s *Scheduler) run(ctx context.Context, m *og.Merchant, run time.Time) (og.RunReport, error) {
	rep := og.RunReport{Runs: 1}
	if m.Placement.Method == og.PlacementBatch && s.Batches != nil {
		// Orders whose answer never came do not hold their subscriptions back: the next
		// orders are made first, so that their reminders go out before them (O7).
		if err := s.Batches.AdvanceAwaiting(ctx, m, run); err != nil {
			return rep, err
		}
	}
	if err := s.remind(ctx, m, run); err != nil {
		return rep, err
	}
	due, err := s.Store.DueOrders(m.ID, run)
	if err != nil {
		return rep, err
	}
	if m.Placement.Method == og.PlacementBatch {
		if err := s.recoverBatches(ctx, m); err != nil {
			return rep, err
		}
		if len(due) == 0 {
			return rep, nil
		}
		r, err := s.placeBatch(ctx, m, due, run)
		rep.Add(r)
		return rep, err
	}
	// An order finished in this run may leave its subscriptions' next order due in this run
	// too (one rejected late moves on to today, og.Frequency.NextNotBefore): it is placed now,
	// on its date, not a run late. An order is sent at most once per run, and the passes
	// are bounded (a subscription's next date is at least a day after the last).
	sent := map[int64]bool{}
	for pass := 0; len(due) > 0 && pass < maxPasses; pass++ {
		if pass > 0 { // the new orders' reminders go out before them (O7)
			if err := s.remind(ctx, m, run); err != nil {
				return rep, err
			}
		}
		for _, d := range due {
			sent[d.OGID] = true
		}
		for start := 0; start < len(due); start += chunk {
			r, err := s.place(ctx, m, due[start:min(start+chunk, len(due))], run)
			rep.Add(r)
			if err != nil {
				return rep, err
			}
		}
		more, err := s.Store.DueOrders(m.ID, run)
		if err != nil {
			return rep, err
		}
		due = slices.DeleteFunc(more, func(d og.Due) bool { return sent[d.OGID] })
	}
	return rep, nil
}

// maxPasses bounds the passes of one run over the orders due by it.
const maxPasses = 4

// remind sends the order reminders due by the run, recording each item's price then (O7).
func (s *Scheduler) remind(ctx context.Context, m *og.Merchant, run time.Time) error {
	due, err := s.Store.DueReminders(m.ID, run)
	if err != nil {
		return err
	}
	err = parallel(ctx, due, func(d og.Due) error {
		oc, err := s.Store.OrderContext(ctx, m, d.OGID)
		if err != nil {
			return err
		}
		prices := map[string]og.Money{}
		for _, it := range oc.Order.Items {
			if sub := oc.Subscriptions[it.Subscription]; sub != nil {
				prices[it.PublicID] = og.UnitPrice(sub, oc.Products[it.ProductID])
			}
		}
		return s.Store.RemindOrder(ctx, m, d.OGID, prices, d.At)
	})
	return errors.Join(err, s.Store.Flush())
}

// parallel runs fn over items with Concurrency goroutines and returns the first error.
func parallel[T any](ctx context.Context, items []T, fn func(T) error) error {
	var mu sync.Mutex
	var first error
	next := make(chan T)
	var wg sync.WaitGroup
	for range min(Concurrency, len(items)) {
		wg.Go(func() {
			for it := range next {
				if err := fn(it); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		next <- it
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// prepared is an order ready to send.
type prepared struct {
	oc  *og.OrderContext
	xml []byte
}

// prepare loads, prices and builds the XML of each due order, in parallel; an order that cannot
// be placed now (F4) is paused and counted as pending.
func (s *Scheduler) prepare(ctx context.Context, m *og.Merchant, due []og.Due, run time.Time, rep *og.RunReport) ([]prepared, error) {
	ready := make([]*prepared, len(due))
	paused := make([]string, len(due))  // why due[i] is held (F4)
	splitOff := make([]int64, len(due)) // the order of due[i]'s items split off to wait (F4)
	splitWhy := make([]string, len(due))
	broken := make([]string, len(due))
	idx := make([]int, len(due))
	for i := range idx {
		idx[i] = i
	}
	if err := parallel(ctx, idx, func(i int) error {
		oc, err := s.Store.OrderContext(ctx, m, due[i].OGID)
		if err != nil {
			return err
		}
		if !oc.Order.Open() {
			return nil
		}
		held, why := og.PriceOrder(oc)
		if len(held) > 0 && len(held) < len(oc.Order.Items) {
			// REFERENCE §6: the items out of stock are split into an order of their own,
			// which waits for them; the order goes out now with the rest.
			ids := make([]string, len(held))
			for j, k := range held {
				ids[j] = oc.Order.Items[k].PublicID
			}
			newID, err := s.Store.SplitOrder(ctx, m, due[i].OGID, ids, run)
			if err != nil {
				return err
			}
			if newID != 0 {
				splitOff[i], splitWhy[i] = newID, why
				if oc, err = s.Store.OrderContext(ctx, m, due[i].OGID); err != nil {
					return err
				}
				held, why = og.PriceOrder(oc) // none, unless the catalogue changed meanwhile
			}
		}
		if len(held) > 0 {
			paused[i] = why
			return nil
		}
		xml, err := OrderXML(oc)
		if err != nil {
			broken[i] = "the order XML could not be generated: " + err.Error()
			return nil
		}
		ready[i] = &prepared{oc, xml}
		return nil
	}); err != nil {
		return nil, err
	}
	// O6a: an order whose XML cannot be generated is retried at the next run; the others go on.
	for i, why := range broken {
		if why == "" {
			continue
		}
		id := due[i].OGID
		start := og.AttemptStart{OGID: id, Attempt: og.Attempt{At: s.Clock.Now(), Wall: s.Clock.Wall(), Method: m.Placement.Method, Error: why}}
		oc, err := s.Store.OrderContext(ctx, m, id)
		if err != nil {
			return nil, err
		}
		start.Items, start.Updated = oc.Order.Items, oc.Order.Updated
		if skipped, err := s.Store.BeginAttempts(ctx, m.ID, []og.AttemptStart{start}); err != nil {
			return nil, err
		} else if len(skipped) > 0 {
			continue
		}
		if _, err := s.Store.FinishAttempt(ctx, m, id, og.Answer{Transport: why}, og.AttemptResult{Error: why}, run); err != nil {
			return nil, err
		}
		s.Log.Error("placement: an order could not be prepared; retried at the next run (O6a)", "merchant", m.ID, "order", id, "why", why)
		rep.Order(m.ID, id, og.OutcomePending)
	}
	var out []prepared
	for i, p := range ready {
		hold := func(id int64, why string) error {
			held, cancelled, err := s.Store.PauseOrder(ctx, m, id, why, run)
			if err == nil && held && !cancelled { // a cancelled order counts as none of placed, rejected, pending
				rep.Order(m.ID, id, og.OutcomePending)
			}
			return err
		}
		if splitOff[i] != 0 {
			if err := hold(splitOff[i], splitWhy[i]); err != nil {
				return nil, err
			}
		}
		if paused[i] != "" {
			if err := hold(due[i].OGID, paused[i]); err != nil {
				return nil, err
			}
		}
		if p != nil {
			out = append(out, *p)
		}
	}
	return out, nil
}

// place records attempts for a chunk of due orders in one commit, sends them with bounded
// concurrency, and applies each answer as it arrives.
func (s *Scheduler) place(ctx context.Context, m *og.Merchant, due []og.Due, run time.Time) (og.RunReport, error) {
	var rep og.RunReport
	url := s.URL(m)
	batch, err := s.prepare(ctx, m, due, run, &rep)
	if err != nil {
		return rep, err
	}
	starts := make([]og.AttemptStart, 0, len(batch))
	for _, p := range batch {
		starts = append(starts, og.AttemptStart{OGID: p.oc.Order.OGID, Items: p.oc.Order.Items, Updated: p.oc.Order.Updated, Attempt: og.Attempt{
			At: s.Clock.Now(), Wall: s.Clock.Wall(), Method: og.PlacementAPI, URL: og.RedactURL(url), Request: string(p.xml),
		}})
	}
	// Exactly once: every attempt is on disk before its order is sent.
	skipped, err := s.Store.BeginAttempts(ctx, m.ID, starts)
	if err != nil {
		return rep, err
	}
	if len(skipped) > 0 {
		// Changed since they were prepared (a feed cancelled or swapped them): the next run
		// handles them as they are then.
		batch = slices.DeleteFunc(batch, func(p prepared) bool { return slices.Contains(skipped, p.oc.Order.OGID) })
	}
	var mu sync.Mutex
	err = parallel(ctx, batch, func(p prepared) error {
		d, err := s.send(ctx, m, url, p, run)
		if err != nil {
			return err
		}
		if d.Gone {
			s.Log.Warn("placement: an order was forgotten (a reset) while it was being placed; its answer applies to nothing", "merchant", m.ID, "order", p.oc.Order.OGID)
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		rep.Order(m.ID, p.oc.Order.OGID, d.Outcome())
		return nil
	})
	// Decisions are committed behind the senders; the run is over when they are on disk. A
	// decision that failed to commit fails the run: its order is still in flight, and is
	// resent with the same orderOgId at the next run (O6a).
	return rep, errors.Join(err, s.Store.Flush())
}

// send POSTs one order (O2) and applies the decision on its answer.
func (s *Scheduler) send(ctx context.Context, m *og.Merchant, url string, p prepared, run time.Time) (og.Decision, error) {
	timeout := m.Placement.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, url, bytes.NewReader(p.xml))
	if err != nil {
		return og.Decision{}, err
	}
	// O2: "Content-Type: application/xml" exactly (merchants compare it literally) and an
	// authorization header signed over the customer's merchant user id, ts a JSON number.
	req.Header.Set("Content-Type", "application/xml")
	req.Header.Set("Authorization", ogcrypto.HeaderJSON(m.HashKey, m.PublicID, p.oc.Customer.MerchantUserID, s.Clock.Wall().Unix()))
	start := s.Clock.Wall()
	var ans og.Answer
	var res og.AttemptResult
	var respHeader http.Header
	var body []byte
	resp, err := s.Client.Do(req)
	if err != nil {
		ans.Transport = transportError(err, timeout)
		res.Error = ans.Transport
	} else {
		body, err = io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
		resp.Body.Close()
		respHeader = resp.Header
		ans.HTTPStatus, res.HTTPStatus = resp.StatusCode, resp.StatusCode
		res.Response = string(body)
		switch {
		case err != nil:
			ans.Transport = "the answer was cut off: " + transportError(err, timeout)
			res.Error = ans.Transport
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			ans.ParseError = fmt.Sprintf("the endpoint answered HTTP %d, a redirect to %q: Ordergroove does not follow redirects; configure the final URL of the order endpoint", resp.StatusCode, resp.Header.Get("Location"))
		default:
			if r, perr := ParseResponse(body); perr != nil {
				ans.ParseError = perr.Error()
			} else {
				ans.Response = r
			}
		}
	}
	took := s.Clock.Wall().Sub(start)
	res.DurationMS = float64(took.Microseconds()) / 1000
	d, ferr := s.Store.FinishAttempt(ctx, m, p.oc.Order.OGID, ans, res, run)
	if ferr != nil {
		return d, ferr
	}
	diags := d.Warnings
	if d.Rule != "" && d.Status == og.OrderRejected {
		diags = append(diags, og.Finding(d.Rule, "order", d.Text))
	}
	status := ans.HTTPStatus
	note := fmt.Sprintf("order %d: %s", p.oc.Order.OGID, d.Text)
	if d.Gone {
		note = fmt.Sprintf("order %d: a reset forgot the order while it was being placed; its answer applies to nothing", p.oc.Order.OGID)
	}
	web.Outbound(s.Journal, s.Clock, og.SurfacePlacement, m.ID, req, p.xml, status, respHeader, body, took, diags, note)
	return d, nil
}

// transportError says, for a person, why no answer arrived.
func transportError(err error, timeout time.Duration) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "the sandbox stopped while the order was being sent, before the merchant answered: not the merchant's doing"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("no answer within %s (the merchant's placement timeout)", timeout)
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused: nothing listens at the merchant's endpoint"
	case errors.Is(err, io.EOF) || strings.Contains(err.Error(), "EOF"):
		return "the connection closed without an answer"
	}
	return err.Error()
}
