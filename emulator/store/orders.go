package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	bolt "go.etcd.io/bbolt"
)

var (
	_ og.OrderService   = (*DB)(nil)
	_ og.PlacementStore = (*DB)(nil)
)

// Order buckets of a merchant.
var (
	bOrders     = []byte("orders")      // og id (8 bytes) → orderHead: the order without its items
	bOrderItems = []byte("order_items") // 0xff + item seq (8), or og id (8) + item index (4) before seqs → og.OrderItem
	bDue        = []byte("due")         // due time (8) + og id (8) → nothing: the open orders by their next run
	bReminders  = []byte("reminders")   // reminder time (8) + og id (8) → nothing
	bGroups     = []byte("groups")      // customer, payment, address, date → og id of the upcoming order they share
	bInflight   = []byte("inflight")    // og id → nothing: an attempt recorded and not yet answered
	bEmails     = []byte("emails")      // seq → og.Email
	bSched      = []byte("sched")       // scheduler state: last_run, last_attempt
	bAwaiting   = []byte("awaiting")    // og id → batch file name: in a batch order file, awaiting its answer (O2)
	bAwaitNext  = []byte("await_next")  // time + og id → nothing: when AdvanceAwaiting next looks at an awaiting order
	bBatches    = []byte("batches")     // batch file name → og.Batch
	// og id (8) + attempt number (4) + 'q' or 'a' → the order XML an attempt sent, the answer
	// it received: kept apart from the head, which every step of a placement reads.
	bAttemptBodies = []byte("attempt_bodies")
)

const (
	keyOrderSeq = "\x00seq.order"
	keyLastRun  = "last_run"
	// keyLastAttempt is the sandbox time of the latest attempt; absent in databases from before
	// it was kept, where LastAttemptAt reads it from the orders until the next attempt writes it.
	keyLastAttempt = "last_attempt"
	maxEmails      = 100_000
	// maxAttemptsKept bounds an order's attempts ledger; the oldest go first.
	maxAttemptsKept = 50
)

func orderKey(id int64) string { return string(putUint(uint64(id))) }

func timeKey(t time.Time, id int64) string {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, uint64(t.UnixNano()))
	binary.BigEndian.PutUint64(b[8:], uint64(id))
	return string(b)
}

func bodyKey(id int64, no int, kind byte) string {
	b := make([]byte, 13)
	binary.BigEndian.PutUint64(b, uint64(id))
	binary.BigEndian.PutUint32(b[8:], uint32(no))
	b[12] = kind
	return string(b)
}

// Kinds of attempt body.
const (
	bodyRequest = 'q'
	bodyAnswer  = 'a'
)

func itemKey(id int64, i int) string {
	b := make([]byte, 12)
	binary.BigEndian.PutUint64(b, uint64(id))
	binary.BigEndian.PutUint32(b[8:], uint32(i))
	return string(b)
}

// itemSeqKey is the key of the item numbered seq: a marker byte above every og id's first byte,
// then the big-endian seq, so that new items go to the end of bOrderItems.
func itemSeqKey(seq uint64) string {
	var b [9]byte
	b[0] = 0xff
	binary.BigEndian.PutUint64(b[1:], seq)
	return string(b[:])
}

// keyItemSeq is the counter of order items' seqs, in the ids bucket.
const keyItemSeq = "\x00seq.item"

// orderHead is an order as bOrders keeps it. Its items are kept apart, one key each in
// bOrderItems, so that a subscription joining a large upcoming order (a customer who checks
// out again and again) writes one item, not all of them. Each item is numbered from one
// counter of the merchant's (ItemSeqs, in the order's order), so that the items a commit writes
// land together at the end of the bucket: numbered by their order's og id, the three items of
// a checkout were three pages rewritten anywhere in it. A head written before the items had
// seqs has ItemCount items under og id + index; one written before the split holds its items
// and no count. Either is rewritten in the new form the next time its items are saved.
type orderHead struct {
	og.Order
	ItemCount int      `json:"item_count"`
	ItemSeqs  []uint64 `json:"item_seqs,omitempty"`
}

// itemRefs says where an order's items are: under their seqs, or (an order from before
// item seqs) under og id + index, count of them.
type itemRefs struct {
	seqs   []uint64
	legacy int
}

func (r itemRefs) n() int {
	if r.legacy > 0 {
		return r.legacy
	}
	return len(r.seqs)
}

func (r itemRefs) key(id int64, i int) string {
	if r.legacy > 0 {
		return itemKey(id, i)
	}
	return itemSeqKey(r.seqs[i])
}

// loadOrder reads an order with its items, and where its items are.
func loadOrder(v *view, id int64) (o *og.Order, stored itemRefs, ok bool, err error) {
	o, stored, ok, err = loadOrderHead(v, id)
	if err != nil || !ok || stored.n() == 0 {
		return o, stored, ok, err
	}
	if o.Items, err = loadItems(v, id, stored); err != nil {
		return nil, itemRefs{}, false, err
	}
	return o, stored, true, nil
}

