// Package ingest reads what merchants drop on the SFTP site (REFERENCE §5) and what they PUT
// through the control API: product feeds (F1-F7) into the catalogue with their effects on
// subscriptions (F3), Product Categories feeds (F8), and batch order responses (O2, O4), which
// it hands to the scheduler. Each file gets a report — every finding with its line and rule
// id — kept for GET /_sandbox/merchants/{id}/feeds and written to outgoing/ beside the file's
// name, as <file>.report.txt and <file>.report.json.
//
// A product feed is read as soon as its upload completes, or, for a merchant configured with
// feed_pickup: 30m, at Ordergroove's pickup every 30 minutes of sandbox time (F1): the
// Ingester is then og.Work on the sandbox clock.
package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/feed"
	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// Store is what ingestion needs of storage.
type Store interface {
	og.CatalogueService
	RecordFeed(ctx context.Context, merchantID string, r og.FeedReport) error
	AddPendingFeed(ctx context.Context, merchantID string, f og.Dropped) error
	PendingFeeds(merchantID string) ([]og.Dropped, error)
	RemovePendingFeed(ctx context.Context, merchantID, path string, at time.Time) error
}

// BatchAnswers applies a batch order response file (O2) to the orders awaiting it.
type BatchAnswers interface {
	ApplyBatchResponse(ctx context.Context, m *og.Merchant, name string, r io.Reader) (og.FeedReport, error)
}

// Ingester reads dropped and PUT files.
type Ingester struct {
	Merchants *og.Merchants
	Store     Store
	Homes     og.Homes // where reports are written; nil writes none
	Batches   BatchAnswers
	Clock     og.Clock
	Journal   og.JournalService
	Log       *slog.Logger
	// Wake tells the clock runner that a pickup fell due (F1); nil when there is none.
	Wake func()
}

var _ og.DropHandler = (*Ingester)(nil)
var _ og.Work = (*Ingester)(nil)

// PickupEvery is Ordergroove's product feed cadence (F1).
const PickupEvery = 30 * time.Minute

// Kinds of dropped files.
const (
	KindProducts      = "products"
	KindCategories    = "categories"
	KindBatchResponse = "batch_response"
)

var (
	batchResponseName = regexp.MustCompile(`^(.+)\.BatchResponse(\d{2})-(\d{2})-(\d{4})_(\d{6})\.xml$`)
	productsName      = regexp.MustCompile(`^(.+)\.Products\.xml$`)
	categoriesName    = regexp.MustCompile(`^(.+)\.ProductCategories\.xml$`)
	batchOrdersName   = regexp.MustCompile(`_batch_orders_\d{2}-\d{2}-\d{4}_\d{6}\.xml$`) // the sandbox's own (O2)
)

// Classify says what a file of merchant m's drop site is from its name: the kind, and the
// merchant id the name carries. Ordergroove reads only exact names (F1, F8, O2).
func Classify(base string) (kind, merchantID string) {
	for _, c := range []struct {
		kind string
		re   *regexp.Regexp
	}{{KindBatchResponse, batchResponseName}, {KindCategories, categoriesName}, {KindProducts, productsName}} {
		if m := c.re.FindStringSubmatch(base); m != nil {
			return c.kind, m[1]
		}
	}
	return "", ""
}

// nearMiss says how a name that Ordergroove would not read differs from one it would, or ""
// when the name is not trying to be a feed: an XML file, or one that names a feed ("product",
// "categor", "batchresponse") however it is spelt. Other files (notes, a client's temporary
// name before its rename) are kept quietly.
func nearMiss(base, merchantID string) string {
	lower := strings.ToLower(base)
	xml := strings.Contains(lower, ".xml") // .xml, .XML, .xml.gz
	switch {
	case slices.ContainsFunc(tempSuffixes, func(x string) bool { return strings.HasSuffix(lower, x) }):
		return "" // a client's temporary name: the file is read under the name it is renamed to
	case batchOrdersName.MatchString(base):
		return "" // one of the sandbox's own order files, kept by the merchant (O2)
	case strings.Contains(lower, "productcategories") || xml && strings.Contains(lower, "categor"):
		return fmt.Sprintf("a categories feed must be named exactly %s.ProductCategories.xml (F8)", merchantID)
	case strings.Contains(lower, "batchresponse") || strings.Contains(lower, "batch_response"):
		return fmt.Sprintf("a batch response must be named exactly %s.BatchResponseMM-DD-YYYY_HHMMSS.xml (O2)", merchantID)
	case strings.Contains(lower, "products") || xml && strings.Contains(lower, "product"):
		return fmt.Sprintf("a product feed must be named exactly %s.Products.xml (F1)", merchantID)
	case strings.HasSuffix(lower, ".xml"):
		return fmt.Sprintf("Ordergroove reads only files named exactly %[1]s.Products.xml (F1), %[1]s.ProductCategories.xml (F8) or %[1]s.BatchResponseMM-DD-YYYY_HHMMSS.xml (O2)", merchantID)
	}
	return ""
}

