package sftpd_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox/sandboxtest"
	"github.com/ogsandbox/ogsandbox/emulator/sftpd"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// wall is a settable wall clock (X4's lockout is timed on it).
type wall struct {
	mu sync.Mutex
	t  time.Time
}

func (w *wall) Now() time.Time  { return w.Wall() }
func (w *wall) Wall() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.t }
func (w *wall) add(d time.Duration) {
	w.mu.Lock()
	w.t = w.t.Add(d)
	w.mu.Unlock()
}

// drops records what the server hands on.
type drops struct {
	mu  sync.Mutex
	got []og.Dropped
}

func (d *drops) Dropped(_ context.Context, f og.Dropped) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, f)
	if strings.Contains(f.Path, "unreadable") {
		return "", errors.New("the store is full")
	}
	return "noted", nil
}

func (d *drops) list() []og.Dropped {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]og.Dropped(nil), d.got...)
}

// journal keeps entries in memory.
type journal struct {
	mu      sync.Mutex
	entries []og.JournalEntry
}

func (j *journal) Append(e og.JournalEntry) {
	j.mu.Lock()
	j.entries = append(j.entries, e)
	j.mu.Unlock()
}

func (j *journal) List(context.Context, og.JournalFilter) (og.JournalPage, error) {
	return og.JournalPage{}, nil
}

func (j *journal) notes() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	var b strings.Builder
	for _, e := range j.entries {
		b.WriteString(e.Note + "\n")
	}
	return b.String()
}

type fixture struct {
	srv     *sftpd.Server
	addr    string
	dir     string
	clock   *wall
	drops   *drops
	journal *journal
	keyA    ssh.Signer
}

// start serves two merchants: a (password and key) and b (password).
func start(t *testing.T, maxUpload int64) *fixture {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: t.TempDir(), clock: &wall{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, drops: &drops{}, journal: &journal{}, keyA: signer}
	ms := og.NewMerchants([]og.Merchant{
		{ID: "merchant-a", SFTP: og.SFTPLogin{Username: "alpha", Password: "alpha-pass", AuthorizedKeys: []string{string(ssh.MarshalAuthorizedKey(signer.PublicKey()))}}},
		{ID: "merchant-b", SFTP: og.SFTPLogin{Username: "bravo", Password: "bravo-pass"}},
	})
	f.srv = &sftpd.Server{
		Merchants: ms, Dir: filepath.Join(f.dir, "homes"), HostKeyFile: filepath.Join(f.dir, "host_key"),
		Drops: f.drops, Journal: f.journal, Clock: f.clock, Log: slog.New(slog.DiscardHandler), MaxUpload: maxUpload,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Start(ln); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.srv.Close() })
	f.addr = ln.Addr().String()
	return f
}

