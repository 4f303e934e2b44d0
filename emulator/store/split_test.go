package store

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	bolt "go.etcd.io/bbolt"
)

// O2 across a change of time: an order of a daily subscription sent in a batch file on the day
// before the spring DST change, and never answered, moves its subscription on at the next day's
// run, a day of 23 hours.
func TestAdvanceAwaitingAcrossDST(t *testing.T) {
	db := MustOpen(t, Options{Merchants: []string{"m1"}})
	ctx := context.Background()
	ny, _ := time.LoadLocation("America/New_York")
	m := &og.Merchant{ID: "m1", Location: ny, Placement: og.Placement{Method: og.PlacementBatch, Hours: []int{6}}}
	seedLegacy(t, db, 7, "c1", og.Date{Year: 2026, Month: 3, Day: 7}, []string{"s1"}, func(string) string { return "P1" })
	putProducts(t, db, og.Product{ProductID: "P1", SKU: "P1", Name: "P1", Price: 100, AutoshipEligible: true, InStock: true})
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		ss, _ := mbucket(tx, "m1", bSubscriptions)
		var s og.Subscription
		if err := unmarshal(ss.Get([]byte("s1")), &s); err != nil {
			return err
		}
		s.Frequency = og.Frequency{Every: 1, EveryPeriod: og.PeriodDay}
		return putJSON(ss, "s1", &s)
	}); err != nil {
		t.Fatal(err)
	}
	sendInBatch(t, db, m, 7, time.Date(2026, 3, 7, 6, 0, 0, 0, ny))
	if err := db.AdvanceAwaiting(ctx, m, time.Date(2026, 3, 8, 6, 0, 0, 0, ny)); err != nil { // EDT
		t.Fatal(err)
	}
	db.Flush()
	subs, _ := db.FindSubscriptions(ctx, "m1", og.SubscriptionFilter{})
	if got := subs[0].NextOrderDate.String(); got != "2026-03-08" {
		t.Fatalf("after the Mar 8 run: next order date %s, want 2026-03-08", got)
	}
}

// F4 with F3: after a split, a feed finds both orders: the order the in-stock items stayed in
// (it changes, so a run that prepared it does not send it), and the order the out-of-stock
// items were split into (through the link).
func TestF3FindsBothPartsOfASplitOrder(t *testing.T) {
	db := MustOpen(t, Options{Merchants: []string{"m1"}})
	ctx := context.Background()
	m := &og.Merchant{ID: "m1", Location: time.UTC, Placement: og.Placement{Method: og.PlacementAPI, Hours: []int{6}}}
	seedLegacy(t, db, 7, "c1", reviewDate, []string{"s1", "s2"}, func(s string) string { return map[string]string{"s1": "P1", "s2": "P2"}[s] })
	putProducts(t, db, og.Product{ProductID: "P1", SKU: "P1", Name: "P1", Price: 100, AutoshipEligible: true, InStock: true},
		og.Product{ProductID: "P2", SKU: "P2", Name: "P2", Price: 100, AutoshipEligible: true})
	run := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	split, err := db.SplitOrder(ctx, m, 7, []string{"i-s2"}, run)
	if err != nil || split == 0 {
		t.Fatal(split, err)
	}
	oc, err := db.OrderContext(ctx, m, 7) // as the run prepares it
	if err != nil {
		t.Fatal(err)
	}
	// The out-of-stock product is discontinued: the order it waits in is found through the link.
	putProducts(t, db, og.Product{ProductID: "P2", SKU: "P2", Name: "P2", Price: 100, Discontinued: true})
	if eff, err := db.ApplyDiscontinued(ctx, "m1", []string{"P2"}); err != nil || eff.Cancelled != 1 || eff.OrdersCancelled != 1 {
		t.Fatalf("F3 on P2: %+v, %v; want its subscription and the order split off cancelled", eff, err)
	}
	// Then the in-stock one: the order it stayed in changes.
	putProducts(t, db, og.Product{ProductID: "P1", SKU: "P1", Name: "P1", Price: 100, Discontinued: true})
	if eff, err := db.ApplyDiscontinued(ctx, "m1", []string{"P1"}); err != nil || eff.Cancelled != 1 || eff.OrdersCancelled != 1 {
		t.Fatalf("F3 on P1: %+v, %v; want its subscription and order 7 cancelled", eff, err)
	}
	skipped, err := db.BeginAttempts(ctx, "m1", []og.AttemptStart{{OGID: 7, Items: oc.Order.Items, Updated: oc.Order.Updated, Attempt: og.Attempt{At: run}}})
	if err != nil || !slices.Contains(skipped, int64(7)) {
		t.Fatalf("order 7 would go out for a cancelled subscription: skipped %v, %v", skipped, err)
	}
}

