// Package faults makes a surface fail on purpose (PUT /_sandbox/faults): answer a status code,
// answer late, or drop the connection, for the next N requests or a ratio of them. Merchants
// use it to test their retry logic against the purchase POST (P8) and their API clients.
//
// Latency is real time, not sandbox time: it exists to trip a client's own timeout.
package faults

import (
	"fmt"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// MaxLatency bounds an injected delay.
const MaxLatency = 5 * time.Minute

// Surfaces a fault can be injected on: those this sandbox serves.
var Surfaces = []string{"sc"}

// unserved are the surfaces of staging this sandbox does not serve yet: a fault on one would
// be accepted and never apply, and a CI job testing its retries there would test nothing.
var unserved = map[string]string{
	"api":    "the REST and legacy APIs (S1-S3)",
	"static": "the Subscription Manager scripts (msi.js, auth.js)",
}

// Rule is one fault as PUT /_sandbox/faults takes it.
type Rule struct {
	Surface string `json:"surface"`
	// Merchant limits the fault to one merchant's requests (M2: one merchant's test does not
	// fail another's); empty means every merchant.
	Merchant string `json:"merchant_id,omitempty"`
	// Path limits the fault to request paths matching it (path.Match syntax, e.g.
	// "/subscription/*/response"; a trailing slash does not matter). Empty means the surface's
	// main endpoint: the purchase POST on sc, every path elsewhere.
	Path string `json:"path,omitempty"`
	// Status is answered instead of processing the request (e.g. 503); 202 on the purchase
	// POST response endpoint answers "pending" (P1).
	Status int `json:"status,omitempty"`
	// Latency delays the answer (e.g. "6s", past the 5-second client timeout of P8). Without
	// a status or a drop the request is processed and then answered late.
	Latency string `json:"latency,omitempty"`
	// Drop closes the connection without an answer.
	Drop bool `json:"drop,omitempty"`
	// AfterProcessing makes a drop, or a status, happen after the request was processed: the
	// merchant never hears of the subscription that was created (a gateway's 502 or a lost
	// answer), and its resend is answered 409 (P6, P8).
	AfterProcessing bool `json:"after_processing,omitempty"`
	// Count is how many requests the fault applies to; 0 means until cleared.
	Count int `json:"count,omitempty"`
	// Ratio applies the fault to this fraction of requests (0 < ratio <= 1); 0 means all.
	Ratio float64 `json:"ratio,omitempty"`
	// Remaining is how many more requests the fault applies to (reported, not set).
	Remaining *int `json:"remaining,omitempty"`
	// Applied counts the requests it was applied to (reported, not set).
	Applied int `json:"applied"`

	delay time.Duration
}

// Fault is what to do to one request.
type Fault struct {
	Status          int
	Latency         time.Duration
	Drop            bool
	AfterProcessing bool
}

// Describe says what the fault does, for the journal.
func (f *Fault) Describe() string {
	var parts []string
	if f.Latency > 0 {
		parts = append(parts, "latency "+f.Latency.String())
	}
	if f.Status != 0 {
		parts = append(parts, fmt.Sprintf("status %d", f.Status))
	}
	if f.Drop {
		parts = append(parts, "connection dropped")
	}
	if f.AfterProcessing {
		parts[len(parts)-1] += " after processing"
	}
	return "fault injected: " + strings.Join(parts, ", ")
}

// Injector holds the active rules. It is safe for concurrent use.
type Injector struct {
	mu    sync.Mutex
	rules []*Rule
	rng   *rand.Rand
}

// New returns an injector with no rules; seed makes ratios reproducible.
func New(seed uint64) *Injector {
	return &Injector{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Check validates a rule and returns the refusal's field and message.
func Check(r *Rule) (field, msg string) {
	switch {
	case unserved[r.Surface] != "":
		return "surface", fmt.Sprintf("surface %q: this sandbox does not serve %s yet, so a fault there would never apply; faults go on %s", r.Surface, unserved[r.Surface], strings.Join(Surfaces, ", "))
	case !slices.Contains(Surfaces, r.Surface):
		return "surface", fmt.Sprintf("surface %q: faults go on %s", r.Surface, strings.Join(Surfaces, ", "))
	case r.Status != 0 && (r.Status < 200 || r.Status > 599):
		return "status", fmt.Sprintf("status %d is not an HTTP status from 200 to 599", r.Status)
	case r.Status != 0 && r.Status < 400 && !(r.Status == 202 && r.Surface == "sc" && onResponsePath(r.Path)):
		// A 2xx answered without processing would tell the client that a subscription exists
		// when none was created (P5: a 201 carries its subs_req_id); a 3xx has nowhere to go.
		return "status", fmt.Sprintf("status %d is not a failure: a fault answers 400 to 599 (or 202, pending, on the sc surface's path /subscription/*/response, P1)", r.Status)
	case r.Count < 0:
		return "count", fmt.Sprintf("count %d is negative", r.Count)
	case r.Ratio < 0 || r.Ratio > 1:
		return "ratio", fmt.Sprintf("ratio %v is not between 0 and 1", r.Ratio)
	case r.Status == 0 && r.Latency == "" && !r.Drop:
		return "status", "the fault does nothing: give a status, a latency or drop"
	case r.AfterProcessing && !r.Drop && r.Status == 0:
		return "after_processing", "after_processing applies to drop or a status: the request is processed, then its answer is dropped or replaced by the status"
	case r.AfterProcessing && r.Status == 202:
		return "after_processing", "after_processing does not apply to 202: pending is answered instead of the response, which nothing processes"
	case r.Status != 0 && r.Drop:
		return "drop", "give a status or drop, not both"
	}
	if r.Path != "" {
		if _, err := path.Match(r.Path, "/"); err != nil {
			return "path", fmt.Sprintf("path %q is not a valid pattern: %v", r.Path, err)
		}
		if !strings.HasPrefix(r.Path, "/") && !strings.HasPrefix(r.Path, "*") {
			return "path", fmt.Sprintf("path %q never matches: a request path starts with '/' (e.g. /subscription/create, /subscription/*/response)", r.Path)
		}
		if create, _ := path.Match(strings.TrimSuffix(r.Path, "/"), "/subscription/create"); r.Surface == "sc" && !create && !onResponsePath(r.Path) {
			return "path", fmt.Sprintf("path %q matches no path of the sc surface: /subscription/create, /subscription/{subs_req_id}/response ('*' stands for one part of a path, never a '/')", r.Path)
		}
	}
	if r.Latency != "" {
		d, err := time.ParseDuration(r.Latency)
		if err != nil || d < 0 || d > MaxLatency {
			return "latency", fmt.Sprintf("latency %q is not a duration from 0 to 5m (e.g. 6s, 250ms)", r.Latency)
		}
		if d == 0 && r.Status == 0 && !r.Drop {
			// It would apply, count as used, and hide the rules after it.
			return "latency", fmt.Sprintf("latency %q does nothing: give a latency above 0, a status or drop", r.Latency)
		}
		r.delay = d
	}
	return "", ""
}

// onResponsePath reports whether a rule's path pattern takes in GET /subscription/{id}/response,
// where 202 answers "pending" (P1).
func onResponsePath(pattern string) bool {
	parts := strings.Split(strings.TrimSuffix(pattern, "/"), "/")
	if len(parts) != 4 || parts[0] != "" {
		return false
	}
	match := func(pat, name string) bool { ok, _ := path.Match(pat, name); return ok }
	return match(parts[1], "subscription") && match(parts[3], "response") && mayMatchRequestID(parts[2])
}

// mayMatchRequestID reports whether an id pattern can match a subs_req_id (24 hex digits):
// one id, any id (*), or ids by their start or end (6b03*, *e5a1).
func mayMatchRequestID(pat string) bool {
	const zeros = "000000000000000000000000"
	candidates := []string{pat, "0123456789abcdef01234567"}
	if i := strings.IndexAny(pat, "*?["); i >= 0 && i <= 24 {
		candidates = append(candidates, pat[:i]+zeros[i:]) // the literal start, then zeros
	}
	if j := strings.LastIndexAny(pat, "*?]"); j >= 0 && len(pat)-j-1 <= 24 {
		tail := pat[j+1:]
		candidates = append(candidates, zeros[len(tail):]+tail) // zeros, then the literal end
	}
	for _, id := range candidates {
		if ok, _ := path.Match(pat, id); ok && og.IsHex(id, 24) {
			return true
		}
	}
	return false
}

// Set replaces every rule (PUT is idempotent). Rules must have passed Check.
func (in *Injector) Set(rules []Rule) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = in.rules[:0]
	for i := range rules {
		r := rules[i]
		Check(&r)
		if r.Count > 0 {
			n := r.Count
			r.Remaining = &n
		} else {
			r.Remaining = nil
		}
		r.Applied = 0
		in.rules = append(in.rules, &r)
	}
}

// Rules returns the active rules with their counters.
func (in *Injector) Rules() []Rule {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]Rule, 0, len(in.rules))
	for _, r := range in.rules {
		c := *r
		if r.Remaining != nil {
			n := *r.Remaining
			c.Remaining = &n
		}
		out = append(out, c)
	}
	return out
}