// tempSuffixes end the names clients upload under before renaming the file into place
// (WinSCP's .filepart, rclone's .partial, scripts' .tmp), and those of backups and editors'
// swap files.
var tempSuffixes = []string{".filepart", ".part", ".partial", ".tmp", ".temp", ".upload", ".bak", ".swp", ".orig", "~"}

// Dropped is called by the drop site for every file that arrives whole.
func (in *Ingester) Dropped(ctx context.Context, f og.Dropped) (string, error) {
	m, ok := in.Merchants.ByID(f.MerchantID)
	if !ok {
		return "", fmt.Errorf("no merchant %s", f.MerchantID)
	}
	dir, base := path.Dir(f.Path), path.Base(f.Path)
	if strings.HasSuffix(base, ".report.txt") || strings.HasSuffix(base, ".report.json") {
		return "", nil
	}
	kind, named := Classify(base)
	if dir != "." && dir != "incoming" {
		if kind != "" || nearMiss(base, m.ID) != "" {
			why := fmt.Sprintf("Ordergroove reads feeds from incoming/ or the home itself, not from %s/ (F1)", dir)
			in.refuseName(m, f, why)
			return "kept, not read: " + why, nil
		}
		return "", nil
	}
	if kind == "" {
		if why := nearMiss(base, m.ID); why != "" {
			in.refuseName(m, f, why)
			return "not read: " + why, nil
		}
		return "kept: not a file Ordergroove reads", nil
	}
	if named != m.ID && strings.EqualFold(named, m.ID) {
		why := fmt.Sprintf("the merchant id in the name, %q, is in another case: Ordergroove matches names exactly; name it %s", named, strings.Replace(base, named, m.ID, 1))
		in.refuseName(m, f, why)
		return "not read: " + why, nil
	}
	if named != m.ID {
		why := fmt.Sprintf("the file is named for merchant %q, but this is the drop site of merchant %s: Ordergroove reads only files named for the merchant whose site they are on", named, m.ID)
		in.refuseName(m, f, why)
		return "not read: " + why, nil
	}
	switch kind {
	case KindProducts:
		if m.FeedPickup == og.FeedEvery30m {
			if f.At.IsZero() {
				f.At = in.Clock.Now()
			}
			if err := in.Store.AddPendingFeed(ctx, m.ID, f); err != nil {
				return "", err
			}
			if in.Wake != nil {
				in.Wake()
			}
			return fmt.Sprintf("waiting for the 30-minute pickup at %s (F1)", pickupAt(f.At).UTC().Format(time.RFC3339)), nil
		}
		rep, err := in.readDropped(ctx, m, f.Path, kind)
		if err != nil {
			return "", err
		}
		return summary(rep), nil
	case KindCategories, KindBatchResponse:
		rep, err := in.readDropped(ctx, m, f.Path, kind)
		if err != nil {
			return "", err
		}
		return summary(rep), nil
	}
	return "", nil
}

// refuseName reports a file whose name Ordergroove would not read.
func (in *Ingester) refuseName(m *og.Merchant, f og.Dropped, why string) {
	rep := og.FeedReport{File: f.Path, Kind: "unread", ReceivedAt: in.Clock.Now(), Complete: true,
		Findings: []og.Diagnostic{{Rule: ruleForName(why), Field: "file name", Severity: og.SeverityError, Message: why}}}
	in.writeReport(m, f.Path, rep)
	_ = in.Store.RecordFeed(context.Background(), m.ID, rep)
}

// ruleForName is the rule a name refusal cites first: F1 (product feeds, and names in
// general), F8 (categories) or O2 (batch responses).
func ruleForName(why string) string {
	rule, first := "F1", len(why)
	for _, r := range []string{"F1", "F8", "O2"} {
		if i := strings.Index(why, "("+r+")"); i >= 0 && i < first {
			rule, first = r, i
		}
	}
	return rule
}

