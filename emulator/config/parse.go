package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	"gopkg.in/yaml.v3"
)

// MaxFileBytes bounds the configuration file.
const MaxFileBytes = 1 << 20

type rawFile struct {
	Listen          *string       `yaml:"listen"`
	SFTPListen      *string       `yaml:"sftp_listen"`
	DataDir         *string       `yaml:"data_dir"`
	ClockStart      *string       `yaml:"clock_start"`
	TLS             *rawTLS       `yaml:"tls"`
	JournalMaxBytes *string       `yaml:"journal_max_bytes"`
	Merchants       []rawMerchant `yaml:"merchants"`
}

type rawTLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// UnmarshalYAML accepts `tls: auto` as well as `tls: {cert: ..., key: ...}`.
func (t *rawTLS) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Value != "auto" && n.Value != "" {
			return fmt.Errorf("line %d: tls is \"auto\" or {cert: FILE, key: FILE}, got %q", n.Line, n.Value)
		}
		t.Cert = n.Value
		return nil
	}
	if n.Kind == yaml.MappingNode {
		// Node.Decode does not refuse unknown keys as the file's decoder does.
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Value != "cert" && k.Value != "key" && k.Value != "<<" {
				return fmt.Errorf("line %d: unknown key %q under tls (known keys here: cert, key)", k.Line, k.Value)
			}
		}
	}
	type plain rawTLS
	return n.Decode((*plain)(t))
}

type rawMerchant struct {
	MerchantID   string       `yaml:"merchant_id"`
	PublicID     string       `yaml:"public_id"`
	Name         string       `yaml:"name"`
	HashKey      string       `yaml:"hash_key"`
	Timezone     string       `yaml:"timezone"`
	SFTP         rawSFTP      `yaml:"sftp"`
	APIKeys      []string     `yaml:"api_keys"`
	Catalogue    string       `yaml:"catalogue"`
	Placement    rawPlacement `yaml:"placement"`
	ReminderDays *int         `yaml:"reminder_days"`
	FeedPickup   string       `yaml:"feed_pickup"`
}

type rawPlacement struct {
	Method  string   `yaml:"method"`
	URL     string   `yaml:"url"`
	Hours   hourList `yaml:"hours"`
	Timeout string   `yaml:"timeout"`
}

// hourList reads placement.hours: whole hours, as a list or one number. (yaml.v3 alone would
// take 6.5 as 6, and refuse "6" without naming the key.)
type hourList []int

func (h *hourList) UnmarshalYAML(n *yaml.Node) error {
	n = unalias(n)
	items := n.Content
	switch n.Kind {
	case yaml.ScalarNode:
		items = []*yaml.Node{n}
	case yaml.SequenceNode:
	default:
		return fmt.Errorf("line %d: placement.hours is a list of whole hours from 0 to 23, e.g. [6] or [6, 18] (O1)", n.Line)
	}
	out := hourList{}
	for _, it := range items {
		it = unalias(it)
		v, err := strconv.Atoi(it.Value)
		if it.Kind != yaml.ScalarNode || err != nil {
			return fmt.Errorf("line %d: placement.hours: %q is not a whole hour from 0 to 23 (O1)", it.Line, it.Value)
		}
		out = append(out, v)
	}
	*h = out
	return nil
}

// unalias follows a YAML alias (*name) to the node it names.
func unalias(n *yaml.Node) *yaml.Node {
	for range 16 {
		if n.Kind != yaml.AliasNode || n.Alias == nil {
			break
		}
		n = n.Alias
	}
	return n
}

type rawSFTP struct {
	Username       string   `yaml:"username"`
	Password       string   `yaml:"password"`
	AuthorizedKeys []string `yaml:"authorized_keys"`
}