// loadItems reads the items of order id, which are where stored says.
func loadItems(v *view, id int64, stored itemRefs) ([]og.OrderItem, error) {
	items := make([]og.OrderItem, stored.n())
	for i := range items {
		if found, err := v.getJSON(bOrderItems, stored.key(id, i), &items[i]); err != nil {
			return nil, err
		} else if !found {
			return nil, fmt.Errorf("store: order %d has no item %d of %d", id, i, stored.n())
		}
	}
	return items, nil
}

// loadOrderHead reads an order without its items (Items is nil, unless the head predates the
// split: then it holds them and stored is empty) and without its attempts' bodies (see
// loadBodies), unless the head predates their split.
func loadOrderHead(v *view, id int64) (*og.Order, itemRefs, bool, error) {
	var h orderHead
	ok, err := v.getJSON(bOrders, orderKey(id), &h)
	if err != nil || !ok {
		return nil, itemRefs{}, ok, err
	}
	numberAttempts(&h.Order)
	return &h.Order, h.refs(), true, nil
}

func (h *orderHead) refs() itemRefs {
	if h.ItemSeqs == nil {
		return itemRefs{legacy: h.ItemCount}
	}
	return itemRefs{seqs: h.ItemSeqs}
}

// numberAttempts numbers the attempts of a head written before they had numbers.
func numberAttempts(o *og.Order) {
	for i := range o.Attempts {
		if o.Attempts[i].No == 0 {
			o.Attempts[i].No = i + 1
		}
	}
}

// loadBodies fills in the order XML and the answer of each of o's attempts.
func loadBodies(get func(key string) []byte, o *og.Order) {
	for i := range o.Attempts {
		a := &o.Attempts[i]
		if a.Request == "" {
			a.Request = string(get(bodyKey(o.OGID, a.No, bodyRequest)))
		}
		if a.Response == "" {
			a.Response = string(get(bodyKey(o.OGID, a.No, bodyAnswer)))
		}
	}
}

// saveOrder writes an order and every item; stored is where its items were. Items keep their
// seqs, in order; an order with more items than seqs numbers the new ones, one with fewer
// deletes the seqs left over, and one from before item seqs moves its items to seqs.
func saveOrder(v *view, o *og.Order, stored itemRefs) error {
	old := stored.seqs
	if stored.legacy > 0 {
		for i := range stored.legacy {
			v.del(bOrderItems, itemKey(o.OGID, i))
		}
		old = nil
	}
	seqs := make([]uint64, len(o.Items))
	for i := range o.Items {
		if i < len(old) {
			seqs[i] = old[i]
		} else {
			seq, err := v.nextID(keyItemSeq)
			if err != nil {
				return err
			}
			seqs[i] = uint64(seq)
		}
		if err := v.putJSON(bOrderItems, itemSeqKey(seqs[i]), &o.Items[i]); err != nil {
			return err
		}
	}
	for i := len(o.Items); i < len(old); i++ {
		v.del(bOrderItems, itemSeqKey(old[i]))
	}
	return saveOrderHead(v, o, itemRefs{seqs: seqs})
}

// saveOrderKeepItems writes an order whose items have not changed since it was loaded with
// loadOrder: only its head, unless it predates the split.
func saveOrderKeepItems(v *view, o *og.Order, stored itemRefs) error {
	if stored.n() != len(o.Items) {
		return saveOrder(v, o, stored)
	}
	return saveOrderHead(v, o, stored)
}

// saveOrderHead writes an order's head: its items are where stored says. The attempts' bodies
// it holds (a new attempt's XML, a new answer, or those of a head from before the split) are
// written apart; a body not loaded is left as it is.
func saveOrderHead(v *view, o *og.Order, stored itemRefs) error {
	h := orderHead{Order: *o, ItemCount: stored.n(), ItemSeqs: stored.seqs}
	h.Items = nil
	h.Attempts = slices.Clone(o.Attempts)
	for i := range h.Attempts {
		a := &h.Attempts[i]
		if a.Request != "" {
			v.put(bAttemptBodies, bodyKey(o.OGID, a.No, bodyRequest), []byte(a.Request))
			a.Request = ""
		}
		if a.Response != "" {
			v.put(bAttemptBodies, bodyKey(o.OGID, a.No, bodyAnswer), []byte(a.Response))
			a.Response = ""
		}
	}
	return v.putJSON(bOrders, orderKey(o.OGID), &h)
}

func groupKey(s *og.Subscription) string {
	return s.Customer + "\x00" + s.Payment + "\x00" + s.ShippingAddress + "\x00" + s.NextOrderDate.String()
}