// readDropped reads one file of a merchant's home, keeps its report and writes it beside it.
func (in *Ingester) readDropped(ctx context.Context, m *og.Merchant, name, kind string) (og.FeedReport, error) {
	if in.Homes == nil {
		return og.FeedReport{}, fmt.Errorf("no drop site")
	}
	f, err := in.Homes.Open(m.ID, name)
	if err != nil {
		return og.FeedReport{}, &unopened{err}
	}
	defer f.Close()
	var rep og.FeedReport
	switch kind {
	case KindProducts:
		rep, err = in.Products(ctx, m, name, f, "xml", og.FeedViaSFTP)
	case KindCategories:
		rep, err = in.Categories(ctx, m, name, f)
	case KindBatchResponse:
		if in.Batches == nil {
			return rep, fmt.Errorf("batch responses are not read: no scheduler")
		}
		rep, err = in.Batches.ApplyBatchResponse(ctx, m, name, f)
		if err == nil {
			err = in.Store.RecordFeed(ctx, m.ID, rep)
		}
	}
	if err != nil {
		return rep, err
	}
	in.writeReport(m, name, rep)
	return rep, nil
}

// unopened is a dropped file that could not be opened: the merchant deleted or renamed it.
type unopened struct{ err error }

func (u *unopened) Error() string { return u.err.Error() }
func (u *unopened) Unwrap() error { return u.err }

// pickupMerchants calls fn with each merchant whose feeds wait for the F1 pickup, and its
// pending feeds.
func (in *Ingester) pickupMerchants(fn func(m *og.Merchant, pending []og.Dropped) error) error {
	for _, m := range in.Merchants.All() {
		if m.FeedPickup != og.FeedEvery30m {
			continue
		}
		pending, err := in.Store.PendingFeeds(m.ID)
		if err != nil {
			return err
		}
		if err := fn(m, pending); err != nil {
			return err
		}
	}
	return nil
}

// writeReport writes outgoing/<file>.report.txt and .report.json.
func (in *Ingester) writeReport(m *og.Merchant, name string, rep og.FeedReport) {
	if in.Homes == nil {
		return
	}
	// A file read from incoming/ or the home has its report beside its name in outgoing/; one
	// elsewhere (not read) is named by its folder too, so that its report does not replace the
	// report of the file of the same name that was read.
	report := path.Base(name)
	if dir := path.Dir(name); dir != "." && dir != "incoming" {
		report = strings.ReplaceAll(name, "/", "_")
	}
	base := "outgoing/" + report + ".report"
	var txt bytes.Buffer
	_ = feed.WriteText(&txt, rep)
	js, _ := json.MarshalIndent(rep, "", "  ")
	for _, f := range []struct {
		name string
		data []byte
	}{{base + ".txt", txt.Bytes()}, {base + ".json", append(js, '\n')}} {
		if err := in.Homes.WriteFile(m.ID, f.name, f.data); err != nil {
			in.Log.Error("ingest: writing a report failed", "merchant", m.ID, "file", f.name, "err", err)
		}
	}
}

// summary is a report in one line, for the journal.
func summary(rep og.FeedReport) string {
	errs := rep.Errors()
	s := fmt.Sprintf("%s: %d read, %d accepted, %d refused; %d errors, %d warnings", strings.ReplaceAll(rep.Kind, "_", " "), rep.Entries, rep.Accepted, rep.Refused, errs, len(rep.Findings)-errs)
	if !rep.Complete {
		s += "; not readable to its end"
	}
	return s + "; report in outgoing/" + path.Base(rep.File) + ".report.txt"
}

