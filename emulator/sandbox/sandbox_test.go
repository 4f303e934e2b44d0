package sandbox_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/config"
	"github.com/ogsandbox/ogsandbox/emulator/control"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox/sandboxtest"
	"github.com/ogsandbox/ogsandbox/emulator/store"
	"github.com/ogsandbox/ogsandbox/internal/golden"
)

var do = sandboxtest.Do

func TestHealthIsReadyOnceStartReturns(t *testing.T) {
	sb := sandboxtest.Start(t)
	r := do(t, "GET", sb.URL()+"/_sandbox/health", nil)
	var h control.Health
	r.JSON(t, &h)
	if r.Status != 200 || h.Status != "ready" || h.Version != sandbox.Version || h.Merchants != 1 || h.Surfaces["http"] != sb.URL() {
		t.Fatalf("health: %d %s", r.Status, r.Body)
	}
	if now, err := time.Parse(time.RFC3339Nano, h.Now); err != nil || time.Until(now).Abs() > time.Minute {
		t.Fatalf("health now %q", h.Now)
	}
}

func TestTwoSandboxesInOneProcess(t *testing.T) {
	a, b := sandboxtest.Start(t), sandboxtest.Start(t)
	if a.URL() == b.URL() {
		t.Fatal("two sandboxes share a URL")
	}
	do(t, "POST", a.URL()+"/_sandbox/clock/advance", map[string]string{"by": "30d"})
	if a.Clock().Now().Sub(b.Clock().Now()) < 29*24*time.Hour {
		t.Fatal("advancing one sandbox's clock moved the other's")
	}
}

func TestClockAdvance(t *testing.T) {
	sb := sandboxtest.Start(t)
	url := sb.URL() + "/_sandbox/clock/advance"
	before := sb.Clock().Now()

	r := do(t, "POST", url, map[string]string{"by": "30d"})
	var res control.AdvanceResult
	r.JSON(t, &res)
	now, _ := time.Parse(time.RFC3339Nano, res.Now)
	// The demo merchant places orders at 6:00 in Chicago: one placement run a day.
	if r.Status != 200 || now.Sub(before) < 30*24*time.Hour || now.Sub(before) > 30*24*time.Hour+time.Minute || res.Runs != 30 {
		t.Fatalf("advance by 30d: %d %s", r.Status, r.Body)
	}
	target := now.Add(36 * time.Hour).Truncate(time.Second)
	r = do(t, "POST", url, map[string]string{"to": target.Format(time.RFC3339)})
	r.JSON(t, &res)
	if got, _ := time.Parse(time.RFC3339Nano, res.Now); r.Status != 200 || got.Before(target) || got.Sub(target) > time.Minute {
		t.Fatalf("advance to %s: %d %s", target, r.Status, r.Body)
	}
	var c control.ClockState
	do(t, "GET", sb.URL()+"/_sandbox/clock", nil).JSON(t, &c)
	if c.OffsetSeconds < 31*24*3600 || !strings.HasPrefix(c.Offset, "31d") {
		t.Fatalf("clock after 31.5 days of advance: %+v", c)
	}
}

