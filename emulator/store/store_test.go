package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	bolt "go.etcd.io/bbolt"
)

// MustOpen opens a database in a fresh temporary directory and closes it with the test.
func MustOpen(tb testing.TB, opts Options) *DB {
	tb.Helper()
	db, err := Open(filepath.Join(tb.TempDir(), FileName), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestClockOffsetSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.ClockOffset(); ok {
		t.Fatal("a new database has a clock offset")
	}
	if err := db.SaveClockOffset(-90 * time.Hour); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	off, ok, err := db.ClockOffset()
	if err != nil || !ok || off != -90*time.Hour {
		t.Fatalf("offset after reopen = %v, %v, %v; want -90h", off, ok, err)
	}
}

func TestSecondOpenFailsWithinTheLockTimeoutNamingTheOwner(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	db, err := Open(path, Options{Owner: "ogsandbox pid 4242 (http 127.0.0.1:8080)"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	_, err = Open(path, Options{LockTimeout: 200 * time.Millisecond})
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second open: %v, want a LockedError", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("second open took %v", took)
	}
	for _, want := range []string{"pid 4242", "holds the lock", path, "--ephemeral"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("lock error %q does not mention %q", err, want)
		}
	}
}

func entry(surface, merchant string, i int) og.JournalEntry {
	return og.JournalEntry{Surface: surface, MerchantID: merchant, Direction: og.DirectionIn, Status: 200,
		Request: og.Exchange{Method: "POST", URL: fmt.Sprintf("/x/%d", i)}}
}

func TestJournalFilterAndPaginate(t *testing.T) {
	db := MustOpen(t, Options{})
	j := db.Journal()
	for i := range 30 {
		surface, merchant := og.SurfaceSC, "m1"
		if i%3 == 0 {
			surface, merchant = og.SurfaceAPI, "m2"
		}
		j.Append(entry(surface, merchant, i))
	}
	ctx := context.Background()

	page, err := j.List(ctx, og.JournalFilter{Limit: 100})
	if err != nil || len(page.Entries) != 30 || page.Next != nil {
		t.Fatalf("list all: %d entries, next %v, %v", len(page.Entries), page.Next, err)
	}
	if page.Entries[0].Seq != 30 || page.Entries[29].Seq != 1 {
		t.Fatalf("newest first: got seqs %d..%d", page.Entries[0].Seq, page.Entries[29].Seq)
	}

	// Pages of 4 of surface api (10 entries), newest first, then oldest first.
	for _, asc := range []bool{false, true} {
		var seqs []uint64
		f := og.JournalFilter{Surface: og.SurfaceAPI, Limit: 4, Ascending: asc}
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			p, err := j.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range p.Entries {
				if e.Surface != og.SurfaceAPI || e.MerchantID != "m2" {
					t.Fatalf("filter let through %+v", e)
				}
				seqs = append(seqs, e.Seq)
			}
			if p.Next == nil {
				break
			}
			f.Cursor = *p.Next
		}
		if len(seqs) != 10 {
			t.Fatalf("ascending=%v: %d api entries over pages, want 10: %v", asc, len(seqs), seqs)
		}
		for i := 1; i < len(seqs); i++ {
			if asc != (seqs[i] > seqs[i-1]) {
				t.Fatalf("ascending=%v: out of order: %v", asc, seqs)
			}
		}
	}
	if p, _ := j.List(ctx, og.JournalFilter{MerchantID: "m1"}); len(p.Entries) != 20 {
		t.Fatalf("merchant filter: %d entries, want 20", len(p.Entries))
	}
}

