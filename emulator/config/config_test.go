package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const key = "Mt!ZQ45q&GHsgiRD8{NB-_h87#rjvbn0"

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ogsandbox.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadDefaultsToTheDemoMerchant(t *testing.T) {
	c, err := Load(nil, env())
	if err != nil {
		t.Fatal(err)
	}
	if !c.Demo || len(c.Merchants) != 1 || c.Listen != DefaultListen || c.SFTPListen != DefaultSFTPListen || c.DataDir != DefaultDataDir {
		t.Fatalf("default config: %+v", c)
	}
	m := c.Merchants[0]
	if m.HashKey != key || m.Location == nil || m.SFTP.Username != "petstore" || m.Placement.Method != "api" {
		t.Fatalf("demo merchant: %+v", m)
	}
}

func TestLoadPrecedence(t *testing.T) {
	file := writeFile(t, "listen: 127.0.0.1:9001\nsftp_listen: 127.0.0.1:9002\n")
	for _, tc := range []struct {
		name        string
		args        []string
		env         func(string) string
		listen, org string
	}{
		{"file", []string{"--config", file}, env(), "127.0.0.1:9001", file + ":1"},
		{"env_config", nil, env("OGSANDBOX_CONFIG", file), "127.0.0.1:9001", file + ":1"},
		{"env_over_file", []string{"--config", file}, env("OGSANDBOX_LISTEN", "127.0.0.1:9003"), "127.0.0.1:9003", "env OGSANDBOX_LISTEN"},
		{"flag_over_env", []string{"--config", file, "--listen", "127.0.0.1:9004"}, env("OGSANDBOX_LISTEN", "127.0.0.1:9003"), "127.0.0.1:9004", "flag --listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Listen != tc.listen || c.Origin("listen") != tc.org {
				t.Fatalf("listen %s from %s, want %s from %s", c.Listen, c.Origin("listen"), tc.listen, tc.org)
			}
		})
	}
	c, err := Load([]string{"--ephemeral"}, env("OGSANDBOX_DATA_DIR", "/tmp/x", "OGSANDBOX_CLOCK_START", "2026-01-05"))
	if err != nil || !c.Ephemeral || c.DataDir != "/tmp/x" || !c.ClockStart.Equal(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("flags and env: %+v, %v", c, err)
	}
	if c, err := Load(nil, env("OGSANDBOX_EPHEMERAL", "true")); err != nil || !c.Ephemeral {
		t.Fatalf("OGSANDBOX_EPHEMERAL=true: %+v %v", c.Ephemeral, err)
	}
}

