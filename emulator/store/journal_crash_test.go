package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// The journal's files against what a crash, a damaged disk or an odd data_dir leave behind
// (found in review): seqs never repeat, what a listing showed is kept or counted, and nothing
// panics.

// A data_dir whose path holds a glob metacharacter keeps its journal.
func TestX5_JournalInADataDirWithGlobCharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "client[a]*?")
	path := filepath.Join(dir, FileName)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		db.Journal().Append(entry(og.SurfaceSC, "m1", i))
	}
	db = reopen(t, db, Options{})
	db.Journal().Append(entry(og.SurfaceSC, "m1", 99))
	if got := seqs(listAll(t, db)); len(got) != 6 || got[5] != 6 {
		t.Fatalf("after reopen: seqs %v, want 1..6", got)
	}
}

// A stray *.log file in the journal's directory is not a segment.
func TestX5_JournalIgnoresStrayFiles(t *testing.T) {
	db := MustOpen(t, Options{})
	db.Journal().Append(entry(og.SurfaceSC, "m1", 0))
	os.WriteFile(filepath.Join(journalDir(db.Path()), "notes.log"), []byte("hi"), 0o600)
	db = reopen(t, db, Options{})
	db.Journal().Append(entry(og.SurfaceSC, "m1", 1))
	if got := seqs(listAll(t, db)); len(got) != 2 || got[1] != 2 {
		t.Fatalf("seqs %v, want [1 2]", got)
	}
}

// A damaged record in the last segment ends it, and the seqs of the records cut off with it
// (a client may have listed them) are not handed out again.
func TestX5_JournalNeverReissuesTheSeqsOfADamagedTail(t *testing.T) {
	db := MustOpen(t, Options{})
	for i := range 10 {
		db.Journal().Append(entry(og.SurfaceSC, "m1", i))
	}
	seen := listAll(t, db).Entries
	path := db.Path()
	db.Close()
	names, _ := filepath.Glob(filepath.Join(journalDir(path), "*"+segSuffix))
	raw, _ := os.ReadFile(names[len(names)-1])
	off := 0
	for range 2 {
		off += recordHeader + int(le32(raw[off:]))
	}
	raw[off+recordHeader+5] ^= 0xff // record 3
	os.WriteFile(names[len(names)-1], raw, 0o600)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.Journal().Append(entry(og.SurfaceSC, "m1", 99))
	p := listAll(t, db)
	if got := seqs(p); len(got) != 3 || got[2] <= seen[len(seen)-1].Seq {
		t.Fatalf("seqs %v: the new entry must come after seq %d", got, seen[len(seen)-1].Seq)
	}
}

// A reset that cannot begin its segment fails, and the journal still takes appends and
// fsyncs without panicking.
func TestX5_JournalSurvivesAFailedReset(t *testing.T) {
	db := MustOpen(t, Options{})
	db.Journal().Append(entry(og.SurfaceSC, "m1", 0))
	dir := journalDir(db.Path())
	os.RemoveAll(dir)
	os.WriteFile(dir, nil, 0o600) // the directory is a file now: nothing can be created in it
	if err := db.Reset(); err == nil {
		t.Fatal("the reset did not fail")
	}
	db.Journal().Append(entry(og.SurfaceSC, "m1", 1))
	db.Journal().sync()
	db.Journal().List(context.Background(), og.JournalFilter{})
}

// A reset cut short by a crash, at either step: after the new base, or after the segment it
// begins. Opening finishes it: the old entries are gone, and seqs continue.
func TestX5_JournalFinishesAResetCutShort(t *testing.T) {
	for _, step := range []string{"base written", "segment begun"} {
		t.Run(step, func(t *testing.T) {
			db := MustOpen(t, Options{})
			for i := range 3 {
				db.Journal().Append(entry(og.SurfaceSC, "m1", i))
			}
			j := db.Journal()
			j.mu.Lock()
			if err := j.writeBase(j.next); err != nil {
				t.Fatal(err)
			}
			if step == "segment begun" {
				if err := j.rotate(); err != nil {
					t.Fatal(err)
				}
			}
			j.mu.Unlock()
			db = reopen(t, db, Options{})
			if p := listAll(t, db); len(p.Entries) != 0 || p.Dropped != 0 {
				t.Fatalf("after the reset was finished: seqs %v, dropped %d", seqs(p), p.Dropped)
			}
			db.Journal().Append(entry(og.SurfaceSC, "m1", 9))
			if got := seqs(listAll(t, db)); len(got) != 1 || got[0] != 4 {
				t.Fatalf("seqs %v, want [4]", got)
			}
		})
	}
}