func TestClockAdvanceRefusals(t *testing.T) {
	sb := sandboxtest.Start(t)
	url := sb.URL() + "/_sandbox/clock/advance"
	past := sb.Clock().Now().Add(-time.Hour).Format(time.RFC3339)
	for _, tc := range []struct {
		name, body, field, want string
	}{
		{"backwards_to", `{"to":"` + past + `"}`, "to", "only moves forward"},
		{"negative_by", `{"by":"-1d"}`, "by", "only moves forward"},
		{"unparsable_by", `{"by":"a month"}`, "by", "cannot parse"},
		{"no_unit", `{"by":"30"}`, "by", "has no unit"},
		{"bad_to", `{"to":"tomorrow"}`, "to", "not an RFC 3339 time"},
		{"both", `{"by":"1d","to":"` + past + `"}`, "by", "not both"},
		{"neither", `{}`, "by", "neither"},
		{"empty", ``, "by", "empty"},
		{"not_json", `by=1d`, "body", "not a JSON object"},
		{"unknown_field", `{"days":3}`, "days", "unknown field"},
		{"by_a_number", `{"by":30}`, "by", "by is a JSON number; it should be a string"},
		{"an_array", `[1]`, "body", "the body is a JSON array; it should be an object"},
		{"two_values", `{"by":"1s"} {"by":"1000y"}`, "body", "text after the JSON value"},
		{"stray_brace", `{"by":"1h"}}`, "body", "text after the JSON value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "POST", url, tc.body)
			var e struct{ Error, Field, Expected string }
			r.JSON(t, &e)
			if r.Status != 400 || e.Field != tc.field || !strings.Contains(e.Error, tc.want) || e.Expected == "" {
				t.Fatalf("%d %s; want 400 on field %q saying %q with what was expected", r.Status, r.Body, tc.field, tc.want)
			}
		})
	}
}

func TestClockOffsetSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	sb := sandboxtest.StartIn(t, dir)
	do(t, "POST", sb.URL()+"/_sandbox/clock/advance", map[string]string{"by": "90d"})
	sb.Close()
	sb = sandboxtest.StartIn(t, dir)
	if off := time.Until(sb.Clock().Now()); off < 89*24*time.Hour {
		t.Fatalf("offset after restart %v, want about 90d", off)
	}
}

func TestClockStartAppliesToANewDataDirOnly(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	withStart := func(c *config.Config) { c.ClockStart = start }
	sb := sandboxtest.StartIn(t, dir, withStart)
	if d := sb.Clock().Now().Sub(start); d < 0 || d > time.Minute {
		t.Fatalf("clock_start: now %v, want %v", sb.Clock().Now(), start)
	}
	do(t, "POST", sb.URL()+"/_sandbox/clock/advance", map[string]string{"by": "10d"})
	sb.Close()
	sb = sandboxtest.StartIn(t, dir, withStart)
	if d := sb.Clock().Now().Sub(start.Add(10 * 24 * time.Hour)); d < 0 || d > time.Minute {
		t.Fatalf("after restart the clock reads %v, want it to continue from %v", sb.Clock().Now(), start.Add(10*24*time.Hour))
	}
}

func TestUnknownControlPathListsTheValidOnes(t *testing.T) {
	sb := sandboxtest.Start(t)
	r := do(t, "GET", sb.URL()+"/_sandbox/subscriptionz", nil)
	if r.Status != 404 {
		t.Fatalf("status %d", r.Status)
	}
	golden.JSON(t, "control_404", r.Body, nil)
	if r := do(t, "DELETE", sb.URL()+"/_sandbox/health", nil); r.Status != 405 || !strings.Contains(string(r.Body), "GET /_sandbox/health") {
		t.Fatalf("wrong method: %d %s", r.Status, r.Body)
	}
	if r := do(t, "GET", sb.URL()+"/no/such/thing/", nil); r.Status != 404 || string(r.Body) != "{\"detail\":\"Not found.\"}\n" {
		t.Fatalf("unknown staging path: %d %s", r.Status, r.Body)
	}
}

func TestMerchantsLeaveSecretsOut(t *testing.T) {
	sb := sandboxtest.Start(t)
	r := do(t, "GET", sb.URL()+"/_sandbox/merchants", nil)
	m := config.DemoMerchant()
	for _, secret := range []string{m.HashKey, m.SFTP.Password, m.APIKeys[0]} {
		if strings.Contains(string(r.Body), secret) {
			t.Fatalf("merchants shows a secret: %s", r.Body)
		}
	}
	golden.JSON(t, "merchants_demo", r.Body, nil)
}