func TestParseFullFile(t *testing.T) {
	p := writeFile(t, `listen: 127.0.0.1:8080          # every HTTP surface
sftp_listen: 127.0.0.1:2222
data_dir: ./state
clock_start: 2026-01-05T00:00:00Z
tls: auto
journal_max_bytes: 8MiB
merchants:
  - merchant_id: 0e5de2bedc5e11e3a2e4bc764e106cf4
    public_id: 9d0e5d6c3a1211ecb9090242ac120002
    name: Pet Store
    hash_key: "`+key+`"
    timezone: America/Chicago
    sftp: {username: petstore, password: petstore-sftp}
    api_keys: [k-123456]
    catalogue: ./products.xml
    placement:
      method: api
      url: http://127.0.0.1:9000/og/orders
      hours: [18, 6]
      timeout: 10s
    reminder_days: 5
`)
	dir := filepath.Dir(p)
	// The catalogue must be there: a missing one is refused with its line and key.
	if _, err := Load([]string{"--config", p}, env()); err == nil || !strings.Contains(err.Error(), "ogsandbox.yaml:15: merchants[0].catalogue: "+filepath.Join(dir, "products.xml")+" cannot be read") {
		t.Fatalf("a missing catalogue: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "products.xml"), []byte("<products/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load([]string{"--config", p}, env())
	if err != nil {
		t.Fatal(err)
	}
	m := c.Merchants[0]
	switch {
	case c.Demo:
		t.Error("a configured merchant still got the demo merchant")
	case c.DataDir != filepath.Join(dir, "state"):
		t.Errorf("data_dir %s, want it relative to the file", c.DataDir)
	case !c.ClockStart.Equal(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)):
		t.Errorf("clock_start %v", c.ClockStart)
	case !c.TLS.Auto():
		t.Errorf("tls %+v", c.TLS)
	case c.JournalMaxBytes != 8<<20:
		t.Errorf("journal_max_bytes %d", c.JournalMaxBytes)
	case m.Catalogue != filepath.Join(dir, "products.xml"):
		t.Errorf("catalogue %s", m.Catalogue)
	case m.Placement.Hours[0] != 6 || m.Placement.Hours[1] != 18 || m.Placement.Timeout != 10*time.Second:
		t.Errorf("placement %+v", m.Placement)
	case m.ReminderDays != 5 || m.Location.String() != "America/Chicago":
		t.Errorf("merchant %+v", m)
	}
}

// Every refusal names the file, the line and the key at fault.
func TestParseRefusals(t *testing.T) {
	good := func(id string) string {
		return "  - merchant_id: " + id + "\n    hash_key: \"" + key + "\"\n"
	}
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"M1/duplicate_merchant_id", "merchants:\n" + good("acme") + good("acme"),
			[]string{":4: merchants[1].merchant_id: duplicate merchant_id \"acme\" (first at ", ":2)"}},
		{"M1/hash_key_31_bytes", "merchants:\n  - merchant_id: acme\n    hash_key: \"" + key[:31] + "\"\n",
			[]string{":3: merchants[0].hash_key: a hash key is exactly 32 bytes", "got 31"}},
		{"M1/hash_key_cut_by_yaml_comment", "merchants:\n  - merchant_id: acme\n    hash_key: abc #def\n",
			[]string{":3: merchants[0].hash_key:", "quote it in YAML"}},
		{"M1/unknown_timezone", "merchants:\n  - merchant_id: acme\n    hash_key: \"" + key + "\"\n    timezone: Mars/Olympus\n",
			[]string{":4: merchants[0].timezone: unknown time zone \"Mars/Olympus\""}},
		{"config/unknown_key", "listen: 127.0.0.1:1\nlisten_port: 8080\n",
			[]string{":2: unknown key \"listen_port\"", "known keys here: listen, sftp_listen"}},
		{"config/unknown_merchant_key", "merchants:\n  - merchant_id: acme\n    hashkey: x\n",
			[]string{":3: unknown key \"hashkey\"", "hash_key"}},
		{"config/bad_listen", "listen: localhost\n", []string{":1: listen: \"localhost\" is not host:port"}},
		{"config/bad_port", "sftp_listen: 127.0.0.1:99999\n", []string{":1: sftp_listen: port \"99999\""}},
		{"config/bad_clock_start", "clock_start: next tuesday\n", []string{":1: clock_start: \"next tuesday\" is not an RFC 3339 time"}},
		{"config/list_for_a_string", "listen: [1, 2]\n", []string{":1: listen is a list, not a string"}},
		{"config/one_item_list_for_a_string", "listen: [1]\n", []string{":1: listen is a list, not a string"}},
		{"config/block_list_for_a_string", "listen:\n  - 1\n", []string{"listen is a list, not a string"}},
		{"config/type_error", "merchants:\n  - merchant_id: acme\n    hash_key: \"" + key + "\"\n    reminder_days: soon\n",
			[]string{":4: merchants[0].reminder_days is a string (`soon`), not a whole number"}},
		{"X2/secret_of_the_wrong_type_is_not_quoted", "merchants:\n  - merchant_id: acme\n    hash_key: \"" + key + "\"\n    api_keys: my-Secret-ApiKey-9999\n",
			[]string{":4: merchants[0].api_keys is a string (not shown: it may be a secret), not a list"}},
		{"X2/flow_style_secret_not_quoted", "merchants: [{merchant_id: acme, hash_key: \"" + key + "\", api_keys: Secr}]\n",
			[]string{":1: a value is a string (not shown: it may be a secret), not a list"}},
		{"X2/unknown_anchor_not_quoted", "merchants:\n" + good("a") + "    sftp: {username: u, password: *Secr3t}\n",
			[]string{"an alias (*name) names no anchor"}},
		{"X2/unparseable_url_password_masked", "merchants:\n  - merchant_id: acme\n    hash_key: \"" + key + "\"\n    placement: {url: \"http://u:Secrit@host:80x/o\"}\n",
			[]string{"\"http://xxxxx@host:80x/o\" is not an http:// or https:// URL"}},
		{"X2/duplicate_api_key_masked", "merchants:\n" + good("a") + "    api_keys: [Dup-Secret-Key-1234]\n" + good("b") + "    api_keys: [Dup-Secret-Key-1234]\n",
			[]string{"duplicate API key ****1234"}},
		{"X2/bad_url_password_masked", "merchants:\n  - merchant_id: acme\n    hash_key: \"" + key + "\"\n    placement: {url: \"ftp://u:TopSecretPw@host/x\"}\n",
			[]string{"\"ftp://u:xxxxx@host/x\" is not an http:// or https:// URL"}},
		{"config/unknown_placement_key", "merchants:\n  - merchant_id: acme\n    hash_key: \"" + key + "\"\n    placement: {methd: api}\n",
			[]string{":4: unknown key \"methd\" (known keys here: method, url, hours, timeout)"}},
		{"config/unknown_tls_key", "tls: {crt: a.pem}\n", []string{":1: unknown key \"crt\" under tls"}},
		{"config/tls_key_without_cert", "tls: {key: ./k.pem}\n", []string{":1: tls.cert:"}},
		{"config/null_merchant", "merchants:\n  - null\n" + good("a"), []string{":2: merchants: an empty (null) entry"}},
		{"config/local_timezone", "merchants:\n" + good("a") + "    timezone: Local\n", []string{":4: merchants[0].timezone: unknown time zone \"Local\""}},
		{"config/second_document", "listen: 127.0.0.1:8080\n---\nbogus: 1\n", []string{"a second YAML document"}},
		{"config/journal_cap_overflows", "journal_max_bytes: 99999999999GiB\n", []string{"more bytes than a size can hold"}},
		{"O1/hour_a_word", "merchants:\n  - merchant_id: acme\n    hash_key: \"" + key + "\"\n    placement: {hours: six}\n",
			[]string{":4: merchants[0].placement.hours: \"six\" is not a whole hour"}},
		{"O1/hour_a_fraction", "merchants:\n  - merchant_id: acme\n    hash_key: \"" + key + "\"\n    placement:\n      hours: [6.5]\n",
			[]string{":5: merchants[0].placement.hours: \"6.5\" is not a whole hour"}},
		{"O1/no_hours", "merchants:\n  - merchant_id: acme\n    hash_key: \"" + key + "\"\n    placement:\n      hours: []\n",
			[]string{":5: merchants[0].placement.hours: the list is empty"}},
		{"O1/hour_out_of_range", "merchants:\n  - merchant_id: acme\n    hash_key: \"" + key + "\"\n    placement:\n      hours: [6, 24]\n",
			[]string{":5: merchants[0].placement.hours[1]: 24 is not an hour"}},
		{"O2/bad_method", "merchants:\n  - merchant_id: acme\n    hash_key: \"" + key + "\"\n    placement: {method: email}\n",
			[]string{":4: merchants[0].placement.method: \"email\""}},
		{"O2/bad_url", "merchants:\n  - merchant_id: acme\n    hash_key: \"" + key + "\"\n    placement: {url: \"ftp://x\"}\n",
			[]string{"merchants[0].placement.url: \"ftp://x\" is not an http:// or https:// URL"}},
		{"config/bad_timeout", "merchants:\n  - merchant_id: acme\n    hash_key: \"" + key + "\"\n    placement: {timeout: soon}\n",
			[]string{"merchants[0].placement.timeout: \"soon\" is not a duration"}},
		{"config/bad_merchant_id", "merchants:\n  - merchant_id: \"_sandbox\"\n    hash_key: \"" + key + "\"\n",
			[]string{":2: merchants[0].merchant_id: \"_sandbox\""}},
		{"config/duplicate_sftp_user", "merchants:\n" + good("a") + "    sftp: {username: u}\n" + good("b") + "    sftp: {username: u}\n",
			[]string{"merchants[1].sftp.username: duplicate sftp username \"u\""}},
		{"X4/bad_authorized_key", "merchants:\n" + good("a") + "    sftp: {authorized_keys: [\"ssh-ed25519 AAAA... me\"]}\n",
			[]string{":4: merchants[0].sftp.authorized_keys[0]: not an OpenSSH public key"}},
		{"F1/bad_feed_pickup", "merchants:\n" + good("a") + "    feed_pickup: hourly\n",
			[]string{":4: merchants[0].feed_pickup: \"hourly\""}},
		{"config/tls_cert_without_key", "tls: {cert: ./c.pem}\n", []string{":1: tls.key:"}},
		{"config/tls_scalar", "tls: yes-please\n", []string{"tls is \"auto\""}},
		{"config/journal_cap_too_small", "journal_max_bytes: 1KiB\n", []string{":1: journal_max_bytes: 1024 bytes is under the journal's minimum"}},
		{"config/two_problems_at_once", "listen: x\nsftp_listen: y\n", []string{"2 problems", ":1: listen", ":2: sftp_listen"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.body)
			_, err := Load([]string{"--config", p}, env())
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nwant it to contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name the file", err)
			}
			if strings.Contains(err.Error(), "Secr") { // X2: the secrets above all hold it
				t.Errorf("error %q shows a secret", err)
			}
		})
	}
}

func TestLoadRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  func(string) string
		want string
	}{
		{[]string{"--listen", "nope"}, env(), "flag --listen: listen: \"nope\""},
		{nil, env("OGSANDBOX_SFTP_LISTEN", "1.2.3.4"), "env OGSANDBOX_SFTP_LISTEN: sftp_listen"},
		{nil, env("OGSANDBOX_CLOCK_START", "yesterday"), "env OGSANDBOX_CLOCK_START: clock_start"},
		{[]string{"--config", "/nonexistent/ogsandbox.yaml"}, env(), "flag --config"},
		{nil, env("OGSANDBOX_EPHEMERAL", "maybe"), "OGSANDBOX_EPHEMERAL"},
		{[]string{"extra"}, env(), "no arguments"},
		{[]string{"--nope"}, env(), "not defined"},
		{[]string{"--config", "/dev/zero"}, env(), "the file is"},
		{[]string{"--listen", "127.0.0.1:9000", "--sftp-listen", "127.0.0.1:9000"}, env(), "sftp_listen: 127.0.0.1:9000 is also listen's address"},
		{[]string{"--listen", "0.0.0.0:9000", "--sftp-listen", "127.0.0.1:9000"}, env(), "need a port each"},
		{[]string{"--listen", "127.0.0.1:9000", "--sftp-listen", "localhost:9000"}, env(), "need a port each"},
	} {
		_, err := Load(tc.args, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestEmptyFileServesTheDemoMerchant(t *testing.T) {
	for _, file := range []string{"# nothing yet\n", "merchants: []\n"} {
		c, err := Load([]string{"--config", writeFile(t, file)}, env())
		if err != nil || !c.Demo || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "the demo merchant is served, whose ids and keys are public") {
			t.Fatalf("%q: demo=%v, warnings %q, %v", file, c.Demo, c.Warnings, err)
		}
	}
	// Ports 0 are the system's to choose: two of them are not a clash.
	if _, err := Load([]string{"--listen", "127.0.0.1:0", "--sftp-listen", "127.0.0.1:0"}, env()); err != nil {
		t.Fatalf("two ports 0: %v", err)
	}
}

func TestO1_WarnsAboutAvoidedFirstHour(t *testing.T) {
	c, err := Load([]string{"--config", writeFile(t, "merchants:\n  - merchant_id: acme\n    hash_key: \""+key+"\"\n    placement: {hours: [2, 9]}\n")}, env())
	if err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "O1") {
		t.Fatalf("warnings %v, %v", c.Warnings, err)
	}
}

