// Package config loads the sandbox's configuration (../shared/CONTROL.md): defaults, then the
// YAML file, then OGSANDBOX_* environment variables, then flags. Load is a pure function of
// its arguments, the environment it is given and the file they name.
//
// Every refusal names the file, the line and the key at fault. Secrets are masked whenever
// the configuration is printed (X2).
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones resolve on machines (and images) without a zoneinfo database

	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
	"golang.org/x/crypto/ssh"
)

// Defaults of CONTROL.md.
const (
	DefaultListen       = "127.0.0.1:8080"
	DefaultSFTPListen   = "127.0.0.1:2222"
	DefaultDataDir      = ".ogsandbox"
	DefaultTimezone     = "America/Chicago" // Ordergroove schedules in Central time (O1)
	DefaultReminderDays = 4                 // "sent 4 days before the next scheduled order"
	DefaultTimeout      = 30 * time.Second
	EnvPrefix           = "OGSANDBOX_"
)

// DefaultHours are the placement hours of a merchant that names none (O1).
var DefaultHours = []int{6}

// TLS is the optional HTTPS of the HTTP listener (X1).
type TLS struct {
	Cert string // PEM file, or "auto" for a certificate generated into data_dir
	Key  string
}

// Auto reports whether a localhost certificate is generated.
func (t TLS) Auto() bool { return t.Cert == "auto" }

// Enabled reports whether the HTTP listener serves HTTPS.
func (t TLS) Enabled() bool { return t.Cert != "" }

// Config is the sandbox's effective configuration.
type Config struct {
	File            string // the configuration file, "" when none
	Listen          string
	SFTPListen      string
	DataDir         string
	Ephemeral       bool
	ClockStart      time.Time // zero: the clock starts at real time
	TLS             TLS
	JournalMaxBytes int64
	Merchants       []og.Merchant
	Demo            bool     // no merchant configured: the demo merchant serves
	PrintConfig     bool     // --print-config: print Masked() and exit
	Warnings        []string // accepted but worth saying (an O1 placement hour to avoid)

	origin map[string]string // key → where its value came from
}

// Origin says where a key's value came from, for error messages: "ogsandbox.yaml:3",
// "flag --listen", "env OGSANDBOX_LISTEN" or "default".
func (c *Config) Origin(key string) string {
	if o, ok := c.origin[key]; ok {
		return o
	}
	return "default"
}

func (c *Config) setOrigin(key, o string) {
	if c.origin == nil {
		c.origin = map[string]string{}
	}
	c.origin[key] = o
}

// Default returns the configuration of `ogsandbox serve` with nothing given: the demo
// merchant on the default ports.
func Default() Config {
	c := Config{Listen: DefaultListen, SFTPListen: DefaultSFTPListen, DataDir: DefaultDataDir}
	c.Merchants = []og.Merchant{DemoMerchant()}
	c.Demo = true
	return c
}

// DemoMerchant is the merchant `serve` creates when none is configured: the example merchant
// of CONTROL.md, with the key of SPEC A1's test vector, so that every example in the docs
// works against it as written.
func DemoMerchant() og.Merchant {
	loc, _ := time.LoadLocation(DefaultTimezone)
	return og.Merchant{
		ID:           "0e5de2bedc5e11e3a2e4bc764e106cf4",
		PublicID:     "9d0e5d6c3a1211ecb9090242ac120002",
		Name:         "Pet Store",
		HashKey:      "Mt!ZQ45q&GHsgiRD8{NB-_h87#rjvbn0",
		Timezone:     DefaultTimezone,
		Location:     loc,
		SFTP:         og.SFTPLogin{Username: "petstore", Password: "petstore-sftp"},
		APIKeys:      []string{"demo-api-key-0e5de2bedc5e11e3"},
		Placement:    og.Placement{Method: og.PlacementAPI, Hours: slices.Clone(DefaultHours), Timeout: DefaultTimeout},
		ReminderDays: DefaultReminderDays,
		FeedPickup:   og.FeedOnUpload,
	}
}

// Error is a configuration refusal: one or more problems, each with its place.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "configuration: " + e.Problems[0]
	}
	return "configuration has " + strconv.Itoa(len(e.Problems)) + " problems:\n  " + strings.Join(e.Problems, "\n  ")
}

