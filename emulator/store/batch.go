package store

import (
	"context"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	bolt "go.etcd.io/bbolt"
)

var _ og.BatchStore = (*DB)(nil)

// BeginBatch records the attempts of a batch order file durably, in one commit, before the
// file is written (O2): each order is pending its batch response (status 9) and listed as
// awaiting it. Unlike an API attempt, an order awaiting a batch response survives a restart
// as it is: the merchant may answer days later, or never (AdvanceAwaiting).
func (db *DB) BeginBatch(ctx context.Context, merchantID string, b og.Batch, starts []og.AttemptStart) (og.Batch, error) {
	now := db.now()
	return optimistic(db, merchantID, func(v *view) (og.Batch, error) {
		rec := b
		rec.Orders, rec.Created = nil, now
		for _, bg := range starts {
			o, stored, ok, err := startAttempt(v, bg, now)
			if err != nil {
				return og.Batch{}, err
			}
			if !ok {
				continue
			}
			v.del(bDue, timeKey(o.DueAt, o.OGID))
			o.DueAt = time.Time{} // no run handles it: its answer comes in a batch response
			o.StatusCode = og.StatusPendingBatchResponse
			if err := saveOrder(v, o, stored); err != nil {
				return og.Batch{}, err
			}
			v.put(bAwaiting, orderKey(o.OGID), []byte(b.File))
			// Looked at by the next run (this one's look is done), which keys later looks at the
			// local midnight of the subscriptions' next date.
			v.put(bAwaitNext, timeKey(b.Run, o.OGID), []byte{})
			rec.Orders = append(rec.Orders, o.OGID)
		}
		if len(rec.Orders) == 0 {
			return rec, nil
		}
		return rec, v.putJSON(bBatches, b.File, &rec)
	})
}

// AdvanceAwaiting moves on the subscriptions of orders still awaiting a batch answer once
// their next date has come by run: the order waits in status 9 for good if its answer never
// comes, but Ordergroove never stops a subscription for an order, so the next order is made,
// and goes out in this run. An order answered meanwhile (placed, rejected, or retried after a
// 999) is not awaiting: it moves its subscriptions as the API method's do, so that a retried
// order stands for its day's and is not doubled by the next.
func (db *DB) AdvanceAwaiting(ctx context.Context, m *og.Merchant, run time.Time) error {
	// Only the orders whose look is due (bAwaitNext): an order that never gets its answer is
	// looked at once per subscription date, not at every run for ever.
	due, err := db.scanUpTo(m.ID, bAwaitNext, run)
	if err != nil || len(due) == 0 {
		return err
	}
	today := og.DateOf(run, m.Location)
	now := db.now()
	for _, d := range due {
		if _, err := optimistic(db, m.ID, func(v *view) (struct{}, error) {
			v.del(bAwaitNext, timeKey(d.At, d.OGID))
			if raw, err := v.get(bAwaiting, orderKey(d.OGID)); err != nil || raw == nil {
				return struct{}{}, err // answered since
			}
			o, _, ok, err := loadOrderHead(v, d.OGID)
			if err != nil || !ok {
				return struct{}{}, err
			}
			var next og.Date // the soonest next date of a subscription still at the order's
			for _, sid := range o.Subscriptions {
				var s og.Subscription
				if ok, err := v.getJSON(bSubscriptions, sid, &s); err != nil {
					return struct{}{}, err
				} else if ok && s.Live() && s.NextOrderDate == o.PlaceDate {
					if n := s.Frequency.NextFrom(o.PlaceDate, s.AnchorDay); next.IsZero() || n.Before(next) {
						next = n
					}
				}
			}
			switch {
			case next.IsZero(): // every subscription has moved on, or ended
				return struct{}{}, nil
			case next.After(today):
				v.put(bAwaitNext, timeKey(next.At(0, m.Location), d.OGID), []byte{})
				return struct{}{}, nil
			}
			return struct{}{}, nextOrdersFrom(v, m, o, today, now)
		}); err != nil {
			return err
		}
	}
	return nil
}

// indexAwaiting puts every order of a merchant's buckets (mb) awaiting a batch answer in
// await_next, to be looked at by the next run: buckets written before the index existed.
func indexAwaiting(mb *bolt.Bucket) error {
	awaiting, next := mb.Bucket(bAwaiting), mb.Bucket(bAwaitNext)
	return awaiting.ForEach(func(k, _ []byte) error {
		return next.Put([]byte(timeKey(time.Unix(0, 0), int64(getUint(k)))), []byte{})
	})
}

// BatchWritten records that a batch's file is on the drop site.
func (db *DB) BatchWritten(ctx context.Context, merchantID, file string) error {
	_, err := optimistic(db, merchantID, func(v *view) (struct{}, error) {
		var b og.Batch
		if ok, err := v.getJSON(bBatches, file, &b); err != nil || !ok {
			return struct{}{}, err
		}
		b.Written = true
		return struct{}{}, v.putJSON(bBatches, file, &b)
	})
	return err
}

// UnwrittenBatches returns the batches recorded and never written.
func (db *DB) UnwrittenBatches(merchantID string) ([]og.Batch, error) {
	return list(db, merchantID, bBatches, func(b *og.Batch) bool { return !b.Written })
}

// AwaitingBatch returns the batch file an order awaits its answer from.
func (db *DB) AwaitingBatch(merchantID string, id int64) (string, bool, error) {
	var file string
	var ok bool
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bAwaiting)
		if err != nil {
			return err
		}
		if v := b.Get([]byte(orderKey(id))); v != nil {
			file, ok = string(v), true
		}
		return nil
	})
	return file, ok, err
}

// AddPendingFeed records a feed file awaiting the F1 pickup, durably: the upload is
// acknowledged once it is.
func (db *DB) AddPendingFeed(ctx context.Context, merchantID string, f og.Dropped) error {
	_, err := optimistic(db, merchantID, func(v *view) (struct{}, error) {
		return struct{}{}, v.putJSON(bPendingFeeds, f.Path, &f)
	})
	return err
}

// PendingFeeds returns the feed files awaiting the F1 pickup.
func (db *DB) PendingFeeds(merchantID string) ([]og.Dropped, error) {
	return list[og.Dropped](db, merchantID, bPendingFeeds, nil)
}

// RemovePendingFeed forgets a pending feed file once it was read — unless it was uploaded
// again since (at is the upload the pickup read): that upload waits for the next pickup.
func (db *DB) RemovePendingFeed(ctx context.Context, merchantID, path string, at time.Time) error {
	_, err := optimistic(db, merchantID, func(v *view) (struct{}, error) {
		var f og.Dropped
		if ok, err := v.getJSON(bPendingFeeds, path, &f); err != nil || !ok || !f.At.Equal(at) {
			return struct{}{}, err
		}
		v.del(bPendingFeeds, path)
		return struct{}{}, nil
	})
	return err
}

// Batch returns a batch by its file name.
func (db *DB) Batch(merchantID, file string) (og.Batch, bool, error) {
	var b og.Batch
	var ok bool
	err := db.bolt.View(func(tx *bolt.Tx) error {
		bk, err := mbucket(tx, merchantID, bBatches)
		if err != nil {
			return err
		}
		ok, err = getJSON(bk, file, &b)
		return err
	})
	return b, ok, err
}