// X2: printed configuration masks every secret.
func TestX2_MaskedHidesSecrets(t *testing.T) {
	c := Default()
	out := c.Masked()
	m := c.Merchants[0]
	for _, secret := range []string{m.HashKey, m.SFTP.Password, m.APIKeys[0], `"****` + m.HashKey[len(m.HashKey)-4:]} { // hash keys and passwords entirely
		if strings.Contains(out, secret) {
			t.Errorf("printed configuration shows a secret:\n%s", out)
		}
	}
	if !strings.Contains(out, m.ID) || !strings.Contains(out, "****") {
		t.Errorf("printed configuration:\n%s", out)
	}
}

// The configuration example of README.md is a valid configuration: the docs stay true.
func TestREADMEConfigurationExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "`ogsandbox serve --config ogsandbox.yaml`, with the file of CONTROL.md:\n\n```yaml\n")
	body, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatal("README.md no longer has its configuration example where this test looks")
	}
	c, err := Parse(filepath.Join(t.TempDir(), "ogsandbox.yaml"), []byte(body))
	if err != nil {
		t.Fatalf("README's configuration example is refused: %v", err)
	}
	m := c.Merchants[0]
	if len(m.SFTP.AuthorizedKeys) != 1 || m.FeedPickup != "upload" || m.Placement.URL == "" {
		t.Fatalf("README's merchant: %+v", m)
	}
}

