package scheduler

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// MaxBatchResponse bounds a batch response file: 10,000 answers are about 2 MB.
const MaxBatchResponse = 64 << 20

// BatchFileName is the batch order file of a placement run (O2):
// <MERCHANT_ID>_batch_orders_MM-DD-YYYY_HHMMSS.xml, in the merchant's time zone.
func BatchFileName(m *og.Merchant, run time.Time) string {
	return m.ID + "_batch_orders_" + run.In(m.Location).Format("01-02-2006_150405") + ".xml"
}

// BatchXML wraps order XML documents (O3) in one <orders> document. No sample of the request
// file is public (REFERENCE §5): the wrapper is presumed to be <orders> of the same <order>
// elements, like the batch response.
func BatchXML(orders [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<orders>\n")
	for _, o := range orders {
		if i := bytes.Index(o, []byte("?>")); bytes.HasPrefix(o, []byte("<?xml")) && i >= 0 {
			o = o[i+2:]
		}
		b.Write(bytes.TrimSpace(o))
		b.WriteString("\n")
	}
	b.WriteString("</orders>\n")
	return b.Bytes()
}

// placeBatch is a placement run of a batch-method merchant (O2): every due order goes into one
// <orders> file in the merchant's outgoing/ folder, and each waits, in status 9, for its
// answer in a batch response file. The attempts are recorded before the file is written.
func (s *Scheduler) placeBatch(ctx context.Context, m *og.Merchant, due []og.Due, run time.Time) (og.RunReport, error) {
	var rep og.RunReport
	if s.Homes == nil || s.Batches == nil {
		return rep, errors.New("the batch method needs the SFTP drop site")
	}
	ready, err := s.prepare(ctx, m, due, run, &rep)
	if err != nil || len(ready) == 0 {
		return rep, err
	}
	file := "outgoing/" + BatchFileName(m, run)
	b := og.Batch{File: file, Run: run}
	starts := make([]og.AttemptStart, 0, len(ready))
	docs := make([][]byte, 0, len(ready))
	for _, p := range ready {
		b.Orders = append(b.Orders, p.oc.Order.OGID)
		starts = append(starts, og.AttemptStart{OGID: p.oc.Order.OGID, Items: p.oc.Order.Items, Updated: p.oc.Order.Updated, Attempt: og.Attempt{
			At: s.Clock.Now(), Wall: s.Clock.Wall(), Method: og.PlacementBatch, File: file, Request: string(p.xml),
		}})
		docs = append(docs, p.xml)
	}
	b, err = s.Batches.BeginBatch(ctx, m.ID, b, starts)
	if err != nil || len(b.Orders) == 0 {
		return rep, err
	}
	if len(b.Orders) < len(ready) {
		// Orders changed since they were prepared wait for the next run.
		var kept [][]byte
		for _, p := range ready {
			if slices.Contains(b.Orders, p.oc.Order.OGID) {
				kept = append(kept, p.xml)
			}
		}
		docs = kept
	}
	if _, err := s.writeBatch(ctx, m, b, BatchXML(docs)); err != nil {
		return rep, err
	}
	for _, id := range b.Orders {
		rep.Order(m.ID, id, og.OutcomePending)
	}
	return rep, nil
}

// writeBatch drops a batch file on the merchant's site and records that it is there. A file
// the site cannot take (the merchant put a directory where it goes, or removed outgoing/) is
// the merchant's to fix and delays only its own orders: they wait in status 9, the failure is
// journaled, and the file is written at the merchant's next run (recoverBatches, O6a). An error
// is the store's.
func (s *Scheduler) writeBatch(ctx context.Context, m *og.Merchant, b og.Batch, data []byte) (bool, error) {
	if err := s.Homes.WriteFile(m.ID, b.File, data); err != nil {
		if !siteInTheWay(err) {
			return false, fmt.Errorf("batch file %s: %w", b.File, err) // the disk's, not the merchant's
		}
		s.Log.Warn("placement: a batch file could not be dropped; it is written at the next run", "merchant", m.ID, "file", b.File, "err", err)
		s.Journal.Append(og.JournalEntry{Time: s.Clock.Now(), WallTime: s.Clock.Wall(), Surface: og.SurfaceSFTP, MerchantID: m.ID,
			Direction: og.DirectionOut, Rules: []string{"O6"},
			Note: fmt.Sprintf("could not drop %s with %d orders: %v. The orders wait in status 9, and the file is written at the next placement run (O6a)", b.File, len(b.Orders), err)})
		return false, nil
	}
	if err := s.Batches.BatchWritten(ctx, m.ID, b.File); err != nil {
		return false, err
	}
	name := b.File[strings.LastIndex(b.File, "/")+1:]
	stamp := strings.TrimSuffix(strings.TrimPrefix(name, m.ID+"_batch_orders_"), ".xml")
	s.Journal.Append(og.JournalEntry{Time: s.Clock.Now(), WallTime: s.Clock.Wall(), Surface: og.SurfaceSFTP, MerchantID: m.ID,
		Direction: og.DirectionOut, Status: 0,
		Note: fmt.Sprintf("dropped %s with %d orders (O2 batch method): they wait in status 9 for incoming/%s.BatchResponse%s.xml", b.File, len(b.Orders), m.ID, stamp)})
	return true, nil
}

// siteInTheWay reports whether a write failed for what the merchant did on the drop site: a
// folder where the file goes, outgoing/ removed or made a file, its permissions changed.
func siteInTheWay(err error) bool {
	for _, e := range []error{syscall.EISDIR, syscall.ENOTDIR, syscall.EEXIST, syscall.ENOTEMPTY, fs.ErrNotExist, fs.ErrPermission} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// recoverBatches writes the files of batches recorded and never written — a crash in between,
// or a write that failed (the merchant removed outgoing/): the orders' XML is what their
// attempts recorded. It runs at start and before each batch placement run.
func (s *Scheduler) recoverBatches(ctx context.Context, m *og.Merchant) error {
	if s.Batches == nil || s.Homes == nil {
		return nil
	}
	bs, err := s.Batches.UnwrittenBatches(m.ID)
	if err != nil {
		return err
	}
	for _, b := range bs {
		var docs [][]byte
		var waiting []int64
		for _, id := range b.Orders {
			// Only orders still awaiting this file's answer: one answered since (a merchant
			// who read a file whose recording was lost) is not sent again.
			if file, ok, err := s.Batches.AwaitingBatch(m.ID, id); err != nil {
				return err
			} else if !ok || file != b.File {
				continue
			}
			a, ok, err := s.Store.LastAttempt(ctx, m.ID, id)
			if err != nil {
				return err
			}
			if ok && a.File == b.File {
				docs = append(docs, []byte(a.Request))
				waiting = append(waiting, id)
			}
		}
		b.Orders = waiting
		if len(docs) == 0 {
			if err := s.Batches.BatchWritten(ctx, m.ID, b.File); err != nil {
				return err
			}
			continue
		}
		if written, err := s.writeBatch(ctx, m, b, BatchXML(docs)); err != nil {
			return err
		} else if written {
			s.Log.Warn("placement: a batch file recorded but not written before is written now", "merchant", m.ID, "file", b.File)
		}
	}
	return nil
}

// batchAnswer is one <order> of a batch response (O4).
type batchAnswer struct {
	OGOrderID    string `xml:"ogOrderId"`
	Code         string `xml:"code"`
	OrderID      string `xml:"orderId"`
	ErrorCode    string `xml:"errorCode"`
	ErrorMsg     string `xml:"errorMsg"`
	ResponseCode string `xml:"responseCode"`
}

// ApplyBatchResponse applies a batch response file (O2, O4) to the orders awaiting it: each
// <order> answer, named by its ogOrderId, gets the decision an API answer would (O6). The
// report names every answer it could not apply by line, and the orders of the batches it
// answers that still await an answer.
func (s *Scheduler) ApplyBatchResponse(ctx context.Context, m *og.Merchant, name string, r io.Reader) (og.FeedReport, error) {
	// One response at a time per merchant: each sees the answers of the one before.
	unlock := s.lockMerchant(m.ID)
	defer unlock()
	rep := og.FeedReport{File: name, Kind: "batch_response", ReceivedAt: s.Clock.Now(), Findings: []og.Diagnostic{}}
	fail := func(line int, field, format string, args ...any) {
		rep.Add(og.Diagnostic{Rule: "O4", Field: field, Line: line, Severity: og.SeverityError, Message: fmt.Sprintf(format, args...)})
	}
	lr := &io.LimitedReader{R: r, N: MaxBatchResponse + 1}
	d := xml.NewDecoder(lr)
	d.Strict = true
	seen := map[int64]int{}
	batches := map[string]bool{}
	depth := 0
	rootOK := false
	var rr og.RunReport
	for {
		tok, err := d.Token()
		if err == io.EOF {
			rep.Complete = rootOK
			if !rootOK {
				fail(1, "orders", "the file holds no <orders> element: a batch response is <orders><order><ogOrderId>…</ogOrderId><code>SUCCESS</code><orderId>…</orderId></order></orders>")
			}
			break
		}
		if err != nil {
			line, _ := d.InputPos()
			if lr.N <= 0 {
				fail(line, "", "the file is over %d bytes: the rest was not read", MaxBatchResponse)
			} else {
				fail(line, "", "the file stops being well-formed XML here (%v): answers after this line were not read", err)
			}
			break
		}
		line, _ := d.InputPos()
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && t.Name.Local == "orders":
				rootOK = true
			case depth == 1:
				fail(line, t.Name.Local, "the root element is <%s>; a batch response wraps its answers in <orders> (O4)", t.Name.Local)
				rep.Complete = false
				return rep, s.finishBatchReport(ctx, m, &rep, batches, rr)
			case depth == 2 && t.Name.Local == "order":
				var a batchAnswer
				if err := d.DecodeElement(&a, &t); err != nil {
					fail(line, "order", "this <order> answer cannot be read (%v): answers after it were not read", err)
					return rep, s.finishBatchReport(ctx, m, &rep, batches, rr)
				}
				depth--
				rep.Entries++
				if s.applyAnswer(ctx, m, &rep, line, a, seen, batches, &rr) {
					rep.Accepted++
				} else {
					rep.Refused++
				}
			case depth == 2:
				rep.Add(og.Diagnostic{Rule: "O4", Field: t.Name.Local, Line: line, Severity: og.SeverityWarning,
					Message: fmt.Sprintf("<%s> is not an <order> answer: ignored", t.Name.Local)})
				if err := d.Skip(); err != nil {
					fail(line, t.Name.Local, "the file stops being well-formed XML (%v)", err)
					return rep, s.finishBatchReport(ctx, m, &rep, batches, rr)
				}
				depth--
			}
		case xml.EndElement:
			depth--
		}
	}
	return rep, s.finishBatchReport(ctx, m, &rep, batches, rr)
}

