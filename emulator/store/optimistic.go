package store

import (
	"bytes"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// view runs a service call's logic against one merchant's buckets through get and put, so that
// the same code can run twice: first in a read-only transaction on the caller's goroutine, where
// the work that costs (decoding, planning, encoding) happens in parallel with other requests
// and with the writer's fsync; then, in the single writer, only a check that every value it read
// is unchanged and the writes it decided. On a conflict the logic runs again inside the write
// transaction. (This is what keeps the writer from being the purchase POST's bottleneck.)
type view struct {
	tx       *bolt.Tx
	merchant string
	reads    []readRec
	writes   []writeRec
}

type readRec struct {
	bucket []byte
	key    string
	val    []byte // nil: absent
}

type writeRec struct {
	bucket []byte
	key    string
	val    []byte // nil: delete
}

func newView(tx *bolt.Tx, merchant string) *view { return &view{tx: tx, merchant: merchant} }

func (v *view) bucket(name []byte) (*bolt.Bucket, error) { return mbucket(v.tx, v.merchant, name) }

// get returns the value of key, as written earlier by this view or as stored; the read is
// recorded for the check. The result is a copy: it outlives the transaction.
func (v *view) get(bucket []byte, key string) ([]byte, error) {
	for i := len(v.writes) - 1; i >= 0; i-- {
		if w := v.writes[i]; bytes.Equal(w.bucket, bucket) && w.key == key {
			return w.val, nil
		}
	}
	b, err := v.bucket(bucket)
	if err != nil {
		return nil, err
	}
	var val []byte
	if raw := b.Get([]byte(key)); raw != nil {
		val = append([]byte{}, raw...)
	}
	v.reads = append(v.reads, readRec{bucket: bucket, key: key, val: val})
	return val, nil
}

// getJSON decodes key into out, reporting whether it exists.
func (v *view) getJSON(bucket []byte, key string, out any) (bool, error) {
	raw, err := v.get(bucket, key)
	if err != nil || raw == nil {
		return false, err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return false, fmt.Errorf("store: decode %s: %w", key, err)
	}
	return true, nil
}

func (v *view) put(bucket []byte, key string, val []byte) {
	v.writes = append(v.writes, writeRec{bucket: bucket, key: key, val: val})
}

func (v *view) putJSON(bucket []byte, key string, val any) error {
	raw, err := json.Marshal(val)
	if err != nil {
		return err
	}
	v.put(bucket, key, raw)
	return nil
}

func (v *view) del(bucket []byte, key string) {
	v.writes = append(v.writes, writeRec{bucket: bucket, key: key})
}

// valid reports whether every value the view read is still what tx holds.
func (v *view) valid(tx *bolt.Tx) bool {
	for _, r := range v.reads {
		b, err := mbucket(tx, v.merchant, r.bucket)
		if err != nil {
			return false
		}
		if cur := b.Get([]byte(r.key)); !bytes.Equal(cur, r.val) || (cur == nil) != (r.val == nil) {
			return false
		}
	}
	return true
}

// apply performs the view's writes in tx.
func (v *view) apply(tx *bolt.Tx) error {
	for _, w := range v.writes {
		b, err := mbucket(tx, v.merchant, w.bucket)
		if err != nil {
			return err
		}
		if w.val == nil {
			err = b.Delete([]byte(w.key))
		} else {
			err = b.Put([]byte(w.key), w.val)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// optimistic runs logic in a read-only transaction, then commits its writes in the single
// writer if nothing it read has changed, running it again inside the write transaction if
// something has. It returns the result of the run whose writes were committed, once they are
// on disk. logic must decide everything from what it reads through the view.
func optimistic[T any](db *DB, merchant string, logic func(v *view) (T, error)) (T, error) {
	var pre *view
	var preRes, res T
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		v := newView(tx, merchant)
		r, err := logic(v)
		if err != nil {
			return err
		}
		pre, preRes = v, r
		return nil
	}); err != nil {
		return res, err
	}
	pre.tx = nil
	err := db.commit.do(func(tx *bolt.Tx) error {
		// The committer may run this more than once (a batch retried without a failing
		// write): each run sets res from scratch.
		if pre.valid(tx) {
			res = preRes
			return pre.apply(tx)
		}
		v := newView(tx, merchant)
		r, err := logic(v)
		if err != nil {
			return err
		}
		res = r
		return v.apply(tx)
	})
	return res, err
}
