package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/internal/golden"
)

const docKey = "Mt!ZQ45q&GHsgiRD8{NB-_h87#rjvbn0"

// binary is the ogsandbox binary the process-level tests run, built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ogsandbox-bin-*")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "ogsandbox")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build ogsandbox: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs the program in-process.
func run(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	code = m.Run(t.Context(), args)
	return code, out.String(), errb.String()
}

func TestSignPrintsSignatureHeaderAndCookie(t *testing.T) {
	code, out, errs := run(t, nil, "sign", "--key", docKey, "--user", "123456789", "--ts", "1516309285", "--public-id", "9d0e5d6c3a1211ecb9090242ac120002")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	golden.Assert(t, "sign", []byte(out))
	if !strings.Contains(out, "0nQ1KznESueBlFHYRebLpoKih6fkHt0cXC8Ens8eoWk=") {
		t.Fatal("sign does not print the A1 test vector's signature")
	}
	// Every flag reads OGSANDBOX_<FLAG>.
	code, out2, _ := run(t, map[string]string{"OGSANDBOX_KEY": docKey, "OGSANDBOX_USER": "123456789", "OGSANDBOX_TS": "1516309285", "OGSANDBOX_PUBLIC_ID": "9d0e5d6c3a1211ecb9090242ac120002"}, "sign")
	if code != 0 || out2 != out {
		t.Fatalf("sign from the environment: exit %d\n%s", code, out2)
	}
	if errs != "" {
		t.Fatalf("a 10-digit ts warned: %s", errs)
	}
	// A ts in milliseconds (A2) is signed all the same, with a warning.
	code, _, errs = run(t, nil, "sign", "--key", docKey, "--user", "u", "--ts", "1516309285000")
	if code != 0 || !strings.Contains(errs, "warning (A2): --ts 1516309285000 has 13 digits") {
		t.Fatalf("a 13-digit ts: exit %d: %s", code, errs)
	}
	code, _, errs = run(t, nil, "encrypt", "--key", docKey, "José")
	if code != 0 || !strings.Contains(errs, "warning (C1): TEXT has non-ASCII characters (byte 3)") {
		t.Fatalf("encrypting non-ASCII text: exit %d: %s", code, errs)
	}
}

func TestEncryptDecrypt(t *testing.T) {
	code, out, _ := run(t, nil, "encrypt", "--key", docKey, "12/2099")
	if code != 0 || strings.TrimSpace(out) != "kwWZ/53+x32tmofPBfCppQzDFDlnWL9lCXQ/q5nFNdk=" {
		t.Fatalf("encrypt: %d %q", code, out)
	}
	code, out, _ = run(t, nil, "encrypt", "--url-encode", "--key", docKey, "12/2099")
	if code != 0 || strings.TrimSpace(out) != "kwWZ%2F53%2Bx32tmofPBfCppQzDFDlnWL9lCXQ%2Fq5nFNdk%3D" {
		t.Fatalf("encrypt --url-encode: %d %q", code, out)
	}
	for _, ct := range []string{"kwWZ/53+x32tmofPBfCppQzDFDlnWL9lCXQ/q5nFNdk=", "kwWZ%2F53%2Bx32tmofPBfCppQzDFDlnWL9lCXQ%2Fq5nFNdk%3D"} {
		code, out, _ = run(t, nil, "decrypt", "--key", docKey, ct)
		if code != 0 || strings.TrimSpace(out) != "12/2099" {
			t.Fatalf("decrypt %s: %d %q", ct, code, out)
		}
	}
	code, _, errs := run(t, nil, "decrypt", "--key", strings.Repeat("k", 32), "kwWZ/53+x32tmofPBfCppQzDFDlnWL9lCXQ/q5nFNdk=")
	if code != 1 || !strings.Contains(errs, "E1: ") || !strings.Contains(errs, "another key") {
		t.Fatalf("decrypt with the wrong key: %d %s", code, errs)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sign", "--user", "u"}, "--key is required"},
		{[]string{"sign", "--key", "short", "--user", "u"}, "exactly 32 bytes"},
		{[]string{"encrypt", "--key", docKey}, "exactly one TEXT"},
		{[]string{"clock", "advance", "-1d"}, "only moves forward"},
		{[]string{"clock", "advance", "soon"}, "cannot parse"},
		{[]string{"clock", "rewind"}, "unknown clock subcommand"},
		{[]string{"serve", "--listen", "nowhere"}, "listen"},
		{[]string{"fly"}, "unknown command"},
	} {
		code, _, errs := run(t, nil, tc.args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want an error containing %q", tc.args, code, errs, tc.want)
		}
	}
	if code, out, _ := run(t, nil, "help"); code != 0 || !strings.Contains(out, "ogsandbox serve") {
		t.Errorf("help: %d %s", code, out)
	}
}

