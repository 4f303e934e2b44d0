package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxBatch bounds how many queued writes share one transaction.
const maxBatch = 512

// job is one write: fn runs inside a read-write transaction. done is nil for a write nobody
// waits for (a purchase attempt record); otherwise it receives the commit's outcome.
type job struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// committer is the single writer. It takes the first queued job, adds whatever else is queued
// at that moment, and commits them in one transaction: one fsync pair per batch. An idle
// sandbox commits a write someone waits for at once; a busy one batches by itself, because
// writes queue while the previous fsync runs, and waits at most busyDelay for writers still
// preparing theirs. Writes nobody waits for wait up to backgroundDelay for one that is.
// (bbolt's own Batch waits out MaxBatchDelay whenever few writers are active: see
// BASELINES.md.)
//
// A job whose fn fails is taken out and the rest of the batch is committed again without it,
// so fn must be safe to run more than once (it only writes what it computes from tx).
type committer struct {
	db   *bolt.DB
	log  *slog.Logger
	jobs chan job

	mu     sync.RWMutex // held for reading while sending on jobs, for writing by close
	closed bool
	done   chan struct{}

	// preparing counts the writers preparing a write they are about to send (optimistic):
	// a commit waits briefly for them rather than leave them to the next one.
	preparing atomic.Int32
	wake      chan struct{} // preparing dropped to 0

	// bgErr is the first failure of a write nobody waited for since the last flush: flush
	// reports it, so that work committed behind its caller (an order's decision) is never
	// reported done when it was not written.
	bgMu  sync.Mutex
	bgErr error
}

func newCommitter(db *bolt.DB, log *slog.Logger) *committer {
	c := &committer{db: db, log: log, jobs: make(chan job, 4096), done: make(chan struct{}), wake: make(chan struct{}, 1)}
	go c.loop()
	return c
}

var errClosed = errors.New("store: database closed")

// do runs fn in a transaction and returns once it is committed to disk, or its error.
func (c *committer) do(fn func(*bolt.Tx) error) error {
	done := make(chan error, 1)
	if !c.send(job{fn: fn, done: done}) {
		return errClosed
	}
	return <-done
}

// post queues fn without waiting. It is dropped if the database is closed.
func (c *committer) post(fn func(*bolt.Tx) error) { c.send(job{fn: fn}) }

// prepared ends a preparation begun with preparing.Add(1), once its write (if any) is queued.
// The last one out wakes a committer lingering for it.
func (c *committer) prepared() {
	if c.preparing.Add(-1) == 0 {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

func (c *committer) send(j job) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return false
	}
	c.jobs <- j
	return true
}

// flush returns once every job sent before it is committed, with the first failure of a
// background write since the last flush.
func (c *committer) flush() error {
	err := c.do(func(*bolt.Tx) error { return nil })
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.bgErr != nil {
		err, c.bgErr = c.bgErr, nil
	}
	return err
}

func (c *committer) backgroundFailed(err error) {
	c.bgMu.Lock()
	if c.bgErr == nil {
		c.bgErr = err
	}
	c.bgMu.Unlock()
}

// close commits what is queued and stops the loop.
func (c *committer) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.jobs)
	}
	c.mu.Unlock()
	<-c.done
}

func (c *committer) loop() {
	defer close(c.done)
	batch := make([]job, 0, maxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	last := 0 // writes waited for in the last commit
	for j := range c.jobs {
		batch = append(batch[:0], j)
		open := c.fill(&batch)
		switch n := awaited(batch); {
		case !open:
		case n == 0:
			// Only writes nobody waits for (attempt records, answers committed behind their
			// callers): they keep company with the next write someone waits for, or go alone
			// after backgroundDelay, rather than taking a commit (two fsyncs) of their own
			// while requests queue behind it.
			c.linger(&batch, timer, backgroundDelay, func(n int) bool { return n > 0 })
		case c.preparing.Load() > 0 || last >= busyBatch && n < last/2:
			// Writers are preparing writes they are about to send, or only a few of the last
			// commit's writers have come back: a commit costs nearly the same for 3 writes as
			// for 60 (every touched bucket's path to its root is rewritten, and fsynced twice),
			// so wait a little for them rather than leave them to the next commit.
			c.linger(&batch, timer, busyDelay, func(n int) bool { return c.preparing.Load() == 0 && n >= min(last/2, busyBatch) })
		}
		last = awaited(batch)
		c.run(batch)
	}
}

// backgroundDelay is how long writes nobody waits for may wait for company; busyDelay is how
// long a busy writer waits for the writers of its last batch to come back; busyBatch is what
// counts as busy (writes waited for in one commit).
const (
	backgroundDelay = 5 * time.Millisecond
	busyDelay       = time.Millisecond
	busyBatch       = 8
)

// linger adds jobs to batch as they come, until enough(writes waited for in batch) holds, the
// batch is full, d has passed, or jobs is closed.
func (c *committer) linger(batch *[]job, timer *time.Timer, d time.Duration, enough func(n int) bool) {
	timer.Reset(d)
	defer timer.Stop()
	n := awaited(*batch)
	for len(*batch) < maxBatch && !enough(n) {
		select {
		case j, ok := <-c.jobs:
			if !ok {
				return
			}
			*batch = append(*batch, j)
			if j.done != nil {
				n++
			}
		case <-c.wake:
		case <-timer.C:
			return
		}
	}
	c.fill(batch)
}

// fill adds what is queued now to batch, up to maxBatch; it reports false once jobs is closed.
func (c *committer) fill(batch *[]job) bool {
	for len(*batch) < maxBatch {
		select {
		case j, ok := <-c.jobs:
			if !ok {
				return false
			}
			*batch = append(*batch, j)
		default:
			return true
		}
	}
	return true
}

// awaited counts the writes of batch someone waits for.
func awaited(batch []job) int {
	n := 0
	for _, j := range batch {
		if j.done != nil {
			n++
		}
	}
	return n
}

var debugCommits = os.Getenv("OGSANDBOX_DEBUG_COMMITS") != ""

// run commits batch, retrying without any job whose fn fails.
func (c *committer) run(batch []job) {
	if debugCommits {
		start, before := time.Now(), c.db.Stats().TxStats
		defer func() {
			after := c.db.Stats().TxStats
			d := after.Sub(&before)
			st := c.db.Stats()
			fmt.Fprintf(os.Stderr, "commit %d jobs in %v: %d pages written, %d spilled, write %v spill %v, free pages %d, freelist %d bytes\n", len(batch), time.Since(start), d.GetWrite(), d.GetSpill(), d.GetWriteTime(), d.GetSpillTime(), st.FreePageN, st.FreelistInuse)
		}()
	}
	for len(batch) > 0 {
		failed := -1
		var ferr error
		err := c.db.Update(func(tx *bolt.Tx) error {
			for i, j := range batch {
				if err := safeRun(j.fn, tx); err != nil {
					failed, ferr = i, err
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			if err != nil {
				c.log.Error("store: commit failed", "err", err, "writes", len(batch))
			}
			for _, j := range batch {
				if j.done != nil {
					j.done <- err
				} else if err != nil {
					c.backgroundFailed(err)
				}
			}
			return
		}
		j := batch[failed]
		if j.done != nil {
			j.done <- ferr
		} else {
			c.log.Error("store: background write failed", "err", ferr)
			c.backgroundFailed(ferr)
		}
		batch = append(batch[:failed:failed], batch[failed+1:]...)
	}
}

// safeRun turns a panic in fn into an error, so that one bad write cannot take the single
// writer (and with it every later write) down.
func safeRun(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: write panicked: %v", r)
		}
	}()
	return fn(tx)
}
