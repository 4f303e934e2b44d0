// Package store keeps the sandbox's state in one bbolt file under data_dir: the clock offset,
// every merchant's customers, subscriptions, products, orders and emails. The journal (X5:
// append-only) is kept in segment files beside it (see journal.go). It implements the
// service interfaces of package og.
//
// Habits (STYLE.md): every bucket is created at open; one service call is one transaction
// carrying one timestamp; values are copied out before a transaction ends; keys that order
// by time are fixed-width big-endian. Writes go through one committer that groups whatever
// is queued into a single fsync, so an acknowledged write is on disk and concurrent writers
// share the cost (see commit.go).
package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the database file inside data_dir.
const FileName = "ogsandbox.db"

// DefaultLockTimeout is how long a second instance waits for the database's lock before it
// says who holds it: short enough that it fails within a second, start-up included.
const DefaultLockTimeout = 400 * time.Millisecond

// schemaVersion is bumped when the layout changes; Open migrates older files.
//
//	2: product_subs indexes subscriptions by product (F3)
//	3: order items under item seqs (orderHead.ItemSeqs); older heads move theirs when next
//	   saved, so an older binary must not open the file
const schemaVersion = 3

// Top-level buckets.
var (
	bucketMeta      = []byte("meta")
	bucketJournal   = []byte("journal") // the journal before it had files of its own (see openJournal)
	bucketMerchants = []byte("merchants")
)

// Keys of the meta bucket.
var (
	keySchema         = []byte("schema")
	keyClockOffset    = []byte("clock_offset")
	keyJournalBytes   = []byte("journal_bytes")   // the journal bucket's size, before the journal had files
	keyPaymentKey     = []byte("payment_key")     // the AES key payments' holder and expiry are kept under (E4)
	keyJournalDropped = []byte("journal_dropped") // what the journal bucket's cap had dropped, likewise
)

// Options configure Open.
type Options struct {
	// LockTimeout is how long Open waits for another process's lock on the file; past it,
	// Open fails with a *LockedError. Zero means DefaultLockTimeout.
	LockTimeout time.Duration
	// Owner describes this process (pid, listen address) for the message another instance
	// prints when it finds the file locked.
	Owner string
	// JournalMaxBytes caps the journal; past it the oldest entries are dropped. Zero means
	// DefaultJournalMaxBytes.
	JournalMaxBytes int64
	// Merchants are the configured merchants' ids: their buckets are created at open.
	Merchants []string
	// Now is read once per transaction (sandbox time). Nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// DB is the sandbox's storage.
type DB struct {
	bolt    *bolt.DB
	path    string
	now     func() time.Time
	log     *slog.Logger
	commit  *committer
	journal *journal
	ids     idAllocator
	shared  sharedCache // decoded products (see getShared)
	// paymentKey encrypts payments' holder and expiry at rest (E4). It is the store's own, not
	// a merchant's hash key: a merchant whose key changes keeps its customers' payments.
	paymentKey string
}

// LockedError reports that another process holds the database.
type LockedError struct {
	Path  string
	Owner string // what that process wrote about itself, if anything
	Wait  time.Duration
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.Owner != "" {
		who = e.Owner
	}
	return fmt.Sprintf("data_dir %s is in use: %s holds the lock on %s (waited %s); stop it, or give this instance its own data_dir (--data-dir, OGSANDBOX_DATA_DIR) or --ephemeral",
		filepath.Dir(e.Path), who, e.Path, e.Wait)
}

// Open opens (creating if needed) the database at path and every bucket it uses. It fails
// within opts.LockTimeout when another process holds the file.
func Open(path string, opts Options) (*DB, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data_dir: %w", err)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      opts.LockTimeout,
		FreelistType: bolt.FreelistMapType,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		owner, _ := os.ReadFile(path + ".owner")
		return nil, &LockedError{Path: path, Owner: strings.TrimSpace(string(owner)), Wait: opts.LockTimeout}
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if opts.Owner != "" {
		_ = os.WriteFile(path+".owner", []byte(opts.Owner+"\n"), 0o600)
	}
	db := &DB{bolt: bdb, path: path, now: opts.Now, log: opts.Log}
	if err := bdb.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketMerchants} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keySchema); v != nil && getUint(v) > schemaVersion {
			return fmt.Errorf("%s was written by a newer ogsandbox (schema %d; this one reads %d)", path, getUint(v), schemaVersion)
		}
		if err := ensureMerchants(tx, opts.Merchants); err != nil {
			return err
		}
		if db.paymentKey = string(meta.Get(keyPaymentKey)); db.paymentKey == "" {
			var k [16]byte
			rand.Read(k[:])
			db.paymentKey = hex.EncodeToString(k[:]) // 32 characters: an AES-256 key as E1 uses
			if err := meta.Put(keyPaymentKey, []byte(db.paymentKey)); err != nil {
				return err
			}
		}
		if v := meta.Get(keySchema); v != nil && getUint(v) < 2 {
			if err := indexProductSubs(tx); err != nil {
				return fmt.Errorf("migrate %s to schema 2: %w", path, err)
			}
		}
		return meta.Put(keySchema, putUint(schemaVersion))
	}); err != nil {
		bdb.Close()
		return nil, err
	}
	db.commit = newCommitter(bdb, opts.Log)
	if err := db.openJournal(opts.JournalMaxBytes); err != nil {
		db.commit.close()
		bdb.Close()
		return nil, err
	}
	return db, nil
}