// applyAnswer applies one answer of a batch response; it reports whether it was applied.
func (s *Scheduler) applyAnswer(ctx context.Context, m *og.Merchant, rep *og.FeedReport, line int, a batchAnswer, seen map[int64]int, batches map[string]bool, rr *og.RunReport) bool {
	refuse := func(field, format string, args ...any) bool {
		rep.Add(og.Diagnostic{Rule: "O4", Field: field, Line: line, Severity: og.SeverityError, Message: fmt.Sprintf(format, args...)})
		return false
	}
	raw := strings.TrimSpace(a.OGOrderID)
	if raw == "" {
		return refuse("ogOrderId", "the answer has no <ogOrderId>: a batch answer names the order it answers (O4)")
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return refuse("ogOrderId", "ogOrderId %q is not an order id: it is the <orderOgId> of the order in the batch file", og.Clip(raw))
	}
	field := fmt.Sprintf("order[%d]", id)
	if prev, dup := seen[id]; dup {
		return refuse(field, "order %d is answered again (first at line %d): the first answer counts", id, prev)
	}
	seen[id] = line
	file, awaiting, err := s.Batches.AwaitingBatch(m.ID, id)
	if err != nil {
		return refuse(field, "order %d: %v", id, err)
	}
	if !awaiting {
		oc, err := s.Store.OrderContext(ctx, m, id)
		if err != nil {
			return refuse(field, "no order %d of merchant %s awaits an answer: ogOrderId is the <orderOgId> of an order in a batch file", id, m.ID)
		}
		return refuse(field, "order %d does not await an answer (it is %s, status %d): this answer is ignored", id, oc.Order.Status, oc.Order.StatusCode)
	}
	batches[file] = true
	resp := &og.PlacementResponse{Code: strings.TrimSpace(a.Code), OrderID: strings.TrimSpace(a.OrderID),
		ErrorCode: strings.TrimSpace(a.ErrorCode), ErrorMsg: strings.TrimSpace(a.ErrorMsg),
		ResponseCode: strings.TrimSpace(a.ResponseCode), OGOrderID: raw}
	ans := og.Answer{Response: resp}
	if resp.Code == "" {
		ans = og.Answer{ParseError: "the <order> answer has no <code> (SUCCESS or ERROR)", HTTPStatus: 200}
	}
	body, _ := xml.Marshal(struct {
		XMLName xml.Name `xml:"order"`
		batchAnswer
	}{batchAnswer: a})
	now := s.Clock.Now()
	dec, ok, err := s.Batches.AnswerBatch(ctx, m, id, file, ans, og.AttemptResult{Response: string(body)}, now)
	if err != nil {
		return refuse(field, "order %d: %v", id, err)
	}
	if !ok {
		return refuse(field, "order %d was answered meanwhile (another batch response): this answer is ignored", id)
	}
	rr.Order(m.ID, id, dec.Outcome())
	diags := dec.Warnings
	if dec.Rule == "O6c" {
		diags = append(diags, og.Finding("O6c", field, dec.Text))
	}
	for _, w := range diags {
		w.Line = line
		if w.Field == "" || !strings.HasPrefix(w.Field, "order") {
			w.Field = field + "." + w.Field
		}
		rep.Add(w)
	}
	s.Journal.Append(og.JournalEntry{Time: now, WallTime: s.Clock.Wall(), Surface: og.SurfacePlacement, MerchantID: m.ID,
		Direction: og.DirectionIn, Note: fmt.Sprintf("order %d (batch response %s): %s", id, rep.File, dec.Text), Rules: og.Rules(diags), Diags: diags})
	return true
}