// X2: the configuration's secrets are masked by value wherever a request carries them (a hash
// key pasted into a query string, a header or a note), not only under a secret's field name;
// card numbers and og_auth values in a URL or a custom header, and a signature sent under the
// wrong name, are masked too; a placement URL's query credentials are not shown.
func TestX2_ConfiguredSecretsAreMaskedWherever(t *testing.T) {
	sb := sandboxtest.Start(t, func(c *config.Config) {
		c.Merchants[0].Placement.URL = "http://127.0.0.1:1/og?api_key=QUERYSECRET123&token=TOKSECRET456&page=2"
	})
	m := config.DemoMerchant()
	sig := "0nQ1KznESueBlFHYRebLpoKih6fkHt0cXC8Ens8eoWk="
	body := `{"note":"` + m.HashKey + `","pw":"` + m.SFTP.Password + `","k":"` + m.APIKeys[0] + `"}`
	do(t, "POST", sb.URL()+"/subscription/create?x="+url.QueryEscape(m.HashKey)+"&card=4111111111111111", body,
		"X-Debug", m.HashKey, "X-Card", "4111 1111 1111 1111", "Authorization", `{"public_id":"p","ts":1516309285,"sig_field":"1","signature":"`+sig+`"}`)
	do(t, "GET", sb.URL()+"/no/such?og_auth=cust-1|1516309285|"+url.QueryEscape(sig)+"&page=1", nil, "Cookie", "k="+m.SFTP.Password)
	// A hash key pasted into a URL unencoded is cut at its '&' and '#'; one written by Go's
	// encoding/json has its '&' as \u0026.
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+m.ID+"/orders?customer="+strings.SplitN(m.HashKey, "#", 2)[0], nil)
	do(t, "POST", sb.URL()+"/no/such/either", `{"note":"`+strings.ReplaceAll(m.HashKey, "&", `\u0026`)+`"}`)
	j := do(t, "GET", sb.URL()+"/_sandbox/journal?limit=10", nil)
	if !strings.Contains(m.HashKey, "&GHsgiRD8{NB-_h87#") {
		t.Fatalf("the demo hash key %q no longer holds the delimiters this test cuts it at", m.HashKey)
	}
	for _, secret := range []string{m.HashKey, url.QueryEscape(m.HashKey), m.SFTP.Password, m.APIKeys[0], "4111111111111111", "4111 1111 1111 1111", sig, url.QueryEscape(sig),
		"GHsgiRD8{NB-_h87", url.QueryEscape("GHsgiRD8{NB-_h87"), `GHsgiRD8{NB-_h87`} {
		if strings.Contains(string(j.Body), secret) {
			t.Errorf("the journal shows %q:\n%s", secret, j.Body)
		}
	}
	if !strings.Contains(string(j.Body), "page=1") {
		t.Errorf("the journal lost the rest of the URL:\n%s", j.Body)
	}
	merchants := do(t, "GET", sb.URL()+"/_sandbox/merchants", nil)
	for _, secret := range []string{"QUERYSECRET123", "TOKSECRET456"} {
		if strings.Contains(string(merchants.Body), secret) {
			t.Errorf("the merchants listing shows %q: %s", secret, merchants.Body)
		}
	}
	if !strings.Contains(string(merchants.Body), "api_key=****&token=****&page=2") && !strings.Contains(string(merchants.Body), `api_key=****\u0026token=****\u0026page=2`) {
		t.Errorf("the placement URL as listed: %s", merchants.Body)
	}
}