// syncBuffer is a buffer written by one goroutine and read by another.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// serveInProcess runs `serve` on free ports in a temporary data_dir and returns its base URL.
func serveInProcess(t *testing.T, extraArgs ...string) (base string, out *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out = &syncBuffer{}
	ready := make(chan string, 1)
	m := &Main{Stdout: out, Stderr: out, Getenv: func(string) string { return "" }, Ready: func(u string) { ready <- u }}
	done := make(chan int, 1)
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--sftp-listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, extraArgs...)
	go func() { done <- m.Run(ctx, args) }()
	select {
	case base = <-ready:
	case code := <-done:
		t.Fatalf("serve exited %d: %s", code, out)
	case <-time.After(10 * time.Second):
		t.Fatalf("serve not ready: %s", out)
	}
	var once sync.Once
	code := 0
	stop = func() int {
		once.Do(func() { cancel(); code = <-done })
		return code
	}
	t.Cleanup(func() { stop() })
	return base, out, stop
}

func TestServeBannerAndClockCommands(t *testing.T) {
	base, out, stop := serveInProcess(t)
	banner := out.String()
	for _, want := range []string{"ready", "0e5de2bedc5e11e3a2e4bc764e106cf4", "9d0e5d6c3a1211ecb9090242ac120002", docKey, "demo-api-key-0e5de2bedc5e11e3", base + "/subscription/create", "(real time)"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	if code, out, errs := run(t, nil, "health", "--url", base); code != 0 || !strings.Contains(out, `"status":"ready"`) {
		t.Fatalf("health: %d %s %s", code, out, errs)
	}
	code, adv, errs := run(t, nil, "clock", "advance", "30d", "--url", base)
	if code != 0 || !strings.Contains(adv, "0 placement runs") {
		t.Fatalf("clock advance: %d %s %s", code, adv, errs)
	}
	code, now, _ := run(t, map[string]string{"OGSANDBOX_URL": base}, "clock", "now")
	if code != 0 || !strings.Contains(now, "offset 30d") {
		t.Fatalf("clock now: %d %s", code, now)
	}
	// With no --url, the commands go where serve would listen with the same environment: a CI
	// job that exports OGSANDBOX_LISTEN or OGSANDBOX_CONFIG once reaches the sandbox it started.
	addr := strings.TrimPrefix(base, "http://")
	_, port, _ := net.SplitHostPort(addr)
	if code, out, errs := run(t, map[string]string{"OGSANDBOX_LISTEN": "0.0.0.0:" + port}, "health"); code != 0 || !strings.Contains(out, `"status":"ready"`) {
		t.Fatalf("health with OGSANDBOX_LISTEN: %d %s %s", code, out, errs)
	}
	cfg := filepath.Join(t.TempDir(), "ogsandbox.yaml")
	if err := os.WriteFile(cfg, []byte("listen: "+addr+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, now, errs := run(t, map[string]string{"OGSANDBOX_CONFIG": cfg}, "clock", "now"); code != 0 || !strings.Contains(now, "offset 30d") {
		t.Fatalf("clock now with OGSANDBOX_CONFIG: %d %s %s", code, now, errs)
	}
	code, _, errs = run(t, nil, "clock", "advance", "2000-01-01T00:00:00Z", "--url", base)
	if code != 1 || !strings.Contains(errs, "only moves forward") {
		t.Fatalf("clock advance backwards: %d %s", code, errs)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d after its context ended: %s", code, out)
	}
	if !strings.Contains(out.String(), "stopped; state saved in") {
		t.Fatalf("no shutdown message: %s", out)
	}
	if code, _, errs := run(t, nil, "clock", "now", "--url", base); code != 1 || !strings.Contains(errs, "is a sandbox running") {
		t.Fatalf("clock now against a stopped sandbox: %d %s", code, errs)
	}
	if code, _, errs := run(t, nil, "health", "--url", base, "--wait", "200ms"); code != 1 || !strings.Contains(errs, "no ready sandbox") {
		t.Fatalf("health of a stopped sandbox: %d %s", code, errs)
	}
}

// proc is the binary running as a child process.
type proc struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	base   string
	waited chan struct{} // closed when the process has exited
	err    error
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startBinary starts `ogsandbox serve` with env and waits for its banner.
func startBinary(t *testing.T, dir string, env ...string) *proc {
	t.Helper()
	p := startBinaryNoWait(t, dir, env...)
	deadline := time.After(10 * time.Second)
	for p.base == "" {
		select {
		case <-p.waited:
			t.Fatalf("ogsandbox exited (%v):\n%s", p.err, p.out)
		case <-deadline:
			t.Fatalf("ogsandbox not ready:\n%s", p.out)
		case <-time.After(10 * time.Millisecond):
		}
		sc := bufio.NewScanner(strings.NewReader(p.out.String()))
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "base" && f[1] == "URL" {
				p.base = f[2]
			}
		}
	}
	return p
}

func startBinaryNoWait(t *testing.T, dir string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"OGSANDBOX_LISTEN=" + freePort(t), "OGSANDBOX_SFTP_LISTEN=" + freePort(t)}, env...)...)
	p := &proc{cmd: cmd, out: &syncBuffer{}, waited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.waited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		select {
		case <-p.waited:
		case <-time.After(5 * time.Second):
		}
	})
	return p
}

