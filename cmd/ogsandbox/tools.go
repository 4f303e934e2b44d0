package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/clock"
	"github.com/ogsandbox/ogsandbox/emulator/config"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox"
)

func (m *Main) version(ctx context.Context, args []string) error {
	fmt.Fprintln(m.Stdout, "ogsandbox", sandbox.Version)
	return nil
}

// sign prints what a merchant's server computes at checkout and login (A1, A4, A5).
func (m *Main) sign(ctx context.Context, args []string) error {
	fs := m.flags("sign")
	key := fs.String("key", "", "the merchant's 32-byte hash key")
	user := fs.String("user", "", "the merchant user id of the customer (the raw data point)")
	ts := fs.Int64("ts", 0, "seconds since the epoch (default: now)")
	publicID := fs.String("public-id", "<MERCHANT_PUBLIC_ID>", "the merchant public id, for the authorization header")
	pos, err := m.parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usageError{fmt.Sprintf("sign takes flags only, got %q", pos)}
	case *key == "":
		return usageError{"--key is required"}
	case *user == "":
		return usageError{"--user is required"}
	}
	if err := ogcrypto.CheckKey(*key); err != nil {
		return usageError{"--key: " + err.Error()}
	}
	if *ts == 0 {
		*ts = clock.WallNow().Unix()
	}
	if n := len(strconv.FormatInt(*ts, 10)); n != 10 {
		// Printed all the same: a test of the refusal needs one.
		fmt.Fprintf(m.Stderr, "warning (A2): --ts %d has %d digits; ts is seconds since the epoch, 10 digits (13 are milliseconds): staging refuses this signature\n", *ts, n)
	}
	sig := ogcrypto.Sign(*key, *user, *ts)
	fmt.Fprintf(m.Stdout, "message        %s\n", ogcrypto.Message(*user, "", *ts))
	fmt.Fprintf(m.Stdout, "signature      %s\n", sig)
	fmt.Fprintf(m.Stdout, "url-encoded    %s   (legacy body and query auth only)\n", url.QueryEscape(sig))
	fmt.Fprintf(m.Stdout, "authorization  %s\n", ogcrypto.HeaderJSON(*key, *publicID, *user, *ts))
	fmt.Fprintf(m.Stdout, "og_auth        %s\n", ogcrypto.Cookie(*key, *user, *ts))
	fmt.Fprintf(m.Stdout, "valid until    %s (A3: 2 hours of wall time)\n", time.Unix(*ts, 0).Add(ogcrypto.MaxAge).UTC().Format(time.RFC3339))
	return nil
}

func (m *Main) encrypt(ctx context.Context, args []string) error {
	fs := m.flags("encrypt")
	key := fs.String("key", "", "the merchant's 32-byte hash key")
	urlEncode := fs.Bool("url-encode", false, "print the ciphertext URL-encoded, as a request field carries it (E1)")
	pos, err := m.parse(fs, args)
	if err != nil {
		return err
	}
	if *key == "" || len(pos) != 1 {
		return usageError{"want --key and exactly one TEXT"}
	}
	for i := 0; i < len(pos[0]); i++ {
		if pos[0][i] >= 0x80 {
			fmt.Fprintf(m.Stderr, "warning (C1): TEXT has non-ASCII characters (byte %d): staging refuses non-ASCII text in a purchase POST, encrypted or not\n", i)
			break
		}
	}
	ct, err := ogcrypto.Encrypt(*key, pos[0])
	if err != nil {
		return usageError{"--key: " + err.Error()}
	}
	if *urlEncode {
		fmt.Fprintln(m.Stdout, url.QueryEscape(ct))
		return nil
	}
	fmt.Fprintln(m.Stdout, ct)
	return nil
}

func (m *Main) decrypt(ctx context.Context, args []string) error {
	fs := m.flags("decrypt")
	key := fs.String("key", "", "the merchant's 32-byte hash key")
	pos, err := m.parse(fs, args)
	if err != nil {
		return err
	}
	if *key == "" || len(pos) != 1 {
		return usageError{"want --key and exactly one CIPHERTEXT"}
	}
	plain, warns, derr := ogcrypto.Decrypt(*key, "ciphertext", pos[0])
	for _, w := range warns {
		fmt.Fprintf(m.Stderr, "warning (%s): %s\n", w.Rule, w.Message)
	}
	if derr != nil {
		return fmt.Errorf("%s: %s", derr.Rule, derr.Message)
	}
	fmt.Fprintln(m.Stdout, plain)
	return nil
}

const urlUsage = "base URL of the running sandbox (default: where serve would listen with this environment: OGSANDBOX_LISTEN, or the listen and tls of OGSANDBOX_CONFIG's file; else http://127.0.0.1:8080)"