// Every exchange is in the journal, filterable and with its secrets masked (X2, X5).
func TestJournalRecordsAndMasks(t *testing.T) {
	sb := sandboxtest.Start(t)
	sig := "0nQ1KznESueBlFHYRebLpoKih6fkHt0cXC8Ens8eoWk="
	auth := `{"public_id":"p","ts":1516309285,"sig_field":"123456789","sig":"` + sig + `"}`
	body := `{"user":{"password":"hunter2-secret"},"payment":{"cc_number":"4111111111111111","sig":"` + sig + `"}}`
	r := do(t, "POST", sb.URL()+"/no/such/endpoint/?sig="+sig, body,
		"Authorization", auth, "x-api-key", "secret-api-key-123456", "Cookie", "og_auth=123456789|1516309285|"+sig)
	if r.Status != 404 {
		t.Fatalf("status %d", r.Status)
	}
	do(t, "POST", sb.URL()+"/_sandbox/clock/advance", map[string]string{"by": "1h"})
	do(t, "GET", sb.URL()+"/_sandbox/health", nil) // a control read: not journaled

	r = do(t, "GET", sb.URL()+"/_sandbox/journal", nil)
	var page og.JournalPage
	r.JSON(t, &page)
	if len(page.Entries) != 2 {
		t.Fatalf("%d entries, want the advance and the 404: %s", len(page.Entries), r.Body)
	}
	adv, miss := page.Entries[0], page.Entries[1]
	if adv.Surface != og.SurfaceControl || adv.Request.URL != "/_sandbox/clock/advance" || adv.Status != 200 {
		t.Fatalf("newest entry %+v", adv)
	}
	if miss.Surface != og.SurfaceHTTP || miss.Status != 404 || miss.Direction != og.DirectionIn {
		t.Fatalf("404 entry %+v", miss)
	}
	// CONTROL.md: every entry carries the rule ids it broke, [] when none.
	var raw struct{ Entries []map[string]any }
	r.JSON(t, &raw)
	if rules, ok := raw.Entries[0]["rules"].([]any); !ok || len(rules) != 0 {
		t.Fatalf("the advance's rules: %#v, want []", raw.Entries[0]["rules"])
	}
	for _, secret := range []string{"hunter2-secret", "4111111111111111", "secret-api-key-123456", sig} {
		if strings.Contains(string(r.Body), secret) {
			t.Errorf("journal shows secret %q", secret)
		}
	}
	for _, kept := range []string{`0nQ1Kz…(44 chars)`, "****3456", `\"password\":\"****\"`, "****1111"} {
		if !strings.Contains(string(r.Body), kept) {
			t.Errorf("journal lacks the masked form %q:\n%s", kept, r.Body)
		}
	}

	r = do(t, "GET", sb.URL()+"/_sandbox/journal?surface=control", nil)
	r.JSON(t, &page)
	if len(page.Entries) != 1 || page.Entries[0].Surface != og.SurfaceControl {
		t.Fatalf("surface filter: %s", r.Body)
	}
	r = do(t, "GET", sb.URL()+"/_sandbox/journal?order=asc&limit=1", nil)
	r.JSON(t, &page)
	if len(page.Entries) != 1 || page.Entries[0].Status != 404 || page.Next == nil {
		t.Fatalf("asc page: %s", r.Body)
	}
	for _, q := range []string{"surface=mail", "limit=0", "limit=5000", "order=up", "cursor=x", "merchant=nobody", "colour=red"} {
		if r := do(t, "GET", sb.URL()+"/_sandbox/journal?"+q, nil); r.Status/100 != 4 || !strings.Contains(string(r.Body), "expected") {
			t.Errorf("journal?%s: %d %s", q, r.Status, r.Body)
		}
	}
}

// The journal keeps the first 64 KiB of a body, says it cut it, and masks a secret the cut
// falls in the middle of (X2).
func TestJournalBoundsBodies(t *testing.T) {
	sb := sandboxtest.Start(t)
	pad := strings.Repeat("a", 64<<10-len(`{"pad":"`)-len(`","password":"hun`))
	body := `{"pad":"` + pad + `","password":"hunter2-super-secret-value"}` + strings.Repeat(" ", 40<<10)
	do(t, "POST", sb.URL()+"/nowhere/", body)
	var page og.JournalPage
	r := do(t, "GET", sb.URL()+"/_sandbox/journal?limit=1", nil)
	r.JSON(t, &page)
	e := page.Entries[0].Request
	if !e.Truncated || e.BodyBytes != int64(len(body)) || len(e.Body) > 64<<10+64 { // masking may lengthen it a little
		t.Fatalf("truncated=%v body_bytes=%d kept=%d; want truncated, %d, at most 64 KiB", e.Truncated, e.BodyBytes, len(e.Body), len(body))
	}
	if strings.Contains(string(r.Body), "hun") && strings.Contains(e.Body, `"password":"hun`) {
		t.Fatalf("the journal kept the start of a password cut by the body bound: ...%s", e.Body[len(e.Body)-40:])
	}
}

