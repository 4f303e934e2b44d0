package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	bolt "go.etcd.io/bbolt"
)

func listAll(t *testing.T, db *DB) og.JournalPage {
	t.Helper()
	p, err := db.Journal().List(context.Background(), og.JournalFilter{Limit: MaxJournalLimit, Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func reopen(t *testing.T, db *DB, opts Options) *DB {
	t.Helper()
	path := db.Path()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func seqs(p og.JournalPage) []uint64 {
	var s []uint64
	for _, e := range p.Entries {
		s = append(s, e.Seq)
	}
	return s
}

// X5: the journal outlives the process: entries, their seqs and what they say are read back
// after a restart, and seqs continue where they stopped.
func TestX5_JournalSurvivesReopen(t *testing.T) {
	db := MustOpen(t, Options{})
	for i := range 20 {
		db.Journal().Append(entry(og.SurfaceSC, "m1", i))
	}
	db = reopen(t, db, Options{})
	p := listAll(t, db)
	if len(p.Entries) != 20 || p.Entries[0].Seq != 1 || p.Entries[19].Seq != 20 || p.Entries[7].Request.URL != "/x/7" {
		t.Fatalf("after reopen: seqs %v", seqs(p))
	}
	db.Journal().Append(entry(og.SurfaceAPI, "m2", 21))
	p = listAll(t, db)
	if got := p.Entries[len(p.Entries)-1]; got.Seq != 21 || got.Surface != og.SurfaceAPI || got.MerchantID != "m2" {
		t.Fatalf("the entry appended after reopen: %+v", got)
	}
}

// A crash mid-write leaves part of a record at the end of the last segment: the whole records
// before it are kept, the part is cut off, and appends continue past any seq the cut bytes
// could have held (a listing may have shown it before the crash).
func TestX5_JournalKeepsWholeRecordsAfterATornWrite(t *testing.T) {
	db := MustOpen(t, Options{})
	for i := range 5 {
		db.Journal().Append(entry(og.SurfaceSC, "m1", i))
	}
	dir := journalDir(db.Path())
	path := db.Path()
	db.Close()
	names, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	last := names[len(names)-1]
	// Half of a sixth record, as a write cut short by SIGKILL or power loss leaves it.
	rec := appendRecord(nil, 6, mustEncode(t, entry(og.SurfaceSC, "m1", 5)))
	f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(rec[:len(rec)/2])
	f.Close()
	before, _ := os.Stat(last)

	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if after, _ := os.Stat(last); after.Size() != before.Size()-int64(len(rec)/2) {
		t.Fatalf("the torn record was not cut off: %d bytes, were %d", after.Size(), before.Size())
	}
	db.Journal().Append(entry(og.SurfaceSC, "m1", 99))
	p := listAll(t, db)
	if got := seqs(p); len(got) != 6 || got[4] != 5 || got[5] < 6+uint64(len(rec)/2/recordHeader) || p.Entries[5].Request.URL != "/x/99" {
		t.Fatalf("after a torn write: seqs %v", got)
	}
	db = reopen(t, db, Options{})
	if got := seqs(listAll(t, db)); len(got) != 6 {
		t.Fatalf("after a second reopen: seqs %v", got)
	}
}

// A record whose bytes changed fails its checksum: the records after it in the same segment
// are not trusted, and the sandbox still starts.
func TestX5_JournalStopsAtARecordFailingItsChecksum(t *testing.T) {
	db := MustOpen(t, Options{})
	for i := range 3 {
		db.Journal().Append(entry(og.SurfaceSC, "m1", i))
	}
	path := db.Path()
	db.Close()
	names, _ := filepath.Glob(filepath.Join(journalDir(path), "*"+segSuffix))
	raw, _ := os.ReadFile(names[0])
	first := recordHeader + int(le32(raw))
	raw[first+recordHeader+10] ^= 0xff // inside the second record's payload
	os.WriteFile(names[0], raw, 0o600)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if got := seqs(listAll(t, db)); len(got) != 1 || got[0] != 1 {
		t.Fatalf("seqs %v, want only the record before the damaged one", got)
	}
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func mustEncode(t *testing.T, e og.JournalEntry) []byte {
	t.Helper()
	v, err := encodeEntry(&e)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A database written before the journal had files of its own kept the journal in a bucket:
// opening it moves the entries into the files, with their seqs, and seqs continue after the
// bucket's.
func TestJournalMovesOutOfAnOlderDatabase(t *testing.T) {
	db := MustOpen(t, Options{})
	path := db.Path()
	db.Close()
	writeOldJournal(t, path, 3, "", func(tx *bolt.Tx, b *bolt.Bucket) error {
		// The oldest had been dropped by the cap, and the newest sequence was taken.
		if err := b.Delete(putUint(1)); err != nil {
			return err
		}
		_ = b.SetSequence(4)
		return tx.Bucket(bucketMeta).Put(keyJournalDropped, putUint(1))
	})

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p := listAll(t, db)
	if got := seqs(p); len(got) != 2 || got[0] != 2 || got[1] != 3 || p.Dropped != 1 || p.Entries[0].MerchantID != "m9" || p.Entries[1].Request.URL != "/x/2" {
		t.Fatalf("moved journal: seqs %v, dropped %d, %+v", got, p.Dropped, p.Entries)
	}
	db.Journal().Append(entry(og.SurfaceSC, "m1", 0))
	if got := seqs(listAll(t, db)); got[len(got)-1] != 5 {
		t.Fatalf("seqs after the move %v: the next must follow the bucket's sequence 4", got)
	}
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketJournal) != nil {
			t.Error("the journal bucket is still in the database")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, Options{})
	if got := seqs(listAll(t, db)); len(got) != 3 {
		t.Fatalf("after reopening the moved journal: seqs %v", got)
	}
}

// X5: what the cap dropped is still counted after a restart; a reset empties the journal,
// and seqs never repeat, across a restart too.
func TestX5_JournalCapAndResetSurviveReopen(t *testing.T) {
	db := MustOpen(t, Options{JournalMaxBytes: MinJournalBytes})
	if err := db.EnsureMerchants([]string{"m1"}); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", 16<<10)
	for i := range 200 {
		e := entry(og.SurfaceSC, "m1", i)
		e.Request.Body = body
		db.Journal().Append(e)
	}
	p := listAll(t, db)
	db = reopen(t, db, Options{JournalMaxBytes: MinJournalBytes})
	q := listAll(t, db)
	if p.Dropped == 0 || q.Dropped != p.Dropped || q.OldestSeq != p.OldestSeq || len(q.Entries) != len(p.Entries) {
		t.Fatalf("before reopen: %d dropped, oldest %d, %d kept; after: %d, %d, %d", p.Dropped, p.OldestSeq, len(p.Entries), q.Dropped, q.OldestSeq, len(q.Entries))
	}
	if err := db.Reset(); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, Options{JournalMaxBytes: MinJournalBytes})
	if r := listAll(t, db); len(r.Entries) != 0 || r.Dropped != 0 {
		t.Fatalf("after reset and reopen: %d entries, %d dropped", len(r.Entries), r.Dropped)
	}
	db.Journal().Append(entry(og.SurfaceSC, "m1", 0))
	if got := seqs(listAll(t, db)); len(got) != 1 || got[0] != 201 {
		t.Fatalf("after reset and reopen the next seq is %v, want 201", got)
	}
}

// Opening reads every segment to index it: the start-up cost of a journal at its default cap
// (64 MiB of entries with 3 KB bodies, about 19,000 of them).
func BenchmarkOpenWithAFullJournal(b *testing.B) {
	path := filepath.Join(b.TempDir(), FileName)
	db, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("x", 3<<10)
	for i := 0; db.Journal().total < DefaultJournalMaxBytes*9/10; i++ {
		e := entry(og.SurfaceSC, "m1", i)
		e.Request.Body = body
		db.Journal().Append(e)
	}
	db.Close()
	b.ResetTimer()
	for range b.N {
		db, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}

// writeOldJournal writes the journal bucket of a database from before the journal had files:
// n entries of merchant m9 with body, then whatever more does.
func writeOldJournal(t *testing.T, path string, n int, body string, more func(*bolt.Tx, *bolt.Bucket) error) {
	t.Helper()
	os.RemoveAll(journalDir(path))
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	if err := bdb.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketJournal)
		if err != nil {
			return err
		}
		for i := range n {
			seq, _ := b.NextSequence()
			e := entry(og.SurfaceAPI, "m9", i)
			e.Request.Body = body
			if err := b.Put(putUint(seq), appendRecord(nil, seq, mustEncode(t, e))[recordHeader:]); err != nil {
				return err
			}
		}
		if more != nil {
			return more(tx, b)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