// Request is what a fault rule is matched against.
type Request struct {
	Surface  string
	Merchant string // the authenticated merchant
	Path     string
	// Main marks the surface's main endpoint (the purchase POST on sc), which rules without a
	// path apply to.
	Main bool
}

// Take returns the fault to apply to a request, or nil. The first rule that matches (and is
// not used up, and wins its ratio draw) applies; it is counted as used.
func (in *Injector) Take(q Request) *Fault {
	in.mu.Lock()
	defer in.mu.Unlock()
	reqPath := strings.TrimSuffix(q.Path, "/")
	for _, r := range in.rules {
		if r.Surface != q.Surface || r.Remaining != nil && *r.Remaining == 0 || r.Merchant != "" && r.Merchant != q.Merchant {
			continue
		}
		if r.Path == "" && !q.Main {
			continue
		}
		if r.Path != "" {
			if ok, _ := path.Match(strings.TrimSuffix(r.Path, "/"), reqPath); !ok {
				continue
			}
		}
		if r.Ratio > 0 && in.rng.Float64() >= r.Ratio {
			continue
		}
		if r.Remaining != nil {
			*r.Remaining--
		}
		r.Applied++
		return &Fault{Status: r.Status, Latency: r.delay, Drop: r.Drop, AfterProcessing: r.AfterProcessing}
	}
	return nil
}