// ServeFlags declares the flags of `ogsandbox serve` on fs.
func ServeFlags(fs *flag.FlagSet) {
	fs.String("config", "", "configuration file (YAML)")
	fs.Bool("ephemeral", false, "keep state in a temporary directory removed at exit (for CI)")
	fs.String("listen", "", "address of every HTTP surface and /_sandbox/ (default "+DefaultListen+")")
	fs.String("sftp-listen", "", "address of the SFTP drop site (default "+DefaultSFTPListen+")")
	fs.String("data-dir", "", "directory of the database, SFTP homes and host key (default "+DefaultDataDir+")")
	fs.String("clock-start", "", "start the sandbox clock here (RFC 3339) instead of now")
	fs.Bool("print-config", false, "print the effective configuration, secrets masked, and exit")
}

// ApplyEnv sets every flag of fs that the command line left unset from the environment
// variable OGSANDBOX_<FLAG> (dashes become underscores): every flag of every command reads
// one (CONTROL.md).
func ApplyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		name := EnvName(f.Name)
		if v := getenv(name); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
					e = errors.New("not a boolean: use true or false (or 1, 0)")
				}
				err = fmt.Errorf("%s=%q: %v", name, v, e)
			}
		}
	})
	return err
}

// EnvName returns the environment variable of a flag.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Load returns the configuration of `ogsandbox serve` with args (the arguments after "serve")
// and the environment getenv.
func Load(args []string, getenv func(string) string) (Config, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(discard{})
	ServeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if err := ApplyEnv(fs, getenv); err != nil {
		return Config{}, err
	}
	origin := func(name string) string {
		if explicit[name] {
			return "flag --" + name
		}
		return "env " + EnvName(name)
	}
	get := func(name string) string { return fs.Lookup(name).Value.String() }

	c := Default()
	if path := get("config"); path != "" {
		data, err := readBounded(path, MaxFileBytes)
		if err != nil {
			return Config{}, fmt.Errorf("configuration file (%s): %w", origin("config"), err)
		}
		fc, err := Parse(path, data)
		if err != nil {
			return Config{}, err
		}
		c = fc
	}
	for _, o := range []struct {
		flag string
		dst  *string
		key  string
	}{{"listen", &c.Listen, "listen"}, {"sftp-listen", &c.SFTPListen, "sftp_listen"}, {"data-dir", &c.DataDir, "data_dir"}} {
		if v := get(o.flag); v != "" {
			*o.dst = v
			c.setOrigin(o.key, origin(o.flag))
		}
	}
	var problems []string
	if v := get("clock-start"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: clock_start: %v", origin("clock-start"), err))
		}
		c.ClockStart = t
		c.setOrigin("clock_start", origin("clock-start"))
	}
	if v, _ := strconv.ParseBool(get("ephemeral")); v {
		c.Ephemeral = true
	}
	c.PrintConfig, _ = strconv.ParseBool(get("print-config"))
	for _, a := range []struct{ key, addr string }{{"listen", c.Listen}, {"sftp_listen", c.SFTPListen}} {
		if err := checkAddr(a.addr); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s: %v", c.Origin(a.key), a.key, err))
		}
	}
	for i, m := range c.Merchants {
		// Checked here, not by Parse, which reads the file's text only.
		if m.Catalogue == "" {
			continue
		}
		key := fmt.Sprintf("merchants[%d].catalogue", i)
		if st, err := os.Stat(m.Catalogue); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s: %s cannot be read (%v): a product feed the sandbox loads at start-up", c.Origin(key), key, m.Catalogue, errors.Unwrap(err)))
		} else if st.IsDir() {
			problems = append(problems, fmt.Sprintf("%s: %s: %s is a folder, not a product feed file", c.Origin(key), key, m.Catalogue))
		}
	}
	if sameAddr(c.Listen, c.SFTPListen) {
		problems = append(problems, fmt.Sprintf("%s: sftp_listen: %s is also listen's address (%s): the HTTP surfaces and the SFTP drop site need a port each", c.Origin("sftp_listen"), c.SFTPListen, c.Listen))
	}
	if len(problems) > 0 {
		return Config{}, &Error{Problems: problems}
	}
	return c, nil
}

// sameAddr reports whether two listen addresses would take the same port: the same port, not
// 0, on the same host or on one that takes in every host.
func sameAddr(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	loopback := func(h string) string {
		if h == "localhost" || h == "::1" {
			return "127.0.0.1" // localhost takes the loopback port (Go listens on 127.0.0.1)
		}
		return h
	}
	return loopback(ha) == loopback(hb) || wild(ha) || wild(hb)
}

