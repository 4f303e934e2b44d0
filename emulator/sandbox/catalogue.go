package sandbox

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// demoProducts is the demo merchant's catalogue.
//
//go:embed demo/Products.xml
var demoProducts string

// loadCatalogues ingests each merchant's catalogue: the configured file, or the demo
// catalogue for the demo merchant. Each load is reported like a feed (GET .../feeds). A
// catalogue already loaded, byte for byte, is not loaded again at a restart: since then, feeds
// may have changed the products (stock, prices, a product put back on sale), and loading it
// again would undo them and apply its discontinuations again (F3 swaps, customer emails).
func (s *Sandbox) loadCatalogues(ctx context.Context) error {
	for _, m := range s.merchants.All() {
		var content io.ReadSeeker
		name := m.Catalogue
		switch {
		case m.Catalogue != "":
			f, err := os.Open(m.Catalogue)
			if err != nil {
				return fmt.Errorf("merchant %s: catalogue: %w", m.ID, err)
			}
			defer f.Close()
			content = f
		case s.cfg.Demo:
			content, name = strings.NewReader(demoProducts), "demo catalogue (embedded)"
		default:
			continue
		}
		h := sha256.New()
		if _, err := io.Copy(h, content); err != nil {
			return fmt.Errorf("merchant %s: catalogue %s: %w", m.ID, name, err)
		}
		sum := hex.EncodeToString(h.Sum(nil))
		if loaded, err := s.db.LoadedCatalogue(m.ID); err != nil {
			return err
		} else if loaded == sum {
			continue
		}
		if _, err := content.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("merchant %s: catalogue %s: %w", m.ID, name, err)
		}
		if err := s.ingestProducts(ctx, m, name, content); err != nil {
			return err
		}
		if err := s.db.SetLoadedCatalogue(m.ID, sum); err != nil {
			return err
		}
	}
	return nil
}

// ingestProducts reads a product feed into m's catalogue and records its report.
func (s *Sandbox) ingestProducts(ctx context.Context, m *og.Merchant, name string, r io.Reader) error {
	rep, err := s.ingest.Products(ctx, m, name, r, "xml", og.FeedViaCatalogue)
	if err != nil {
		return fmt.Errorf("merchant %s: catalogue %s: %w", m.ID, name, err)
	}
	if n := rep.Errors(); n > 0 {
		s.log.Warn("catalogue has findings", "merchant", m.ID, "file", name, "errors", n, "refused", rep.Refused, "see", "/_sandbox/merchants/"+m.ID+"/feeds")
	}
	return nil
}
