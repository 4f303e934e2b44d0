package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	bolt "go.etcd.io/bbolt"
)

var _ og.CatalogueService = (*DB)(nil)

// UpsertProducts adds or replaces products in one durable transaction.
func (db *DB) UpsertProducts(ctx context.Context, merchantID string, ps []og.Product) (og.CatalogueEffects, error) {
	return db.UpsertProductsAsync(ctx, merchantID, ps)()
}

// UpsertProductsAsync encodes products at once and queues their transaction; wait returns once
// it is durable. A feed reader parses the next batch while this one commits.
func (db *DB) UpsertProductsAsync(ctx context.Context, merchantID string, ps []og.Product) (wait func() (og.CatalogueEffects, error)) {
	keys := make([][]byte, len(ps))
	vals := make([][]byte, len(ps))
	for i := range ps {
		raw, err := marshal(&ps[i])
		if err != nil {
			return func() (og.CatalogueEffects, error) { return og.CatalogueEffects{}, err }
		}
		keys[i], vals[i] = []byte(ps[i].ProductID), raw
	}
	done := make(chan error, 1)
	if !db.commit.send(job{fn: func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bProducts)
		if err != nil {
			return err
		}
		for i := range keys {
			if err := b.Put(keys[i], vals[i]); err != nil {
				return err
			}
		}
		return nil
	}, done: done}) {
		return func() (og.CatalogueEffects, error) { return og.CatalogueEffects{}, errClosed }
	}
	return func() (og.CatalogueEffects, error) {
		if err := <-done; err != nil {
			return og.CatalogueEffects{}, err
		}
		return og.CatalogueEffects{Upserted: len(keys)}, nil
	}
}

// productSubKey indexes a subscription under its product (F3 finds a product's subscriptions).
func productSubKey(product, sub string) string { return product + "\x00" + sub }

// ApplyDiscontinued applies F3 to the live subscriptions of each named product that is
// discontinued in the catalogue: swapped to the replacement its relationships name (emailed for
// discontinued_replacement, silently for discontinued_silent_replacement), or cancelled and
// emailed when it names none or names one that cannot be subscribed to. Each subscription's
// upcoming order follows: the item is swapped, or removed (and an order left empty is
// cancelled). Orders already sent and awaiting a retry are left as they went out.
//
// It runs inside the single writer, so that no checkout can add a subscription to a product
// between the scan and the writes; one durable transaction for all the products.
func (db *DB) ApplyDiscontinued(ctx context.Context, merchantID string, productIDs []string) (og.CatalogueEffects, error) {
	var eff og.CatalogueEffects
	if len(productIDs) == 0 {
		return eff, nil
	}
	// Most discontinued products have no subscriptions left: no write transaction for them.
	found := false
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bProductSubs)
		if err != nil {
			return err
		}
		c := b.Cursor()
		for _, pid := range productIDs {
			if k, _ := c.Seek([]byte(pid + "\x00")); k != nil && bytes.HasPrefix(k, []byte(pid+"\x00")) {
				found = true
				return nil
			}
		}
		return nil
	}); err != nil || !found {
		return eff, err
	}
	now := db.now()
	err := db.commit.do(func(tx *bolt.Tx) error {
		eff = og.CatalogueEffects{}
		for _, pid := range productIDs {
			v := newView(tx, db, merchantID)
			if err := discontinue(v, pid, now, &eff); err != nil {
				return err
			}
			if err := v.apply(tx); err != nil {
				return err
			}
		}
		return nil
	})
	return eff, err
}