// upcoming puts subscriptions in their upcoming orders: the scheduled order of the same
// customer, payment, shipping address and date if there is one (REFERENCE §6: subscriptions
// that share them go in one order), else a new one. Orders exist ahead of their date, so that
// the reminder can go out (O7). It reads and writes each order once, however many of the
// subscriptions it is given join it (a checkout of several products, the subscriptions of a
// finished order): add collects, save writes.
type upcoming struct {
	v       *view
	m       *og.Merchant
	now     time.Time
	pending []*pendingOrder
	byGroup map[string]*pendingOrder
}

// pendingOrder is an upcoming order being added to.
type pendingOrder struct {
	o      *og.Order
	group  string
	stored itemRefs // where the order's items are
	isNew  bool
	added  []og.OrderItem
}

func newUpcoming(v *view, m *og.Merchant, now time.Time) *upcoming {
	return &upcoming{v: v, m: m, now: now, byGroup: map[string]*pendingOrder{}}
}

// add puts subscription s (of product p, nil when it is not in the catalogue) in its upcoming
// order.
func (u *upcoming) add(s *og.Subscription, p *og.Product) error {
	key := groupKey(s)
	po := u.byGroup[key]
	if po == nil {
		var err error
		if po, err = u.open(s, key); err != nil {
			return err
		}
		u.byGroup[key] = po
		u.pending = append(u.pending, po)
	}
	if slices.Contains(po.o.Subscriptions, s.PublicID) {
		return nil
	}
	po.o.Subscriptions = append(po.o.Subscriptions, s.PublicID)
	po.o.Updated = u.now
	po.added = append(po.added, og.NewOrderItem(s, p, u.now))
	return nil
}

// open returns the upcoming order of group key, or a new one.
func (u *upcoming) open(s *og.Subscription, key string) (*pendingOrder, error) {
	if raw, err := u.v.get(bGroups, key); err != nil {
		return nil, err
	} else if raw != nil {
		o, stored, ok, err := loadOrderHead(u.v, int64(getUint(raw)))
		if err != nil {
			return nil, err
		} else if ok && o.Status == og.OrderScheduled && len(o.Attempts) == 0 {
			return &pendingOrder{o: o, group: key, stored: stored}, nil
		}
	}
	id, err := u.v.nextID(keyOrderSeq)
	if err != nil {
		return nil, err
	}
	o := &og.Order{
		OGID: id, PublicID: og.NewPublicID(u.now), Customer: s.Customer, Payment: s.Payment,
		ShippingAddress: s.ShippingAddress, Subscriptions: []string{}, PlaceDate: s.NextOrderDate,
		Status: og.OrderScheduled, StatusCode: og.StatusUnsent, Attempts: []og.Attempt{},
		Created: u.now, Updated: u.now,
	}
	o.DueAt = og.FirstRunOn(o.PlaceDate, u.m.Placement.Hours, u.m.Location)
	return &pendingOrder{o: o, group: key, isNew: true}, nil
}

// save writes the orders add changed: a new order with its indexes; only the new items and the
// head of an order that had some.
func (u *upcoming) save() error {
	v := u.v
	for _, po := range u.pending {
		o := po.o
		switch {
		case po.isNew:
			o.Items = po.added
			if err := saveOrder(v, o, itemRefs{}); err != nil {
				return err
			}
			v.put(bDue, timeKey(o.DueAt, o.OGID), []byte{})
			if u.m.ReminderDays > 0 {
				at := og.FirstRunOn(o.PlaceDate.AddDays(-u.m.ReminderDays), u.m.Placement.Hours, u.m.Location)
				v.put(bReminders, timeKey(at, o.OGID), []byte{})
			}
		case len(po.added) == 0:
			continue
		case po.stored.n() == 0 && len(o.Items) > 0: // a head from before the split
			o.Items = append(o.Items, po.added...)
			if err := saveOrder(v, o, itemRefs{}); err != nil {
				return err
			}
		case po.stored.legacy > 0: // items under og id + index: moved to seqs
			items, err := loadItems(v, o.OGID, po.stored)
			if err != nil {
				return err
			}
			o.Items = append(items, po.added...)
			if err := saveOrder(v, o, po.stored); err != nil {
				return err
			}
		default:
			seqs := slices.Clip(po.stored.seqs)
			for i := range po.added {
				seq, err := v.nextID(keyItemSeq)
				if err != nil {
					return err
				}
				seqs = append(seqs, uint64(seq))
				if err := v.putJSON(bOrderItems, itemSeqKey(uint64(seq)), &po.added[i]); err != nil {
					return err
				}
			}
			if err := saveOrderHead(v, o, itemRefs{seqs: seqs}); err != nil {
				return err
			}
		}
		// The group's entry, unless it is there already: the logic may have deleted it after
		// the order was opened (nextOrders clears the finished order's group as it goes).
		if raw, err := v.get(bGroups, po.group); err != nil {
			return err
		} else if string(raw) != orderKey(o.OGID) {
			v.put(bGroups, po.group, []byte(orderKey(o.OGID)))
		}
	}
	u.pending, u.byGroup = nil, map[string]*pendingOrder{}
	return nil
}