func (f *fixture) login(t *testing.T, user string, auth ssh.AuthMethod) *sftp.Client {
	t.Helper()
	c, conn, err := sandboxtest.DialSFTP(f.addr, user, auth)
	if err != nil {
		t.Fatalf("login as %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	return c
}

func TestLoginByPasswordAndKey(t *testing.T) {
	f := start(t, 0)
	c := f.login(t, "alpha", ssh.Password("alpha-pass"))
	names := list(t, c, "/")
	if names != "incoming,outgoing" {
		t.Fatalf("the home holds %q, want incoming and outgoing", names)
	}
	f.login(t, "alpha", ssh.PublicKeys(f.keyA))
	if _, _, err := sandboxtest.DialSFTP(f.addr, "bravo", ssh.PublicKeys(f.keyA)); err == nil {
		t.Fatal("merchant b logged in with merchant a's key")
	}
	if _, _, err := sandboxtest.DialSFTP(f.addr, "alpha", ssh.Password("bravo-pass")); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	if _, _, err := sandboxtest.DialSFTP(f.addr, "nobody", ssh.Password("x")); err == nil {
		t.Fatal("an unknown user was accepted")
	}
}

// X4: repeated failed logins lock the account for a while, even to the right password; the
// lock lifts after LockFor; other accounts are not affected.
func TestX4_FailedLoginsLockTheAccount(t *testing.T) {
	f := start(t, 0)
	for i := 0; i < sftpd.MaxFailures; i++ {
		if _, _, err := sandboxtest.DialSFTP(f.addr, "alpha", ssh.Password("guess")); err == nil {
			t.Fatal("a wrong password was accepted")
		}
	}
	if _, _, err := sandboxtest.DialSFTP(f.addr, "alpha", ssh.Password("alpha-pass")); err == nil {
		t.Fatal("a locked account accepted its password")
	}
	if !strings.Contains(f.journal.notes(), "locked after 5 failed logins") {
		t.Fatalf("the journal does not say why:\n%s", f.journal.notes())
	}
	// The client is told too, in the SSH banner (its error only says permission denied).
	var banner string
	conn, err := ssh.Dial("tcp", f.addr, &ssh.ClientConfig{User: "alpha", Auth: []ssh.AuthMethod{ssh.Password("alpha-pass")},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), BannerCallback: func(msg string) error { banner = msg; return nil }})
	if err == nil {
		conn.Close()
		t.Fatal("a locked account accepted its password")
	}
	if !strings.Contains(banner, "the account alpha is locked after 5 failed logins, until 2026-03-01T12:") {
		t.Fatalf("the banner of a locked account: %q", banner)
	}
	f.login(t, "bravo", ssh.Password("bravo-pass"))
	// A password typed as the username is not journaled whole (X2), not even once it locks
	// that name out; a known username is.
	for range sftpd.MaxFailures + 1 {
		sandboxtest.DialSFTP(f.addr, "bravo-pass", ssh.Password("x"))
	}
	if notes := f.journal.notes(); strings.Contains(notes, "bravo-pass") || !strings.Contains(notes, `failed password login as an unknown user ("br"…, 10 characters)`) ||
		!strings.Contains(notes, `login as an unknown user ("br"…, 10 characters) refused: the account is locked`) || !strings.Contains(notes, `failed password login as "alpha"`) {
		t.Fatalf("failed logins journaled as:\n%s", notes)
	}
	f.clock.add(sftpd.LockFor + time.Second)
	f.login(t, "alpha", ssh.Password("alpha-pass"))
}

// X4 cannot be reset with a key's public half: SSH lets a client ask whether a key would be
// accepted before proving it holds the key, and that query is neither a login nor a failure.
func TestX4_KeyQueriesDoNotResetTheLockout(t *testing.T) {
	f := start(t, 0)
	fake := publicOnly{f.keyA.PublicKey()}
	for i := 0; i < 4*sftpd.MaxFailures; i++ {
		sandboxtest.DialSFTP(f.addr, "alpha", ssh.Password("guess"))
		if i%2 == 1 {
			if _, _, err := sandboxtest.DialSFTP(f.addr, "alpha", ssh.PublicKeys(fake)); err == nil {
				t.Fatal("a key without its private half logged in")
			}
		}
	}
	if _, _, err := sandboxtest.DialSFTP(f.addr, "alpha", ssh.Password("alpha-pass")); err == nil {
		t.Fatal("the account is not locked after 20 failed passwords")
	}
	if _, _, err := sandboxtest.DialSFTP(f.addr, "alpha", ssh.PublicKeys(f.keyA)); err == nil {
		t.Fatal("a locked account accepted its key")
	}
	if strings.Contains(f.journal.notes(), "alpha logged in") {
		t.Fatalf("a login was recorded:\n%s", f.journal.notes())
	}
}

// publicOnly offers a public key it cannot sign with.
type publicOnly struct{ pub ssh.PublicKey }

func (p publicOnly) PublicKey() ssh.PublicKey { return p.pub }
func (p publicOnly) Sign(io.Reader, []byte) (*ssh.Signature, error) {
	return &ssh.Signature{Format: p.pub.Type(), Blob: make([]byte, 64)}, nil
}

// A file that arrived whole but could not be read fails the client's close: the merchant
// is not told it was taken.
func TestCloseFailsWhenTheFileCannotBeRead(t *testing.T) {
	f := start(t, 0)
	c := f.login(t, "alpha", ssh.Password("alpha-pass"))
	w, err := c.Create("incoming/unreadable.xml")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("<x/>"))
	if err := w.Close(); err == nil {
		t.Fatal("the close succeeded")
	}
	if !strings.Contains(f.journal.notes(), "reading it failed: the store is full") {
		t.Fatalf("journal:\n%s", f.journal.notes())
	}
}