// X5: the journal is append-only; the size cap drops the oldest entries and says so.
func TestX5_JournalCapDropsOldestAndSaysSo(t *testing.T) {
	db := MustOpen(t, Options{JournalMaxBytes: MinJournalBytes})
	j := db.Journal()
	body := strings.Repeat("x", 16<<10)
	for i := range 200 {
		e := entry(og.SurfaceSC, "m1", i)
		e.Request.Body = body
		j.Append(e)
	}
	p, err := j.List(context.Background(), og.JournalFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if p.Dropped == 0 || int(p.Dropped)+len(p.Entries) != 200 {
		t.Fatalf("dropped %d, kept %d; want a positive drop count adding up to 200", p.Dropped, len(p.Entries))
	}
	if p.Entries[len(p.Entries)-1].Seq != p.OldestSeq || p.OldestSeq != p.Dropped+1 {
		t.Fatalf("oldest kept %d, oldest seq %d, dropped %d", p.Entries[len(p.Entries)-1].Seq, p.OldestSeq, p.Dropped)
	}
	if !strings.Contains(p.Note, "dropped") || !strings.Contains(p.Note, fmt.Sprint(p.Dropped)) {
		t.Fatalf("note %q does not say how many were dropped", p.Note)
	}
}

func TestResetEmptiesJournalButSeqsNeverRepeat(t *testing.T) {
	db := MustOpen(t, Options{})
	if err := db.EnsureMerchants([]string{"m1"}); err != nil {
		t.Fatal(err)
	}
	j := db.Journal()
	for i := range 5 {
		j.Append(entry(og.SurfaceSC, "m1", i))
	}
	if err := db.Reset(); err != nil {
		t.Fatal(err)
	}
	p, _ := j.List(context.Background(), og.JournalFilter{})
	if len(p.Entries) != 0 || p.Dropped != 0 {
		t.Fatalf("after reset: %d entries, %d dropped", len(p.Entries), p.Dropped)
	}
	j.Append(entry(og.SurfaceSC, "m1", 6))
	p, _ = j.List(context.Background(), og.JournalFilter{})
	if len(p.Entries) != 1 || p.Entries[0].Seq != 6 {
		t.Fatalf("after reset the next entry has seq %d, want 6", p.Entries[0].Seq)
	}
}

func TestJournalAppendsConcurrently(t *testing.T) {
	db := MustOpen(t, Options{})
	j := db.Journal()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 50 {
				j.Append(entry(og.SurfaceSC, fmt.Sprint("m", g), i))
			}
		})
	}
	wg.Wait()
	p, err := j.List(context.Background(), og.JournalFilter{Limit: MaxJournalLimit})
	if err != nil || len(p.Entries) != 800 {
		t.Fatalf("%d entries after 16x50 concurrent appends, %v", len(p.Entries), err)
	}
	seen := map[uint64]bool{}
	for _, e := range p.Entries {
		if seen[e.Seq] {
			t.Fatalf("seq %d twice", e.Seq)
		}
		seen[e.Seq] = true
	}
}

// A failing write does not take the writes batched with it down.
func TestCommitterIsolatesAFailingWrite(t *testing.T) {
	db := MustOpen(t, Options{})
	// Hold the writer in a first batch, so that the 20 writes below queue and share the next.
	hold, held := make(chan struct{}), make(chan struct{})
	go db.commit.do(func(*bolt.Tx) error { close(held); <-hold; return nil })
	<-held
	var wg sync.WaitGroup
	errs := make([]error, 20)
	var queued sync.WaitGroup
	queued.Add(20)
	for i := range 20 {
		wg.Go(func() {
			queued.Done()
			errs[i] = db.commit.do(func(tx *bolt.Tx) error {
				if i == 7 {
					return errors.New("refused")
				}
				if i == 9 {
					panic("boom")
				}
				return tx.Bucket(bucketMeta).Put([]byte(fmt.Sprint("k", i)), []byte("v"))
			})
		})
	}
	queued.Wait()
	for len(db.commit.jobs) < 20 {
		time.Sleep(time.Millisecond)
	}
	close(hold)
	wg.Wait()
	for i, err := range errs {
		switch i {
		case 7:
			if err == nil || err.Error() != "refused" {
				t.Errorf("write 7: %v", err)
			}
		case 9:
			if err == nil || !strings.Contains(err.Error(), "panicked") {
				t.Errorf("write 9: %v", err)
			}
		default:
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		}
	}
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		for i := range 20 {
			if got := tx.Bucket(bucketMeta).Get([]byte(fmt.Sprint("k", i))); (got != nil) != (i != 7 && i != 9) {
				t.Errorf("key k%d present=%v", i, got != nil)
			}
		}
		return nil
	})
}