// unixNano reads a time stored as big-endian nanoseconds since the epoch.
func unixNano(v []byte) time.Time { return time.Unix(0, int64(getUint(v))).UTC() }

// LastRun returns the last placement run the scheduler finished for a merchant.
func (db *DB) LastRun(merchantID string) (time.Time, bool, error) {
	var t time.Time
	var ok bool
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bSched)
		if err != nil {
			return err
		}
		if v := b.Get([]byte(keyLastRun)); v != nil {
			t, ok = unixNano(v), true
		}
		return nil
	})
	return t, ok, err
}

// SetLastRun records the last placement run finished. A run repeated after a crash finds its
// orders no longer due, so this is written behind the caller.
func (db *DB) SetLastRun(merchantID string, t time.Time) {
	db.commit.post(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bSched)
		if err != nil {
			return err
		}
		return b.Put([]byte(keyLastRun), putUint(uint64(t.UnixNano())))
	})
}

// scanUpTo returns the entries of an index (due, reminders) with a time at or before at.
func (db *DB) scanUpTo(merchantID string, index []byte, at time.Time) ([]og.Due, error) {
	var ids []og.Due
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, index)
		if err != nil {
			return err
		}
		limit := uint64(at.UnixNano())
		c := b.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k[:8]) <= limit; k, _ = c.Next() {
			ids = append(ids, og.Due{OGID: int64(binary.BigEndian.Uint64(k[8:16])), At: time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))).UTC()})
		}
		return nil
	})
	return ids, err
}

// DueOrders returns the open orders a placement run at `at` handles.
func (db *DB) DueOrders(merchantID string, at time.Time) ([]og.Due, error) {
	return db.scanUpTo(merchantID, bDue, at)
}

// DueReminders returns the orders whose reminder is due by `at`.
func (db *DB) DueReminders(merchantID string, at time.Time) ([]og.Due, error) {
	return db.scanUpTo(merchantID, bReminders, at)
}

// Inflight returns the orders with an attempt recorded and never answered: after a crash they
// are treated as unanswered (O6a).
func (db *DB) Inflight(merchantID string) ([]int64, error) {
	var ids []int64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bInflight)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, _ []byte) error { ids = append(ids, int64(getUint(k))); return nil })
	})
	return ids, err
}

// OrderContext loads everything the placement of an order reads.
func (db *DB) OrderContext(ctx context.Context, m *og.Merchant, id int64) (*og.OrderContext, error) {
	c := &og.OrderContext{Merchant: m, Subscriptions: map[string]*og.Subscription{}, Products: map[string]*og.Product{}}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		v := newView(tx, db, m.ID)
		o, _, ok, err := loadOrder(v, id)
		if err != nil {
			return err
		} else if !ok {
			return og.Errorf(og.ENOTFOUND, "O3", "order", "no order %d", id)
		}
		c.Order = o
		c.Customer = &og.Customer{}
		if _, err := v.getJSON(bCustomers, c.Order.Customer, c.Customer); err != nil {
			return err
		}
		for i := range c.Customer.Payments {
			if pm := &c.Customer.Payments[i]; pm.PublicID == c.Order.Payment {
				*pm = opened(db.paymentKey, *pm) // the order XML encrypts them with the merchant's key (E3)
				c.Payment = pm
			}
		}
		for i := range c.Customer.Addresses {
			a := &c.Customer.Addresses[i]
			if a.PublicID == c.Order.ShippingAddress {
				c.Shipping = a
			}
			if c.Payment != nil && a.PublicID == c.Payment.BillingAddress {
				c.Billing = a
			}
		}
		for _, it := range c.Order.Items {
			if it.Subscription != "" {
				s := &og.Subscription{}
				if ok, err := v.getJSON(bSubscriptions, it.Subscription, s); err != nil {
					return err
				} else if ok {
					c.Subscriptions[s.PublicID] = s
				}
			}
			if p, err := getShared[og.Product](v, bProducts, it.ProductID); err != nil {
				return err
			} else if p != nil {
				c.Products[p.ProductID] = p
			}
		}
		return nil
	})
	return c, err
}

// LastAttempt returns an order's latest attempt with its bodies.
func (db *DB) LastAttempt(ctx context.Context, merchantID string, id int64) (og.Attempt, bool, error) {
	var a og.Attempt
	var ok bool
	err := db.bolt.View(func(tx *bolt.Tx) error {
		v := newView(tx, db, merchantID)
		o, _, found, err := loadOrderHead(v, id)
		if err != nil || !found || len(o.Attempts) == 0 {
			return err
		}
		bodies, err := mbucket(tx, merchantID, bAttemptBodies)
		if err != nil {
			return err
		}
		o.Attempts = o.Attempts[len(o.Attempts)-1:]
		loadBodies(func(key string) []byte { return bodies.Get([]byte(key)) }, o)
		a, ok = o.Attempts[0], true
		return nil
	})
	return a, ok, err
}

