package store

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	bolt "go.etcd.io/bbolt"
)

// DefaultJournalMaxBytes caps the journal when the configuration does not.
const DefaultJournalMaxBytes = og.DefaultJournalMaxBytes

// Journal listing bounds: entries per page, and bytes per page (entries keep up to 64 KiB of
// each body, so a page of 1000 could otherwise be 130 MB).
const (
	DefaultJournalLimit = 50
	MaxJournalLimit     = og.MaxJournalLimit
	MaxPageBytes        = 8 << 20
	// MinJournalBytes is the smallest cap the journal accepts: room for a few large entries.
	MinJournalBytes = 1 << 20
)

// journal implements og.JournalService as append-only segment files in a directory beside
// the database file (X5), not in bbolt: an entry is one write(2) in the caller's goroutine,
// where it had been a B+tree insert (two pages for an entry with a 2 KB body) in the commit
// every acknowledged checkout waits for. The journal is a witness, not an acknowledgement:
// entries reach the page cache at once, so a killed process keeps them; they are fsynced
// within syncEvery, at close, and before a listing shows them (so a seq a client has seen is
// on disk, and is never handed out again after a power cut).
//
// A segment is named by the seq of its first record (20 digits, so names sort as seqs do);
// an empty segment's name keeps the next seq across a restart. A record is
//
//	length of payload (4, LE) | CRC-32C of seq and payload (4, LE) | seq (8, LE) | payload
//
// and a payload is the surface, 0, the merchant, 0 and the entry's JSON: the index kept in
// memory (seq, place, surface, merchant) filters without decoding JSON. Opening reads every
// segment; a record cut short or failing its CRC ends its segment (a crash mid-write, a
// damaged disk), and the last segment is truncated there so that appends continue from a
// whole record, with seqs past any the cut bytes could have held.
//
// The size cap removes whole segments, oldest first. What was dropped is not counted apart:
// the file base holds the first seq since the last reset, and every seq from it to the oldest
// kept is dropped. A reset writes base first, then removes the segments below it (opening
// finishes a reset a crash cut short), so nothing in bbolt has to agree with the files.
type journal struct {
	db       *DB
	dir      string
	maxBytes int64
	segMax   int64 // a segment past this size is closed and a new one begun

	mu     sync.RWMutex
	segs   []*segment // oldest first; the last is written to
	refs   []jref     // every kept entry, by seq
	next   uint64     // seq of the next entry
	base   uint64     // the first seq since the last reset
	total  int64      // bytes in segs
	intern map[string]string
	dirty  bool // written since the last fsync
	closed bool
	buf    []byte // Append's record, reused under mu

	stop, done chan struct{}
	stopOnce   sync.Once
}

type segment struct {
	f     *os.File
	first uint64 // the seq in its name
	size  int64
	n     int // records
}

// jref locates one entry: its payload is n bytes at off in seg.
type jref struct {
	seq               uint64
	seg               *segment
	off               int64
	n                 uint32
	surface, merchant string
}