// The committer's waits are bounded: a write nobody waits for is committed on its own after
// backgroundDelay, and a write someone waits for while another writer prepares (and then
// gives up) is committed after busyDelay; a waited write commits the background writes queued
// before it.
func TestCommitterWaitsAreBounded(t *testing.T) {
	db := MustOpen(t, Options{})
	has := func(k string) bool {
		var ok bool
		db.bolt.View(func(tx *bolt.Tx) error { ok = tx.Bucket(bucketMeta).Get([]byte(k)) != nil; return nil })
		return ok
	}
	put := func(k string) func(*bolt.Tx) error {
		return func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte(k), []byte("v")) }
	}
	db.commit.post(put("bg1"))
	deadline := time.Now().Add(5 * time.Second)
	for !has("bg1") {
		if time.Now().After(deadline) {
			t.Fatal("a lone background write was never committed")
		}
		time.Sleep(time.Millisecond)
	}

	db.commit.preparing.Add(1) // a writer that never sends
	start := time.Now()
	if err := db.commit.do(put("fg1")); err != nil || !has("fg1") {
		t.Fatalf("a waited write beside a stuck preparer: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("a waited write took %s beside a stuck preparer (busyDelay %s)", took, busyDelay)
	}
	db.commit.prepared()

	// A writer whose logic panics stops counting as preparing.
	func() {
		defer func() { recover() }()
		optimistic(db, "", func(v *view) (int, error) { panic("boom") })
	}()
	if n := db.commit.preparing.Load(); n != 0 {
		t.Fatalf("%d writers still preparing after a panic", n)
	}

	db.commit.post(put("bg2"))
	if err := db.commit.do(put("fg2")); err != nil || !has("bg2") || !has("fg2") {
		t.Fatalf("waited write after a background one: %v", err)
	}
}

func TestWritesAfterCloseFailCleanly(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), FileName), Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := db.SaveClockOffset(time.Hour); !errors.Is(err, errClosed) {
		t.Fatalf("write after close: %v", err)
	}
	db.Journal().Append(entry(og.SurfaceSC, "m", 1)) // must not panic
}

// Concurrent checkouts of new customers conflict on the og id counter; each is re-run in the
// writer and every customer gets its own og id.
func TestCustomerOGIDsAreUniqueUnderConcurrency(t *testing.T) {
	db := MustOpen(t, Options{Merchants: []string{"m1"}})
	m := &og.Merchant{ID: "m1", Location: time.UTC}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			p := &og.Purchase{MerchantOrderID: fmt.Sprint("o", i), User: og.PurchaseUser{UserID: fmt.Sprint("u", i), Email: "a@b.c",
				Shipping: og.Address{FirstName: "a", City: "c", CountryCode: "US"}}}
			if res, err := db.Checkout(context.Background(), m, p); err != nil || res.Status != 201 {
				t.Errorf("checkout %d: %+v %v", i, res, err)
			}
		})
	}
	wg.Wait()
	cs, err := db.FindCustomers(context.Background(), "m1")
	if err != nil || len(cs) != 40 {
		t.Fatalf("%d customers, %v", len(cs), err)
	}
	seen := map[int64]bool{}
	for _, c := range cs {
		if c.OGID < 1 || c.OGID > 40 || seen[c.OGID] {
			t.Fatalf("og id %d of %s repeats or is out of 1..40", c.OGID, c.MerchantUserID)
		}
		seen[c.OGID] = true
	}
}