// BeginAttempts records attempts before their orders are sent, durably, in one commit: a crash
// between here and the answer leaves each order with an unanswered attempt, treated as no
// answer (O6a) on restart, and resent with the same orderOgId.
func (db *DB) BeginAttempts(ctx context.Context, merchantID string, begins []og.AttemptStart) ([]int64, error) {
	if len(begins) == 0 {
		return nil, nil
	}
	now := db.now()
	return optimistic(db, merchantID, func(v *view) ([]int64, error) {
		var skipped []int64
		for _, bg := range begins {
			o, stored, ok, err := startAttempt(v, bg, now)
			if err != nil {
				return nil, err
			}
			if !ok {
				skipped = append(skipped, bg.OGID)
				continue
			}
			if err := saveOrder(v, o, stored); err != nil {
				return nil, err
			}
			v.put(bInflight, orderKey(o.OGID), []byte{})
		}
		return skipped, nil
	})
}

// startAttempt adds an attempt to an order, unless the order changed since the attempt was
// prepared or is no longer open.
func startAttempt(v *view, bg og.AttemptStart, now time.Time) (*og.Order, itemRefs, bool, error) {
	o, stored, ok, err := loadOrder(v, bg.OGID)
	if err != nil || !ok {
		return nil, itemRefs{}, false, fmt.Errorf("begin attempt: order %d: %v", bg.OGID, err)
	}
	if !o.Open() || !o.Updated.Equal(bg.Updated) {
		return nil, itemRefs{}, false, nil
	}
	o.Items = bg.Items
	a := bg.Attempt
	a.No = 1
	if n := len(o.Attempts); n > 0 {
		a.No = o.Attempts[n-1].No + 1
	}
	o.Attempts = append(o.Attempts, a)
	v.keepMax(bSched, keyLastAttempt, uint64(a.At.UnixNano()))
	if n := len(o.Attempts); n > maxAttemptsKept {
		for _, old := range o.Attempts[:n-maxAttemptsKept] {
			v.del(bAttemptBodies, bodyKey(o.OGID, old.No, bodyRequest))
			v.del(bAttemptBodies, bodyKey(o.OGID, old.No, bodyAnswer))
		}
		o.Attempts = o.Attempts[n-maxAttemptsKept:]
	}
	// Sent: no longer held (F4); if a later run holds it again, its wait starts then.
	o.Status, o.Paused, o.PausedSince, o.OutOfStockNotices, o.Updated = og.OrderPending, "", nil, 0, now
	return o, stored, true, nil
}

// FinishAttempt applies the answer to an order's last attempt (O6), in one transaction with
// what follows from it: the emails, the order's next run when it is retried, and, once it is
// finished, its subscriptions' next orders. run is the placement run the attempt belongs to.
//
// It returns the decision at once and commits behind the caller (Flush waits for it): the
// attempt was recorded before the order was sent, so an answer lost in a crash is an
// unanswered attempt, resent with the same orderOgId (O6a) — never a lost or doubled order.
func (db *DB) FinishAttempt(ctx context.Context, m *og.Merchant, id int64, ans og.Answer, r og.AttemptResult, run time.Time) (og.Decision, error) {
	now := db.now()
	return optimisticBehind(db, m.ID, func(v *view) (og.Decision, error) {
		d, _, err := finishAttempt(v, m, id, ans, r, run, now, "")
		return d, err
	})
}

// AnswerBatch applies a batch response's answer to an order awaiting it in batch file `file`
// (O2), like FinishAttempt; ok is false, and nothing is written, when the order no longer
// awaits an answer from that file. The check is part of the transaction: two responses
// answering one order at once decide it once.
func (db *DB) AnswerBatch(ctx context.Context, m *og.Merchant, id int64, file string, ans og.Answer, r og.AttemptResult, now time.Time) (og.Decision, bool, error) {
	type result struct {
		d  og.Decision
		ok bool
	}
	at := db.now()
	res, err := optimisticBehind(db, m.ID, func(v *view) (result, error) {
		d, ok, err := finishAttempt(v, m, id, ans, r, now, at, file)
		return result{d, ok}, err
	})
	return res.d, res.ok, err
}

// finishAttempt decides on an answer and applies the decision. With batchFile set, it applies
// only to an order awaiting that file's answer.
func finishAttempt(v *view, m *og.Merchant, id int64, ans og.Answer, r og.AttemptResult, run, now time.Time, batchFile string) (og.Decision, bool, error) {
	if batchFile != "" {
		raw, err := v.get(bAwaiting, orderKey(id))
		if err != nil || string(raw) != batchFile {
			return og.Decision{}, false, err
		}
	}
	o, stored, ok, err := loadOrder(v, id)
	if err != nil {
		return og.Decision{}, false, fmt.Errorf("finish attempt: order %d: %w", id, err)
	}
	if !ok {
		// A reset forgot the order while it was being placed, before this run or between it
		// and the commit (the writer runs this again): its answer applies to nothing.
		return og.Decision{Gone: true}, false, nil
	}
	var freqs []og.Frequency
	for _, it := range o.Items {
		if it.Frequency != nil {
			freqs = append(freqs, *it.Frequency)
		}
	}
	// O6a's window is judged on placement runs, not on when the answer was processed.
	d := og.Decide(o, ans, og.RetryWindow{Freqs: freqs, Loc: m.Location}, run)
	if n := len(o.Attempts); n > 0 {
		a := &o.Attempts[n-1]
		a.HTTPStatus, a.Response, a.Error, a.DurationMS = r.HTTPStatus, r.Response, r.Error, r.DurationMS
		a.Decision, a.Rule = d.Text, d.Rule
	}
	v.del(bInflight, orderKey(id))
	v.del(bAwaiting, orderKey(id))
	if err := applyDecision(v, m, o, stored, d, run, now); err != nil {
		return d, false, err
	}
	return d, true, nil
}

