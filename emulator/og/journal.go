package og

import (
	"context"
	"time"
)

// DefaultJournalMaxBytes caps the journal when the configuration does not (journal_max_bytes).
const DefaultJournalMaxBytes = 64 << 20

// JournalEntry is one exchange on one surface, as the journal keeps it: append-only (X5),
// with every secret masked before it is appended (X2).
type JournalEntry struct {
	Seq        uint64       `json:"seq"`
	Time       time.Time    `json:"time"`      // sandbox clock
	WallTime   time.Time    `json:"wall_time"` // real time (signatures are judged on it, A3)
	Surface    string       `json:"surface"`
	MerchantID string       `json:"merchant_id,omitempty"`
	Direction  string       `json:"direction"` // "in": a request to the sandbox; "out": one it made
	Request    Exchange     `json:"request"`
	Response   Exchange     `json:"response"`
	Status     int          `json:"status"`
	DurationMS float64      `json:"duration_ms"`
	Rules      []string     `json:"rules,omitzero"` // SPEC rule ids the exchange broke; listed as [] when none (CONTROL.md)
	Diags      []Diagnostic `json:"diagnostics,omitempty"`
	Note       string       `json:"note,omitempty"` // e.g. an SFTP file event, a fault injected
}

// Directions of a JournalEntry.
const (
	DirectionIn  = "in"
	DirectionOut = "out"
)

// Exchange is one side of an exchange. Body holds at most the journal's body bound; a longer
// body is cut there and BodyBytes says how long it was.
type Exchange struct {
	Method    string              `json:"method,omitempty"`
	URL       string              `json:"url,omitempty"`
	Header    map[string][]string `json:"header,omitempty"`
	Body      string              `json:"body,omitempty"`
	BodyBytes int64               `json:"body_bytes"`
	Truncated bool                `json:"truncated,omitempty"`
}

// JournalFilter selects entries. Zero fields match everything. Cursor is the seq to continue
// after (exclusive) in the listing's order; Limit is bounded by the journal.
type JournalFilter struct {
	Surface    string
	MerchantID string
	Ascending  bool // oldest first; the default is newest first
	Cursor     uint64
	Limit      int
}

// MaxJournalLimit is the most entries one journal page holds.
const MaxJournalLimit = 1000

// JournalPage is one page of entries.
type JournalPage struct {
	Entries []JournalEntry `json:"entries"`
	Next    *uint64        `json:"next"` // the cursor of the next page, nil at the end
	// Dropped counts the oldest entries removed by the journal's size cap since the last
	// reset; OldestSeq is the first seq still kept. Note says so in words when Dropped > 0.
	Dropped   uint64 `json:"dropped"`
	OldestSeq uint64 `json:"oldest_seq"`
	Note      string `json:"note,omitempty"`
}

// JournalService records every exchange. Append never fails the exchange it records: the
// journal is a witness, not a participant. List sees every entry appended before it was called.
type JournalService interface {
	Append(JournalEntry)
	List(ctx context.Context, f JournalFilter) (JournalPage, error)
}
