package sandbox

import (
	"context"
	_ "embed"
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
// catalogue for the demo merchant. Each load is reported like a feed (GET .../feeds).
func (s *Sandbox) loadCatalogues(ctx context.Context) error {
	for _, m := range s.merchants.All() {
		var r io.Reader
		name := m.Catalogue
		switch {
		case m.Catalogue != "":
			f, err := os.Open(m.Catalogue)
			if err != nil {
				return fmt.Errorf("merchant %s: catalogue: %w", m.ID, err)
			}
			defer f.Close()
			r = f
		case s.cfg.Demo:
			r, name = strings.NewReader(demoProducts), "demo catalogue (embedded)"
		default:
			continue
		}
		if err := s.ingestProducts(ctx, m, name, r); err != nil {
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