func TestAdvanceRefusesTooFar(t *testing.T) {
	sb := sandboxtest.Start(t)
	r := do(t, "POST", sb.URL()+"/_sandbox/clock/advance", map[string]string{"to": "9999-01-01T00:00:00Z"})
	if r.Status != 400 || !strings.Contains(string(r.Body), "at most 100 years") {
		t.Fatalf("advance to 9999: %d %s", r.Status, r.Body)
	}
	if off := time.Until(sb.Clock().Now()); off > time.Minute {
		t.Fatalf("a refused advance moved the clock by %v", off)
	}
}

func TestResetForgetsTheJournalButKeepsMerchantsAndClock(t *testing.T) {
	sb := sandboxtest.Start(t)
	do(t, "POST", sb.URL()+"/_sandbox/clock/advance", map[string]string{"by": "7d"})
	before := sb.Clock().Now()
	r := do(t, "POST", sb.URL()+"/_sandbox/reset", nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), config.DemoMerchant().ID) {
		t.Fatalf("reset: %d %s", r.Status, r.Body)
	}
	var page og.JournalPage
	do(t, "GET", sb.URL()+"/_sandbox/journal", nil).JSON(t, &page)
	if len(page.Entries) != 1 || page.Entries[0].Request.URL != "/_sandbox/reset" {
		t.Fatalf("journal after reset holds %d entries, want only the reset itself", len(page.Entries))
	}
	if sb.Clock().Now().Before(before) {
		t.Fatal("reset moved the clock back")
	}
	if r := do(t, "GET", sb.URL()+"/_sandbox/merchants", nil); !strings.Contains(string(r.Body), config.DemoMerchant().ID) {
		t.Fatal("reset lost the merchants")
	}
}

func TestSecondInstanceOnTheSameDataDirFailsNamingTheLock(t *testing.T) {
	dir := t.TempDir()
	sandboxtest.StartIn(t, dir)
	start := time.Now()
	_, err := sandbox.Start(t.Context(), sandbox.TestConfig(dir), sandbox.Options{})
	var le *store.LockedError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "holds the lock") || !strings.Contains(err.Error(), "pid") {
		t.Fatalf("second instance: %v", err)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Fatalf("second instance took %v to fail", took)
	}
}

func TestPortInUseNamesTheSetting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := sandbox.TestConfig(t.TempDir())
	cfg.Listen = ln.Addr().String()
	_, err = sandbox.Start(t.Context(), cfg, sandbox.Options{})
	if err == nil || !strings.Contains(err.Error(), "already in use") || !strings.Contains(err.Error(), "OGSANDBOX_LISTEN") {
		t.Fatalf("port in use: %v", err)
	}
	// The failed start released the database: a good start on the same directory works.
	cfg.Listen = "127.0.0.1:0"
	sb, err := sandbox.Start(t.Context(), cfg, sandbox.Options{})
	if err != nil {
		t.Fatalf("start after a failed start: %v", err)
	}
	sb.Close()
}

func TestEphemeralRemovesItsDataDir(t *testing.T) {
	cfg := sandbox.TestConfig("")
	cfg.Ephemeral = true
	sb, err := sandbox.Start(t.Context(), cfg, sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := sb.Config().DataDir
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("ephemeral data_dir %s: %v", dir, err)
	}
	sb.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("ephemeral data_dir %s survived Close: %v", dir, err)
	}
}