// applyDecision updates the order after a decision and writes what follows from it.
func applyDecision(v *view, m *og.Merchant, o *og.Order, stored itemRefs, d og.Decision, run, now time.Time) error {
	o.Status, o.StatusCode = d.Status, d.StatusCode
	o.ErrorCode, o.ErrorMessage = d.ErrorCode, d.ErrorMessage
	if d.OrderID != "" {
		o.MerchantOrderID = d.OrderID
	}
	o.Retries999 = d.Retries999
	if d.FailingSince != nil {
		o.FailingSince = d.FailingSince
	} else if d.Rule != "O6a" {
		o.FailingSince = nil
	}
	v.del(bDue, timeKey(o.DueAt, o.OGID))
	o.DueAt = time.Time{}
	if d.Retry {
		o.DueAt = og.NextRun(run, m.Placement.Hours, m.Location)
		v.put(bDue, timeKey(o.DueAt, o.OGID), []byte{})
		if n := len(o.Attempts); n > 0 {
			next := o.DueAt
			o.Attempts[n-1].NextAttempt = &next
		}
	}
	o.Updated = now
	if d.Email != "" {
		if err := addEmail(v, o, d.Email, d.ErrorCode, now); err != nil {
			return err
		}
	}
	// A decision changes the order, not its items.
	if err := saveOrderKeepItems(v, o, stored); err != nil {
		return err
	}
	if !d.Done && !d.Advance {
		return nil
	}
	return nextOrders(v, m, o, run, now)
}

// nextOrders moves each live subscription of a finished order to its next date and puts it in
// its upcoming order: placed or rejected, the subscription goes on (Ordergroove never cancels a
// subscription for rejected orders). The next date is the subscription's next one still to
// come (og.Frequency.NextNotBefore): an order that went out late does not leave the subscription
// owing orders for the dates in between. A late order that was placed stands for today's (the
// next is after today); one that was rejected leaves today's to go out, in the same run.
func nextOrders(v *view, m *og.Merchant, o *og.Order, run, now time.Time) error {
	today := og.DateOf(run, m.Location)
	if o.Status == og.OrderPlaced {
		today = today.AddDays(1)
	}
	return nextOrdersFrom(v, m, o, today, now)
}

// nextOrdersFrom is nextOrders with each subscription's next date the first not before today.
func nextOrdersFrom(v *view, m *og.Merchant, o *og.Order, today og.Date, now time.Time) error {
	up := newUpcoming(v, m, now)
	for _, sid := range o.Subscriptions {
		var s og.Subscription
		if ok, err := v.getJSON(bSubscriptions, sid, &s); err != nil {
			return err
		} else if !ok || !s.Live() {
			continue
		}
		if s.NextOrderDate != o.PlaceDate {
			// Moved on already (a batch order's answer that came after its subscription went
			// on, AdvanceAwaiting): it is in its next order, or that one has gone out too.
			continue
		}
		// The order's group is done taking subscriptions, if it is this order's; the order
		// its out-of-stock items were split into (F4) has it next.
		if err := releaseGroup(v, groupKey(&s), o); err != nil {
			return err
		}
		s.NextOrderDate = s.Frequency.NextNotBefore(s.NextOrderDate, s.AnchorDay, today)
		s.Iteration++
		s.UpdatedAt = now
		if err := v.putJSON(bSubscriptions, s.PublicID, &s); err != nil {
			return err
		}
		pp, err := getShared[og.Product](v, bProducts, s.ProductID)
		if err != nil {
			return err
		}
		if err := up.add(&s, pp); err != nil {
			return err
		}
	}
	return up.save()
}

// releaseGroup frees the group key of an order that is done (sent, cancelled), if the key is
// the order's: to the order its out-of-stock items were split into, if any (F4), else for a
// new order.
func releaseGroup(v *view, key string, o *og.Order) error {
	raw, err := v.get(bGroups, key)
	if err != nil || raw == nil || int64(getUint(raw)) != o.OGID {
		return err
	}
	if o.SplitInto != 0 {
		v.put(bGroups, key, []byte(orderKey(o.SplitInto)))
	} else {
		v.del(bGroups, key)
	}
	return nil
}