// Parse reads a configuration file's contents. name is the file's path: messages cite it, and
// relative paths inside it (data_dir, catalogue, tls) are relative to its directory.
func Parse(name string, data []byte) (Config, error) {
	if len(data) > MaxFileBytes {
		return Config{}, &Error{Problems: []string{fmt.Sprintf("%s: the file is over %d bytes, the most a configuration may be", name, MaxFileBytes)}}
	}
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root)
	lines := map[string]int{}
	walk(&root, "", lines)
	keyAt := keysByLine(name, lines)
	if line := nullMerchant(&root); line > 0 {
		// yaml.v3 drops a null entry of a list ("- null", "- "): say so rather than drop it.
		return Config{}, &Error{Problems: []string{fmt.Sprintf("%s:%d: merchants: an empty (null) entry: a merchant needs at least merchant_id and hash_key", name, line)}}
	}
	var raw rawFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file (io.EOF) is a valid configuration: the demo merchant on the defaults.
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, yamlError(name, err, keyAt)
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil && len(more.Content) > 0 && more.Content[0].Tag != "!!null" {
		return Config{}, &Error{Problems: []string{fmt.Sprintf("%s:%d: a second YAML document ('---'): a configuration is one document", name, more.Line)}}
	}

	c := Config{File: name, Listen: DefaultListen, SFTPListen: DefaultSFTPListen, DataDir: resolve(name, DefaultDataDir)}
	var problems []string
	at := func(path string) string {
		for p := path; p != ""; p = parent(p) {
			if l, ok := lines[p]; ok {
				return name + ":" + strconv.Itoa(l)
			}
		}
		return name
	}
	problem := func(path, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s: %s: %s", at(path), path, fmt.Sprintf(format, args...)))
	}
	if raw.Listen != nil {
		c.Listen = *raw.Listen
		c.setOrigin("listen", at("listen"))
	}
	if raw.SFTPListen != nil {
		c.SFTPListen = *raw.SFTPListen
		c.setOrigin("sftp_listen", at("sftp_listen"))
	}
	if raw.DataDir != nil {
		c.DataDir = resolve(name, *raw.DataDir)
		c.setOrigin("data_dir", at("data_dir"))
	}
	for _, a := range []struct{ key, addr string }{{"listen", c.Listen}, {"sftp_listen", c.SFTPListen}} {
		if err := checkAddr(a.addr); err != nil {
			problem(a.key, "%v", err)
		}
	}
	if raw.ClockStart != nil {
		t, err := parseTime(*raw.ClockStart)
		if err != nil {
			problem("clock_start", "%v", err)
		}
		c.ClockStart = t
		c.setOrigin("clock_start", at("clock_start"))
	}
	if raw.TLS != nil {
		c.TLS = TLS{Cert: resolve(name, raw.TLS.Cert), Key: resolve(name, raw.TLS.Key)}
		if c.TLS.Enabled() && !c.TLS.Auto() && c.TLS.Key == "" {
			problem("tls.key", "tls.cert is set, so tls.key must name the certificate's private key (or use tls: auto)")
		}
		if raw.TLS.Cert == "" && raw.TLS.Key != "" {
			problem("tls.cert", "tls.key is set, so tls.cert must name its certificate (or use tls: auto)")
		}
		c.setOrigin("tls", at("tls"))
	}
	if raw.JournalMaxBytes != nil {
		n, err := parseBytes(*raw.JournalMaxBytes)
		if err != nil {
			problem("journal_max_bytes", "%v", err)
		} else if n < 1<<20 {
			problem("journal_max_bytes", "%d bytes is under the journal's minimum of 1MiB", n)
		}
		c.JournalMaxBytes = n
	}

	firstLine := func(kind string, seen map[string]string, key, path string) {
		if key == "" {
			return
		}
		if prev, dup := seen[key]; dup {
			shown := strconv.Quote(key)
			if kind == "API key" {
				shown = og.Mask(key) // X2: a configuration error ends up in CI logs
			}
			problem(path, "duplicate %s %s (first at %s)", kind, shown, prev)
			return
		}
		seen[key] = at(path)
	}
	ids, publics, users, keys := map[string]string{}, map[string]string{}, map[string]string{}, map[string]string{}
	for i, rm := range raw.Merchants {
		base := "merchants[" + strconv.Itoa(i) + "]"
		m := og.Merchant{
			ID: rm.MerchantID, PublicID: rm.PublicID, Name: rm.Name, HashKey: rm.HashKey, Timezone: rm.Timezone,
			SFTP:       og.SFTPLogin{Username: rm.SFTP.Username, Password: rm.SFTP.Password, AuthorizedKeys: rm.SFTP.AuthorizedKeys},
			APIKeys:    rm.APIKeys,
			Catalogue:  resolve(name, rm.Catalogue),
			Placement:  og.Placement{Method: rm.Placement.Method, URL: rm.Placement.URL, Hours: []int(rm.Placement.Hours)},
			FeedPickup: rm.FeedPickup,
		}
		if rm.Placement.Timeout != "" {
			d, err := time.ParseDuration(rm.Placement.Timeout)
			if err != nil {
				problem(base+".placement.timeout", "%q is not a duration (e.g. 30s, 2m)", rm.Placement.Timeout)
			}
			m.Placement.Timeout = d
		}
		m.ReminderDays = DefaultReminderDays
		if rm.ReminderDays != nil {
			m.ReminderDays = *rm.ReminderDays
		}
		checkMerchant(&m, func(key, format string, args ...any) { problem(base+"."+key, format, args...) })
		if m.Catalogue != "" {
			c.setOrigin(base+".catalogue", at(base+".catalogue")) // Load checks the file is there
		}
		firstLine("merchant_id", ids, m.ID, base+".merchant_id")
		firstLine("public_id", publics, m.PublicID, base+".public_id")
		firstLine("sftp username", users, m.SFTP.Username, base+".sftp.username")
		for k, key := range m.APIKeys {
			firstLine("API key", keys, key, fmt.Sprintf("%s.api_keys[%d]", base, k))
		}
		if len(m.Placement.Hours) > 0 && (m.Placement.Hours[0] == 2 || m.Placement.Hours[0] == 15) && m.Timezone == DefaultTimezone {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: %s.placement.hours: Ordergroove avoids hour %d Central as the first placement hour of the day (O1); the sandbox honours it anyway", at(base+".placement.hours"), base, m.Placement.Hours[0]))
		}
		if u, err := url.Parse(m.Placement.URL); err == nil && u.User != nil {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: %s.placement.url: the user and password in the URL are never sent: the order POST's Authorization header carries its signature (O2). They are masked wherever the sandbox shows the URL", at(base+".placement.url"), base))
		}
		if m.Placement.Method == og.PlacementBatch && m.Placement.URL != "" {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: %s.placement.url: the batch method drops order files on the SFTP site (O2): the URL is not used", at(base+".placement.url"), base))
		}
		if rm.SFTP.Username != "" && m.SFTP.Password == "" && len(m.SFTP.AuthorizedKeys) == 0 {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: %s.sftp: neither a password nor authorized_keys: nobody can log in to this merchant's drop site", at(base), base))
		}
		c.Merchants = append(c.Merchants, m)
	}
	if len(problems) > 0 {
		return Config{}, &Error{Problems: problems}
	}
	if len(c.Merchants) == 0 {
		c.Merchants = []og.Merchant{DemoMerchant()}
		c.Demo = true
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s: merchants: the file configures no merchant: the demo merchant is served, whose ids and keys are public (README)", name))
	}
	return c, nil
}