// X1: HTTPS with a generated localhost certificate, TLS 1.2 or higher.
func TestX1_AutoTLS(t *testing.T) {
	sb := sandboxtest.Start(t, func(c *config.Config) { c.TLS = config.TLS{Cert: "auto"} })
	if !strings.HasPrefix(sb.URL(), "https://") {
		t.Fatalf("URL %s", sb.URL())
	}
	pem, err := os.ReadFile(sb.AutoCertFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(sb.URL() + "/_sandbox/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("https health: %d %+v", resp.StatusCode, resp.TLS)
	}
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(sb.URL() + "/_sandbox/health"); err == nil {
		resp.Body.Close()
		t.Fatal("a TLS 1.1 client was served")
	}
}

// Concurrent requests while the clock advances: run with -race.
func TestConcurrentAdvancesAndReads(t *testing.T) {
	sb := sandboxtest.Start(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				if r := do(t, "POST", sb.URL()+"/_sandbox/clock/advance", map[string]string{"by": "1d"}); r.Status != 200 {
					t.Errorf("advance: %d %s", r.Status, r.Body)
				}
				do(t, "GET", sb.URL()+"/_sandbox/journal?limit=5", nil)
			}
		})
	}
	wg.Wait()
	if off := time.Until(sb.Clock().Now()); off < 20*24*time.Hour-time.Minute {
		t.Fatalf("20 advances of 1d moved the clock %v", off)
	}
}

// A merchant's catalogue file is loaded at start-up (and again after a reset); a missing one
// stops start-up naming the merchant.
func TestConfiguredCatalogue(t *testing.T) {
	dir := t.TempDir()
	feed := dir + "/products.xml"
	os.WriteFile(feed, []byte(`<products><product><name><![CDATA[Acme Widget]]></name><product_id>W-1</product_id><sku>W-1</sku><price>2.00</price><in_stock>1</in_stock></product></products>`), 0o600)
	acme := config.DemoMerchant()
	acme.ID, acme.PublicID, acme.Catalogue = "acme", "acme", feed
	acme.SFTP.Username, acme.APIKeys = "acme", nil
	sb := sandboxtest.Start(t, func(c *config.Config) { c.Merchants, c.Demo = []og.Merchant{acme}, false })
	var ps []og.Product
	do(t, "GET", sb.URL()+"/_sandbox/merchants/acme/products", nil).JSON(t, &ps)
	if len(ps) != 1 || ps[0].ProductID != "W-1" || ps[0].Source != feed {
		t.Fatalf("catalogue: %+v", ps)
	}
	acme.Catalogue = dir + "/missing.xml"
	cfg := sandbox.TestConfig(t.TempDir())
	cfg.Merchants, cfg.Demo = []og.Merchant{acme}, false
	if _, err := sandbox.Start(t.Context(), cfg, sandbox.Options{}); err == nil || !strings.Contains(err.Error(), "merchant acme: catalogue") {
		t.Fatalf("missing catalogue: %v", err)
	}
}

