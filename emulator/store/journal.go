package store

import (
	"bytes"
	"context"
	"fmt"
	"strconv"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	bolt "go.etcd.io/bbolt"
)

// DefaultJournalMaxBytes caps the journal when the configuration does not.
const DefaultJournalMaxBytes = 64 << 20

// Journal listing bounds: entries per page, and bytes per page (entries keep up to 64 KiB of
// each body, so a page of 1000 could otherwise be 130 MB).
const (
	DefaultJournalLimit = 50
	MaxJournalLimit     = og.MaxJournalLimit
	MaxPageBytes        = 8 << 20
	// MinJournalBytes is the smallest cap the journal accepts: room for a few large entries.
	MinJournalBytes = 1 << 20
)

// journal implements og.JournalService on the journal bucket. Keys are 8-byte big-endian
// sequence numbers, so a cursor walks them in time order; each value is a small index header
// (surface and merchant, so that filters need not decode JSON) followed by the entry's JSON.
//
// Append is asynchronous: the committer writes entries in the next group commit, and List
// flushes first, so a listing sees every entry appended before it. X5: there is no update or
// delete; only the size cap removes the oldest entries, and every listing says how many.
type journal struct {
	db       *DB
	maxBytes int64
}

var _ og.JournalService = (*journal)(nil)

func newJournal(db *DB, maxBytes int64) *journal {
	return &journal{db: db, maxBytes: max(maxBytes, MinJournalBytes)}
}

func encodeEntry(e *og.JournalEntry) ([]byte, error) {
	js, err := marshal(e)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(e.Surface) + len(e.MerchantID) + 2 + len(js))
	b.WriteString(e.Surface)
	b.WriteByte(0)
	b.WriteString(e.MerchantID)
	b.WriteByte(0)
	b.Write(js)
	return b.Bytes(), nil
}

// indexOf returns the surface and merchant of an encoded entry, and its JSON.
func indexOf(v []byte) (surface, merchant, js []byte) {
	surface, rest, _ := bytes.Cut(v, []byte{0})
	merchant, js, _ = bytes.Cut(rest, []byte{0})
	return surface, merchant, js
}

// Append records e. It never blocks for long and never fails the caller. The entry is encoded
// here, in the caller's goroutine: the single writer only stores bytes (its seq is patched in).
func (j *journal) Append(e og.JournalEntry) {
	e.Seq = 0
	v, err := encodeEntry(&e)
	if err != nil {
		j.db.log.Error("journal: encode entry", "err", err)
		return
	}
	j.db.commit.post(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJournal)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		val := withSeq(v, seq)
		if err := b.Put(putUint(seq), val); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		size := int64(getUint(meta.Get(keyJournalBytes))) + int64(len(val))
		if size > j.maxBytes {
			size = j.evict(tx, size)
		}
		return meta.Put(keyJournalBytes, putUint(uint64(size)))
	})
}

// seqField is how an entry encoded with Seq 0 starts its JSON: {"seq":0,...
var seqField = []byte(`{"seq":0,`)

// withSeq returns the encoded entry v with its seq set.
func withSeq(v []byte, seq uint64) []byte {
	surface, merchant, js := indexOf(v)
	if !bytes.HasPrefix(js, seqField) {
		return v
	}
	out := make([]byte, 0, len(v)+20)
	out = append(out, surface...)
	out = append(out, 0)
	out = append(out, merchant...)
	out = append(out, 0)
	out = append(out, `{"seq":`...)
	out = strconv.AppendUint(out, seq, 10)
	out = append(out, ',')
	return append(out, js[len(seqField):]...)
}

// evict drops the oldest entries until the journal is at 90% of its cap, counting them, so
// that the cap is not hit again on the very next append.
func (j *journal) evict(tx *bolt.Tx, size int64) int64 {
	b := tx.Bucket(bucketJournal)
	meta := tx.Bucket(bucketMeta)
	target := j.maxBytes * 9 / 10
	dropped := getUint(meta.Get(keyJournalDropped))
	c := b.Cursor()
	n := 0
	for k, v := c.First(); k != nil && size > target; k, v = c.First() {
		size -= int64(len(v))
		if err := c.Delete(); err != nil {
			break
		}
		dropped++
		n++
	}
	_ = meta.Put(keyJournalDropped, putUint(dropped))
	j.db.log.Warn("journal: size cap reached; dropped the oldest entries", "dropped", n, "cap_bytes", j.maxBytes)
	return size
}

func (j *journal) flush() { j.db.commit.flush() }

// resetTx empties the journal inside a reset, keeping the sequence so that seqs never repeat.
func (j *journal) resetTx(tx *bolt.Tx) error {
	seq := tx.Bucket(bucketJournal).Sequence()
	if err := tx.DeleteBucket(bucketJournal); err != nil {
		return err
	}
	b, err := tx.CreateBucket(bucketJournal)
	if err != nil {
		return err
	}
	if err := b.SetSequence(seq); err != nil {
		return err
	}
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(keyJournalBytes, putUint(0)); err != nil {
		return err
	}
	return meta.Put(keyJournalDropped, putUint(0))
}

// List returns one page of entries matching f, newest first unless f.Ascending.
func (j *journal) List(ctx context.Context, f og.JournalFilter) (og.JournalPage, error) {
	j.flush()
	if f.Limit <= 0 {
		f.Limit = DefaultJournalLimit
	}
	f.Limit = min(f.Limit, MaxJournalLimit)
	page := og.JournalPage{Entries: []og.JournalEntry{}}
	pageBytes := 0
	err := j.db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJournal)
		page.Dropped = getUint(tx.Bucket(bucketMeta).Get(keyJournalDropped))
		c := b.Cursor()
		if k, _ := c.First(); k != nil {
			page.OldestSeq = getUint(k)
		}
		var k, v []byte
		step := c.Prev
		switch {
		case f.Ascending && f.Cursor > 0:
			k, v = c.Seek(putUint(f.Cursor + 1))
			step = c.Next
		case f.Ascending:
			k, v = c.First()
			step = c.Next
		case f.Cursor > 0:
			if sk, _ := c.Seek(putUint(f.Cursor)); sk == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		default:
			k, v = c.Last()
		}
		for ; k != nil; k, v = step() {
			if err := ctx.Err(); err != nil {
				return err
			}
			surface, merchant, js := indexOf(v)
			if f.Surface != "" && string(surface) != f.Surface || f.MerchantID != "" && string(merchant) != f.MerchantID {
				continue
			}
			if len(page.Entries) == f.Limit || len(page.Entries) > 0 && pageBytes+len(js) > MaxPageBytes {
				next := page.Entries[len(page.Entries)-1].Seq
				page.Next = &next
				break
			}
			pageBytes += len(js)
			var e og.JournalEntry
			if err := unmarshal(js, &e); err != nil {
				return fmt.Errorf("journal entry %d: %w", getUint(k), err)
			}
			page.Entries = append(page.Entries, e)
		}
		return nil
	})
	if page.Dropped > 0 {
		page.Note = fmt.Sprintf("the journal is capped at %d bytes: its %d oldest entries were dropped; the oldest kept is seq %d", j.maxBytes, page.Dropped, page.OldestSeq)
	}
	return page, err
}
