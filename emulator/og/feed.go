package og

import (
	"fmt"
	"time"
)

// FeedReport is the outcome of reading one feed file (F1-F8): how many entries it held, how
// many were ingested, and every finding with its line and rule id.
type FeedReport struct {
	File string `json:"file"`
	Kind string `json:"kind"` // "products", "categories", "batch_response"
	// Via is how the file came: FeedViaSFTP (also when empty: reports from before it was
	// kept), FeedViaControlAPI or FeedViaCatalogue (the merchant's catalogue file at start).
	Via        string            `json:"via,omitempty"`
	ReceivedAt time.Time         `json:"received_at"`
	Entries    int               `json:"entries"` // products, categories or order answers read
	Accepted   int               `json:"accepted"`
	Refused    int               `json:"refused"`
	Complete   bool              `json:"complete"` // false: the file stopped being readable part-way
	Findings   []Diagnostic      `json:"findings"`
	Effects    *CatalogueEffects `json:"effects,omitempty"`
}

// How a feed came (FeedReport.Via). Only the SFTP drop site is the merchant's feed job; the
// others are the sandbox's shortcuts.
const (
	FeedViaSFTP       = "sftp"
	FeedViaControlAPI = "control API"
	FeedViaCatalogue  = "catalogue file"
)

// MaxFindings bounds the findings of one report; past it the report says how many were left
// out, so that a broken 100,000-line feed yields a readable report.
const MaxFindings = 1000

// Errors counts the findings that are errors.
func (r *FeedReport) Errors() int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity != SeverityWarning {
			n++
		}
	}
	return n
}

// Add appends a finding, up to MaxFindings.
func (r *FeedReport) Add(d Diagnostic) {
	if len(r.Findings) == MaxFindings {
		r.Findings = append(r.Findings, Diagnostic{Rule: "F2", Severity: SeverityWarning,
			Message: fmt.Sprintf("more than %d findings: the rest are left out of this report", MaxFindings)})
	}
	if len(r.Findings) > MaxFindings {
		return
	}
	r.Findings = append(r.Findings, d)
}