var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)
var unknownField = regexp.MustCompile(`^field (\S+) not found in type config\.(\w+)$`)

// knownKeys lists the keys of each section, for the message about an unknown key.
var knownKeys = map[string]string{
	"rawFile":      "listen, sftp_listen, data_dir, clock_start, tls, journal_max_bytes, merchants",
	"rawMerchant":  "merchant_id, public_id, name, hash_key, timezone, sftp, api_keys, catalogue, placement, reminder_days, feed_pickup",
	"rawSFTP":      "username, password, authorized_keys",
	"rawPlacement": "method, url, hours, timeout",
}

// badType is yaml.v3's message for a value of the wrong type.
var badType = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$") // a list or mapping has no value quoted

// secretKey matches the keys whose values are secrets: an error about them does not quote them.
var secretKey = regexp.MustCompile(`(hash_key|password|api_keys|authorized_keys)`)

var yamlKinds = map[string]string{"str": "string", "int": "number", "float": "number", "bool": "boolean", "seq": "list", "map": "mapping", "null": "null"}

// yamlTargets says what a Go type a value was read into stands for.
func yamlTargets(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.Contains(goType, "int"):
		return "a whole number"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	}
	return "a mapping"
}

// lineKey is what a line of the file holds: its key, when one key is on it (or keys that
// nest, as in "- merchant_id: x"), and whether any key on it is a secret's.
type lineKey struct {
	path   string
	secret bool
}