func (p *proc) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.waited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("ogsandbox still running after %v:\n%s", within, p.out)
		return -1
	}
}

func TestBinaryStopsCleanlyOnSIGTERMAndSIGINT(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			p := startBinary(t, dir)
			resp, err := http.Post(p.base+"/_sandbox/clock/advance", "application/json", strings.NewReader(`{"by":"45d"}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			// Journal entries are written behind the answer: a clean close commits them.
			for i := range 20 {
				resp, err := http.Post(p.base+"/no/such/path/"+fmt.Sprint(i), "application/json", strings.NewReader(`{}`))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			p.cmd.Process.Signal(sig)
			if code := p.wait(t, 15*time.Second); code != 0 {
				t.Fatalf("exit %d after %v:\n%s", code, sig, p.out)
			}
			if !strings.Contains(p.out.String(), "stopped; state saved in .ogsandbox") {
				t.Fatalf("output:\n%s", p.out)
			}
			// The database was closed cleanly: a new instance opens it at once and the clock
			// is where it was left.
			q := startBinary(t, dir)
			resp, err = http.Get(q.base + "/_sandbox/clock")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), `"offset":"45d`) {
				t.Fatalf("clock after restart: %s", body)
			}
			resp, err = http.Get(q.base + "/_sandbox/journal?limit=100")
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if n := strings.Count(string(body), `"url":"/no/such/path/`); n != 20 {
				t.Fatalf("the journal kept %d of the 20 exchanges answered before %v", n, sig)
			}
		})
	}
}

