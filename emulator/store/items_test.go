package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	bolt "go.etcd.io/bbolt"
)

// seedLegacy writes an upcoming order as the previous version did: item_count in the head and
// its items under og id + index; plus its subscriptions and the product index.
func seedLegacy(t *testing.T, db *DB, id int64, customer string, date og.Date, subs []string, product func(sub string) string) {
	t.Helper()
	o := og.Order{OGID: id, PublicID: fmt.Sprint("pub-", id), Customer: customer, Payment: "pay", ShippingAddress: "addr",
		Status: og.OrderScheduled, StatusCode: og.StatusUnsent, PlaceDate: date, Subscriptions: subs, Attempts: []og.Attempt{},
		DueAt: time.Date(date.Year, time.Month(date.Month), date.Day, 6, 0, 0, 0, time.UTC)}
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		b, _ := mbucket(tx, "m1", bOrders)
		if err := putJSON(b, orderKey(id), &struct {
			og.Order
			ItemCount int `json:"item_count"`
		}{o, len(subs)}); err != nil {
			return err
		}
		items, _ := mbucket(tx, "m1", bOrderItems)
		ss, _ := mbucket(tx, "m1", bSubscriptions)
		ps, _ := mbucket(tx, "m1", bProductSubs)
		for i, sid := range subs {
			p := product(sid)
			if err := putJSON(items, itemKey(id, i), &og.OrderItem{PublicID: "i-" + sid, Subscription: sid, ProductID: p, SKU: p, Quantity: 1}); err != nil {
				return err
			}
			s := og.Subscription{PublicID: sid, Customer: customer, Payment: "pay", ShippingAddress: "addr", ProductID: p, SKU: p, Quantity: 1,
				NextOrderDate: date, Frequency: og.Frequency{Every: 1, EveryPeriod: og.PeriodMonth}, Status: og.SubscriptionActive}
			if err := putJSON(ss, sid, &s); err != nil {
				return err
			}
			if err := ps.Put([]byte(productSubKey(p, sid)), []byte{}); err != nil {
				return err
			}
		}
		// The order id counter covers the seeded id, as it would have when the order was made:
		// else a new order could be given it, and replace this one.
		ids, _ := mbucket(tx, "m1", bIDs)
		if getUint(ids.Get([]byte(keyOrderSeq))) < uint64(id) {
			if err := ids.Put([]byte(keyOrderSeq), putUint(uint64(id))); err != nil {
				return err
			}
		}
		g, _ := mbucket(tx, "m1", bGroups)
		d, _ := mbucket(tx, "m1", bDue)
		if err := d.Put([]byte(timeKey(o.DueAt, id)), []byte{}); err != nil {
			return err
		}
		return g.Put([]byte(groupKey(&og.Subscription{Customer: customer, Payment: "pay", ShippingAddress: "addr", NextOrderDate: date})), []byte(orderKey(id)))
	}); err != nil {
		t.Fatal(err)
	}
}