// Products reads a product feed (format "xml", or "json" for the control API's JSON array)
// into m's catalogue, applies F3 to the subscriptions of discontinued products once the whole
// file is stored, and keeps the report.
// via says how the file came (og.FeedViaSFTP...).
func (in *Ingester) Products(ctx context.Context, m *og.Merchant, name string, r io.Reader, format, via string) (og.FeedReport, error) {
	var eff og.CatalogueEffects
	var discontinued []string
	// Each batch commits while the next is parsed; a failed commit stops the reading one batch
	// later.
	var pending func() (og.CatalogueEffects, error)
	settle := func() error {
		if pending == nil {
			return nil
		}
		e, err := pending()
		pending = nil
		eff.Add(e)
		return err
	}
	accept := func(ps []og.Product) error {
		if err := settle(); err != nil {
			return err
		}
		for i := range ps {
			if ps[i].Discontinued {
				discontinued = append(discontinued, ps[i].ProductID)
			}
		}
		pending = in.Store.UpsertProductsAsync(ctx, m.ID, ps)
		return nil
	}
	now := in.Clock.Now()
	var rep og.FeedReport
	var err error
	if format == "json" {
		rep, err = feed.ReadProductsJSON(r, name, now, accept)
	} else {
		rep, err = feed.ReadProducts(r, name, now, accept)
	}
	if serr := settle(); err == nil {
		err = serr
	}
	if err != nil {
		return rep, err
	}
	if !rep.Complete && len(discontinued) > 0 {
		// A file read only part-way is not the catalogue the merchant meant: its products are
		// kept, but swapping or cancelling subscriptions and emailing customers (F3) waits for
		// the whole file.
		names := strings.Join(discontinued[:min(len(discontinued), 5)], ", ")
		if len(discontinued) > 5 {
			names += ", ..."
		}
		rep.Add(og.Finding("F3", "discontinued", fmt.Sprintf("the file was not read to its end, so the %d discontinued product(s) read before the break (%s) did not swap or cancel their subscriptions and no customer was emailed: fix the file and drop it again (F3)", len(discontinued), names)))
		discontinued = nil
	}
	e, err := in.Store.ApplyDiscontinued(ctx, m.ID, discontinued)
	if err != nil {
		return rep, err
	}
	eff.Add(e)
	for _, f := range eff.Findings {
		rep.Add(f)
	}
	rep.Effects, rep.Via = &eff, via
	return rep, in.Store.RecordFeed(ctx, m.ID, rep)
}

// Categories reads a Product Categories feed (F8) into m's catalogue and keeps the report.
func (in *Ingester) Categories(ctx context.Context, m *og.Merchant, name string, r io.Reader) (og.FeedReport, error) {
	known := func(id string) (string, bool) {
		parent, ok, _ := in.Store.CategoryParent(ctx, m.ID, id)
		return parent, ok
	}
	rep, err := feed.ReadCategories(r, name, in.Clock.Now(), known, func(cs []og.Category) error {
		return in.Store.UpsertCategories(ctx, m.ID, cs)
	})
	if err != nil {
		return rep, err
	}
	return rep, in.Store.RecordFeed(ctx, m.ID, rep)
}

// pickupAt is the F1 pickup that reads a file dropped at t: the next half hour, or t itself
// when it falls on one.
func pickupAt(t time.Time) time.Time {
	p := t.Truncate(PickupEvery)
	if p.Before(t) {
		p = p.Add(PickupEvery)
	}
	return p
}

// NextDue returns the earliest pickup of a pending product feed (F1).
func (in *Ingester) NextDue(ctx context.Context) (time.Time, bool, error) {
	var best time.Time
	err := in.pickupMerchants(func(_ *og.Merchant, pending []og.Dropped) error {
		for _, f := range pending {
			if at := pickupAt(f.At); best.IsZero() || at.Before(best) {
				best = at
			}
		}
		return nil
	})
	return best, !best.IsZero(), err
}

// RunDue reads every pending product feed whose pickup is due by now (F1).
func (in *Ingester) RunDue(ctx context.Context, now time.Time) (og.RunReport, error) {
	var rr og.RunReport
	err := in.pickupMerchants(func(m *og.Merchant, pending []og.Dropped) error {
		for _, f := range pending {
			if pickupAt(f.At).After(now) {
				continue
			}
			// What a merchant put on its site never stops the clock: a file that cannot be
			// opened is noted, and the pickup goes on.
			var note string
			var findings []og.Diagnostic
			rep, err := in.readDropped(ctx, m, f.Path, KindProducts)
			var gone *unopened
			switch {
			case errors.As(err, &gone):
				note = fmt.Sprintf("the 30-minute pickup (F1) could not open %s (%v): it was deleted or renamed after the upload", f.Path, gone.err)
			case err != nil:
				return fmt.Errorf("pickup of %s for %s: %w", f.Path, m.ID, err)
			default:
				note, findings = "read at the 30-minute pickup (F1): "+summary(rep), rep.Findings
				rr.Feeds++
			}
			if err := in.Store.RemovePendingFeed(ctx, m.ID, f.Path, f.At); err != nil {
				return err
			}
			in.Journal.Append(og.JournalEntry{Time: in.Clock.Now(), WallTime: in.Clock.Wall(), Surface: og.SurfaceSFTP,
				MerchantID: m.ID, Direction: og.DirectionIn, Note: f.Path + ": " + note, Rules: og.Rules(findings), Diags: findings})
		}
		return nil
	})
	return rr, err
}