// A run that holds an order a feed has closed since the run loaded it does nothing to it: no
// email, no next run, not counted.
func TestPauseOfAClosedOrderDoesNothing(t *testing.T) {
	db := MustOpen(t, Options{Merchants: []string{"m1"}})
	ctx := context.Background()
	m := &og.Merchant{ID: "m1", Location: time.UTC, Placement: og.Placement{Method: og.PlacementAPI, Hours: []int{6}}}
	seedLegacy(t, db, 7, "c1", reviewDate, []string{"s1"}, func(string) string { return "P1" })
	putProducts(t, db, og.Product{ProductID: "P1", SKU: "P1", Name: "P1", Price: 100, Discontinued: true})
	if _, err := db.ApplyDiscontinued(ctx, "m1", []string{"P1"}); err != nil {
		t.Fatal(err)
	}
	run := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	held, cancelled, err := db.PauseOrder(ctx, m, 7, "product P1 is out of stock", run)
	if err != nil || held || cancelled {
		t.Fatalf("PauseOrder of a cancelled order: held %v cancelled %v, %v", held, cancelled, err)
	}
	if ds, _ := db.DueOrders("m1", run.AddDate(1, 0, 0)); len(ds) != 0 {
		t.Fatalf("a cancelled order is due again: %v", ds)
	}
	os, _ := db.FindOrders(ctx, "m1", og.OrderFilter{})
	if len(os) != 1 || os[0].Status != og.OrderCancelled || os[0].Paused != "" {
		t.Fatalf("the order: %+v", os)
	}
}

// A merchant's buckets from before the await_next index (an older binary's, or a merchant
// configured again) have their orders awaiting a batch answer indexed when opened, to be looked
// at by the next run.
func TestOpenIndexesOrdersAwaitingABatchAnswer(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	db, err := Open(path, Options{Merchants: []string{"m1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		mb := tx.Bucket(bucketMerchants).Bucket([]byte("m1"))
		if err := mb.Bucket(bAwaiting).Put([]byte(orderKey(7)), []byte("outgoing/f.xml")); err != nil {
			return err
		}
		return mb.DeleteBucket(bAwaitNext) // as an older binary left it
	}); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, Options{Merchants: []string{"m1"}})
	ds, err := db.scanUpTo("m1", bAwaitNext, time.Unix(0, 0))
	if err != nil || len(ds) != 1 || ds[0].OGID != 7 {
		t.Fatalf("await_next after opening: %+v, %v", ds, err)
	}
}

// F3 with F4: a held order whose out-of-stock product a feed swaps to one in stock no longer
// says it waits; one that still waits for another of its items does.
func TestSwapClearsTheHoldOnlyWhenNothingWaits(t *testing.T) {
	db := MustOpen(t, Options{Merchants: []string{"m1"}})
	ctx := context.Background()
	m := &og.Merchant{ID: "m1", Location: time.UTC, Placement: og.Placement{Method: og.PlacementAPI, Hours: []int{6}}}
	prod := map[string]string{"s1": "P1", "s2": "P2", "s3": "P4"}
	seedLegacy(t, db, 7, "c1", reviewDate, []string{"s1", "s2"}, func(s string) string { return prod[s] })
	seedLegacy(t, db, 8, "c2", reviewDate, []string{"s3"}, func(s string) string { return prod[s] })
	putProducts(t, db, og.Product{ProductID: "P1", SKU: "P1", Name: "P1", Price: 100, AutoshipEligible: true},
		og.Product{ProductID: "P2", SKU: "P2", Name: "P2", Price: 100, AutoshipEligible: true},
		og.Product{ProductID: "P3", SKU: "P3", Name: "P3", Price: 100, AutoshipEligible: true, InStock: true},
		og.Product{ProductID: "P4", SKU: "P4", Name: "P4", Price: 100, AutoshipEligible: true})
	run := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	for _, id := range []int64{7, 8} {
		if held, _, err := db.PauseOrder(ctx, m, id, "out of stock (F4)", run); err != nil || !held {
			t.Fatal(held, err)
		}
	}
	// P2 is swapped to P3, in stock: order 7 still waits for P1; order 8 (P4) is untouched.
	putProducts(t, db, og.Product{ProductID: "P2", SKU: "P2", Name: "P2", Price: 100, Discontinued: true,
		Relationships: []og.Relationship{{Name: og.RelReplacement, Related: []string{"P3"}}}})
	if _, err := db.ApplyDiscontinued(ctx, "m1", []string{"P2"}); err != nil {
		t.Fatal(err)
	}
	paused := func() map[int64]string {
		out := map[int64]string{}
		os, _ := db.FindOrders(ctx, "m1", og.OrderFilter{})
		for _, o := range os {
			out[o.OGID] = o.Paused
		}
		return out
	}
	if p := paused(); p[7] == "" || p[8] == "" {
		t.Fatalf("after P2's swap, with P1 and P4 still out: %v", p)
	}
	// P4 is swapped to P3: order 8 no longer waits.
	putProducts(t, db, og.Product{ProductID: "P4", SKU: "P4", Name: "P4", Price: 100, Discontinued: true,
		Relationships: []og.Relationship{{Name: og.RelReplacement, Related: []string{"P3"}}}})
	if _, err := db.ApplyDiscontinued(ctx, "m1", []string{"P4"}); err != nil {
		t.Fatal(err)
	}
	if p := paused(); p[8] != "" || p[7] == "" {
		t.Fatalf("after P4's swap: %v; want order 8 no longer waiting, order 7 still", p)
	}
}