const (
	recordHeader  = 16
	maxRecordSize = 16 << 20 // bodies are cut at 64 KiB, so an entry is far smaller
	syncEvery     = time.Second
	segSuffix     = ".log"
	baseFile      = "base"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var _ og.JournalService = (*journal)(nil)

// journalDir is where the journal of the database file at path lives.
func journalDir(path string) string { return path + ".journal" }

// segmentSeq returns the seq a segment's file name begins at, if name is a segment's.
func segmentSeq(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil
}

// openJournal opens (creating if needed) the journal in dir: it indexes every segment and
// continues after the last whole record.
func openJournal(db *DB, dir string, maxBytes int64) (*journal, error) {
	maxBytes = max(maxBytes, MinJournalBytes)
	j := &journal{db: db, dir: dir, maxBytes: maxBytes, segMax: max(maxBytes/10, 64<<10),
		intern: map[string]string{}, next: 1, base: 1,
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if raw, err := os.ReadFile(filepath.Join(dir, baseFile)); err == nil {
		if j.base, err = strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64); err != nil || j.base == 0 {
			return nil, fmt.Errorf("journal: %s holds %q, not a seq", filepath.Join(dir, baseFile), raw)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j.next = j.base
	entries, err := os.ReadDir(dir) // not Glob: dir may hold [, * or ?
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	type named struct {
		path  string
		first uint64
	}
	var segs []named
	for _, e := range entries {
		first, ok := segmentSeq(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		segs = append(segs, named{filepath.Join(dir, e.Name()), first})
	}
	slices.SortFunc(segs, func(a, b named) int { return cmp.Compare(a.first, b.first) })
	// A segment below base is from before a reset that a crash cut short (a reset begins its
	// segment at base): the reset would have removed it.
	for len(segs) > 0 && segs[0].first < j.base {
		if err := os.Remove(segs[0].path); err != nil {
			return nil, fmt.Errorf("journal: finish a reset: %w", err)
		}
		segs = segs[1:]
	}
	payload := make([]byte, 0, 64<<10)
	for i, seg := range segs {
		if err := j.load(seg.path, seg.first, i == len(segs)-1, &payload); err != nil {
			j.closeFiles()
			return nil, err
		}
	}
	if len(j.segs) == 0 {
		if err := j.rotate(); err != nil {
			return nil, err
		}
	}
	if j.total > j.maxBytes { // a cap lowered since the last run
		j.evict()
	}
	go j.syncLoop()
	return j, nil
}

// load indexes the segment file name, whose name says it begins at seq first. The last
// segment is opened for appending and truncated after its last whole record. payload is a
// buffer to read records into.
func (j *journal) load(name string, first uint64, last bool, payload *[]byte) error {
	flag := os.O_RDONLY
	if last {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(name, flag, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	seg := &segment{f: f, first: first}
	j.next = max(j.next, first)
	r := bufio.NewReaderSize(f, 64<<10)
	var hdr [recordHeader]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err != io.EOF {
				j.db.log.Warn("journal: a record cut short ends its segment (a crash mid-write?)", "file", name, "offset", seg.size)
			}
			break
		}
		n := binary.LittleEndian.Uint32(hdr[0:4])
		seq := binary.LittleEndian.Uint64(hdr[8:16])
		if n > maxRecordSize || seq < j.next {
			j.db.log.Warn("journal: a damaged record ends its segment", "file", name, "offset", seg.size)
			break
		}
		if cap(*payload) < int(n) {
			*payload = make([]byte, n)
		}
		p := (*payload)[:n]
		if _, err := io.ReadFull(r, p); err != nil {
			j.db.log.Warn("journal: a record cut short ends its segment (a crash mid-write?)", "file", name, "offset", seg.size)
			break
		}
		if crc32.Update(crc32.Checksum(hdr[8:16], castagnoli), castagnoli, p) != binary.LittleEndian.Uint32(hdr[4:8]) {
			j.db.log.Warn("journal: a record failing its checksum ends its segment", "file", name, "offset", seg.size)
			break
		}
		surface, merchant, _ := indexOf(p)
		j.refs = append(j.refs, jref{seq: seq, seg: seg, off: seg.size + recordHeader, n: n,
			surface: j.interned(surface), merchant: j.interned(merchant)})
		seg.size += recordHeader + int64(n)
		seg.n++
		j.next = seq + 1
	}
	if fi, err := f.Stat(); err == nil && fi.Size() > seg.size {
		// The bytes after the last whole record may have held records a listing showed: the
		// next seqs go past as many as they could have held (none is under recordHeader bytes).
		j.next += uint64((fi.Size() - seg.size + recordHeader - 1) / recordHeader)
		if last {
			if err := f.Truncate(seg.size); err != nil {
				f.Close()
				return fmt.Errorf("journal: truncate %s after its last whole record: %w", name, err)
			}
		}
	}
	j.segs = append(j.segs, seg)
	j.total += seg.size
	return nil
}

// rotate begins a new segment at seq next; the one it follows is fsynced and kept open for
// reading. Two fsyncs, once per segMax bytes appended.
func (j *journal) rotate() error {
	if len(j.segs) > 0 {
		if err := j.segs[len(j.segs)-1].f.Sync(); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	name := filepath.Join(j.dir, fmt.Sprintf("%020d%s", j.next, segSuffix))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	j.segs = append(j.segs, &segment{f: f, first: j.next})
	return syncDir(j.dir)
}

// writeBase makes seq the journal's base durably: written apart, then renamed over base.
func (j *journal) writeBase(seq uint64) error {
	tmp := filepath.Join(j.dir, baseFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	_, err = f.WriteString(strconv.FormatUint(seq, 10) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(j.dir, baseFile))
	}
	if err == nil {
		err = syncDir(j.dir)
	}
	if err != nil {
		return fmt.Errorf("journal: write the base seq: %w", err)
	}
	j.base = seq
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (j *journal) interned(b []byte) string {
	if s, ok := j.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	j.intern[s] = s
	return s
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

// Append records e. It never blocks for long and never fails the caller: a write that fails
// is logged. The entry is encoded before the lock is taken; only its seq is patched in under it.
func (j *journal) Append(e og.JournalEntry) {
	e.Seq = 0
	v, err := encodeEntry(&e)
	if err != nil {
		j.db.log.Error("journal: encode entry", "err", err)
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	if err := j.append(v); err != nil {
		j.db.log.Error("journal: append", "err", err)
	}
}

// append writes the encoded entry v (seq 0) as the next record. j.mu is held.
func (j *journal) append(v []byte) error {
	if len(v)+32 > maxRecordSize {
		return fmt.Errorf("an entry of %d bytes is over the journal's bound of %d", len(v), maxRecordSize)
	}
	if len(j.segs) == 0 || j.segs[len(j.segs)-1].size >= j.segMax {
		if err := j.rotate(); err != nil {
			return err
		}
	}
	seg := j.segs[len(j.segs)-1]
	seq := j.next
	rec := appendRecord(j.buf[:0], seq, v)
	if cap(rec) <= 256<<10 {
		j.buf = rec
	}
	if _, err := seg.f.WriteAt(rec, seg.size); err != nil {
		_ = seg.f.Truncate(seg.size) // no half record for the next append to follow
		return err
	}
	j.added(seg, seq, rec[recordHeader:])
	j.dirty = true
	if j.total > j.maxBytes {
		j.evict()
	}
	return nil
}

// added indexes the record of payload p, just written at the end of seg as entry seq.
func (j *journal) added(seg *segment, seq uint64, p []byte) {
	surface, merchant, _ := indexOf(p)
	j.refs = append(j.refs, jref{seq: seq, seg: seg, off: seg.size + recordHeader, n: uint32(len(p)),
		surface: j.interned(surface), merchant: j.interned(merchant)})
	seg.size += recordHeader + int64(len(p))
	seg.n++
	j.total += recordHeader + int64(len(p))
	j.next = seq + 1
}

// seqField is how an entry encoded with Seq 0 starts its JSON: {"seq":0,...
var seqField = []byte(`{"seq":0,`)

// appendRecord appends to dst the record of the encoded entry v as entry seq: its header, and
// v with its seq set if it was encoded with seq 0 (an entry moved from the journal bucket
// already has its own).
func appendRecord(dst []byte, seq uint64, v []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, recordHeader)...)
	surface, merchant, js := indexOf(v)
	if bytes.HasPrefix(js, seqField) {
		dst = append(dst, surface...)
		dst = append(dst, 0)
		dst = append(dst, merchant...)
		dst = append(dst, 0)
		dst = append(dst, `{"seq":`...)
		dst = strconv.AppendUint(dst, seq, 10)
		dst = append(dst, ',')
		dst = append(dst, js[len(seqField):]...)
	} else {
		dst = append(dst, v...)
	}
	h := dst[start : start+recordHeader]
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(dst)-start-recordHeader))
	binary.LittleEndian.PutUint64(h[8:16], seq)
	binary.LittleEndian.PutUint32(h[4:8], crc32.Update(crc32.Checksum(h[8:16], castagnoli), castagnoli, dst[start+recordHeader:]))
	return dst
}

// evict drops the oldest segments until the journal is at 90% of its cap (the one being
// written stays), so that the cap is not hit again on the next append. j.mu is held.
func (j *journal) evict() {
	target := j.maxBytes * 9 / 10
	n := 0
	for len(j.segs) > 1 && j.total > target {
		seg := j.segs[0]
		seg.f.Close()
		if err := os.Remove(seg.f.Name()); err != nil {
			j.db.log.Error("journal: remove the oldest segment", "err", err)
		}
		j.segs = j.segs[1:]
		j.total -= seg.size
		j.refs = j.refs[seg.n:]
		n += seg.n
	}
	if n > 0 {
		j.db.log.Warn("journal: size cap reached; dropped the oldest entries", "dropped", n, "cap_bytes", j.maxBytes)
	}
}

// dropped counts the entries since the last reset that the cap removed. j.mu is held.
func (j *journal) dropped() uint64 {
	if len(j.refs) > 0 {
		return j.refs[0].seq - j.base
	}
	return j.next - j.base
}

// reset empties the journal, keeping the next seq, so that seqs never repeat: the new base
// first, then the segment it begins, then the old segments go (see openJournal).
func (j *journal) reset() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.writeBase(j.next); err != nil {
		return err
	}
	old := j.segs
	j.segs, j.refs, j.total = nil, nil, 0
	err := j.rotate()
	for _, seg := range old {
		seg.f.Close()
		if rerr := os.Remove(seg.f.Name()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			j.db.log.Error("journal: remove a segment", "err", rerr)
		}
	}
	return err
}

func (j *journal) syncLoop() {
	defer close(j.done)
	t := time.NewTicker(syncEvery)
	defer t.Stop()
	for {
		select {
		case <-j.stop:
			return
		case <-t.C:
			j.sync()
		}
	}
}

// sync fsyncs the segment being written if anything was written since the last sync.
func (j *journal) sync() {
	j.mu.Lock()
	if !j.dirty || j.closed || len(j.segs) == 0 {
		j.mu.Unlock()
		return
	}
	j.dirty = false
	f := j.segs[len(j.segs)-1].f
	j.mu.Unlock()
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
		j.db.log.Error("journal: fsync", "err", err)
	}
}

// close fsyncs and closes every segment; later appends are dropped.
func (j *journal) close() {
	j.stopOnce.Do(func() { close(j.stop) })
	<-j.done
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	j.closed = true
	if len(j.segs) > 0 {
		_ = j.segs[len(j.segs)-1].f.Sync()
	}
	j.closeFiles()
}

func (j *journal) closeFiles() {
	for _, seg := range j.segs {
		seg.f.Close()
	}
}

// importEntries adds the entries of a journal kept in the database's journal bucket (before
// the journal had files of its own), in seq order, and fsyncs them. next is the bucket's next
// seq, and dropped the count the database kept of entries its cap removed: the base is put
// that many seqs below the oldest entry.
func (j *journal) importEntries(entries [][2][]byte, next, dropped uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	first := next
	if len(entries) > 0 {
		first = getUint(entries[0][0])
	}
	if len(j.refs) == 0 && first >= j.next {
		// A new journal: it begins where the bucket's did.
		if err := j.writeBase(first - min(dropped, first-1)); err != nil {
			return err
		}
		for _, seg := range j.segs {
			seg.f.Close()
			_ = os.Remove(seg.f.Name())
		}
		j.segs, j.total, j.next = nil, 0, first
		if err := j.rotate(); err != nil {
			return err
		}
	}
	for _, kv := range entries {
		seq := getUint(kv[0])
		if seq < j.next { // moved by an earlier open that a crash cut short
			continue
		}
		if j.segs[len(j.segs)-1].size >= j.segMax {
			if err := j.rotate(); err != nil {
				return err
			}
		}
		// The stored value already has its seq, so appendRecord writes it as it is.
		seg := j.segs[len(j.segs)-1]
		rec := appendRecord(nil, seq, kv[1])
		if _, err := seg.f.WriteAt(rec, seg.size); err != nil {
			return err
		}
		j.added(seg, seq, kv[1])
	}
	if last := j.segs[len(j.segs)-1]; last.size == 0 && last.first < next {
		// An empty segment's name must carry the next seq.
		last.f.Close()
		_ = os.Remove(last.f.Name())
		j.segs = j.segs[:len(j.segs)-1]
		j.next = next
		if err := j.rotate(); err != nil {
			return err
		}
	}
	j.next = max(j.next, next)
	return j.segs[len(j.segs)-1].f.Sync()
}

// List returns one page of entries matching f, newest first unless f.Ascending.
func (j *journal) List(ctx context.Context, f og.JournalFilter) (og.JournalPage, error) {
	if f.Limit <= 0 {
		f.Limit = DefaultJournalLimit
	}
	f.Limit = min(f.Limit, MaxJournalLimit)
	page := og.JournalPage{Entries: []og.JournalEntry{}}
	j.sync() // what a listing shows is on disk: its seqs are never handed out again
	j.mu.RLock()
	refs := j.refs // entries are only ever appended past len, or dropped from the front
	page.Dropped = j.dropped()
	j.mu.RUnlock()
	if len(refs) > 0 {
		page.OldestSeq = refs[0].seq
	}
	// i walks refs from the first entry the page may hold, by step.
	i, step := len(refs)-1, -1
	switch {
	case f.Ascending:
		i, step = sort.Search(len(refs), func(k int) bool { return refs[k].seq > f.Cursor }), 1
	case f.Cursor > 0:
		i = sort.Search(len(refs), func(k int) bool { return refs[k].seq >= f.Cursor }) - 1
	}
	pageBytes := 0
	for ; i >= 0 && i < len(refs); i += step {
		if err := ctx.Err(); err != nil {
			return page, err
		}
		r := &refs[i]
		if f.Surface != "" && r.surface != f.Surface || f.MerchantID != "" && r.merchant != f.MerchantID {
			continue
		}
		if len(page.Entries) == f.Limit || len(page.Entries) > 0 && pageBytes+int(r.n) > MaxPageBytes {
			next := page.Entries[len(page.Entries)-1].Seq
			page.Next = &next
			break
		}
		payload := make([]byte, r.n)
		if _, err := r.seg.f.ReadAt(payload, r.off); err != nil {
			if errors.Is(err, os.ErrClosed) {
				continue // its segment was dropped by the cap since the page began
			}
			return page, fmt.Errorf("journal entry %d: %w", r.seq, err)
		}
		_, _, js := indexOf(payload)
		pageBytes += len(js)
		var e og.JournalEntry
		if err := unmarshal(js, &e); err != nil {
			return page, fmt.Errorf("journal entry %d: %w", r.seq, err)
		}
		if e.Rules == nil {
			e.Rules = []string{} // an entry that broke no rule lists none, rather than leave the key out
		}
		page.Entries = append(page.Entries, e)
	}
	if page.Dropped > 0 {
		page.Note = fmt.Sprintf("the journal is capped at %d bytes: its %d oldest entries were dropped; the oldest kept is seq %d", j.maxBytes, page.Dropped, page.OldestSeq)
	}
	return page, nil
}

// oldBucketEntries returns the entries of the journal bucket the database kept before the
// journal had files of its own, and that bucket's sequence.
func oldBucketEntries(tx *bolt.Tx) (entries [][2][]byte, seq uint64) {
	b := tx.Bucket(bucketJournal)
	if b == nil {
		return nil, 0
	}
	_ = b.ForEach(func(k, v []byte) error {
		entries = append(entries, [2][]byte{slices.Clone(k), slices.Clone(v)})
		return nil
	})
	return entries, b.Sequence()
}