// defaultBase is the base URL of the sandbox `serve` would start with this environment, so that
// a CI job that exports OGSANDBOX_LISTEN or OGSANDBOX_CONFIG once reaches it with every command,
// and with tls: auto the certificate it wrote in data_dir, if it is there. It is
// http://127.0.0.1:8080, said on stderr, when that configuration does not load or names no port.
func (m *Main) defaultBase() (base, cacert string) {
	const fallback = "http://127.0.0.1:8080"
	c, err := config.Load(nil, m.Getenv)
	if err != nil {
		fmt.Fprintf(m.Stderr, "ogsandbox: trying %s: the configuration serve would use does not load (%v)\n", fallback, err)
		return fallback, ""
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil || port == "0" {
		fmt.Fprintf(m.Stderr, "ogsandbox: trying %s: listen %q names no port to reach; pass --url\n", fallback, c.Listen)
		return fallback, ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1" // a wildcard listen is reached on loopback
	}
	scheme := "http"
	if c.TLS.Enabled() {
		scheme = "https"
		if pem := filepath.Join(c.DataDir, "tls-cert.pem"); c.TLS.Auto() && !c.Ephemeral && fileExists(pem) {
			cacert = pem
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port), cacert
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// clock talks to a running sandbox's control API.
func (m *Main) clock(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError{"want a subcommand: advance DURATION, or now"}
	}
	sub := args[0]
	fs := m.flags("clock " + sub)
	base := fs.String("url", "", urlUsage)
	cacert := fs.String("cacert", "", "PEM certificate to trust for an https URL (tls: auto writes data_dir/tls-cert.pem)")
	pos, err := m.parse(fs, args[1:])
	if err != nil {
		return err
	}
	if *base == "" {
		var ca string
		if *base, ca = m.defaultBase(); *cacert == "" {
			*cacert = ca
		}
	}
	client, err := httpClient(*cacert, 10*time.Minute)
	if err != nil {
		return err
	}
	var req *http.Request
	switch sub {
	case "advance":
		if len(pos) != 1 {
			return usageError{"want one DURATION (30d, 12h, 90m) or an RFC 3339 time"}
		}
		body := map[string]string{"by": pos[0]}
		if _, err := time.Parse(time.RFC3339, pos[0]); err == nil {
			body = map[string]string{"to": pos[0]}
		} else if _, err := clock.ParseSpan(pos[0]); err != nil {
			return usageError{err.Error()}
		}
		js, _ := json.Marshal(body)
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*base, "/")+"/_sandbox/clock/advance", strings.NewReader(string(js)))
		req.Header.Set("Content-Type", "application/json")
	case "now":
		if len(pos) != 0 {
			return usageError{"now takes no arguments"}
		}
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(*base, "/")+"/_sandbox/clock", nil)
	default:
		return usageError{fmt.Sprintf("unknown clock subcommand %q: want advance or now", sub)}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("is a sandbox running at %s? %w", *base, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error, Expected string }
		if json.Unmarshal(out, &e) == nil && e.Error != "" {
			if e.Expected != "" {
				return fmt.Errorf("%s (expected %s)", e.Error, e.Expected)
			}
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(out)))
	}
	if sub == "now" {
		var c struct{ Now, Offset string }
		_ = json.Unmarshal(out, &c)
		fmt.Fprintf(m.Stdout, "%s (offset %s)\n", c.Now, c.Offset)
		return nil
	}
	var r struct {
		From, Now string
		Runs      int
		Orders    map[string]int
	}
	_ = json.Unmarshal(out, &r)
	fmt.Fprintf(m.Stdout, "clock moved from %s to %s: %d placement runs; orders placed %s, rejected %s, pending %s\n",
		r.From, r.Now, r.Runs, strconv.Itoa(r.Orders["placed"]), strconv.Itoa(r.Orders["rejected"]), strconv.Itoa(r.Orders["pending"]))
	return nil
}

// health asks a running sandbox whether it is ready, waiting for it up to --wait.
func (m *Main) health(ctx context.Context, args []string) error {
	fs := m.flags("health")
	base := fs.String("url", "", urlUsage)
	wait := fs.Duration("wait", 0, "keep asking this long before giving up (e.g. 30s)")
	cacert := fs.String("cacert", "", "PEM certificate to trust for an https URL (tls: auto writes data_dir/tls-cert.pem)")
	pos, err := m.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{"health takes no arguments"}
	}
	if *base == "" {
		var ca string
		if *base, ca = m.defaultBase(); *cacert == "" {
			*cacert = ca
		}
	}
	client, err := httpClient(*cacert, 5*time.Second)
	if err != nil {
		return err
	}
	url := strings.TrimRight(*base, "/") + "/_sandbox/health"
	deadline := clock.WallNow().Add(*wait)
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				fmt.Fprintln(m.Stdout, strings.TrimSpace(string(body)))
				return nil
			}
			err = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		if !clock.WallNow().Before(deadline) {
			var unknown x509.UnknownAuthorityError
			if errors.As(err, &unknown) && *cacert == "" {
				err = fmt.Errorf("%v; with tls: auto, trust the sandbox's certificate with --cacert DATA_DIR/tls-cert.pem (or OGSANDBOX_CACERT)", err)
			}
			return fmt.Errorf("no ready sandbox at %s: %v", *base, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// httpClient returns a client that trusts cacert (a PEM file) besides the system's roots.
func httpClient(cacert string, timeout time.Duration) (*http.Client, error) {
	c := &http.Client{Timeout: timeout}
	if cacert == "" {
		return c, nil
	}
	pem, err := os.ReadFile(cacert)
	if err != nil {
		return nil, usageError{"--cacert: " + err.Error()}
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usageError{"--cacert: " + cacert + " holds no PEM certificate"}
	}
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	return c, nil
}
