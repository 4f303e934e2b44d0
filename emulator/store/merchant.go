package store

import (
	"fmt"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	bolt "go.etcd.io/bbolt"
)

// Buckets each merchant has inside merchants/<merchant_id>. Reset empties them all.
var (
	bProducts      = []byte("products")      // product_id → og.Product
	bCustomers     = []byte("customers")     // merchant user id → og.Customer (addresses and payments inside)
	bIDs           = []byte("ids")           // address or payment public id → "address|payment" + 0 + user id
	bSubscriptions = []byte("subscriptions") // public id (time-ordered) → og.Subscription
	bCustomerSubs  = []byte("customer_subs") // user id + 0 + subscription id → nothing
	bRequests      = []byte("requests")      // subs_req_id → og.PurchaseResult
	bOrderIDs      = []byte("order_ids")     // merchant_order_id → subs_req_id of the request that processed it
	bSessions      = []byte("sessions")      // session id → og.Session
	bAttempts      = []byte("attempts")      // seq → og.PurchaseAttempt
	bFeeds         = []byte("feeds")         // seq → og.FeedReport
	bProductSubs   = []byte("product_subs")  // product id + 0 + subscription id → nothing (F3)
	bCategories    = []byte("categories")    // category id → og.Category (F8)
	bPendingFeeds  = []byte("pending_feeds") // path in the SFTP home → og.Dropped: awaiting the F1 pickup
)

// merchantBuckets are the buckets every merchant has; they are created at open.
var merchantBuckets = [][]byte{bProducts, bCustomers, bIDs, bSubscriptions, bCustomerSubs, bRequests, bOrderIDs, bSessions, bAttempts, bFeeds,
	bOrders, bDue, bReminders, bGroups, bInflight, bEmails, bSched, bProductSubs, bCategories, bPendingFeeds, bAwaiting, bBatches, bOrderItems, bAttemptBodies, bAwaitNext}

// Bounds of the per-merchant logs: the oldest entries go past them.
const (
	maxAttempts    = 50_000
	maxFeedReports = 500
)

func appendCappedRaw(b *bolt.Bucket, raw []byte, max uint64) error {
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	if err := b.Put(putUint(seq), raw); err != nil {
		return err
	}
	if seq > max {
		return b.Delete(putUint(seq - max))
	}
	return nil
}

// mbucket returns a bucket of merchant id, or an ENOTFOUND error for an unknown merchant.
func mbucket(tx *bolt.Tx, merchantID string, name []byte) (*bolt.Bucket, error) {
	mb := tx.Bucket(bucketMerchants).Bucket([]byte(merchantID))
	if mb == nil {
		return nil, og.Errorf(og.ENOTFOUND, "M1", "merchant_id", "no merchant %q", merchantID)
	}
	b := mb.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("store: merchant %s has no bucket %s", merchantID, name)
	}
	if appendOrdered(name) {
		b.FillPercent = appendFill
	}
	return b, nil
}

// appendFill is how full bbolt leaves the pages it splits in a bucket whose keys mostly grow
// (bbolt's default, 0.5, suits keys that land anywhere): new keys go to the last page, so the
// pages left behind are never written again and may as well be full. A checkout appends to
// each of these; at 0.5 it wrote twice the pages for them, and the file grew twice as fast.
const appendFill = 0.9

// appendOrdered reports whether the keys of bucket name mostly grow: time-ordered public ids,
// sequences (item seqs among them), ObjectId-like request ids.
func appendOrdered(name []byte) bool {
	switch string(name) {
	case string(bSubscriptions), string(bRequests), string(bAttempts), string(bIDs), string(bEmails), string(bFeeds), string(bOrderItems):
		return true
	}
	return false
}

func getJSON(b *bolt.Bucket, key string, v any) (bool, error) {
	raw := b.Get([]byte(key))
	if raw == nil {
		return false, nil
	}
	if err := unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("store: decode %s: %w", key, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, key string, v any) error {
	raw, err := marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), raw)
}

// list returns the values of a merchant's bucket in key order, those keep accepts (all when
// keep is nil); never nil, so that an empty list is [] in JSON.
func list[T any](db *DB, merchantID string, bucket []byte, keep func(*T) bool) ([]T, error) {
	out := []T{}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bucket)
		if err != nil {
			return err
		}
		return eachJSON(b, func(_ []byte, v *T) error {
			if keep == nil || keep(v) {
				out = append(out, *v)
			}
			return nil
		})
	})
	return out, err
}

// appendLog appends v to a merchant's capped log (feed reports, purchase attempts), committed
// behind the caller; readers flush first.
func (db *DB) appendLog(merchantID string, bucket []byte, v any, max uint64) error {
	raw, err := marshal(v)
	if err != nil {
		return err
	}
	db.commit.post(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bucket)
		if err != nil {
			return err
		}
		return appendCappedRaw(b, raw, max)
	})
	return nil
}

// eachJSON decodes every value of b into a fresh T and calls fn with it, in key order.
func eachJSON[T any](b *bolt.Bucket, fn func(key []byte, v *T) error) error {
	return b.ForEach(func(k, raw []byte) error {
		v := new(T)
		if err := unmarshal(raw, v); err != nil {
			return fmt.Errorf("store: decode %s: %w", k, err)
		}
		return fn(k, v)
	})
}
