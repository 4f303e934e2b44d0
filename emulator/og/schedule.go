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

// RunReport sums what runs of scheduled work did.
type RunReport struct {
	Runs     int `json:"runs"`
	Placed   int `json:"placed"`
	Rejected int `json:"rejected"`
	Pending  int `json:"pending"`
	Feeds    int `json:"feeds,omitempty"` // feed files read at the F1 pickups
}

// Add adds o to r.
func (r *RunReport) Add(o RunReport) {
	r.Runs += o.Runs
	r.Placed += o.Placed
	r.Rejected += o.Rejected
	r.Pending += o.Pending
	r.Feeds += o.Feeds
}
