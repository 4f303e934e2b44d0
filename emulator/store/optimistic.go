package store

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/ogsandbox/ogsandbox/emulator/admit"
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
	db       *DB
	merchant string
	reads    []readRec
	writes   []writeRec
	maxes    map[string]int // bucket + key → index in writes of its opMax record
	buckets  bucketCache    // of tx
}

// bucketCache keeps the merchant's buckets a transaction has opened: bbolt caches nested
// buckets only in a writable transaction, and a checkout reads a dozen keys in a read-only one.
type bucketCache struct {
	names [][]byte
	open  []*bolt.Bucket
}

func (c *bucketCache) get(tx *bolt.Tx, merchant string, name []byte) (*bolt.Bucket, error) {
	for i, n := range c.names {
		if bytes.Equal(n, name) {
			return c.open[i], nil
		}
	}
	b, err := mbucket(tx, merchant, name)
	if err == nil {
		c.names, c.open = append(c.names, name), append(c.open, b)
	}
	return b, err
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
	// op is opPut (the zero value), opMax (store val, a big-endian counter, unless the stored
	// one is larger) or opAppend (store val under the bucket's next sequence; key is the cap).
	op int
}

const (
	opPut = iota
	opMax
	opAppend
)

func newView(tx *bolt.Tx, db *DB, merchant string) *view {
	return &view{tx: tx, db: db, merchant: merchant}
}

// nextID allocates the next id of a per-merchant counter (order og ids, customer og ids)
// without reading it through the view: concurrent service calls then do not conflict on the
// counter. The stored counter only ever grows (opMax); an id whose transaction never commits
// leaves a gap, as database sequences do.
func (v *view) nextID(key string) (int64, error) {
	id, err := v.db.ids.next(v.tx, v.merchant, key)
	if err != nil {
		return 0, err
	}
	v.keepMax(bIDs, key, uint64(id))
	return id, nil
}

// keepMax stores n under key when the writes are applied, unless the stored value is larger
// (opMax). A view keeps one such write per key, the largest: a run that starts ten thousand
// attempts writes the latest attempt's time once.
func (v *view) keepMax(bucket []byte, key string, n uint64) {
	k := string(bucket) + "\x00" + key
	if i, ok := v.maxes[k]; ok {
		if getUint(v.writes[i].val) < n {
			v.writes[i].val = putUint(n)
		}
		return
	}
	if v.maxes == nil {
		v.maxes = map[string]int{}
	}
	v.maxes[k] = len(v.writes)
	v.writes = append(v.writes, writeRec{bucket: bucket, key: key, val: putUint(n), op: opMax})
}

// appendSeq stores val under the bucket's next sequence when the writes are applied, dropping
// the entry max places back (a capped log: emails).
func (v *view) appendSeq(bucket []byte, val []byte, max uint64) {
	v.writes = append(v.writes, writeRec{bucket: bucket, key: string(putUint(max)), val: val, op: opAppend})
}

func (v *view) bucket(name []byte) (*bolt.Bucket, error) {
	return v.buckets.get(v.tx, v.merchant, name)
}