// A restart does not load the catalogue file again when it has not changed: what feeds did
// since stays (a price, stock), and nothing is discontinued twice (F3). A changed file, and a
// reset, load it again.
func TestCatalogueIsNotLoadedAgainAtRestart(t *testing.T) {
	dir := t.TempDir()
	priceOf := func(sb *sandbox.Sandbox, id string) (string, int) {
		var ps []og.Product
		do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/products", nil).JSON(t, &ps)
		for _, p := range ps {
			if p.ProductID == id {
				return p.Price.String(), len(ps)
			}
		}
		t.Fatalf("no product %s", id)
		return "", 0
	}
	catalogueLoads := func(sb *sandbox.Sandbox) int {
		var fs []og.FeedReport
		do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/feeds", nil).JSON(t, &fs)
		n := 0
		for _, f := range fs {
			if f.Via == og.FeedViaCatalogue {
				n++
			}
		}
		return n
	}
	sb := sandboxtest.StartIn(t, dir)
	demoPrice, _ := priceOf(sb, "DF-30")
	r := do(t, "PUT", sb.URL()+"/_sandbox/merchants/"+demoID+"/products",
		`[{"product_id":"DF-30","sku":"DF-30-LB","name":"Dog Food 30 lb","price":"77.77","in_stock":1,"autoship_eligible":1}]`)
	if r.Status != 200 {
		t.Fatalf("PUT products: %d %s", r.Status, r.Body)
	}
	sb.Close()
	sb = sandboxtest.StartIn(t, dir)
	if price, _ := priceOf(sb, "DF-30"); price != "77.77" || catalogueLoads(sb) != 1 {
		t.Fatalf("after a restart DF-30 costs %s (want 77.77, as the products PUT left it) and the catalogue was loaded %d times (want 1)", price, catalogueLoads(sb))
	}
	do(t, "POST", sb.URL()+"/_sandbox/reset", nil)
	if price, _ := priceOf(sb, "DF-30"); price != demoPrice {
		t.Fatalf("after a reset DF-30 costs %s, want the catalogue's %s", price, demoPrice)
	}
}

// A catalogue file changed between runs is loaded at the next start.
func TestChangedCatalogueIsLoadedAtRestart(t *testing.T) {
	dir := t.TempDir()
	feed := filepath.Join(dir, "products.xml")
	product := func(id string) string {
		return `<product><name>Widget</name><product_id>` + id + `</product_id><sku>` + id + `</sku><price>2.00</price><in_stock>1</in_stock></product>`
	}
	withCatalogue := func(c *config.Config) { c.Merchants[0].Catalogue = feed }
	os.WriteFile(feed, []byte(`<products>`+product("W-1")+`</products>`), 0o600)
	sb := sandboxtest.StartIn(t, filepath.Join(dir, "data"), withCatalogue)
	sb.Close()
	os.WriteFile(feed, []byte(`<products>`+product("W-1")+product("W-2")+`</products>`), 0o600)
	sb = sandboxtest.StartIn(t, filepath.Join(dir, "data"), withCatalogue)
	var ps []og.Product
	do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/products", nil).JSON(t, &ps)
	found := false
	for _, p := range ps {
		found = found || p.ProductID == "W-2"
	}
	if !found {
		t.Fatal("the product added to the catalogue file was not loaded at the restart")
	}
}

// Every listing of a merchant refuses a query parameter it does not take, naming it: a
// misspelt filter would otherwise list everything, as if it matched.
func TestMerchantListingsRefuseUnknownParameters(t *testing.T) {
	sb := sandboxtest.Start(t)
	for _, path := range []string{"subscriptions", "customers", "orders", "products", "categories", "feeds", "emails", "checks"} {
		r := do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/"+path+"?colour=red", nil)
		var e struct{ Error, Field, Expected string }
		r.JSON(t, &e)
		if r.Status != 400 || e.Field != "colour" || e.Expected == "" {
			t.Errorf("GET %s?colour=red: %d %s", path, r.Status, r.Body)
		}
	}
	// A filter given twice, or empty, would have used one value, or listed everything.
	for _, q := range []string{"subscriptions?customer=a&customer=b", "subscriptions?customer=", "customers?customer=", "orders?status=", "orders?subscription=x&subscription=y"} {
		r := do(t, "GET", sb.URL()+"/_sandbox/merchants/"+demoID+"/"+q, nil)
		var e struct{ Error, Field, Expected string }
		r.JSON(t, &e)
		if want, _, _ := strings.Cut(q[strings.Index(q, "?")+1:], "="); r.Status != 400 || e.Field != want || e.Expected == "" {
			t.Errorf("GET %s: %d %s", q, r.Status, r.Body)
		}
	}
	// The journal's cursor may be empty: the first page.
	if r := do(t, "GET", sb.URL()+"/_sandbox/journal?cursor=", nil); r.Status != 200 {
		t.Errorf("GET journal?cursor=: %d %s", r.Status, r.Body)
	}
}