// A write the server refused (an offset past the cap) discards the upload, whatever the client
// does next.
func TestFailedWriteDiscardsTheUpload(t *testing.T) {
	f := start(t, 0)
	c := f.login(t, "alpha", ssh.Password("alpha-pass"))
	w, err := c.Create("incoming/odd.xml")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("<products>"))
	if _, err := w.WriteAt([]byte("x"), math.MaxInt64-4); err == nil {
		t.Error("a write at offset 2^63-5 was accepted")
	}
	if err := w.Close(); err == nil {
		t.Error("the close succeeded")
	}
	if _, err := c.Stat("incoming/odd.xml"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the upload was published: %v", err)
	}
	if len(f.drops.list()) != 0 {
		t.Fatal("the upload was handed on")
	}
}

// incoming/ and outgoing/ stay: they cannot be removed, renamed, or replaced.
func TestFixedFoldersStay(t *testing.T) {
	f := start(t, 0)
	c := f.login(t, "alpha", ssh.Password("alpha-pass"))
	for name, err := range map[string]error{
		"remove incoming":       c.Remove("incoming"),
		"rmdir outgoing":        c.RemoveDirectory("outgoing"),
		"rename incoming":       c.Rename("incoming", "in2"),
		"rename onto outgoing":  func() error { sandboxtest.Put(t, c, "x.xml", []byte("x")); return c.PosixRename("x.xml", "outgoing") }(),
		"write a file outgoing": func() error { _, err := c.Create("outgoing"); return err }(),
	} {
		if err == nil {
			t.Errorf("%s: allowed", name)
		}
	}
	if got := list(t, c, "/"); got != "incoming,outgoing,x.xml" {
		t.Fatalf("the home holds %s", got)
	}
}

// One session holds at most MaxOpenUploads files open for writing.
func TestOpenUploadsAreBounded(t *testing.T) {
	f := start(t, 0)
	c := f.login(t, "alpha", ssh.Password("alpha-pass"))
	var open []*sftp.File
	defer func() {
		for _, w := range open {
			w.Close()
		}
	}()
	for i := 0; i < sftpd.MaxOpenUploads; i++ {
		w, err := c.Create(fmt.Sprintf("incoming/f%d.xml", i))
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		open = append(open, w)
	}
	if _, err := c.Create("incoming/one-too-many.xml"); err == nil {
		t.Fatal("one more upload was opened")
	}
	open[0].Close()
	open = open[1:]
	w, err := c.Create("incoming/after-a-close.xml")
	if err != nil {
		t.Fatalf("after a close: %v", err)
	}
	open = append(open, w)
}