func TestBinarySecondInstanceFailsNamingTheLock(t *testing.T) {
	dir := t.TempDir()
	first := startBinary(t, dir)
	start := time.Now()
	second := startBinaryNoWait(t, dir)
	code := second.wait(t, 5*time.Second)
	took := time.Since(start)
	out := second.out.String()
	if code != 1 || !strings.Contains(out, "holds the lock") || !strings.Contains(out, fmt.Sprintf("pid %d", first.cmd.Process.Pid)) {
		t.Fatalf("second instance: exit %d:\n%s", code, out)
	}
	if took > 3*time.Second { // a second of lock wait, plus process start-up on a loaded machine
		t.Fatalf("second instance took %v to give up", took)
	}
}

func TestBinaryRefusesABadConfigurationNamingFileLineAndKey(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ogsandbox.yaml")
	os.WriteFile(cfg, []byte("merchants:\n  - merchant_id: acme\n    hash_key: \"too-short\"\n    timezone: Mars/Base\n"), 0o600)
	p := startBinaryNoWait(t, dir, "OGSANDBOX_CONFIG="+cfg)
	if code := p.wait(t, 10*time.Second); code != 1 {
		t.Fatalf("exit %d:\n%s", code, p.out)
	}
	for _, want := range []string{cfg + ":3: merchants[0].hash_key", cfg + ":4: merchants[0].timezone"} {
		if !strings.Contains(p.out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, p.out)
		}
	}
}

func TestBinaryPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := startBinaryNoWait(t, t.TempDir(), "OGSANDBOX_LISTEN="+ln.Addr().String())
	if code := p.wait(t, 10*time.Second); code != 1 || !strings.Contains(p.out.String(), "env OGSANDBOX_LISTEN: listen: "+ln.Addr().String()+" is already in use") {
		t.Fatalf("exit %d:\n%s", code, p.out)
	}
}

func TestBinaryEphemeral(t *testing.T) {
	dir := t.TempDir()
	p := startBinary(t, dir, "OGSANDBOX_EPHEMERAL=1")
	var tmp string
	for _, line := range strings.Split(p.out.String(), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "data_dir" {
			tmp = f[1]
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "ogsandbox.db")); err != nil {
		t.Fatalf("ephemeral data_dir %q from the banner: %v\n%s", tmp, err, p.out)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.out)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("the ephemeral data_dir %s survived the exit: %v", tmp, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".ogsandbox")); !os.IsNotExist(err) {
		t.Fatal("--ephemeral wrote to ./.ogsandbox")
	}
}

func TestPrintConfigMasksSecrets(t *testing.T) {
	code, out, _ := run(t, nil, "serve", "--print-config")
	if code != 0 || !strings.Contains(out, "merchant_id: 0e5de2bedc5e11e3a2e4bc764e106cf4") || strings.Contains(out, docKey) || strings.Contains(out, "petstore-sftp") {
		t.Fatalf("print-config: %d\n%s", code, out)
	}
	if !strings.Contains(out, "\njournal_max_bytes: 64MiB\n") {
		t.Fatalf("print-config does not show the journal's default cap:\n%s", out)
	}
	cfg := filepath.Join(t.TempDir(), "ogsandbox.yaml")
	os.WriteFile(cfg, []byte("journal_max_bytes: 5000000\n"), 0o600)
	if code, out, _ := run(t, nil, "serve", "--config", cfg, "--print-config"); code != 0 || !strings.Contains(out, "\njournal_max_bytes: 5000000\n") {
		t.Fatalf("print-config with journal_max_bytes: 5000000: %d\n%s", code, out)
	}
	// --ephemeral does not use data_dir: the printed configuration says what it uses.
	if code, out, _ := run(t, nil, "serve", "--ephemeral", "--data-dir", "./keepme", "--print-config"); code != 0 || strings.Contains(out, "keepme") || !strings.Contains(out, "data_dir: a new temporary directory") {
		t.Fatalf("print-config with --ephemeral: %d\n%s", code, out)
	}
}

