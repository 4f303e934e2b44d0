package feed

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// WriteText writes a report for a person: what the file held, what was ingested, what it did
// to subscriptions, and one line per finding with its line, rule, severity, field and message.
// It is the .report.txt written beside a dropped file and what `ogsandbox feed check` prints.
func WriteText(w io.Writer, rep og.FeedReport) error {
	var b strings.Builder
	what := map[string]string{"products": "products", "categories": "categories", "batch_response": "order answers"}[rep.Kind]
	if what == "" {
		what = "entries"
	}
	kind := map[string]string{"products": "product feed", "categories": "product categories feed", "batch_response": "batch order response", "unread": "not read"}[rep.Kind]
	if kind == "" {
		kind = rep.Kind
	}
	fmt.Fprintf(&b, "%s (%s)\n", rep.File, kind)
	if !rep.ReceivedAt.IsZero() {
		fmt.Fprintf(&b, "received %s (sandbox time)\n", rep.ReceivedAt.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(&b, "%d %s read: %d accepted, %d refused", rep.Entries, what, rep.Accepted, rep.Refused)
	if !rep.Complete {
		b.WriteString("; the file could not be read to its end (see the findings)")
	}
	b.WriteString("\n")
	if e := rep.Effects; e != nil && (e.Cancelled+e.Swapped+e.OrdersChanged+e.OrdersCancelled) > 0 {
		fmt.Fprintf(&b, "F3: %d subscriptions cancelled, %d swapped to a replacement, %d upcoming orders changed, %d cancelled, %d emails sent\n",
			e.Cancelled, e.Swapped, e.OrdersChanged, e.OrdersCancelled, e.Emails)
	}
	errs := rep.Errors()
	fmt.Fprintf(&b, "%d errors, %d warnings\n", errs, len(rep.Findings)-errs)
	if len(rep.Findings) > 0 {
		b.WriteString("\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "LINE\tRULE\tSEVERITY\tFIELD\tMESSAGE")
		for _, f := range rep.Findings {
			line := "-"
			if f.Line > 0 {
				line = fmt.Sprint(f.Line)
			}
			sev := f.Severity
			if sev == "" {
				sev = og.SeverityError
			}
			field := f.Field
			if field == "" {
				field = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", line, f.Rule, sev, field, f.Message)
		}
		tw.Flush()
	}
	_, err := io.WriteString(w, b.String())
	return err
}