// A merchant's home is its root: "..", absolute paths and symlinks do not leave it, and no
// merchant reaches another's files.
func TestPathsStayInTheHome(t *testing.T) {
	f := start(t, 0)
	a := f.login(t, "alpha", ssh.Password("alpha-pass"))
	b := f.login(t, "bravo", ssh.Password("bravo-pass"))
	sandboxtest.Put(t, b, "incoming/secret.xml", []byte("<b-only/>"))
	if err := os.WriteFile(filepath.Join(f.dir, "outside.txt"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A symlink someone left in the home (the server never creates one) still leads nowhere.
	if err := os.Symlink(filepath.Join(f.dir, "outside.txt"), filepath.Join(f.dir, "homes", "merchant-a", "incoming", "link")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		"../merchant-b/incoming/secret.xml", "/../merchant-b/incoming/secret.xml", "incoming/../../merchant-b/incoming/secret.xml",
		"../../outside.txt", "/etc/passwd", "incoming/link",
	} {
		if got, err := a.Open(p); err == nil {
			b, _ := io.ReadAll(got)
			got.Close()
			if len(b) > 0 {
				t.Errorf("merchant a read %s: %q", p, b)
			}
		}
	}
	if names := list(t, a, "/incoming"); strings.Contains(names, "secret") {
		t.Errorf("merchant a sees merchant b's file: %s", names)
	}
	if names := list(t, a, "/.."); names != "incoming,outgoing" {
		t.Errorf("the parent of the home lists %q", names)
	}
	if err := a.Symlink("/etc/passwd", "incoming/evil"); err == nil {
		t.Error("a symlink was created")
	}
	if err := a.Rename("incoming/link", "../merchant-b/incoming/moved"); err == nil {
		t.Error("a rename left the home")
	}
	if err := a.Remove("incoming"); err == nil {
		t.Error("incoming/ was removed")
	}
	if _, err := os.Stat(filepath.Join(f.dir, "homes", "merchant-b", "incoming", "secret.xml")); err != nil {
		t.Errorf("merchant b's file is gone: %v", err)
	}
}

// A complete upload is handed on under its name; the file of an upload in progress is never
// visible.
func TestCompleteUploadsAreHandedOn(t *testing.T) {
	f := start(t, 0)
	c := f.login(t, "alpha", ssh.Password("alpha-pass"))
	sandboxtest.Put(t, c, "incoming/merchant-a.Products.xml", []byte("<products/>"))
	sandboxtest.Put(t, c, "root-file.xml", []byte("<x/>"))
	// Clients that upload under a temporary name and rename deliver at the rename.
	sandboxtest.Put(t, c, "incoming/upload.tmp", []byte("<y/>"))
	if err := c.PosixRename("incoming/upload.tmp", "incoming/merchant-a.ProductCategories.xml"); err != nil {
		t.Fatal(err)
	}
	got := f.drops.list()
	var paths []string
	for _, d := range got {
		if d.MerchantID != "merchant-a" {
			t.Errorf("dropped for %s", d.MerchantID)
		}
		paths = append(paths, d.Path)
	}
	want := "incoming/merchant-a.Products.xml,root-file.xml,incoming/upload.tmp,incoming/merchant-a.ProductCategories.xml"
	if strings.Join(paths, ",") != want {
		t.Fatalf("handed on %v, want %s", paths, want)
	}
	if got[0].Size != int64(len("<products/>")) {
		t.Errorf("size %d", got[0].Size)
	}
	if b := sandboxtest.Get(t, c, "incoming/merchant-a.ProductCategories.xml"); string(b) != "<y/>" {
		t.Errorf("the renamed file holds %q", b)
	}
}

// A transfer cut short (the connection drops with the file open) is discarded, never handed on.
func TestHalfWrittenUploadIsDiscarded(t *testing.T) {
	f := start(t, 0)
	c, conn, err := sandboxtest.DialSFTP(f.addr, "alpha", ssh.Password("alpha-pass"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.Create("incoming/merchant-a.Products.xml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("<products>"), 10_000)); err != nil {
		t.Fatal(err)
	}
	conn.Close() // the connection drops mid-transfer
	c.Close()

	home := filepath.Join(f.dir, "homes", "merchant-a", "incoming")
	deadline := time.Now().Add(5 * time.Second)
	for {
		entries, _ := os.ReadDir(home)
		if len(entries) == 0 && strings.Contains(f.journal.notes(), "cut short") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the drop, incoming/ holds %v; journal:\n%s", entries, f.journal.notes())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := f.drops.list(); len(d) != 0 {
		t.Fatalf("a half-written upload was handed on: %+v", d)
	}
}

// Uploads over the cap are refused and leave nothing behind.
func TestUploadOverTheCapIsRefused(t *testing.T) {
	f := start(t, 1024)
	c := f.login(t, "alpha", ssh.Password("alpha-pass"))
	w, err := c.Create("incoming/big.xml")
	if err != nil {
		t.Fatal(err)
	}
	_, werr := w.Write(make([]byte, 4096))
	cerr := w.Close()
	if werr == nil && cerr == nil {
		t.Fatal("an upload over the cap was accepted")
	}
	if _, err := c.Stat("incoming/big.xml"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused upload is there: %v", err)
	}
	if len(f.drops.list()) != 0 {
		t.Fatal("a refused upload was handed on")
	}
	sandboxtest.Put(t, c, "incoming/small.xml", make([]byte, 1024))
}

// The host key is kept: a client's known_hosts stays valid across restarts.
func TestHostKeyIsKept(t *testing.T) {
	f := start(t, 0)
	first := f.srv.Fingerprint()
	f.srv.Close()
	again := &sftpd.Server{Merchants: f.srv.Merchants, Dir: f.srv.Dir, HostKeyFile: f.srv.HostKeyFile, Journal: f.journal, Clock: f.clock, Log: slog.New(slog.DiscardHandler)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Start(ln); err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Fingerprint() != first || !strings.HasPrefix(first, "SHA256:") {
		t.Fatalf("fingerprint %s after a restart, was %s", again.Fingerprint(), first)
	}
	var seen ssh.PublicKey
	conn, err := ssh.Dial("tcp", ln.Addr().String(), &ssh.ClientConfig{User: "alpha", Auth: []ssh.AuthMethod{ssh.Password("alpha-pass")},
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error { seen = k; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if ssh.FingerprintSHA256(seen) != first {
		t.Fatalf("the server presented %s", ssh.FingerprintSHA256(seen))
	}
}

// Anything but SFTP is refused with a word on what the site is.
func TestShellIsRefused(t *testing.T) {
	f := start(t, 0)
	conn, err := ssh.Dial("tcp", f.addr, &ssh.ClientConfig{User: "alpha", Auth: []ssh.AuthMethod{ssh.Password("alpha-pass")}, HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.CombinedOutput("cat /etc/passwd")
	if err == nil || !strings.Contains(string(out), "SFTP drop site") || strings.Contains(string(out), "root:") {
		t.Fatalf("a command ran: %v %q", err, out)
	}
}

// Reset empties every home and keeps incoming/ and outgoing/.
func TestReset(t *testing.T) {
	f := start(t, 0)
	c := f.login(t, "alpha", ssh.Password("alpha-pass"))
	sandboxtest.Put(t, c, "incoming/x.xml", []byte("x"))
	if err := c.Mkdir("archive"); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.WriteFile("merchant-a", "outgoing/report.txt", []byte("r")); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Reset(); err != nil {
		t.Fatal(err)
	}
	if names := list(t, c, "/"); names != "incoming,outgoing" {
		t.Fatalf("after reset the home holds %s", names)
	}
	for _, d := range []string{"/incoming", "/outgoing"} {
		if names := list(t, c, d); names != "" {
			t.Fatalf("after reset %s holds %s", d, names)
		}
	}
}

func list(t *testing.T, c *sftp.Client, dir string) string {
	t.Helper()
	fis, err := c.ReadDir(dir)
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	var names []string
	for _, fi := range fis {
		names = append(names, fi.Name())
	}
	return strings.Join(names, ",")
}

// An open with SSH_FXF_APPEND adds to the end of the file, as OpenSSH's server does, whether
// the client counts its offsets from where it began (pkg/sftp's O_APPEND, from 0) or from the
// start of the file (OpenSSH's reput, from the size it found). It used to overwrite the file
// from byte 0. Large writes go in several packets, handled concurrently.
func TestAppendAddsToTheEnd(t *testing.T) {
	f := start(t, 0)
	c := f.login(t, "alpha", ssh.Password("alpha-pass"))
	big := bytes.Repeat([]byte("0123456789abcdef"), 40_000) // 640 KB: many packets
	for _, tc := range []struct {
		name  string
		seek  bool // the client writes at the file's own offsets
		extra []byte
	}{
		{"counted from where the client began", false, []byte("KLM")},
		{"counted from the start of the file", true, []byte("KLM")},
		{"many packets, counted from where the client began", false, big},
		{"many packets, counted from the start of the file", true, big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sandboxtest.Put(t, c, "notes.txt", []byte("ABCDEFGHIJ"))
			fh, err := c.OpenFile("notes.txt", os.O_WRONLY|os.O_APPEND)
			if err != nil {
				t.Fatal(err)
			}
			if tc.seek {
				if _, err := fh.Seek(10, io.SeekStart); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := fh.ReadFrom(bytes.NewReader(tc.extra)); err != nil {
				t.Fatal(err)
			}
			if err := fh.Close(); err != nil {
				t.Fatal(err)
			}
			got := sandboxtest.Get(t, c, "notes.txt")
			if want := append([]byte("ABCDEFGHIJ"), tc.extra...); !bytes.Equal(got, want) {
				t.Fatalf("after the append: %d bytes %.40q…, want %d bytes %.40q…", len(got), got, len(want), want)
			}
		})
	}
	// The cap counts the whole file, not the client's offsets.
	small := start(t, 16)
	cs := small.login(t, "alpha", ssh.Password("alpha-pass"))
	sandboxtest.Put(t, cs, "notes.txt", []byte("ABCDEFGHIJ"))
	fh, err := cs.OpenFile("notes.txt", os.O_WRONLY|os.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	fh.Seek(10, io.SeekStart)
	if _, err := fh.Write([]byte("KLMNOP")); err != nil {
		t.Fatalf("an append up to the cap: %v", err)
	}
	if _, err := fh.Write([]byte("Q")); err == nil {
		t.Fatal("an append past the cap was taken")
	}
	fh.Close()
	if got := sandboxtest.Get(t, cs, "notes.txt"); string(got) != "ABCDEFGHIJ" {
		t.Fatalf("after a refused append: %q, want the file as it was", got)
	}
}