// finishBatchReport commits the decisions and names the orders of the answered batches that
// still await their answer.
func (s *Scheduler) finishBatchReport(ctx context.Context, m *og.Merchant, rep *og.FeedReport, batches map[string]bool, rr og.RunReport) error {
	if err := s.Store.Flush(); err != nil {
		return err
	}
	files := make([]string, 0, len(batches))
	for f := range batches {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		if rf, err := s.openHome(m.ID, f); err == nil {
			rf.Close()
			rep.Add(og.Diagnostic{Rule: "O2", Field: "file", Severity: og.SeverityWarning,
				Message: fmt.Sprintf("%s, which this response answers, is still in outgoing/: the merchant deletes the order file once it has picked it up (O2). The answers were applied all the same", f)})
		}
		var waiting []string
		bs, err := s.batchOrders(m, f)
		if err != nil {
			return err
		}
		for _, id := range bs {
			if file, ok, err := s.Batches.AwaitingBatch(m.ID, id); err != nil {
				return err
			} else if ok && file == f {
				waiting = append(waiting, strconv.FormatInt(id, 10))
			}
		}
		if len(waiting) > 0 {
			list := strings.Join(waiting[:min(len(waiting), 20)], ", ")
			if len(waiting) > 20 {
				list += fmt.Sprintf(" and %d more", len(waiting)-20)
			}
			what := fmt.Sprintf("%d orders of %s have no answer yet and stay", len(waiting), f)
			if len(waiting) == 1 {
				what = fmt.Sprintf("1 order of %s has no answer yet and stays", f)
			}
			rep.Add(og.Diagnostic{Rule: "O2", Field: "file", Severity: og.SeverityWarning,
				Message: fmt.Sprintf("%s in status 9 (pending batch response): %s", what, list)})
		}
	}
	s.Log.Info("placement: batch response applied", "merchant", m.ID, "file", rep.File, "placed", rr.Placed, "rejected", rr.Rejected, "pending", rr.Pending, "refused", rep.Refused)
	return nil
}

// batchOrders returns the orders of a batch file.
func (s *Scheduler) batchOrders(m *og.Merchant, file string) ([]int64, error) {
	b, found, err := s.Batches.Batch(m.ID, file)
	if err != nil || !found {
		return nil, err
	}
	return b.Orders, nil
}

// lockMerchant serializes the batch responses of a merchant.
func (s *Scheduler) lockMerchant(id string) func() {
	s.mu.Lock()
	if s.batchLocks == nil {
		s.batchLocks = map[string]*sync.Mutex{}
	}
	l := s.batchLocks[id]
	if l == nil {
		l = &sync.Mutex{}
		s.batchLocks[id] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// openHome opens a file of a merchant's home, if the scheduler has the drop site.
func (s *Scheduler) openHome(merchantID, path string) (og.ReadFile, error) {
	if s.Homes == nil {
		return nil, errors.New("no drop site")
	}
	return s.Homes.Open(merchantID, path)
}
