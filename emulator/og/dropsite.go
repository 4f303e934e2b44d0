package og

import (
	"context"
	"time"
)

// Homes are the merchants' homes on the SFTP drop site (<SFTP_DROP_SITE>): each merchant
// sees only its own, holding incoming/ (merchant → Ordergroove) and outgoing/ (Ordergroove →
// merchant). Paths are relative to the home and never leave it.
type Homes interface {
	// WriteFile writes a file atomically: a reader sees the whole file or none of it.
	WriteFile(merchantID, path string, data []byte) error
	// Open opens a file of a merchant's home for reading.
	Open(merchantID, path string) (ReadFile, error)
	// Reset removes every file, keeping incoming/ and outgoing/.
	Reset() error
}

// ReadFile is a file opened from a home.
type ReadFile interface {
	Read(p []byte) (int, error)
	Close() error
}

// Dropped is a file that arrived whole on the drop site.
type Dropped struct {
	MerchantID string
	Path       string // relative to the merchant's home: "incoming/<MERCHANT_ID>.Products.xml"
	Size       int64
	At         time.Time // sandbox time of the upload's end
}

// DropHandler is told of every file that arrives whole on the drop site; it returns what it
// did, for the journal.
type DropHandler interface {
	Dropped(ctx context.Context, f Dropped) (note string, err error)
}