// O1: placement hours may be written as one number or as quoted numbers.
func TestHoursForms(t *testing.T) {
	for body, want := range map[string]string{
		"hours: 18":             "[18]",
		"hours: [\"6\", 18]":    "[6 18]",
		"hours: [23, 0]":        "[0 23]",
		"hours:\n        - 7\n": "[7]",
	} {
		c, err := Parse("f.yaml", []byte("merchants:\n  - merchant_id: acme\n    hash_key: \""+key+"\"\n    placement:\n      "+body+"\n"))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if got := fmt.Sprint(c.Merchants[0].Placement.Hours); got != want {
			t.Errorf("%s: hours %s, want %s", body, got, want)
		}
	}
}

// O1: placement hours may come through YAML aliases, a whole list or one hour.
func TestHoursThroughAliases(t *testing.T) {
	c, err := Parse("f.yaml", []byte("merchants:\n"+
		"  - {merchant_id: a, hash_key: \""+key+"\", placement: {hours: &h [6, &eve 18]}}\n"+
		"  - {merchant_id: b, hash_key: \""+key+"\", placement: {hours: *h}, sftp: {username: b}}\n"+
		"  - {merchant_id: c, hash_key: \""+key+"\", placement: {hours: [*eve, 7]}, sftp: {username: c}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range c.Merchants {
		got = append(got, fmt.Sprint(m.Placement.Hours))
	}
	if strings.Join(got, " ") != "[6 18] [6 18] [7 18]" {
		t.Fatalf("hours %v", got)
	}
}

// X2, O2: a placement URL with a user and password is accepted with a warning that they are
// never sent (the Authorization header carries the O2 signature).
func TestPlacementURLCredentialsAreWarnedAbout(t *testing.T) {
	c, err := Load([]string{"--config", writeFile(t, "merchants:\n  - merchant_id: acme\n    hash_key: \""+key+"\"\n    placement: {url: \"http://bot:pw@127.0.0.1:9000/orders\"}\n")}, env())
	if err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "never sent") || strings.Contains(c.Warnings[0], "pw@") {
		t.Fatalf("warnings %v, %v", c.Warnings, err)
	}
}

// Settings that do nothing are accepted with a warning: a batch merchant's URL, a drop site
// nobody can log in to.
func TestWarningsForSettingsThatDoNothing(t *testing.T) {
	c, err := Load([]string{"--config", writeFile(t, "merchants:\n  - merchant_id: acme\n    hash_key: \""+key+"\"\n    placement: {method: batch, url: \"http://127.0.0.1:9000/x\"}\n    sftp: {username: u}\n")}, env())
	if err != nil || len(c.Warnings) != 2 || !strings.Contains(c.Warnings[0], "the URL is not used") || !strings.Contains(c.Warnings[1], "nobody can log in") {
		t.Fatalf("warnings %q, %v", c.Warnings, err)
	}
}

// A boolean setting from the environment that is not one says what it takes.
func TestEnvBooleanRefusal(t *testing.T) {
	_, err := Load(nil, func(k string) string {
		if k == "OGSANDBOX_EPHEMERAL" {
			return "maybe"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), `OGSANDBOX_EPHEMERAL="maybe": not a boolean: use true or false`) {
		t.Fatalf("%v", err)
	}
}

// Valid YAML shapes still read: a trailing document marker, tls values through an alias.
func TestParseAcceptsYAMLShapes(t *testing.T) {
	for name, body := range map[string]string{
		"trailing_document_marker": "listen: 127.0.0.1:8080\n---\n",
		"trailing_marker_comment":  "listen: 127.0.0.1:8080\n---\n# nothing\n",
		"tls_through_an_alias":     "data_dir: &d ./c.pem\ntls: {cert: *d, key: *d}\n",
	} {
		c, err := Parse(filepath.Join(t.TempDir(), "ogsandbox.yaml"), []byte(body))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if name == "tls_through_an_alias" && !strings.HasSuffix(c.TLS.Cert, "c.pem") {
			t.Errorf("tls.cert through an alias: %q", c.TLS.Cert)
		}
	}
}