// keysByLine maps "file:line" to what the line holds.
func keysByLine(name string, lines map[string]int) map[string]lineKey {
	byLine := map[int][]string{}
	for path, line := range lines {
		byLine[line] = append(byLine[line], path)
	}
	out := map[string]lineKey{}
	for line, paths := range byLine {
		sort.Slice(paths, func(i, j int) bool { return len(paths[i]) > len(paths[j]) })
		k := lineKey{path: paths[0]}
		for _, p := range paths {
			k.secret = k.secret || secretKey.MatchString(p)
			if !strings.HasPrefix(paths[0], p) {
				k.path = "" // keys side by side (flow style): which one is at fault is not known
			}
		}
		if shortest := paths[len(paths)-1]; k.path == "" && onlyItems(shortest, paths[:len(paths)-1]) {
			k.path = shortest // a key and its list of scalars, "listen: [1, 2]": the key's value
		}
		out[fmt.Sprintf("%s:%d", name, line)] = k
	}
	return out
}

// onlyItems reports whether every path is an item of the list at key: key[0], key[1], ...
func onlyItems(key string, paths []string) bool {
	for _, p := range paths {
		rest, ok := strings.CutPrefix(p, key+"[")
		if !ok || !strings.HasSuffix(rest, "]") || strings.ContainsAny(rest[:len(rest)-1], "[].") {
			return false
		}
	}
	return true
}

// yamlError rewrites yaml.v3's messages as "file:line: ..." lines; keyAt says what each
// "file:line" holds, for messages that do not name their key.
func yamlError(name string, err error, keyAt map[string]lineKey) error {
	var te *yaml.TypeError
	var msgs []string
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var problems []string
	for _, m := range msgs {
		loc := name
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			loc, m = name+":"+g[1], g[2]
		}
		if g := unknownField.FindStringSubmatch(m); g != nil {
			m = fmt.Sprintf("unknown key %q (known keys here: %s)", g[1], knownKeys[g[2]])
		} else if g := badType.FindStringSubmatch(m); g != nil {
			// The value is quoted only when its key is known and no secret's: several keys may
			// share a line (flow style), and a value may stand on the line after its key.
			key, val := "a value", "not shown: it may be a secret"
			if k := keyAt[loc]; k.path != "" {
				key = k.path
			}
			if k := keyAt[loc]; k.path != "" && !k.secret {
				val = "`" + g[2] + "`"
			}
			if g[1] == "seq" || g[1] == "map" {
				// The line of a list holds its first item too ("listen: [1]", "- 1"): the value
				// at fault is the list, the item's parent.
				if i := strings.LastIndexByte(key, '['); g[1] == "seq" && i > 0 && strings.HasSuffix(key, "]") {
					key = key[:i]
				}
				m = fmt.Sprintf("%s is a %s, not %s", key, yamlKinds[g[1]], yamlTargets(g[3]))
			} else {
				m = fmt.Sprintf("%s is a %s (%s), not %s", key, yamlKinds[g[1]], val, yamlTargets(g[3]))
			}
		} else if strings.HasPrefix(m, "unknown anchor ") {
			m = "an alias (*name) names no anchor (&name) before it; a value starting with * must be quoted (a secret such as a hash key or password included)"
		}
		if strings.HasPrefix(m, "placement.hours") { // hourList does not know whose hours
			if k := keyAt[loc]; k.path != "" {
				if i := strings.Index(k.path, "placement.hours"); i > 0 {
					m = k.path[:i] + m
				}
			}
		}
		problems = append(problems, loc+": "+m)
	}
	return &Error{Problems: problems}
}