// checkItems fails unless every order's item refs point at a stored item, no two refs (in one
// order or across orders) share a key, and no item key is left unreferenced.
func checkItems(t *testing.T, db *DB) {
	t.Helper()
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		orders, _ := mbucket(tx, "m1", bOrders)
		items, _ := mbucket(tx, "m1", bOrderItems)
		owner := map[string]int64{}
		if err := orders.ForEach(func(_, raw []byte) error {
			var h orderHead
			if err := unmarshal(raw, &h); err != nil {
				return err
			}
			refs := h.refs()
			for i := range refs.n() {
				k := refs.key(h.OGID, i)
				if prev, ok := owner[k]; ok {
					return fmt.Errorf("item key %x is used by orders %d and %d", k, prev, h.OGID)
				}
				owner[k] = h.OGID
				if items.Get([]byte(k)) == nil {
					return fmt.Errorf("order %d item %d (%x) is missing", h.OGID, i, k)
				}
			}
			return nil
		}); err != nil {
			return err
		}
		return items.ForEach(func(k, _ []byte) error {
			if _, ok := owner[string(k)]; !ok {
				return fmt.Errorf("item key %x belongs to no order", k)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
}

func itemSubs(t *testing.T, db *DB, id int64) string {
	t.Helper()
	os, err := db.FindOrders(context.Background(), "m1", og.OrderFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range os {
		if o.OGID == id {
			var ids []string
			for _, it := range o.Items {
				ids = append(ids, it.Subscription+"/"+it.ProductID)
			}
			return o.Status + ":" + strings.Join(ids, ",")
		}
	}
	return "none"
}

var reviewDate = og.Date{Year: 2026, Month: 3, Day: 1}

func putProducts(t *testing.T, db *DB, ps ...og.Product) {
	t.Helper()
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		b, _ := mbucket(tx, "m1", bProducts)
		for _, p := range ps {
			if err := putJSON(b, p.ProductID, &p); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// F3 on an order from before item seqs: a cancel in the middle and a swap.
func TestOrderItemsFromBeforeItemSeqsThroughF3(t *testing.T) {
	db := MustOpen(t, Options{Merchants: []string{"m1"}})
	ctx := context.Background()
	prod := map[string]string{"s1": "P1", "s2": "P2", "s3": "P3", "s4": "P4"}
	seedLegacy(t, db, 7, "c1", reviewDate, []string{"s1", "s2", "s3", "s4"}, func(s string) string { return prod[s] })
	putProducts(t, db,
		og.Product{ProductID: "P1", SKU: "P1", Name: "P1", Price: 100, AutoshipEligible: true},
		og.Product{ProductID: "P2", SKU: "P2", Name: "P2", Price: 100, Discontinued: true},
		og.Product{ProductID: "P3", SKU: "P3", Name: "P3", Price: 100, AutoshipEligible: true},
		og.Product{ProductID: "P4", SKU: "P4", Name: "P4", Price: 100, AutoshipEligible: true})
	if _, err := db.ApplyDiscontinued(ctx, "m1", []string{"P2"}); err != nil {
		t.Fatal(err)
	}
	if got := itemSubs(t, db, 7); got != "scheduled:s1/P1,s3/P3,s4/P4" {
		t.Fatalf("after P2 cancelled: %s", got)
	}
	checkItems(t, db)
	putProducts(t, db, og.Product{ProductID: "P1", SKU: "P1", Name: "P1", Price: 100, Discontinued: true})
	if _, err := db.ApplyDiscontinued(ctx, "m1", []string{"P1"}); err != nil {
		t.Fatal(err)
	}
	if got := itemSubs(t, db, 7); got != "scheduled:s3/P3,s4/P4" {
		t.Fatalf("after P1 cancelled: %s", got)
	}
	checkItems(t, db)
}

// A placement of an order from before item seqs (BeginAttempts, then FinishAttempt placing it
// and filing its subscriptions in their next orders), a reminder and a pause.
func TestOrderItemsFromBeforeItemSeqsThroughPlacement(t *testing.T) {
	db := MustOpen(t, Options{Merchants: []string{"m1"}})
	ctx := context.Background()
	m := &og.Merchant{ID: "m1", Location: time.UTC, Placement: og.Placement{Hours: []int{6}}, ReminderDays: 3}
	seedLegacy(t, db, 7, "c1", reviewDate, []string{"s1", "s2", "s3"}, func(string) string { return "P1" })
	seedLegacy(t, db, 8, "c2", reviewDate, []string{"t1", "t2"}, func(string) string { return "P1" })
	putProducts(t, db, og.Product{ProductID: "P1", SKU: "P1", Name: "P1", Price: 100, AutoshipEligible: true})
	run := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	if err := db.RemindOrder(ctx, m, 8, map[string]og.Money{"i-t2": 90}, run); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.PauseOrder(ctx, m, 8, "F4", run); err != nil {
		t.Fatal(err)
	}
	db.Flush()
	if got := itemSubs(t, db, 8); got != "scheduled:t1/P1,t2/P1" {
		t.Fatalf("order 8 after reminder and pause: %s", got)
	}
	checkItems(t, db)
	oc, err := db.OrderContext(ctx, m, 7)
	if err != nil {
		t.Fatal(err)
	}
	if skipped, err := db.BeginAttempts(ctx, "m1", []og.AttemptStart{{OGID: 7, Items: oc.Order.Items, Updated: oc.Order.Updated, Attempt: og.Attempt{At: run, Method: "api"}}}); err != nil || len(skipped) > 0 {
		t.Fatalf("begin: %v %v", skipped, err)
	}
	checkItems(t, db)
	if _, err := db.FinishAttempt(ctx, m, 7, og.Answer{HTTPStatus: 200, Response: &og.PlacementResponse{Code: "SUCCESS", OrderID: "M-1"}}, og.AttemptResult{HTTPStatus: 200}, run); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := itemSubs(t, db, 7); got != "placed:s1/P1,s2/P1,s3/P1" {
		t.Fatalf("order 7 placed: %s", got)
	}
	checkItems(t, db)
	os, _ := db.FindOrders(ctx, "m1", og.OrderFilter{Customer: "c1"})
	if len(os) != 2 || len(os[1].Items) != 3 {
		t.Fatalf("c1's orders: %d, next has %d items", len(os), len(os[len(os)-1].Items))
	}
}

// Many writers joining one upcoming order at once: conflicts re-run the logic in the writer.
// Every item is kept once, under a key of its own.
func TestConcurrentJoinsKeepEveryItemOnce(t *testing.T) {
	db := MustOpen(t, Options{Merchants: []string{"m1"}})
	m := &og.Merchant{ID: "m1", Location: time.UTC, Placement: og.Placement{Hours: []int{6}}}
	seedLegacy(t, db, 7, "c1", reviewDate, []string{"s1", "s2"}, func(string) string { return "P1" })
	now := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			cust := "c1"
			if i%3 == 0 {
				cust = fmt.Sprint("d", i%4) // a few other orders, new ones, joined concurrently too
			}
			_, err := optimistic(db, "m1", func(v *view) (struct{}, error) {
				up := newUpcoming(v, m, now)
				for j := range 2 {
					s := &og.Subscription{PublicID: fmt.Sprintf("n%d-%d", i, j), Customer: cust, Payment: "pay", ShippingAddress: "addr", NextOrderDate: reviewDate, ProductID: "P1", Quantity: 1}
					if err := up.add(s, nil); err != nil {
						return struct{}{}, err
					}
				}
				return struct{}{}, up.save()
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	checkItems(t, db)
	os, err := db.FindOrders(context.Background(), "m1", og.OrderFilter{})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, o := range os {
		if len(o.Items) != len(o.Subscriptions) {
			t.Fatalf("order %d: %d items, %d subscriptions", o.OGID, len(o.Items), len(o.Subscriptions))
		}
		for i, it := range o.Items {
			if it.Subscription != o.Subscriptions[i] {
				t.Fatalf("order %d item %d is %s, subscription %s", o.OGID, i, it.Subscription, o.Subscriptions[i])
			}
		}
		total += len(o.Items)
	}
	if total != 2+120 {
		t.Fatalf("%d items in all, want 122", total)
	}
}

// Item seqs continue across a reopen.
func TestItemSeqsSurviveReopen(t *testing.T) {
	path := t.TempDir() + "/" + FileName
	m := &og.Merchant{ID: "m1", Location: time.UTC, Placement: og.Placement{Hours: []int{6}}}
	now := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	for round := range 3 {
		db, err := Open(path, Options{Merchants: []string{"m1"}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, err := optimistic(db, "m1", func(v *view) (struct{}, error) {
				up := newUpcoming(v, m, now)
				s := &og.Subscription{PublicID: fmt.Sprintf("r%d-%d", round, i), Customer: fmt.Sprint("c", i), Payment: "p", ShippingAddress: "a", NextOrderDate: reviewDate, ProductID: "P1", Quantity: 1}
				if err := up.add(s, nil); err != nil {
					return struct{}{}, err
				}
				return struct{}{}, up.save()
			}); err != nil {
				t.Fatal(err)
			}
		}
		checkItems(t, db)
		db.Close()
	}
}

// O2: an order whose batch answer never comes is looked at once per date its subscriptions
// are next due (await_next), not at every run for ever; on that date they go on to their next
// order.
func TestAdvanceAwaitingLooksOncePerDate(t *testing.T) {
	db := MustOpen(t, Options{Merchants: []string{"m1"}})
	ctx := context.Background()
	m := &og.Merchant{ID: "m1", Location: time.UTC, Placement: og.Placement{Method: og.PlacementBatch, Hours: []int{6}}}
	seedLegacy(t, db, 7, "c1", reviewDate, []string{"s1", "s2"}, func(string) string { return "P1" })
	putProducts(t, db, og.Product{ProductID: "P1", SKU: "P1", Name: "P1", Price: 100, AutoshipEligible: true, InStock: true})
	sendInBatch(t, db, m, 7, time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC))
	looks := func() []og.Due {
		ds, err := db.scanUpTo("m1", bAwaitNext, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	for day := 2; day <= 31; day++ { // daily runs through March: the monthly subscriptions are due on Apr 1
		if err := db.AdvanceAwaiting(ctx, m, time.Date(2026, 3, day, 6, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
		if ds := looks(); len(ds) != 1 || !ds[0].At.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("Mar %d: next looks %+v, want one on Apr 1", day, ds)
		}
	}
	if err := db.AdvanceAwaiting(ctx, m, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	db.Flush()
	if ds := looks(); len(ds) != 0 {
		t.Fatalf("looks left after the subscriptions went on: %+v", ds)
	}
	subs, err := db.FindSubscriptions(ctx, "m1", og.SubscriptionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		if s.NextOrderDate.String() != "2026-04-01" {
			t.Fatalf("subscription %s next on %s, want 2026-04-01", s.PublicID, s.NextOrderDate)
		}
	}
	if file, ok, _ := db.AwaitingBatch("m1", 7); !ok || file == "" {
		t.Fatal("the order no longer awaits its answer")
	}
}

// sendInBatch sends order id in a batch file at run (O2): it then awaits its answer.
func sendInBatch(t *testing.T, db *DB, m *og.Merchant, id int64, run time.Time) {
	t.Helper()
	oc, err := db.OrderContext(context.Background(), m, id)
	if err != nil {
		t.Fatal(err)
	}
	file := "outgoing/" + m.ID + "_batch_orders_" + run.In(m.Location).Format("01-02-2006_150405") + ".xml"
	if _, err := db.BeginBatch(context.Background(), m.ID, og.Batch{File: file, Run: run}, []og.AttemptStart{{OGID: id, Items: oc.Order.Items, Updated: oc.Order.Updated,
		Attempt: og.Attempt{At: run, Method: og.PlacementBatch, File: file}}}); err != nil {
		t.Fatal(err)
	}
}