// F6, C1 through the control API's products PUT (a feed XML body, validated as a feed): a
// default frequency no checkout could take is refused on its field; a feed declaring Latin-1
// with a byte order mark is read when its text is ASCII.
func TestProductsPUTReadsFeedsAsTheDropSiteDoes(t *testing.T) {
	sb := sandboxtest.Start(t)
	url := sb.URL() + "/_sandbox/merchants/" + demoID + "/products"
	product := func(id, extra string) string {
		return `<product><name><![CDATA[Widget]]></name><product_id>` + id + `</product_id><sku>` + id + `</sku><price>2.00</price><in_stock>1</in_stock>` + extra + `</product>`
	}
	r := do(t, "PUT", url, "\xef\xbb\xbf"+`<?xml version="1.0" encoding="ISO-8859-1"?><products>`+product("L-1", "")+`</products>`)
	if r.Status != 200 || strings.Contains(string(r.Body), "outside any") {
		t.Fatalf("an ASCII feed declaring Latin-1, with a byte order mark: %d %s", r.Status, r.Body)
	}
	r = do(t, "PUT", url, `<products>`+product("F-1", "<every>9999999999</every><every_period>4</every_period>")+`</products>`)
	if r.Status != 400 || !strings.Contains(string(r.Body), `"rule":"F6"`) || !strings.Contains(string(r.Body), "ten years") {
		t.Fatalf("a default frequency over ten years: %d %s", r.Status, r.Body)
	}
	// F2, F3 through the surface: a bad every and a bad every_period each have their finding;
	// an empty optional autoship_eligible means what leaving it out means; a discontinued
	// product naming itself as its replacement is warned about with its line.
	r = do(t, "PUT", url, "<products>\n"+
		product("E-1", "<every>0</every><every_period>9</every_period>")+"\n"+
		product("E-2", "<autoship_eligible></autoship_eligible>")+"\n"+
		`<product><name><![CDATA[Old]]></name><product_id>E-3</product_id><sku>E-3</sku><price>2.00</price><in_stock>0</in_stock><autoship_eligible>0</autoship_eligible><discontinued>1</discontinued>`+
		`<relationships><relationship><name>discontinued_replacement</name><related><product_id>E-3</product_id></related></relationship></relationships></product>`+"\n</products>")
	var rep og.FeedReport
	r.JSON(t, &rep)
	found := map[string]int{}
	for _, f := range rep.Findings {
		found[f.Rule+" "+f.Field[strings.LastIndex(f.Field, ".")+1:]] = f.Line
	}
	if found["F2 every"] != 2 || found["F2 every_period"] != 2 || found["F2 autoship_eligible"] != 3 || found["F3 relationships"] != 4 {
		t.Fatalf("findings of a feed PUT: %+v", rep.Findings)
	}
	var ps []og.Product
	do(t, "GET", url, nil).JSON(t, &ps)
	for _, p := range ps {
		if p.ProductID == "E-2" && !p.AutoshipEligible {
			t.Fatalf("an empty autoship_eligible was read as 0: %+v", p)
		}
	}
	// A feed saved as UTF-16 (Windows' "Unicode") is refused for it (C1), as over SFTP.
	utf16 := []byte{0xFF, 0xFE}
	for _, b := range []byte(`<products>` + product("U-1", "") + `</products>`) {
		utf16 = append(utf16, b, 0)
	}
	r = do(t, "PUT", url, string(utf16))
	if r.Status != 400 || !strings.Contains(string(r.Body), `"rule":"C1"`) || !strings.Contains(string(r.Body), "not UTF-8") {
		t.Fatalf("a UTF-16 feed: %d %s", r.Status, r.Body)
	}
}