// A file written before the product_subs index (schema 1) gets it when opened: F3 then finds
// the subscriptions made before the upgrade.
func TestMigrationIndexesSubscriptionsByProduct(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	db, err := Open(path, Options{Merchants: []string{"m1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		b, _ := mbucket(tx, "m1", bSubscriptions)
		if err := putJSON(b, "sub-1", &og.Subscription{PublicID: "sub-1", ProductID: "P1", Status: og.SubscriptionActive}); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchema, putUint(1))
	}); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, Options{Merchants: []string{"m1"}})
	err = db.bolt.View(func(tx *bolt.Tx) error {
		b, _ := mbucket(tx, "m1", bProductSubs)
		if b.Get([]byte(productSubKey("P1", "sub-1"))) == nil {
			return errors.New("the subscription is not indexed under its product")
		}
		if v := getUint(tx.Bucket(bucketMeta).Get(keySchema)); v != schemaVersion {
			return fmt.Errorf("schema %d", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// F1: a pickup forgets the upload it read, not one that arrived while it was reading.
func TestPendingFeedUploadedAgainDuringThePickupWaits(t *testing.T) {
	db := MustOpen(t, Options{Merchants: []string{"m1"}})
	ctx := context.Background()
	first := time.Date(2026, 1, 4, 12, 10, 0, 0, time.UTC)
	again := first.Add(19 * time.Minute)
	if err := db.AddPendingFeed(ctx, "m1", og.Dropped{MerchantID: "m1", Path: "incoming/m1.Products.xml", At: first}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddPendingFeed(ctx, "m1", og.Dropped{MerchantID: "m1", Path: "incoming/m1.Products.xml", At: again}); err != nil {
		t.Fatal(err)
	}
	if err := db.RemovePendingFeed(ctx, "m1", "incoming/m1.Products.xml", first); err != nil {
		t.Fatal(err)
	}
	if ps, err := db.PendingFeeds("m1"); err != nil || len(ps) != 1 || !ps[0].At.Equal(again) {
		t.Fatalf("pending after the pickup of the first upload: %+v %v", ps, err)
	}
	if err := db.RemovePendingFeed(ctx, "m1", "incoming/m1.Products.xml", again); err != nil {
		t.Fatal(err)
	}
	if ps, _ := db.PendingFeeds("m1"); len(ps) != 0 {
		t.Fatalf("pending: %+v", ps)
	}
}

// An order written before items were kept apart (its items in the order's own record) reads
// as it was, and is rewritten in the new form when it next changes.
func TestOrdersFromBeforeTheItemSplit(t *testing.T) {
	db := MustOpen(t, Options{Merchants: []string{"m1"}})
	m := &og.Merchant{ID: "m1", Location: time.UTC, Placement: og.Placement{Hours: []int{6}}}
	old := og.Order{OGID: 7, Customer: "c1", Status: og.OrderScheduled, Items: []og.OrderItem{{PublicID: "i1", ProductID: "P1", Quantity: 2}, {PublicID: "i2", ProductID: "P2", Quantity: 1}}}
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		b, _ := mbucket(tx, "m1", bOrders)
		return putJSON(b, orderKey(7), &old)
	}); err != nil {
		t.Fatal(err)
	}
	items := func() string {
		os, err := db.FindOrders(context.Background(), "m1", og.OrderFilter{})
		if err != nil || len(os) != 1 {
			t.Fatalf("orders %+v %v", os, err)
		}
		var ids []string
		for _, it := range os[0].Items {
			ids = append(ids, it.PublicID+"/"+it.ProductID)
		}
		return strings.Join(ids, ",")
	}
	if got := items(); got != "i1/P1,i2/P2" {
		t.Fatalf("legacy items: %s", got)
	}
	if _, _, err := db.PauseOrder(context.Background(), m, 7, "F4", time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if got := items(); got != "i1/P1,i2/P2" {
		t.Fatalf("after a save: %s", got)
	}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b, _ := mbucket(tx, "m1", bOrders)
		var h orderHead
		if _, err := getJSON(b, orderKey(7), &h); err != nil {
			return err
		}
		if h.ItemCount != 2 || len(h.Items) != 0 {
			return fmt.Errorf("the head was not rewritten: count %d, %d items inside", h.ItemCount, len(h.Items))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// An order's attempts keep their XML and answers apart from the order (the head every step of
// a placement reads). A ledger written before that split reads as it was, numbered, and its
// bodies move out when the order next changes; the ledger keeps the latest attempts and the
// bodies of those only.
func TestAttemptBodiesKeptApartAndTrimmedWithTheLedger(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t, Options{Merchants: []string{"m1"}})
	old := orderHead{Order: og.Order{OGID: 7, Customer: "c1", Status: og.OrderPending, Attempts: []og.Attempt{
		{Method: "api", Request: "<order>1</order>", Response: "<order><code>999</code></order>", Decision: "retry"},
		{Method: "api", Request: "<order>2</order>", Response: "<order><code>999</code></order>", Decision: "retry"},
	}}}
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		b, _ := mbucket(tx, "m1", bOrders)
		return putJSON(b, orderKey(7), &old)
	}); err != nil {
		t.Fatal(err)
	}
	ledger := func() (og.Order, string) {
		t.Helper()
		os, err := db.FindOrders(ctx, "m1", og.OrderFilter{})
		if err != nil || len(os) != 1 {
			t.Fatalf("orders %+v %v", os, err)
		}
		var s []string
		for _, a := range os[0].Attempts {
			s = append(s, fmt.Sprintf("%d:%s:%s", a.No, a.Request, a.Response))
		}
		return os[0], strings.Join(s, " ")
	}
	o, got := ledger()
	if want := "1:<order>1</order>:<order><code>999</code></order> 2:<order>2</order>:<order><code>999</code></order>"; got != want || o.XML != "<order>2</order>" {
		t.Fatalf("legacy ledger:\n got %s\nwant %s\n(xml %q)", got, want, o.XML)
	}
	begin := func(n int) {
		t.Helper()
		o, _ := ledger()
		skipped, err := db.BeginAttempts(ctx, "m1", []og.AttemptStart{{OGID: 7, Updated: o.Updated, Attempt: og.Attempt{Method: "api", Request: fmt.Sprintf("<order>%d</order>", n)}}})
		if err != nil || len(skipped) != 0 {
			t.Fatalf("begin %d: skipped %v, %v", n, skipped, err)
		}
	}
	begin(3)
	if _, got := ledger(); !strings.HasSuffix(got, " 3:<order>3</order>:") || !strings.HasPrefix(got, "1:<order>1</order>:<order><code>999</code></order> ") {
		t.Fatalf("after the first save: %s", got)
	}
	// An answer recorded now is kept apart too, under the attempt's number.
	m := &og.Merchant{ID: "m1", Location: time.UTC, Placement: og.Placement{Hours: []int{6}}}
	answer := `<order><code>ERROR</code><errorCode>999</errorCode><errorMsg>busy</errorMsg></order>`
	ans := og.Answer{HTTPStatus: 200, Response: &og.PlacementResponse{Code: "ERROR", ErrorCode: "999", ErrorMsg: "busy"}}
	run := time.Date(2026, 1, 11, 6, 0, 0, 0, time.UTC)
	if _, err := db.FinishAttempt(ctx, m, 7, ans, og.AttemptResult{HTTPStatus: 200, Response: answer}, run); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	a, ok, err := db.LastAttempt(ctx, "m1", 7)
	if err != nil || !ok || a.No != 3 || a.Request != "<order>3</order>" || a.Response != answer || a.Decision == "" {
		t.Fatalf("last attempt %+v %v %v", a, ok, err)
	}
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		b, _ := mbucket(tx, "m1", bOrders)
		if raw := b.Get([]byte(orderKey(7))); strings.Contains(string(raw), "<order>") {
			return fmt.Errorf("the head still holds bodies: %s", raw)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for n := 4; n <= maxAttemptsKept+5; n++ {
		begin(n)
	}
	o, _ = ledger()
	if first, last := o.Attempts[0], o.Attempts[len(o.Attempts)-1]; len(o.Attempts) != maxAttemptsKept || first.No != 6 || first.Request != "<order>6</order>" || last.No != maxAttemptsKept+5 || o.AttemptsDropped != 5 {
		t.Fatalf("%d attempts kept (%d said dropped), from %+v to %+v", len(o.Attempts), o.AttemptsDropped, first, last)
	}
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		b, _ := mbucket(tx, "m1", bAttemptBodies)
		if n := b.Stats().KeyN; n != maxAttemptsKept {
			return fmt.Errorf("%d bodies kept for %d attempts", n, maxAttemptsKept)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.LastAttempt(ctx, "m1", 8); ok || err != nil {
		t.Fatalf("an order that does not exist has a last attempt: %v %v", ok, err)
	}
}

// upcoming (REFERENCE §6): subscriptions of one customer, payment, address and date join the
// scheduled order of their group, once each, written once; an order from before the item
// split gains the item inline and is rewritten in the new form; an order already attempted,
// or no longer scheduled, is not joined: a new order is opened and becomes the group's.
func TestUpcomingOrdersGroupSubscriptions(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t, Options{Merchants: []string{"m1"}})
	m := &og.Merchant{ID: "m1", Location: time.UTC, Placement: og.Placement{Hours: []int{6}}}
	now := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	day := og.Date{Year: 2026, Month: 2, Day: 1}
	sub := func(id, customer string) *og.Subscription {
		return &og.Subscription{PublicID: id, Customer: customer, Payment: "pay", ShippingAddress: "addr", ProductID: "P1", SKU: "P1", Quantity: 1,
			NextOrderDate: day, Frequency: og.Frequency{Every: 1, EveryPeriod: og.PeriodMonth}, Status: og.SubscriptionActive}
	}
	seed := func(id int64, o og.Order, customer string) {
		t.Helper()
		o.OGID, o.Customer, o.PlaceDate = id, customer, day
		if err := db.bolt.Update(func(tx *bolt.Tx) error {
			b, _ := mbucket(tx, "m1", bOrders)
			g, _ := mbucket(tx, "m1", bGroups)
			if err := g.Put([]byte(groupKey(sub("", customer))), []byte(orderKey(id))); err != nil {
				return err
			}
			return putJSON(b, orderKey(id), &o)
		}); err != nil {
			t.Fatal(err)
		}
	}
	seed(100, og.Order{Status: og.OrderScheduled, Subscriptions: []string{"old"}, Items: []og.OrderItem{{PublicID: "i-old", Subscription: "old", ProductID: "P1"}}}, "legacy")
	seed(200, og.Order{Status: og.OrderPending, Subscriptions: []string{"x"}, Attempts: []og.Attempt{{Method: "api"}}}, "tried")
	seed(300, og.Order{Status: og.OrderCancelled, Subscriptions: []string{"y"}}, "gone")
	_, err := optimistic(db, "m1", func(v *view) (struct{}, error) {
		up := newUpcoming(v, m, now)
		for _, s := range []*og.Subscription{sub("a1", "ann"), sub("a2", "ann"), sub("a1", "ann"), sub("l1", "legacy"), sub("t1", "tried"), sub("g1", "gone")} {
			if err := up.add(s, &og.Product{ProductID: "P1", SKU: "P1", Name: "P1", Price: 100}); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, up.save()
	})
	if err != nil {
		t.Fatal(err)
	}
	orders, err := db.FindOrders(ctx, "m1", og.OrderFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, o := range orders {
		k := fmt.Sprintf("%s/%d/%s", o.Customer, o.OGID, o.Status)
		for _, it := range o.Items {
			got[k] = append(got[k], it.Subscription)
		}
		if len(o.Items) == 0 {
			got[k] = []string{}
		}
	}
	var ann, tried, gone string
	for k := range got {
		switch {
		case strings.HasPrefix(k, "ann/"):
			ann = k
		case strings.HasPrefix(k, "tried/") && k != "tried/200/pending":
			tried = k
		case strings.HasPrefix(k, "gone/") && k != "gone/300/cancelled":
			gone = k
		}
	}
	if len(got) != 6 || strings.Join(got[ann], ",") != "a1,a2" || strings.Join(got["legacy/100/scheduled"], ",") != "old,l1" ||
		strings.Join(got[tried], ",") != "t1" || strings.Join(got[gone], ",") != "g1" || len(got["tried/200/pending"]) != 0 {
		t.Fatalf("orders: %v", got)
	}
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		b, _ := mbucket(tx, "m1", bOrders)
		var h orderHead
		if _, err := getJSON(b, orderKey(100), &h); err != nil {
			return err
		}
		if h.ItemCount != 2 || len(h.Items) != 0 {
			return fmt.Errorf("the legacy head was not rewritten: count %d, %d items inside", h.ItemCount, len(h.Items))
		}
		g, _ := mbucket(tx, "m1", bGroups)
		for customer, want := range map[string]string{"tried": tried, "gone": gone} {
			var id int64
			fmt.Sscanf(strings.Split(want, "/")[1], "%d", &id)
			if raw := g.Get([]byte(groupKey(sub("", customer)))); string(raw) != orderKey(id) {
				return fmt.Errorf("%s's group points at %x, want order %d", customer, raw, id)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// The latest attempt's time (F1's feed_before_placement check) is kept as attempts start; a
// database from before it was kept reads it from the orders.
func TestLastAttemptAt(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t, Options{Merchants: []string{"m1"}})
	if at, err := db.LastAttemptAt(ctx, "m1"); err != nil || !at.IsZero() {
		t.Fatalf("no attempts: %v %v", at, err)
	}
	t1 := time.Date(2026, 1, 11, 12, 0, 0, 0, time.UTC)
	old := orderHead{Order: og.Order{OGID: 7, Customer: "c1", Status: og.OrderPending, Attempts: []og.Attempt{{At: t1.Add(-24 * time.Hour)}, {At: t1}}}}
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		b, _ := mbucket(tx, "m1", bOrders)
		return putJSON(b, orderKey(7), &old)
	}); err != nil {
		t.Fatal(err)
	}
	if at, err := db.LastAttemptAt(ctx, "m1"); err != nil || !at.Equal(t1) {
		t.Fatalf("from the orders: %v %v, want %v", at, err, t1)
	}
	os, _ := db.FindOrders(ctx, "m1", og.OrderFilter{})
	t2 := t1.Add(48 * time.Hour)
	if _, err := db.BeginAttempts(ctx, "m1", []og.AttemptStart{{OGID: 7, Updated: os[0].Updated, Attempt: og.Attempt{At: t2, Method: "api"}}}); err != nil {
		t.Fatal(err)
	}
	if at, err := db.LastAttemptAt(ctx, "m1"); err != nil || !at.Equal(t2) {
		t.Fatalf("kept: %v %v, want %v", at, err, t2)
	}
}

// Items are numbered from the merchant's item counter, so a checkout's items land together at
// the end of order_items. An order whose items were kept under its og id + index (before item
// seqs) reads as it was, and its items move to seqs, in order, when a subscription joins it.
func TestOrderItemsFromBeforeItemSeqs(t *testing.T) {
	db := MustOpen(t, Options{Merchants: []string{"m1"}})
	ctx := context.Background()
	m := &og.Merchant{ID: "m1", Location: time.UTC, Placement: og.Placement{Hours: []int{6}}}
	date := og.DateOf(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.UTC)
	legacy := og.Order{OGID: 7, Customer: "c1", Status: og.OrderScheduled, PlaceDate: date, Subscriptions: []string{"s1", "s2"}}
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		b, _ := mbucket(tx, "m1", bOrders)
		if err := putJSON(b, orderKey(7), &struct {
			og.Order
			ItemCount int `json:"item_count"`
		}{legacy, 2}); err != nil {
			return err
		}
		items, _ := mbucket(tx, "m1", bOrderItems)
		for i, id := range []string{"s1", "s2"} {
			if err := putJSON(items, itemKey(7, i), &og.OrderItem{PublicID: "i-" + id, Subscription: id, ProductID: "P1", Quantity: 1}); err != nil {
				return err
			}
		}
		g, _ := mbucket(tx, "m1", bGroups)
		return g.Put([]byte(groupKey(&og.Subscription{Customer: "c1", NextOrderDate: date})), []byte(orderKey(7)))
	}); err != nil {
		t.Fatal(err)
	}
	subsOf := func() string {
		os, err := db.FindOrders(ctx, "m1", og.OrderFilter{})
		if err != nil || len(os) != 1 {
			t.Fatalf("orders %+v %v", os, err)
		}
		var ids []string
		for _, it := range os[0].Items {
			ids = append(ids, it.Subscription)
		}
		return strings.Join(ids, ",")
	}
	if got := subsOf(); got != "s1,s2" {
		t.Fatalf("items under og id + index: %s", got)
	}
	if _, err := optimistic(db, "m1", func(v *view) (struct{}, error) {
		up := newUpcoming(v, m, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
		if err := up.add(&og.Subscription{PublicID: "s3", Customer: "c1", NextOrderDate: date, ProductID: "P1", Quantity: 1}, nil); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, up.save()
	}); err != nil {
		t.Fatal(err)
	}
	if got := subsOf(); got != "s1,s2,s3" {
		t.Fatalf("after s3 joined: %s", got)
	}
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		items, _ := mbucket(tx, "m1", bOrderItems)
		var keys []string
		_ = items.ForEach(func(k, _ []byte) error { keys = append(keys, fmt.Sprintf("%x", k)); return nil })
		if len(keys) != 3 {
			return fmt.Errorf("item keys %v: the ones under og id + index were not deleted", keys)
		}
		for _, k := range keys {
			if !strings.HasPrefix(k, "ff") {
				return fmt.Errorf("item keys %v: not all under seqs", keys)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A new order's items: seqs after every other item's.
	if _, err := optimistic(db, "m1", func(v *view) (struct{}, error) {
		up := newUpcoming(v, m, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
		if err := up.add(&og.Subscription{PublicID: "s4", Customer: "c2", NextOrderDate: date, ProductID: "P1", Quantity: 1}, nil); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, up.save()
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		items, _ := mbucket(tx, "m1", bOrderItems)
		k, raw := items.Cursor().Last()
		var it og.OrderItem
		if err := unmarshal(raw, &it); err != nil || it.Subscription != "s4" || k[0] != 0xff {
			return fmt.Errorf("the last item key %x holds %+v (%v), want s4's under a seq", k, it, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// An answer for an order a reset forgot applies to nothing, and fails nothing: neither the
// call nor the writer's flush after it (the run that sent it goes on).
func TestFinishAttemptOfAForgottenOrder(t *testing.T) {
	db := MustOpen(t, Options{Merchants: []string{"m1"}})
	m := &og.Merchant{ID: "m1", Location: time.UTC}
	d, err := db.FinishAttempt(context.Background(), m, 12345, og.Answer{Transport: "x"}, og.AttemptResult{Error: "x"}, time.Now())
	if err != nil || !d.Gone {
		t.Fatalf("decision %+v, %v; want Gone and no error", d, err)
	}
	if err := db.Flush(); err != nil {
		t.Fatalf("flush after it: %v", err)
	}
}
