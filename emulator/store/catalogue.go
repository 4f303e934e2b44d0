package store

import (
	"context"
	"encoding/json"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	bolt "go.etcd.io/bbolt"
)

var _ og.CatalogueService = (*DB)(nil)

// UpsertProducts adds or replaces products in one durable transaction.
func (db *DB) UpsertProducts(ctx context.Context, merchantID string, ps []og.Product) (og.CatalogueEffects, error) {
	var eff og.CatalogueEffects
	err := db.commit.do(func(tx *bolt.Tx) error {
		eff = og.CatalogueEffects{}
		b, err := mbucket(tx, merchantID, bProducts)
		if err != nil {
			return err
		}
		for i := range ps {
			if err := putJSON(b, ps[i].ProductID, &ps[i]); err != nil {
				return err
			}
			eff.Upserted++
		}
		return nil
	})
	return eff, err
}

// FindProducts returns a merchant's catalogue, ordered by product id.
func (db *DB) FindProducts(ctx context.Context, merchantID string) ([]og.Product, error) {
	out := []og.Product{}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bProducts)
		if err != nil {
			return err
		}
		return eachJSON(b, func(_ []byte, p *og.Product) error { out = append(out, *p); return nil })
	})
	return out, err
}

// RecordFeed keeps a feed's report (GET /_sandbox/merchants/{id}/feeds). It is written behind
// the caller, like a journal entry: the products it reports on are already committed, and
// Feeds waits for it.
func (db *DB) RecordFeed(ctx context.Context, merchantID string, r og.FeedReport) error {
	raw, err := json.Marshal(&r)
	if err != nil {
		return err
	}
	db.commit.post(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bFeeds)
		if err != nil {
			return err
		}
		return appendCapped(b, json.RawMessage(raw), maxFeedReports)
	})
	return nil
}

// Feeds returns a merchant's feed reports, oldest first.
func (db *DB) Feeds(ctx context.Context, merchantID string) ([]og.FeedReport, error) {
	db.commit.flush()
	out := []og.FeedReport{}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b, err := mbucket(tx, merchantID, bFeeds)
		if err != nil {
			return err
		}
		return eachJSON(b, func(_ []byte, r *og.FeedReport) error { out = append(out, *r); return nil })
	})
	return out, err
}