// readBounded reads at most max+1 bytes of a file: a configuration is small, and a path such
// as /dev/zero must not hang start-up.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max+1))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:8080): %v", addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("port %q of %q is not a number from 0 to 65535", port, addr)
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		return fmt.Errorf("host %q of %q is not an IP address or localhost", host, addr)
	}
	return nil
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time (e.g. 2026-01-05T00:00:00Z) or a date (2026-01-05)", s)
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// checkMerchant validates one merchant and fills its defaults. problem reports a finding on
// a key of the merchant.
func checkMerchant(m *og.Merchant, problem func(key, format string, args ...any)) {
	if m.ID == "" {
		problem("merchant_id", "is required")
	} else if !idPattern.MatchString(m.ID) {
		problem("merchant_id", "%q: a merchant_id is 1-64 letters, digits, '.', '_' or '-' (it names files and URL paths)", m.ID)
	}
	if m.PublicID == "" {
		m.PublicID = m.ID
	}
	if m.Name == "" {
		m.Name = m.ID
	}
	if err := ogcrypto.CheckKey(m.HashKey); err != nil {
		hint := ""
		if strings.Contains(m.HashKey, "#") || len(m.HashKey) < ogcrypto.KeySize {
			hint = "; quote it in YAML (\"...\"): an unquoted ' #' starts a comment"
		}
		problem("hash_key", "%v (M1)%s", err, hint)
	}
	if m.Timezone == "" {
		m.Timezone = DefaultTimezone
	}
	loc, err := time.LoadLocation(m.Timezone)
	if err == nil && m.Timezone == "Local" {
		err = errors.New("the machine's own zone")
	}
	if err != nil {
		problem("timezone", "unknown time zone %q: use an IANA name such as America/Chicago or Europe/London", m.Timezone)
	}
	m.Location = loc
	if m.SFTP.Username == "" {
		m.SFTP.Username = m.ID
	}
	for i, k := range m.SFTP.AuthorizedKeys {
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
			problem(fmt.Sprintf("sftp.authorized_keys[%d]", i), "not an OpenSSH public key (a line of authorized_keys, such as \"ssh-ed25519 AAAAC3... you@laptop\"): %v", err)
		}
	}
	for i, k := range m.APIKeys {
		if strings.TrimSpace(k) == "" || strings.ContainsAny(k, " \t\r\n") {
			problem(fmt.Sprintf("api_keys[%d]", i), "an API key is a non-empty string without spaces")
		}
	}
	p := &m.Placement
	switch p.Method {
	case "":
		p.Method = og.PlacementAPI
	case og.PlacementAPI, og.PlacementBatch:
	default:
		problem("placement.method", "%q: the placement method is api or batch (O2)", p.Method)
	}
	if p.URL != "" {
		u, err := url.Parse(p.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problem("placement.url", "%q is not an http:// or https:// URL of the merchant's order endpoint (O2)", og.RedactURL(p.URL))
		}
	}
	if p.Hours == nil {
		p.Hours = slices.Clone(DefaultHours)
	} else if len(p.Hours) == 0 {
		problem("placement.hours", "the list is empty, so no order would ever be placed: give at least one hour from 0 to 23 (O1), or leave the key out for the default %v", DefaultHours)
	}
	seen := map[int]bool{}
	for i, h := range p.Hours {
		if h < 0 || h > 23 {
			problem(fmt.Sprintf("placement.hours[%d]", i), "%d is not an hour from 0 to 23 (O1)", h)
		}
		if seen[h] {
			problem(fmt.Sprintf("placement.hours[%d]", i), "hour %d is listed twice", h)
		}
		seen[h] = true
	}
	slices.Sort(p.Hours)
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	if p.Timeout < 0 || p.Timeout > 5*time.Minute {
		problem("placement.timeout", "%s: the order POST timeout is between 0 and 5m", p.Timeout)
	}
	switch m.FeedPickup {
	case "":
		m.FeedPickup = og.FeedOnUpload
	case og.FeedOnUpload, og.FeedEvery30m:
	default:
		problem("feed_pickup", "%q: a product feed is read on upload (upload) or at Ordergroove's pickup every 30 minutes (30m, F1)", m.FeedPickup)
	}
	if m.ReminderDays < 0 || m.ReminderDays > 60 {
		problem("reminder_days", "%d: reminders go out 0 to 60 days before an order (O7)", m.ReminderDays)
	}
}

// resolve makes a path in the file relative to the file's directory.
func resolve(file, p string) string {
	if p == "" || filepath.IsAbs(p) || p == "auto" {
		return p
	}
	return filepath.Join(filepath.Dir(file), p)
}