// emailOf returns a customer's email address, decoding nothing else of the record.
func emailOf(v *view, customer string) (string, error) {
	var c struct {
		Email string `json:"email"`
	}
	_, err := v.getJSON(bCustomers, customer, &c)
	return c.Email, err
}

// addEmail records the email a customer would get about an order.
func addEmail(v *view, o *og.Order, kind, code string, now time.Time) error {
	c, err := emailOf(v, o.Customer)
	if err != nil {
		return err
	}
	sub := ""
	if len(o.Subscriptions) > 0 {
		sub = o.Subscriptions[0]
	}
	raw, err := marshal(og.Email{Kind: kind, To: c, OrderID: o.OGID, SubscriptionID: sub, ErrorCode: code, At: now, Subject: og.EmailSubject(kind, o, code)})
	if err != nil {
		return err
	}
	v.appendSeq(bEmails, raw, maxEmails)
	return nil
}

// PauseOrder holds an order a run cannot place (F4, og.Hold): it waits for the next run, with
// the customer emailed on its first day and its fifteenth, or, on its thirtieth, is cancelled
// and its subscriptions go on to their next orders.
func (db *DB) PauseOrder(ctx context.Context, m *og.Merchant, id int64, reason string, run time.Time) (held, cancelled bool, err error) {
	now := db.now()
	type result struct{ held, cancelled bool }
	r, err := optimistic(db, m.ID, func(v *view) (result, error) {
		o, stored, ok, err := loadOrderHead(v, id)
		if err != nil || !ok {
			return result{}, fmt.Errorf("pause order %d: %v", id, err)
		}
		if !o.Open() {
			return result{}, nil // closed since the run loaded it (a feed cancelled it, F3)
		}
		v.del(bDue, timeKey(o.DueAt, o.OGID))
		cancelled, err := hold(v, m, o, reason, run, now)
		if err != nil {
			return result{}, err
		}
		if stored.n() == 0 && len(o.Items) > 0 {
			err = saveOrder(v, o, itemRefs{})
		} else {
			err = saveOrderHead(v, o, stored)
		}
		if err == nil && cancelled {
			err = nextOrders(v, m, o, run, now)
		}
		return result{true, cancelled}, err
	})
	return r.held, r.cancelled, err
}

// hold applies og.Hold to an order (not yet saved): its next run, or its cancellation, and the
// email. The caller saves the order, and moves a cancelled one's subscriptions on.
func hold(v *view, m *og.Merchant, o *og.Order, reason string, run, now time.Time) (bool, error) {
	email, cancelled := og.Hold(o, reason, run, m.Location)
	o.Updated = now
	if cancelled {
		o.DueAt = time.Time{}
	} else {
		o.DueAt = og.NextRun(run, m.Placement.Hours, m.Location)
		v.put(bDue, timeKey(o.DueAt, o.OGID), []byte{})
	}
	if email != "" {
		if err := addEmail(v, o, email, "", now); err != nil {
			return false, err
		}
	}
	return cancelled, nil
}

// SplitOrder splits an order a run can place only in part (REFERENCE §6: out-of-stock items
// are split into a separate order): the items it cannot place now, by public id, move to a new
// order, which the caller holds (PauseOrder), and the order goes out with the rest, under the
// id its reminder named. The new order takes over what waiting meant for the order: the wait
// so far (og.Hold's days and emails go on, not over) and the reminder (its items keep the prices
// it showed, O7); the order keeps its group and links to it (SplitInto), which is how a feed
// finds either (F3), and hands it the group once it is done. Only an order never sent
// is split: one being retried went out whole, and waits whole. It returns the new order's id,
// or 0.
func (db *DB) SplitOrder(ctx context.Context, m *og.Merchant, id int64, items []string, run time.Time) (int64, error) {
	now := db.now()
	return optimistic(db, m.ID, func(v *view) (int64, error) {
		o, stored, ok, err := loadOrder(v, id)
		if err != nil || !ok {
			return 0, fmt.Errorf("split order %d: %v", id, err)
		}
		if o.Status != og.OrderScheduled || len(o.Attempts) > 0 {
			return 0, nil
		}
		var keep, moved []og.OrderItem
		for _, it := range o.Items {
			if slices.Contains(items, it.PublicID) {
				moved = append(moved, it)
			} else {
				keep = append(keep, it)
			}
		}
		if len(moved) == 0 || len(keep) == 0 {
			return 0, nil
		}
		subsOf := func(its []og.OrderItem) []string {
			out := []string{}
			for _, it := range its {
				if !slices.Contains(out, it.Subscription) {
					out = append(out, it.Subscription)
				}
			}
			return out
		}
		newID, err := v.nextID(keyOrderSeq)
		if err != nil {
			return 0, err
		}
		n := &og.Order{
			OGID: newID, PublicID: og.NewPublicID(now), Customer: o.Customer, Payment: o.Payment,
			ShippingAddress: o.ShippingAddress, Subscriptions: subsOf(moved), Items: moved, PlaceDate: o.PlaceDate,
			Status: og.OrderScheduled, StatusCode: og.StatusUnsent, Attempts: []og.Attempt{},
			ReminderSent: o.ReminderSent, Paused: o.Paused, PausedSince: o.PausedSince, OutOfStockNotices: o.OutOfStockNotices,
			DueAt: o.DueAt, Created: now, Updated: now,
		}
		if err := saveOrder(v, n, itemRefs{}); err != nil {
			return 0, err
		}
		v.put(bDue, timeKey(n.DueAt, n.OGID), []byte{})
		o.Items, o.Subscriptions, o.Updated, o.SplitInto = keep, subsOf(keep), now, newID
		o.Paused, o.PausedSince, o.OutOfStockNotices = "", nil, 0 // it goes out now
		return newID, saveOrder(v, o, stored)
	})
}