// get returns the value of key, as written earlier by this view or as stored; the read is
// recorded for the check. The result is a copy: it outlives the transaction.
func (v *view) get(bucket []byte, key string) ([]byte, error) {
	if val, ok := v.written(bucket, key); ok {
		return val, nil
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

// written returns what this view last wrote under key (nil: deleted), if it wrote anything.
func (v *view) written(bucket []byte, key string) ([]byte, bool) {
	for i := len(v.writes) - 1; i >= 0; i-- {
		if w := v.writes[i]; bytes.Equal(w.bucket, bucket) && w.key == key {
			return w.val, true
		}
	}
	return nil, false
}

// getJSON decodes key into out, reporting whether it exists.
func (v *view) getJSON(bucket []byte, key string, out any) (bool, error) {
	raw, err := v.get(bucket, key)
	if err != nil || raw == nil {
		return false, err
	}
	if err := unmarshal(raw, out); err != nil {
		return false, fmt.Errorf("store: decode %s: %w", key, err)
	}
	return true, nil
}

func (v *view) put(bucket []byte, key string, val []byte) {
	v.writes = append(v.writes, writeRec{bucket: bucket, key: key, val: val})
}

func (v *view) putJSON(bucket []byte, key string, val any) error {
	raw, err := marshal(val)
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
	var open bucketCache
	for _, r := range v.reads {
		b, err := open.get(tx, v.merchant, r.bucket)
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
	var open bucketCache
	for _, w := range v.writes {
		b, err := open.get(tx, v.merchant, w.bucket)
		if err != nil {
			return err
		}
		switch {
		case w.op == opMax:
			if getUint(b.Get([]byte(w.key))) < getUint(w.val) {
				err = b.Put([]byte(w.key), w.val)
			}
		case w.op == opAppend:
			err = appendCappedRaw(b, w.val, getUint([]byte(w.key)))
		case w.val == nil:
			err = b.Delete([]byte(w.key))
		default:
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
	return optimisticIn(nil, db, merchant, false, logic)
}

// optimisticIn is optimistic for a caller in gate g (see package admit): it leaves its slot
// while it waits for the commit. With readOnlyStands, a run with nothing to write returns its
// result at once, without the check.
func optimisticIn[T any](g *admit.Gate, db *DB, merchant string, readOnlyStands bool, logic func(v *view) (T, error)) (T, error) {
	db.commit.preparing.Add(1)
	prepared := sync.OnceFunc(db.commit.prepared)
	defer prepared() // also when logic panics
	pre, preRes, err := prepare(db, merchant, logic)
	if err != nil || readOnlyStands && len(pre.writes) == 0 {
		return preRes, err
	}
	var res T
	done := make(chan error, 1)
	ok := db.commit.send(job{done: done, fn: func(tx *bolt.Tx) error {
		// The committer may run this more than once (a batch retried without a failing
		// write): each run sets res from scratch.
		r, err := commitView(tx, db, merchant, pre, preRes, logic)
		res = r
		return err
	}})
	prepared()
	if !ok {
		return res, errClosed
	}
	g.Outside(func() { err = <-done })
	return res, err
}

// optimisticBehind is optimistic without waiting for the commit: it returns the prepared
// result at once, and the writer commits it (or runs logic again, on a conflict) in its next
// batch. For what may be lost in a crash because something durable comes before it: an order's
// answer, whose attempt was recorded before the order was sent (a lost answer is an
// unanswered attempt, O6a). Flush waits for it.
func optimisticBehind[T any](db *DB, merchant string, logic func(v *view) (T, error)) (T, error) {
	db.commit.preparing.Add(1)
	defer db.commit.prepared()
	pre, preRes, err := prepare(db, merchant, logic)
	if err != nil {
		return preRes, err
	}
	db.commit.post(func(tx *bolt.Tx) error {
		_, err := commitView(tx, db, merchant, pre, preRes, logic)
		return err
	})
	return preRes, nil
}

func prepare[T any](db *DB, merchant string, logic func(v *view) (T, error)) (*view, T, error) {
	var pre *view
	var preRes T
	err := db.bolt.View(func(tx *bolt.Tx) error {
		v := newView(tx, db, merchant)
		r, err := logic(v)
		if err != nil {
			return err
		}
		pre, preRes = v, r
		return nil
	})
	if pre != nil {
		pre.tx, pre.buckets = nil, bucketCache{} // both belong to the finished transaction
	}
	return pre, preRes, err
}

func commitView[T any](tx *bolt.Tx, db *DB, merchant string, pre *view, preRes T, logic func(v *view) (T, error)) (T, error) {
	if pre.valid(tx) {
		return preRes, pre.apply(tx)
	}
	v := newView(tx, db, merchant)
	r, err := logic(v)
	if err != nil {
		return r, err
	}
	return r, v.apply(tx)
}

// Flush returns once every write queued before it is committed.
func (db *DB) Flush() error { return db.commit.flush() }

// idAllocator hands out per-merchant ids from counters loaded once from storage.
type idAllocator struct {
	mu   sync.Mutex
	last map[string]int64 // merchant + 0 + counter key → last id handed out
}

// next reads a counter that is not loaded yet through tx, the caller's transaction: opening a
// second read transaction inside one deadlocks with a writer that must grow the file (bbolt's
// remap waits for every reader, and the new reader waits behind the remap).
func (a *idAllocator) next(tx *bolt.Tx, merchant, key string) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last == nil {
		a.last = map[string]int64{}
	}
	k := merchant + "\x00" + key
	if _, loaded := a.last[k]; !loaded {
		b, err := mbucket(tx, merchant, bIDs)
		if err != nil {
			return 0, err
		}
		a.last[k] = int64(getUint(b.Get([]byte(key))))
	}
	a.last[k]++
	return a.last[k], nil
}

// reset forgets the loaded counters (after a reset of the store).
func (a *idAllocator) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last = nil
}

// sharedCache keeps decoded values of records that are read far more often than written (a
// checkout reads each of its products; a placement, each of its order's products), each with
// the bytes it was decoded from. A read whose stored bytes are still those bytes gets the
// decoded value without decoding it again: the value is shared, and callers must not change it.
type sharedCache struct {
	mu sync.RWMutex
	m  map[string]sharedEntry // merchant, bucket, key
}

type sharedEntry struct {
	raw []byte
	val any
}

// maxShared bounds the cache: past it, the cache starts again empty (a catalogue of a few
// thousand products stays in).
const maxShared = 8192

func (c *sharedCache) lookup(key string, raw []byte) (sharedEntry, bool) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	return e, ok && bytes.Equal(e.raw, raw)
}

func (c *sharedCache) store(key string, e sharedEntry) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxShared {
		c.m = map[string]sharedEntry{}
	}
	c.m[key] = e
	c.mu.Unlock()
}

// getShared returns the decoded value of key, or nil when there is none, as getJSON would
// decode it; the value may be shared with other readers and must not be changed. The read is
// recorded for the check as get records it.
func getShared[T any](v *view, bucket []byte, key string) (*T, error) {
	if val, ok := v.written(bucket, key); ok {
		if val == nil {
			return nil, nil
		}
		out := new(T)
		if err := unmarshal(val, out); err != nil {
			return nil, fmt.Errorf("store: decode %s: %w", key, err)
		}
		return out, nil
	}
	b, err := v.bucket(bucket)
	if err != nil {
		return nil, err
	}
	raw := b.Get([]byte(key))
	if raw == nil {
		v.reads = append(v.reads, readRec{bucket: bucket, key: key})
		return nil, nil
	}
	ck := v.merchant + "\x00" + string(bucket) + "\x00" + key
	if e, ok := v.db.shared.lookup(ck, raw); ok {
		if out, ok := e.val.(*T); ok {
			v.reads = append(v.reads, readRec{bucket: bucket, key: key, val: e.raw})
			return out, nil
		}
	}
	own := bytes.Clone(raw)
	out := new(T)
	if err := unmarshal(own, out); err != nil {
		return nil, fmt.Errorf("store: decode %s: %w", key, err)
	}
	v.db.shared.store(ck, sharedEntry{raw: own, val: out})
	v.reads = append(v.reads, readRec{bucket: bucket, key: key, val: own})
	return out, nil
}
