package og

import (
	"context"
	"time"
)

// Work is anything Ordergroove does on its own schedule: the scheduler's placement runs
// (O1), the 30-minute feed pickup (F1). The sandbox clock drives it: when the clock is
// advanced past a due time, the work due then runs, in order, before the advance returns.
type Work interface {
	// NextDue returns the earliest sandbox time at which the work has something to do,
	// and false when nothing is scheduled. A time at or before now means "due now".
	NextDue(ctx context.Context) (time.Time, bool, error)
	// RunDue does everything due at or before now and returns once all of it is finished.
	// Afterwards NextDue must be later than now.
	RunDue(ctx context.Context, now time.Time) (RunReport, error)
}

// RunReport sums what runs of scheduled work did. Orders count once each, by their latest
// outcome in the runs summed: an order answered 999 at two runs and placed at the third is one
// placed order, and an order paused (F4) over ten runs is one pending order.
type RunReport struct {
	Runs     int `json:"runs"`
	Placed   int `json:"placed"`
	Rejected int `json:"rejected"`
	Pending  int `json:"pending"`
	Feeds    int `json:"feeds,omitempty"` // feed files read at the F1 pickups

	outcomes map[orderRef]string // each order's latest outcome (OutcomePlaced, ...)
}

// orderRef names an order across merchants: og ids are numbered per merchant.
type orderRef struct {
	merchant string
	id       int64
}

// Order records the outcome of a merchant's order id at a run, replacing what an earlier run
// recorded.
func (r *RunReport) Order(merchant string, id int64, outcome string) {
	r.order(orderRef{merchant, id}, outcome)
}

func (r *RunReport) order(ref orderRef, outcome string) {
	if r.outcomes == nil {
		r.outcomes = map[orderRef]string{}
	}
	if prev, ok := r.outcomes[ref]; ok {
		*r.counter(prev)--
	}
	r.outcomes[ref] = outcome
	*r.counter(outcome)++
}

func (r *RunReport) counter(outcome string) *int {
	switch outcome {
	case OutcomePlaced:
		return &r.Placed
	case OutcomeRejected:
		return &r.Rejected
	}
	return &r.Pending
}

// Add adds o, which came after r, to r.
func (r *RunReport) Add(o RunReport) {
	r.Runs += o.Runs
	r.Feeds += o.Feeds
	for ref, outcome := range o.outcomes {
		r.order(ref, outcome)
	}
}