// RemindOrder records that an order's reminder went out (O7): the email, and each item's
// price at that moment, which the order will not exceed. It commits behind the caller, which
// flushes before the run ends (a reminder lost in a crash goes out at the next run).
func (db *DB) RemindOrder(ctx context.Context, m *og.Merchant, id int64, prices map[string]og.Money, at time.Time) error {
	now := db.now()
	_, err := optimisticBehind(db, m.ID, func(v *view) (struct{}, error) {
		o, stored, ok, err := loadOrder(v, id)
		if err != nil {
			return struct{}{}, err
		}
		v.del(bReminders, timeKey(at, id))
		if !ok || !o.Open() || o.ReminderSent != nil {
			return struct{}{}, nil
		}
		for i := range o.Items {
			if p, ok := prices[o.Items[i].PublicID]; ok {
				o.Items[i].ReminderPrice = &p
			}
		}
		o.ReminderSent, o.Updated = &now, now
		if err := addEmail(v, o, og.EmailReminder, "", now); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, saveOrder(v, o, stored)
	})
	return err
}

// FindOrders returns a merchant's orders in og id order.
func (db *DB) FindOrders(ctx context.Context, merchantID string, f og.OrderFilter) ([]og.Order, error) {
	out := []og.Order{}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bOrders)
		if err != nil {
			return err
		}
		items, err := mbucket(tx, merchantID, bOrderItems)
		if err != nil {
			return err
		}
		bodies, err := mbucket(tx, merchantID, bAttemptBodies)
		if err != nil {
			return err
		}
		get := func(key string) []byte { return bodies.Get([]byte(key)) }
		return b.ForEach(func(k, raw []byte) error {
			var h orderHead
			if err := unmarshal(raw, &h); err != nil {
				return err
			}
			o := h.Order
			if refs := h.refs(); refs.n() > 0 {
				o.Items = make([]og.OrderItem, refs.n())
				for i := range o.Items {
					if err := unmarshal(items.Get([]byte(refs.key(o.OGID, i))), &o.Items[i]); err != nil {
						return fmt.Errorf("store: order %d item %d: %w", o.OGID, i, err)
					}
				}
			}
			if f.Customer != "" && o.Customer != f.Customer || f.Status != "" && o.Status != f.Status || f.Subscription != "" && !slices.Contains(o.Subscriptions, f.Subscription) {
				return nil
			}
			numberAttempts(&o)
			loadBodies(get, &o)
			if n := len(o.Attempts); n > 0 {
				o.XML = o.Attempts[n-1].Request // the last order XML sent, kept once
				o.AttemptsDropped = o.Attempts[0].No - 1
			}
			out = append(out, o)
			return nil
		})
	})
	return out, err
}

// LastAttemptAt returns the sandbox time of a merchant's latest attempt.
func (db *DB) LastAttemptAt(ctx context.Context, merchantID string) (time.Time, error) {
	var last time.Time
	err := db.bolt.View(func(tx *bolt.Tx) error {
		sched, err := mbucket(tx, merchantID, bSched)
		if err != nil {
			return err
		}
		if v := sched.Get([]byte(keyLastAttempt)); v != nil {
			last = unixNano(v)
			return nil
		}
		// A database from before last_attempt: the attempts say.
		b, err := mbucket(tx, merchantID, bOrders)
		if err != nil {
			return err
		}
		return b.ForEach(func(_, raw []byte) error {
			var h struct {
				Attempts []struct {
					At time.Time `json:"time"`
				} `json:"attempts"`
			}
			if err := unmarshal(raw, &h); err != nil {
				return err
			}
			for _, a := range h.Attempts {
				if a.At.After(last) {
					last = a.At
				}
			}
			return nil
		})
	})
	return last, err
}

// FindEmails returns the emails of a merchant's customers, oldest first.
func (db *DB) FindEmails(ctx context.Context, merchantID string) ([]og.Email, error) {
	db.commit.flush()
	return list[og.Email](db, merchantID, bEmails, nil)
}
