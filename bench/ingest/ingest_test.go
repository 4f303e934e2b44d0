package main

// In-process benchmarks that take the SFTP drop site out of the picture and split the ingest
// into its parts, on the same feed as the bench (10,000 products per operation):
//
//	go test ./bench/ingest -run '^$' -bench . -benchtime 5x
//
// BareParse is the baseline; ReadProducts is the sandbox's parse and validation (F2-F7) with
// nothing stored; ReadProductsStore adds the durable bbolt writes, 500 products at a time and
// each waited for before parsing on, as the drop site does. Two variants try what the store
// side could do differently, without changing it: ReadProductsStorePipelined commits a batch
// while the next one is parsed (waiting for the previous commit before handing over the
// next), ReadProductsStore5000 commits 5,000 products per transaction. After the first
// operation the products exist: the store benchmarks measure updates.

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/feed"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/store"
)

const benchProducts = 10_000

func benchFeed(b *testing.B) []byte {
	var buf bytes.Buffer
	if err := feedXML(&buf, benchProducts); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	return buf.Bytes()
}

func reportRate(b *testing.B, start time.Time) {
	b.ReportMetric(float64(benchProducts*b.N)/time.Since(start).Seconds(), "products/s")
}

func BenchmarkBareParse(b *testing.B) {
	data := benchFeed(b)
	start := time.Now()
	for b.Loop() {
		n, err := bareDecode(bytes.NewReader(data))
		if err != nil || n != benchProducts {
			b.Fatalf("%d products, %v", n, err)
		}
	}
	reportRate(b, start)
}

func BenchmarkReadProducts(b *testing.B) {
	data := benchFeed(b)
	start := time.Now()
	for b.Loop() {
		rep, err := feed.ReadProducts(bytes.NewReader(data), "bench.xml", time.Now(), func([]og.Product) error { return nil })
		if err != nil || rep.Accepted != benchProducts {
			b.Fatalf("%d accepted, %v", rep.Accepted, err)
		}
	}
	reportRate(b, start)
}

func openStore(b *testing.B) *store.DB {
	db, err := store.Open(filepath.Join(b.TempDir(), "bench.db"), store.Options{Merchants: []string{merchantID}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// benchStore reads the feed b.N times; accept gets each batch, and finish is called at the end
// of each read.
func benchStore(b *testing.B, accept func([]og.Product) error, finish func() error) {
	data := benchFeed(b)
	start := time.Now()
	for b.Loop() {
		rep, err := feed.ReadProducts(bytes.NewReader(data), "bench.xml", time.Now(), accept)
		if err == nil {
			err = finish()
		}
		if err != nil || rep.Accepted != benchProducts {
			b.Fatalf("%d accepted, %v", rep.Accepted, err)
		}
	}
	reportRate(b, start)
}

func BenchmarkReadProductsStore(b *testing.B) {
	db := openStore(b)
	ctx := context.Background()
	benchStore(b, func(ps []og.Product) error {
		_, err := db.UpsertProducts(ctx, merchantID, ps)
		return err
	}, func() error { return nil })
}

func BenchmarkReadProductsStorePipelined(b *testing.B) {
	db := openStore(b)
	ctx := context.Background()
	var pending chan error // the commit in flight
	wait := func() error {
		if pending == nil {
			return nil
		}
		err := <-pending
		pending = nil
		return err
	}
	benchStore(b, func(ps []og.Product) error {
		if err := wait(); err != nil {
			return err
		}
		batch := append([]og.Product(nil), ps...) // ReadProducts reuses its slice
		pending = make(chan error, 1)
		go func(done chan<- error) {
			_, err := db.UpsertProducts(ctx, merchantID, batch)
			done <- err
		}(pending)
		return nil
	}, wait)
}

func BenchmarkReadProductsStore5000(b *testing.B) {
	db := openStore(b)
	ctx := context.Background()
	var buf []og.Product
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		_, err := db.UpsertProducts(ctx, merchantID, buf)
		buf = buf[:0]
		return err
	}
	benchStore(b, func(ps []og.Product) error {
		buf = append(buf, ps...)
		if len(buf) >= 5000 {
			return flush()
		}
		return nil
	}, flush)
}
