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
// as it is: the merchant may answer days later, or never.
//
// The orders' subscriptions go on to their next orders now, as an order placed today would
// take them: Ordergroove never stops a subscription for an order, and one whose answer never
// comes would otherwise stop them for good. An answer that comes later finds them moved on.
func (db *DB) BeginBatch(ctx context.Context, m *og.Merchant, b og.Batch, starts []og.AttemptStart) (og.Batch, error) {
	now := db.now()
	tomorrow := og.DateOf(b.Run, m.Location).AddDays(1)
	return optimistic(db, m.ID, func(v *view) (og.Batch, error) {
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
			rec.Orders = append(rec.Orders, o.OGID)
			if err := nextOrdersFrom(v, m, o, tomorrow, now); err != nil {
				return og.Batch{}, err
			}
		}
		if len(rec.Orders) == 0 {
			return rec, nil
		}
		return rec, v.putJSON(bBatches, b.File, &rec)
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