// discontinue applies F3 to the subscriptions of product pid.
func discontinue(v *view, pid string, now time.Time, eff *og.CatalogueEffects) error {
	var p og.Product
	if ok, err := v.getJSON(bProducts, pid, &p); err != nil || !ok || !p.Discontinued {
		return err
	}
	subs, err := v.keysWithPrefix(bProductSubs, pid+"\x00")
	if err != nil || len(subs) == 0 {
		return err
	}
	var repl *og.Product
	replID, silent := p.Replacement()
	if replID != "" {
		var r og.Product
		ok, err := v.getJSON(bProducts, replID, &r)
		if err != nil {
			return err
		}
		switch {
		case !ok:
			eff.Findings = append(eff.Findings, og.Warning("F3", "products["+pid+"].relationships",
				fmt.Sprintf("the replacement %s of discontinued product %s is not in the catalogue: its %d subscriptions are cancelled instead of swapped", replID, pid, len(subs))))
		case r.Discontinued || !r.AutoshipEligible:
			eff.Findings = append(eff.Findings, og.Warning("F3", "products["+pid+"].relationships",
				fmt.Sprintf("the replacement %s of discontinued product %s is itself discontinued or not autoship_eligible: its %d subscriptions are cancelled instead of swapped", replID, pid, len(subs))))
		default:
			repl = &r
		}
	}
	for _, key := range subs {
		sid := key[len(pid)+1:]
		var s og.Subscription
		if ok, err := v.getJSON(bSubscriptions, sid, &s); err != nil {
			return err
		} else if !ok || !s.Live() {
			v.del(bProductSubs, key)
			continue
		}
		order, stored, err := upcomingOrder(v, &s)
		if err != nil {
			return err
		}
		v.del(bProductSubs, key)
		if repl != nil {
			// The subscription keeps its quantity, frequency, dates and any locked price (P4):
			// only the product changes.
			s.ProductID, s.SKU, s.UpdatedAt = repl.ProductID, repl.SKU, now
			if !s.PriceLocked {
				s.Price = repl.Price
			}
			v.put(bProductSubs, productSubKey(repl.ProductID, s.PublicID), []byte{})
			eff.Swapped++
			// SPEC F3: a silent replacement "swaps silently (the email, if any, only after
			// the swap)": read as no email about the swap; what follows (the order reminder,
			// the order) goes out with the replacement as usual.
			if !silent {
				if err := addSubscriptionEmail(v, &s, og.EmailSwapped, pid, repl.ProductID, now); err != nil {
					return err
				}
				eff.Emails++
			}
			if order != nil {
				for i := range order.Items {
					if it := &order.Items[i]; it.Subscription == s.PublicID {
						fresh := og.NewOrderItem(&s, repl, now)
						fresh.PublicID = it.PublicID
						*it = fresh
					}
				}
				order.Updated = now
				if order.Paused != "" {
					// Held (F4): once every item's product can go out, it no longer waits; the
					// next run sends it.
					waits, err := anyHeld(v, order)
					if err != nil {
						return err
					}
					if !waits {
						order.Paused = ""
					}
				}
				if err := saveOrder(v, order, stored); err != nil {
					return err
				}
				eff.OrdersChanged++
			}
		} else {
			s.Status, s.Cancelled, s.UpdatedAt = og.SubscriptionCancelled, &now, now
			s.CancelReason = "product " + pid + " was discontinued (F3)"
			eff.Cancelled++
			if err := addSubscriptionEmail(v, &s, og.EmailCancelled, pid, "", now); err != nil {
				return err
			}
			eff.Emails++
			if order != nil {
				left := slices.DeleteFunc(slices.Clone(order.Items), func(it og.OrderItem) bool { return it.Subscription == s.PublicID })
				if len(left) > 0 {
					order.Items = left
					order.Subscriptions = slices.DeleteFunc(order.Subscriptions, func(id string) bool { return id == s.PublicID })
				}
				// An order all of whose subscriptions were cancelled keeps its items and
				// subscription ids: the listing shows what the cancelled order was for.
				order.Updated = now
				if len(left) == 0 {
					order.Status, order.StatusCode, order.Paused = og.OrderCancelled, og.StatusCancelled, "" // no longer waiting (F4)
					order.ErrorMessage = "every subscription of the order was cancelled: product " + pid + " was discontinued (F3)"
					v.del(bDue, timeKey(order.DueAt, order.OGID))
					order.DueAt = time.Time{}
					if err := releaseGroup(v, groupKey(&s), order); err != nil {
						return err
					}
					eff.OrdersCancelled++
				} else {
					eff.OrdersChanged++
				}
				if err := saveOrder(v, order, stored); err != nil {
					return err
				}
			}
		}
		if err := v.putJSON(bSubscriptions, s.PublicID, &s); err != nil {
			return err
		}
	}
	return nil
}

// indexProductSubs builds the product_subs index of every merchant from its subscriptions (a
// file written before the index existed).
func indexProductSubs(tx *bolt.Tx) error {
	return tx.Bucket(bucketMerchants).ForEachBucket(func(id []byte) error {
		subs, err := mbucket(tx, string(id), bSubscriptions)
		if err != nil {
			return nil // a merchant no longer configured keeps its old layout
		}
		idx, err := mbucket(tx, string(id), bProductSubs)
		if err != nil {
			return nil
		}
		return eachJSON(subs, func(_ []byte, s *og.Subscription) error {
			return idx.Put([]byte(productSubKey(s.ProductID, s.PublicID)), []byte{})
		})
	})
}

// upcomingOrder returns the order a live subscription's next date is filed in, if it has not
// been sent yet.
func upcomingOrder(v *view, s *og.Subscription) (*og.Order, itemRefs, error) {
	raw, err := v.get(bGroups, groupKey(s))
	if err != nil || raw == nil {
		return nil, itemRefs{}, err
	}
	// The group's order, or the orders its out-of-stock items were split into (F4).
	for id, hops := int64(getUint(raw)), 0; id != 0 && hops < maxSplitHops; hops++ {
		o, stored, ok, err := loadOrder(v, id)
		if err != nil || !ok {
			return nil, itemRefs{}, err
		}
		if o.Status == og.OrderScheduled && len(o.Attempts) == 0 && slices.Contains(o.Subscriptions, s.PublicID) {
			return o, stored, nil
		}
		id = o.SplitInto
	}
	return nil, itemRefs{}, nil
}

