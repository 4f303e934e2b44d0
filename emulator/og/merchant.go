package og

import (
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Merchant is one Ordergroove merchant the sandbox impersonates staging for (M1).
// Merchants come from the configuration; the sandbox never creates or deletes one at run time.
type Merchant struct {
	ID       string // merchant_id: Ordergroove's id of the merchant
	PublicID string // named in the purchase POST authorization header (A4)
	Name     string
	HashKey  string // secret, 32 bytes: HMAC key (A1) and AES-256 key (E1)
	Timezone string
	Location *time.Location // loaded from Timezone

	SFTP         SFTPLogin
	APIKeys      []string // x-api-key values of the application scope (S3, X3); secret
	Catalogue    string   // optional product feed file loaded at start-up
	Placement    Placement
	ReminderDays int // days before an order its reminder email goes out (O7)
	// FeedPickup is when a product feed dropped on the SFTP site is read: FeedOnUpload (as
	// soon as the upload completes) or FeedEvery30m (Ordergroove's pickup every 30 minutes, F1).
	FeedPickup string
}

// Feed pickups (F1).
const (
	FeedOnUpload = "upload"
	FeedEvery30m = "30m"
)

// SFTPLogin is a merchant's login on the SFTP drop site.
type SFTPLogin struct {
	Username       string
	Password       string   // secret
	AuthorizedKeys []string // OpenSSH authorized_keys lines
}

// Placement methods (O2).
const (
	PlacementAPI   = "api"
	PlacementBatch = "batch"
)

// Placement is how and when the merchant receives recurring orders (O1, O2).
type Placement struct {
	Method  string        // PlacementAPI or PlacementBatch
	URL     string        // the merchant's order endpoint (API method)
	Hours   []int         // local hours, 0-23, at which placement runs happen (O1)
	Timeout time.Duration // per-request timeout of the API method
}

// MerchantView is what the control API shows of a merchant: everything but its secrets.
type MerchantView struct {
	ID           string        `json:"merchant_id"`
	PublicID     string        `json:"public_id"`
	Name         string        `json:"name"`
	Timezone     string        `json:"timezone"`
	SFTPUsername string        `json:"sftp_username"`
	APIKeys      int           `json:"api_keys"`
	Catalogue    string        `json:"catalogue,omitempty"`
	Placement    PlacementView `json:"placement"`
	ReminderDays int           `json:"reminder_days"`
	FeedPickup   string        `json:"feed_pickup"`
}

// PlacementView is the JSON form of Placement.
type PlacementView struct {
	Method  string `json:"method"`
	URL     string `json:"url,omitempty"`
	Hours   []int  `json:"hours"`
	Timeout string `json:"timeout"`
}

// RedactURL hides the credentials a URL may carry (a merchant endpoint's) wherever the sandbox
// shows or keeps the URL (X2): the password of its user information, and the values of query
// parameters named for a secret (?api_key=, ?token=), down to their last four characters.
func RedactURL(s string) string {
	if q := strings.IndexByte(s, '?'); q >= 0 {
		s = s[:q+1] + redactQuery(s[q+1:])
	}
	u, err := url.Parse(s)
	if err == nil && u.User == nil {
		return s
	}
	if err == nil {
		return u.Redacted()
	}
	// Unparseable (a bad port, an unescaped '%'): hide whatever stands between the scheme and
	// the last '@' of the host part.
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	host := rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		host = rest[:i]
	}
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		return scheme + "://xxxxx" + rest[at:]
	}
	return s
}

// secretParam matches the names of query parameters that carry credentials.
var secretParam = regexp.MustCompile(`(?i)pass|secret|token|key|sig|auth|credential`)

// redactQuery masks the values of a raw query's secret parameters, keeping its order and
// encoding as written.
func redactQuery(q string) string {
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if ok && v != "" && secretParam.MatchString(k) {
			parts[i] = k + "=" + Mask(v)
		}
	}
	return strings.Join(parts, "&")
}

// View returns the merchant without its secrets.
func (m *Merchant) View() MerchantView {
	hours := m.Placement.Hours
	if hours == nil {
		hours = []int{}
	}
	return MerchantView{
		ID: m.ID, PublicID: m.PublicID, Name: m.Name, Timezone: m.Timezone,
		SFTPUsername: m.SFTP.Username, APIKeys: len(m.APIKeys), Catalogue: m.Catalogue,
		Placement: PlacementView{
			Method: m.Placement.Method, URL: RedactURL(m.Placement.URL), Hours: hours,
			Timeout: m.Placement.Timeout.String(),
		},
		ReminderDays: m.ReminderDays, FeedPickup: m.FeedPickup,
	}
}

// Merchants is the immutable set of configured merchants, indexed by every identity a
// surface authenticates with. M2: every lookup yields at most one merchant, and a surface
// scopes everything it does to the merchant it found.
type Merchants struct {
	list     []*Merchant
	byID     map[string]*Merchant
	byPublic map[string]*Merchant
	bySFTP   map[string]*Merchant
	byAPIKey map[string]*Merchant
}

// NewMerchants indexes ms. The configuration has already refused duplicates; a duplicate
// here keeps the first.
func NewMerchants(ms []Merchant) *Merchants {
	x := &Merchants{
		byID: map[string]*Merchant{}, byPublic: map[string]*Merchant{},
		bySFTP: map[string]*Merchant{}, byAPIKey: map[string]*Merchant{},
	}
	for i := range ms {
		m := &ms[i]
		if _, dup := x.byID[m.ID]; dup {
			continue
		}
		x.list = append(x.list, m)
		x.byID[m.ID] = m
		put(x.byPublic, m.PublicID, m)
		put(x.bySFTP, m.SFTP.Username, m)
		for _, k := range m.APIKeys {
			put(x.byAPIKey, k, m)
		}
	}
	sort.Slice(x.list, func(i, j int) bool { return x.list[i].ID < x.list[j].ID })
	return x
}

// Secrets returns every merchant's secrets: hash keys, SFTP passwords, API keys (X2).
func (x *Merchants) Secrets() []string {
	var out []string
	for _, m := range x.list {
		out = append(out, m.HashKey, m.SFTP.Password)
		out = append(out, m.APIKeys...)
	}
	return out
}

func put(idx map[string]*Merchant, key string, m *Merchant) {
	if key == "" {
		return
	}
	if _, ok := idx[key]; !ok {
		idx[key] = m
	}
}

// All returns every merchant, ordered by id.
func (x *Merchants) All() []*Merchant { return x.list }

// ByID finds a merchant by merchant_id.
func (x *Merchants) ByID(id string) (*Merchant, bool) { m, ok := x.byID[id]; return m, ok }

// ByPublicID finds a merchant by the public_id of an authorization header (A4).
func (x *Merchants) ByPublicID(id string) (*Merchant, bool) { m, ok := x.byPublic[id]; return m, ok }

// BySFTPUser finds a merchant by its SFTP username.
func (x *Merchants) BySFTPUser(u string) (*Merchant, bool) { m, ok := x.bySFTP[u]; return m, ok }

// ByAPIKey finds a merchant by an application-scope x-api-key (S3).
func (x *Merchants) ByAPIKey(k string) (*Merchant, bool) { m, ok := x.byAPIKey[k]; return m, ok }
