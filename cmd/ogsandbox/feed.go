package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/clock"
	"github.com/ogsandbox/ogsandbox/emulator/feed"
	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// feedCmd validates a feed offline: `ogsandbox feed check FILE` prints the report a drop on
// the SFTP site would get (every finding with its line and rule id) and exits 1 when the
// feed has errors.
func (m *Main) feedCmd(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "check" {
		return usageError{"the feed command is: feed check FILE"}
	}
	fs := m.flags("feed check")
	kind := fs.String("kind", "", "products or categories (default: from the file name, <MERCHANT_ID>.ProductCategories.xml is a categories feed)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := m.parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"want exactly one FILE (- for standard input)"}
	}
	name := pos[0]
	var r io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	if *kind == "" {
		*kind = "products"
		if strings.Contains(filepath.Base(name), "ProductCategories") {
			*kind = "categories"
		}
	}
	now := clock.WallNow()
	var rep og.FeedReport
	switch *kind {
	case "products":
		rep, err = feed.ReadProducts(r, name, now, func([]og.Product) error { return nil })
	case "categories":
		rep, err = feed.ReadCategories(r, name, now, func(string) (string, bool) { return "", false }, func([]og.Category) error { return nil })
	default:
		return usageError{fmt.Sprintf("--kind %q: products or categories", *kind)}
	}
	if err != nil {
		return err
	}
	rep.ReceivedAt = time.Time{} // nothing was received: the file was only read
	if *asJSON {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := feed.WriteText(m.Stdout, rep); err != nil {
		return err
	}
	switch n := rep.Errors(); {
	case n > 0:
		return fmt.Errorf("%d errors: %d of %d entries would be refused", n, rep.Refused, rep.Entries)
	case !rep.Complete:
		return fmt.Errorf("the file could not be read to its end")
	}
	return nil
}