// nullMerchant returns the line of a null entry of the merchants list, or 0.
func nullMerchant(doc *yaml.Node) int {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return 0
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "merchants" || m.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		for _, e := range m.Content[i+1].Content {
			if e.Kind == yaml.ScalarNode && e.Tag == "!!null" {
				return e.Line
			}
		}
	}
	return 0
}

// walk records the line of every key path in the document.
func walk(n *yaml.Node, path string, lines map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walk(c, path, lines)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			if _, seen := lines[p]; !seen {
				lines[p] = k.Line
			}
			walk(v, p, lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			lines[p] = c.Line
			walk(c, p, lines)
		}
	}
}

// parent returns the path one level up: "a.b[2].c" → "a.b[2]" → "a.b" → "a".
func parent(p string) string {
	if i := strings.LastIndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return ""
}

// parseBytes reads a size: 1048576, "64MiB", "64MB", "512KiB".
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive size (e.g. 67108864, 64MiB)", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is more bytes than a size can hold", s)
	}
	return n * mult, nil
}

// Masked returns the effective configuration as YAML, every secret masked (X2), for printing.
func (c Config) Masked() string {
	var b strings.Builder
	dataDir := c.DataDir
	if c.Ephemeral {
		dataDir = "a new temporary directory at each start, removed at exit (--ephemeral)"
	}
	fmt.Fprintf(&b, "listen: %s\nsftp_listen: %s\ndata_dir: %s\n", c.Listen, c.SFTPListen, dataDir)
	if c.Ephemeral {
		b.WriteString("ephemeral: true\n")
	}
	if !c.ClockStart.IsZero() {
		fmt.Fprintf(&b, "clock_start: %s\n", c.ClockStart.Format(time.RFC3339))
	}
	if c.TLS.Enabled() {
		fmt.Fprintf(&b, "tls: {cert: %q, key: %q}\n", c.TLS.Cert, c.TLS.Key)
	}
	journal := c.JournalMaxBytes
	if journal <= 0 {
		journal = og.DefaultJournalMaxBytes
	}
	if journal%(1<<20) == 0 {
		fmt.Fprintf(&b, "journal_max_bytes: %dMiB\n", journal>>20)
	} else {
		fmt.Fprintf(&b, "journal_max_bytes: %d\n", journal)
	}
	b.WriteString("merchants:\n")
	ms := append([]og.Merchant(nil), c.Merchants...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	for _, m := range ms {
		keys := make([]string, len(m.APIKeys))
		for i, k := range m.APIKeys {
			keys[i] = strconv.Quote(og.Mask(k))
		}
		fmt.Fprintf(&b, "  - merchant_id: %s\n    public_id: %s\n    name: %q\n    hash_key: %q\n    timezone: %s\n    sftp: {username: %q, password: %q, authorized_keys: %d}\n    api_keys: [%s]\n",
			m.ID, m.PublicID, m.Name, og.Hide(m.HashKey), m.Timezone, m.SFTP.Username, og.Hide(m.SFTP.Password), len(m.SFTP.AuthorizedKeys), strings.Join(keys, ", "))
		if m.Catalogue != "" {
			fmt.Fprintf(&b, "    catalogue: %s\n", m.Catalogue)
		}
		fmt.Fprintf(&b, "    placement: {method: %s, url: %q, hours: %v, timeout: %s}\n    reminder_days: %d\n    feed_pickup: %s\n",
			m.Placement.Method, og.RedactURL(m.Placement.URL), m.Placement.Hours, m.Placement.Timeout, m.ReminderDays, m.FeedPickup)
	}
	return b.String()
}