// An entry over the record bound is refused when appended, not lost with what follows it at
// the next open.
func TestX5_JournalKeepsWhatItListedWhenAnEntryIsTooLarge(t *testing.T) {
	db := MustOpen(t, Options{JournalMaxBytes: 256 << 20})
	e := entry(og.SurfaceSC, "m1", 0)
	e.Request.Body = strings.Repeat("x", maxRecordSize+1)
	db.Journal().Append(e)
	db.Journal().Append(entry(og.SurfaceSC, "m1", 1))
	before := seqs(listAll(t, db))
	db = reopen(t, db, Options{JournalMaxBytes: 256 << 20})
	if got := seqs(listAll(t, db)); fmt.Sprint(got) != fmt.Sprint(before) || len(got) != 1 {
		t.Fatalf("after reopen %v, before %v", got, before)
	}
}

// What the cap dropped is counted from the files alone: a kill -9 right after an eviction
// (the files copied as they are at that instant) restarts with the same count.
func TestX5_JournalDroppedCountSurvivesAKill(t *testing.T) {
	db := MustOpen(t, Options{JournalMaxBytes: MinJournalBytes})
	body := strings.Repeat("x", 16<<10)
	var before og.JournalPage
	for i := 0; before.Dropped == 0; i++ {
		e := entry(og.SurfaceSC, "m1", i)
		e.Request.Body = body
		db.Journal().Append(e)
		before, _ = db.Journal().List(context.Background(), og.JournalFilter{Limit: 1})
	}
	crash := filepath.Join(t.TempDir(), FileName)
	raw, _ := os.ReadFile(db.Path())
	os.WriteFile(crash, raw, 0o600)
	os.MkdirAll(journalDir(crash), 0o700)
	files, _ := os.ReadDir(journalDir(db.Path()))
	for _, f := range files {
		raw, _ := os.ReadFile(filepath.Join(journalDir(db.Path()), f.Name()))
		os.WriteFile(filepath.Join(journalDir(crash), f.Name()), raw, 0o600)
	}
	db2, err := Open(crash, Options{JournalMaxBytes: MinJournalBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if after := listAll(t, db2); after.Dropped != before.Dropped || after.OldestSeq != before.OldestSeq {
		t.Fatalf("dropped %d (oldest %d) before the kill, %d (oldest %d) after", before.Dropped, before.OldestSeq, after.Dropped, after.OldestSeq)
	}
}

// A reset while appends are evicting: the count after a restart is the count before it.
func TestX5_JournalResetBesideEvictingAppends(t *testing.T) {
	for round := range 5 {
		db := MustOpen(t, Options{JournalMaxBytes: MinJournalBytes})
		body := strings.Repeat("x", 8<<10)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					e := entry(og.SurfaceSC, "m1", i)
					e.Request.Body = body
					db.Journal().Append(e)
				}
			})
		}
		deadline := time.Now().Add(10 * time.Second)
		for listAll(t, db).Dropped < 50 && time.Now().Before(deadline) {
		}
		if err := db.Reset(); err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()
		mem, _ := db.Journal().List(context.Background(), og.JournalFilter{Limit: 1})
		db = reopen(t, db, Options{JournalMaxBytes: MinJournalBytes})
		disk, _ := db.Journal().List(context.Background(), og.JournalFilter{Limit: 1})
		if mem.Dropped != disk.Dropped || mem.OldestSeq != disk.OldestSeq {
			t.Fatalf("round %d: dropped %d (oldest %d) before the restart, %d (oldest %d) after", round, mem.Dropped, mem.OldestSeq, disk.Dropped, disk.OldestSeq)
		}
	}
}

// The move of an older database's journal keeps to the segment size, so the first eviction
// after it drops a tenth of the history, not all of it.
func TestX5_JournalMovedFromAnOlderDatabaseKeepsItsSegments(t *testing.T) {
	db := MustOpen(t, Options{JournalMaxBytes: MinJournalBytes})
	path := db.Path()
	db.Close()
	body := strings.Repeat("x", 8<<10)
	writeOldJournal(t, path, 110, body, nil)
	db, err := Open(path, Options{JournalMaxBytes: MinJournalBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for i := 0; listAll(t, db).Dropped == 0; i++ {
		e := entry(og.SurfaceSC, "m1", i)
		e.Request.Body = body
		db.Journal().Append(e)
	}
	if p := listAll(t, db); p.Dropped > 30 {
		t.Fatalf("the first eviction dropped %d entries; %d kept", p.Dropped, len(p.Entries))
	}
}

// A cap lowered between two runs applies at once: the listing after the restart is within it.
func TestX5_JournalCapLoweredBetweenRuns(t *testing.T) {
	db := MustOpen(t, Options{JournalMaxBytes: 8 * MinJournalBytes})
	body := strings.Repeat("x", 16<<10)
	for i := range 200 {
		e := entry(og.SurfaceSC, "m1", i)
		e.Request.Body = body
		db.Journal().Append(e)
	}
	db = reopen(t, db, Options{JournalMaxBytes: MinJournalBytes})
	p := listAll(t, db)
	if p.Dropped == 0 || db.Journal().total > MinJournalBytes || int(p.Dropped)+len(p.Entries) != 200 {
		t.Fatalf("after lowering the cap: %d dropped, %d kept, %d bytes", p.Dropped, len(p.Entries), db.Journal().total)
	}
}