// openJournal opens the journal's files beside the database file, moving into them the
// entries of a journal the database kept in its own journal bucket.
func (db *DB) openJournal(maxBytes int64) error {
	if maxBytes <= 0 {
		maxBytes = DefaultJournalMaxBytes
	}
	var dropped, seq uint64
	var old [][2][]byte
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		dropped = getUint(tx.Bucket(bucketMeta).Get(keyJournalDropped))
		old, seq = oldBucketEntries(tx)
		return nil
	}); err != nil {
		return err
	}
	j, err := openJournal(db, journalDir(db.path), maxBytes)
	if err != nil {
		return err
	}
	db.journal = j
	if seq == 0 && len(old) == 0 {
		return nil
	}
	if err := j.importEntries(old, seq+1, dropped); err != nil {
		j.close()
		return fmt.Errorf("move the journal out of %s: %w", db.path, err)
	}
	return db.commit.do(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketJournal); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Delete(keyJournalDropped); err != nil {
			return err
		}
		return meta.Delete(keyJournalBytes)
	})
}

// SetOwner rewrites the description of this process that another instance prints when it
// finds the database locked.
func (db *DB) SetOwner(owner string) {
	_ = os.WriteFile(db.path+".owner", []byte(owner+"\n"), 0o600)
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Close finishes every queued write and closes the file, releasing its lock.
func (db *DB) Close() error {
	if db == nil || db.bolt == nil {
		return nil
	}
	db.journal.close()
	db.commit.close()
	_ = os.Remove(db.path + ".owner")
	return db.bolt.Close()
}

// Journal returns the journal service.
func (db *DB) Journal() *journal { return db.journal }

// EnsureMerchants creates the buckets of merchants added after open (Open creates those of
// Options.Merchants).
func (db *DB) EnsureMerchants(ids []string) error {
	return db.commit.do(func(tx *bolt.Tx) error { return ensureMerchants(tx, ids) })
}

func ensureMerchants(tx *bolt.Tx, ids []string) error {
	root := tx.Bucket(bucketMerchants)
	for _, id := range ids {
		mb, err := root.CreateBucketIfNotExists([]byte(id))
		if err != nil {
			return fmt.Errorf("merchant %s: %w", id, err)
		}
		indexed := mb.Bucket(bAwaitNext) != nil
		for _, name := range merchantBuckets {
			if _, err := mb.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if !indexed { // a merchant's buckets from before the index (readable by older binaries)
			if err := indexAwaiting(mb); err != nil {
				return fmt.Errorf("merchant %s: index the orders awaiting a batch answer: %w", id, err)
			}
		}
	}
	return nil
}

// ClockOffset returns the persisted offset of the sandbox clock, and false if the clock has
// never been set on this database.
func (db *DB) ClockOffset() (time.Duration, bool, error) {
	var off time.Duration
	var ok bool
	err := db.bolt.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyClockOffset); v != nil {
			off, ok = time.Duration(int64(getUint(v))), true
		}
		return nil
	})
	return off, ok, err
}

// SaveClockOffset persists the clock offset durably.
func (db *DB) SaveClockOffset(off time.Duration) error {
	return db.commit.do(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyClockOffset, putUint(uint64(int64(off))))
	})
}

// Reset forgets everything of every merchant (customers, subscriptions, products, orders,
// emails) and the journal, keeping the merchants themselves and the clock.
func (db *DB) Reset() error {
	err := db.commit.do(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketMerchants)
		var ids [][]byte
		if err := root.ForEachBucket(func(k []byte) error { ids = append(ids, append([]byte(nil), k...)); return nil }); err != nil {
			return err
		}
		for _, id := range ids {
			mb := root.Bucket(id)
			var names [][]byte
			_ = mb.ForEachBucket(func(k []byte) error { names = append(names, append([]byte(nil), k...)); return nil })
			for _, n := range names {
				if err := mb.DeleteBucket(n); err != nil {
					return err
				}
			}
			for _, n := range merchantBuckets {
				if _, err := mb.CreateBucket(n); err != nil {
					return err
				}
			}
		}
		db.ids.reset()
		return nil
	})
	if err != nil {
		return err
	}
	return db.journal.reset()
}

func putUint(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func getUint(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