// anyHeld reports whether an item of the order is of a product a run would hold it for (F4:
// out of stock, or no longer in the catalogue).
func anyHeld(v *view, o *og.Order) (bool, error) {
	for _, it := range o.Items {
		p, err := getShared[og.Product](v, bProducts, it.ProductID)
		if err != nil {
			return false, err
		}
		if p == nil || !p.InStock {
			return true, nil
		}
	}
	return false, nil
}

// maxSplitHops bounds the chain of split orders a lookup follows (one per item, at most).
const maxSplitHops = 64

// addSubscriptionEmail records the email a customer gets about a subscription (F3).
func addSubscriptionEmail(v *view, s *og.Subscription, kind, product, replacement string, now time.Time) error {
	to, err := emailOf(v, s.Customer)
	if err != nil {
		return err
	}
	raw, err := marshal(og.Email{Kind: kind, To: to, SubscriptionID: s.PublicID, At: now,
		Subject: og.SubscriptionEmailSubject(kind, s, product, replacement)})
	if err != nil {
		return err
	}
	v.appendSeq(bEmails, raw, maxEmails)
	return nil
}

// keysWithPrefix returns the stored keys of a bucket that start with prefix. It reads the
// transaction directly: views that use it run inside the writer (see ApplyDiscontinued).
func (v *view) keysWithPrefix(bucket []byte, prefix string) ([]string, error) {
	b, err := v.bucket(bucket)
	if err != nil {
		return nil, err
	}
	var out []string
	c := b.Cursor()
	for k, _ := c.Seek([]byte(prefix)); k != nil && bytes.HasPrefix(k, []byte(prefix)); k, _ = c.Next() {
		out = append(out, string(k))
	}
	return out, nil
}

// FindProducts returns a merchant's catalogue, ordered by product id.
func (db *DB) FindProducts(ctx context.Context, merchantID string) ([]og.Product, error) {
	return list[og.Product](db, merchantID, bProducts, nil)
}

// UpsertCategories adds or replaces categories (F8) in one durable transaction.
func (db *DB) UpsertCategories(ctx context.Context, merchantID string, cs []og.Category) error {
	return db.commit.do(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bCategories)
		if err != nil {
			return err
		}
		for i := range cs {
			if err := putJSON(b, cs[i].ID, &cs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// FindCategories returns a merchant's categories, ordered by id.
func (db *DB) FindCategories(ctx context.Context, merchantID string) ([]og.Category, error) {
	return list[og.Category](db, merchantID, bCategories, nil)
}

// CategoryParent reports whether a category id is in a merchant's catalogue.
func (db *DB) CategoryParent(ctx context.Context, merchantID, id string) (string, bool, error) {
	var c og.Category
	found := false
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bCategories)
		if err != nil {
			return err
		}
		found, err = getJSON(b, id, &c)
		return err
	})
	return c.ParentID, found, err
}

// RecordFeed keeps a feed's report (GET /_sandbox/merchants/{id}/feeds). It is written behind
// the caller, like a journal entry: the products it reports on are already committed, and
// Feeds waits for it.
//
// It returns once the report is on disk: an upload acknowledged to the merchant has its report
// kept (the F1 check reads it), as the products it brought are.
func (db *DB) RecordFeed(ctx context.Context, merchantID string, r og.FeedReport) error {
	if r.Via == "" {
		r.Via = og.FeedViaSFTP // the drop site's files: the others say how they came
	}
	raw, err := marshal(&r)
	if err != nil {
		return err
	}
	return db.commit.do(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bFeeds)
		if err != nil {
			return err
		}
		return appendCappedRaw(b, raw, maxFeedReports)
	})
}

// keyCatalogue, in a merchant's sched bucket, is the SHA-256 of the catalogue file last loaded.
const keyCatalogue = "catalogue_sha256"

// LoadedCatalogue returns the SHA-256 of the merchant's catalogue file last loaded ("" if none
// has been since the last reset).
func (db *DB) LoadedCatalogue(merchantID string) (string, error) {
	var sum string
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bSched)
		if err == nil {
			sum = string(b.Get([]byte(keyCatalogue)))
		}
		return err
	})
	return sum, err
}

// SetLoadedCatalogue records the SHA-256 of the catalogue file just loaded, durably.
func (db *DB) SetLoadedCatalogue(merchantID, sum string) error {
	return db.commit.do(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bSched)
		if err != nil {
			return err
		}
		return b.Put([]byte(keyCatalogue), []byte(sum))
	})
}

// Feeds returns a merchant's feed reports, oldest first.
func (db *DB) Feeds(ctx context.Context, merchantID string) ([]og.FeedReport, error) {
	db.commit.flush()
	return list[og.FeedReport](db, merchantID, bFeeds, nil)
}