// With tls: auto, the command-line tools trust the generated certificate through --cacert.
func TestHealthOverAutoTLS(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ogsandbox.yaml")
	os.WriteFile(cfg, []byte("tls: auto\n"), 0o600)
	base, _, _ := serveInProcess(t, "--config", cfg, "--data-dir", filepath.Join(dir, ".ogsandbox"))
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("base %s", base)
	}
	if code, _, errs := run(t, nil, "health", "--url", base); code == 0 || !strings.Contains(errs, "--cacert") {
		t.Fatalf("health trusted an unknown certificate, or did not say to use --cacert: %s", errs)
	}
	cert := filepath.Join(dir, ".ogsandbox", "tls-cert.pem")
	if code, out, errs := run(t, map[string]string{"OGSANDBOX_CACERT": cert}, "health", "--url", base); code != 0 || !strings.Contains(out, "ready") {
		t.Fatalf("health --cacert: %d %s %s", code, out, errs)
	}
	// With no --url, the configuration serve would use gives the address, https, and the
	// certificate tls: auto wrote in its data_dir.
	env := map[string]string{"OGSANDBOX_CONFIG": cfg, "OGSANDBOX_LISTEN": strings.TrimPrefix(base, "https://"), "OGSANDBOX_DATA_DIR": filepath.Join(dir, ".ogsandbox")}
	if code, out, errs := run(t, env, "health"); code != 0 || !strings.Contains(out, "ready") {
		t.Fatalf("health from the configuration: %d %s %s", code, out, errs)
	}
	// A configuration that does not load is said, not silently replaced by the default.
	broken := filepath.Join(dir, "broken.yaml")
	os.WriteFile(broken, []byte("listen: [\n"), 0o600)
	if code, _, errs := run(t, map[string]string{"OGSANDBOX_CONFIG": broken}, "health"); code == 0 || !strings.Contains(errs, "does not load") {
		t.Fatalf("health with a broken configuration: %d %s", code, errs)
	}
}

// The reference merchant on its own port answers an order the sandbox signed.
func TestMerchantCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &syncBuffer{}
	addr := freePort(t)
	m := &Main{Stdout: out, Stderr: out, Getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() { done <- m.Run(ctx, []string{"merchant", "--listen", addr}) }()
	var resp *http.Response
	var err error
	for range 100 {
		if resp, err = http.Post("http://"+addr+"/orders", "text/xml", strings.NewReader("<order/>")); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("a text/xml POST: %d, want 415 (O2: application/xml exactly)", resp.StatusCode)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("merchant exited %d: %s", code, out)
	}
}

// `feed check` prints the report a drop on the SFTP site would get and exits 1 on errors.
func TestFeedCheck(t *testing.T) {
	code, out, errs := run(t, nil, "feed", "check", "../../emulator/feed/testdata/mixed.Products.xml")
	if code != 1 || !strings.Contains(errs, "8 errors: 7 of 9 entries would be refused") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	golden.Assert(t, "feed_check_mixed.txt", []byte(strings.ReplaceAll(out, "../../emulator/feed/testdata/", "")))
	code, out, errs = run(t, nil, "feed", "check", "../../emulator/sandbox/demo/Products.xml")
	if code != 0 || !strings.Contains(out, "8 products read: 8 accepted, 0 refused") {
		t.Fatalf("the demo catalogue: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = run(t, nil, "feed", "check", "--json", "../../emulator/feed/testdata/mixed.ProductCategories.xml")
	var rep og.FeedReport
	if code != 1 || json.Unmarshal([]byte(out), &rep) != nil || rep.Kind != "categories" || rep.Accepted != 4 {
		t.Fatalf("categories as JSON: exit %d\n%s", code, out)
	}
	if code, _, errs := run(t, nil, "feed", "check"); code != 2 || !strings.Contains(errs, "usage: ogsandbox feed") {
		t.Fatalf("no file: exit %d %s", code, errs)
	}
	if code, _, errs := run(t, nil, "feed", "check", "/nonexistent.xml"); code != 1 || !strings.Contains(errs, "no such file") {
		t.Fatalf("missing file: exit %d %s", code, errs)
	}
}
