// Package sftpd is the SFTP drop site, <SFTP_DROP_SITE>: a real SSH server (gliderlabs/ssh)
// speaking SFTP (pkg/sftp's request server) on which each merchant logs in with its password
// or key and sees only its own home, holding incoming/ and outgoing/ (REFERENCE §5).
//
// Every path is resolved inside the merchant's home through os.Root: "..", absolute paths and
// symlinks cannot leave it. An upload is written to a temporary file and appears under its
// name only once the client has sent it whole: a transfer cut short is dropped, never read. A
// complete upload is handed to the DropHandler (product feeds, batch responses). Repeated
// failed logins lock the account for a while (X4).
package sftpd

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gliderlabs/ssh"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Bounds of the drop site.
const (
	// DefaultMaxUpload bounds one uploaded file.
	DefaultMaxUpload = 1 << 30
	// MaxFailures failed logins within FailureWindow lock the account for LockFor (X4).
	MaxFailures   = 5
	FailureWindow = 15 * time.Minute
	LockFor       = 15 * time.Minute
	// uploadPrefix names the temporary file of an upload in progress.
	uploadPrefix = ".ogsandbox-upload-"
)

// Server is the drop site.
type Server struct {
	Merchants   *og.Merchants
	Dir         string // one home per merchant: Dir/<merchant_id>
	HostKeyFile string // kept, so that clients' known_hosts stay valid across restarts
	Drops       og.DropHandler
	Journal     og.JournalService
	Clock       og.Clock
	Log         *slog.Logger
	MaxUpload   int64

	srv       *ssh.Server
	ln        net.Listener
	roots     map[string]*os.Root // merchant id → its home
	keys      map[string][]gossh.PublicKey
	lockMu    sync.Mutex
	fails     map[string][]time.Time
	locked    map[string]time.Time
	wg        sync.WaitGroup // the serve loop
	sessions  sync.WaitGroup // SFTP sessions, and the file reads they started
	prepared  bool
	closeOnce sync.Once
	closeErr  error
}

// Bounds of the login bookkeeping: usernames tried are remembered for FailureWindow, and at
// most maxTracked of them (an attacker trying random names must not grow memory).
const maxTracked = 10_000

var _ og.Homes = (*Server)(nil)

// Prepare creates the homes and loads (or creates) the host key: the homes can be written
// (Homes) before the server accepts logins.
func (s *Server) Prepare() error {
	if s.prepared {
		return nil
	}
	if s.MaxUpload <= 0 {
		s.MaxUpload = DefaultMaxUpload
	}
	s.roots = map[string]*os.Root{}
	s.keys = map[string][]gossh.PublicKey{}
	s.fails = map[string][]time.Time{}
	s.locked = map[string]time.Time{}
	for _, m := range s.Merchants.All() {
		home := filepath.Join(s.Dir, m.ID)
		for _, d := range []string{"incoming", "outgoing"} {
			if err := os.MkdirAll(filepath.Join(home, d), 0o755); err != nil {
				return fmt.Errorf("sftp home of %s: %w", m.ID, err)
			}
		}
		root, err := os.OpenRoot(home)
		if err != nil {
			return err
		}
		s.roots[m.ID] = root
		for i, line := range m.SFTP.AuthorizedKeys {
			k, _, _, _, err := gossh.ParseAuthorizedKey([]byte(line))
			if err != nil {
				return fmt.Errorf("merchant %s: sftp.authorized_keys[%d] is not an OpenSSH public key: %v", m.ID, i, err)
			}
			s.keys[m.ID] = append(s.keys[m.ID], k)
		}
	}
	signer, err := hostKey(s.HostKeyFile)
	if err != nil {
		return err
	}
	s.prepared = true
	s.srv = &ssh.Server{
		Version:          "ogsandbox",
		HostSigners:      []ssh.Signer{signer},
		Handler:          s.shell,
		BannerHandler:    s.banner,
		PasswordHandler:  s.password,
		PublicKeyHandler: s.publicKey,
		SubsystemHandlers: map[string]ssh.SubsystemHandler{
			"sftp": s.sftp,
		},
		IdleTimeout: 30 * time.Minute,
	}
	return nil
}

// Start prepares the server if needed and serves on ln.
func (s *Server) Start(ln net.Listener) error {
	if err := s.Prepare(); err != nil {
		return err
	}
	s.ln = ln
	s.wg.Go(func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, ssh.ErrServerClosed) {
			s.Log.Error("sftp: serve stopped", "err", err)
		}
	})
	return nil
}

// Addr returns the listener's address, nil before Start.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops the server: sessions are cut (an upload in progress is dropped) and Close waits
// for them to end, and for the reading of a file that arrived whole. It is safe to call more
// than once.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	s.closeOnce.Do(func() {
		if s.ln != nil {
			s.closeErr = s.srv.Close()
			// Serve may not have registered the listener yet (Close right after Start).
			s.ln.Close()
		}
		s.wg.Wait()
		s.sessions.Wait()
		for _, r := range s.roots {
			r.Close()
		}
	})
	return s.closeErr
}

// hostKey loads the ed25519 host key, creating it on first use.
func hostKey(file string) (ssh.Signer, error) {
	if b, err := os.ReadFile(file); err == nil {
		signer, err := gossh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("sftp host key %s: %w", file, err)
		}
		return signer, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := gossh.MarshalPrivateKey(priv, "ogsandbox sftp host key")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("sftp host key %s: %w", file, err)
	}
	return gossh.NewSignerFromKey(priv)
}

// Fingerprint returns the host key's SHA256 fingerprint, as ssh-keygen -l prints it.
func (s *Server) Fingerprint() string {
	return gossh.FingerprintSHA256(s.srv.HostSigners[0].PublicKey())
}

// KnownHostsLine returns the host key as a line of an OpenSSH known_hosts file for the
// server's address.
func (s *Server) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.ln.Addr().String())}, s.srv.HostSigners[0].PublicKey())
}

const ctxMerchant = "og.merchant"

// password authenticates a merchant (X4: refused while the account is locked; a wrong password
// counts towards the lock).
func (s *Server) password(ctx ssh.Context, pass string) bool {
	m, ok := s.Merchants.BySFTPUser(ctx.User())
	good := ok && m.SFTP.Password != "" && subtle.ConstantTimeCompare([]byte(pass), []byte(m.SFTP.Password)) == 1
	if until, locked := s.lockedUntil(ctx.User()); locked {
		s.refuseLocked(ctx, m, until)
		return false
	}
	if !good {
		if until, locked := s.failed(ctx.User()); locked {
			s.refuseLocked(ctx, m, until)
			return false
		}
		merchant := ""
		if m != nil {
			merchant = m.ID
		}
		s.record(merchant, og.DirectionIn, fmt.Sprintf("failed password login as %s from %s", loginName(ctx.User(), m), ctx.RemoteAddr()), nil)
		return false
	}
	ctx.SetValue(ctxMerchant, m)
	return true
}

// publicKey says whether a key is one of the merchant's. SSH asks this before the client proves
// it holds the key (a query) as well as after: it neither counts as a failure nor as a login,
// so that a key's public half cannot reset the lockout (X4). The login is recorded when the
// session starts.
func (s *Server) publicKey(ctx ssh.Context, key ssh.PublicKey) bool {
	m, ok := s.Merchants.BySFTPUser(ctx.User())
	if !ok {
		return false
	}
	for _, k := range s.keys[m.ID] {
		if ssh.KeysEqual(k, key) {
			if _, locked := s.lockedUntil(ctx.User()); locked {
				return false
			}
			ctx.SetValue(ctxMerchant, m)
			return true
		}
	}
	return false
}

// banner tells a client logging in to a locked account why its password is refused (X4):
// SSH itself only says "permission denied". OpenSSH's clients print it. It is sent once per
// connection, at its first login attempt.
func (s *Server) banner(ctx ssh.Context) string {
	if until, locked := s.lockedUntil(ctx.User()); locked {
		return fmt.Sprintf("ogsandbox: the account %s is locked after %d failed logins, until %s (X4); logins are refused until then, whatever the password\n",
			ctx.User(), MaxFailures, until.Format(time.RFC3339))
	}
	return ""
}

// lockedUntil reports whether an account is locked (X4).
func (s *Server) lockedUntil(user string) (time.Time, bool) {
	now := s.Clock.Wall()
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	until, ok := s.locked[user]
	if ok && now.After(until) {
		delete(s.locked, user)
		delete(s.fails, user)
		return time.Time{}, false
	}
	return until, ok
}

// failed counts a failed login and reports whether it locked the account (X4).
func (s *Server) failed(user string) (time.Time, bool) {
	now := s.Clock.Wall()
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	if len(s.fails) >= maxTracked {
		for u, ts := range s.fails {
			if len(ts) == 0 || now.Sub(ts[len(ts)-1]) >= FailureWindow {
				delete(s.fails, u)
			}
		}
		for u, until := range s.locked {
			if now.After(until) {
				delete(s.locked, u)
			}
		}
		if len(s.fails) >= maxTracked {
			return time.Time{}, false // past the bound, new names are not tracked
		}
	}
	recent := s.fails[user][:0]
	for _, t := range s.fails[user] {
		if now.Sub(t) < FailureWindow {
			recent = append(recent, t)
		}
	}
	s.fails[user] = append(recent, now)
	if len(s.fails[user]) >= MaxFailures {
		s.locked[user] = now.Add(LockFor)
		return s.locked[user], true
	}
	return time.Time{}, false
}

func (s *Server) refuseLocked(ctx ssh.Context, m *og.Merchant, until time.Time) {
	merchant := ""
	if m != nil {
		merchant = m.ID
	}
	s.record(merchant, og.DirectionIn, fmt.Sprintf("login as %s refused: the account is locked after %d failed logins, until %s (X4)", loginName(ctx.User(), m), MaxFailures, until.Format(time.RFC3339)),
		[]og.Diagnostic{og.Finding("X4", "username", "locked after repeated failed logins")})
}

// loginName is how the journal names the user of a login: as typed when it is a merchant's
// (m), else only its start, since it may be a password typed in the wrong field (X2).
func loginName(user string, m *og.Merchant) string {
	if m != nil {
		return strconv.Quote(user)
	}
	r := []rune(user)
	return fmt.Sprintf("an unknown user (%q…, %d characters)", string(r[:min(2, len(r))]), len(user))
}

// shell refuses anything but SFTP.
func (s *Server) shell(sess ssh.Session) {
	io.WriteString(sess.Stderr(), "This is an SFTP drop site: connect with an SFTP client (sftp, WinSCP, lftp).\n")
	sess.Exit(1)
}

// sftp serves one SFTP session, confined to the merchant's home. The session starting is the
// login: the client has proven its password or key.
func (s *Server) sftp(sess ssh.Session) {
	s.sessions.Add(1)
	defer s.sessions.Done()
	m, _ := sess.Context().Value(ctxMerchant).(*og.Merchant)
	if m == nil || m.SFTP.Username != sess.User() {
		sess.Exit(1)
		return
	}
	s.lockMu.Lock()
	delete(s.fails, sess.User())
	s.lockMu.Unlock()
	s.record(m.ID, og.DirectionIn, fmt.Sprintf("%s logged in from %s", sess.User(), sess.RemoteAddr()), nil)
	h := &home{s: s, m: m, root: s.roots[m.ID]}
	rs := sftp.NewRequestServer(sess, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h}, sftp.WithStartDirectory("/"))
	if err := rs.Serve(); err != nil && !errors.Is(err, io.EOF) {
		s.Log.Debug("sftp: session ended", "merchant", m.ID, "err", err)
	}
	rs.Close()
}

// record appends an SFTP event to the journal.
func (s *Server) record(merchant, direction, note string, diags []og.Diagnostic) {
	s.Journal.Append(og.JournalEntry{
		Time: s.Clock.Now(), WallTime: s.Clock.Wall(), Surface: og.SurfaceSFTP, MerchantID: merchant,
		Direction: direction, Note: note, Rules: og.Rules(diags), Diags: diags,
	})
}

// rel turns an SFTP path into a path relative to the home ("." for the home itself).
func rel(p string) string {
	c := path.Clean("/" + p)
	if c == "/" {
		return "."
	}
	return strings.TrimPrefix(c, "/")
}

// WriteFile writes a file into a merchant's home atomically (a batch order file, a report).
func (s *Server) WriteFile(merchantID, name string, data []byte) error {
	root, ok := s.roots[merchantID]
	if !ok {
		return fmt.Errorf("no sftp home for merchant %s", merchantID)
	}
	dir := path.Dir(rel(name))
	if dir != "." {
		// The merchant may have removed the folder; Ordergroove's site always has it.
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	tmp := path.Join(dir, uploadPrefix+randomName())
	f, err := root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, rel(name))
	}
	if err != nil {
		root.Remove(tmp)
		return err
	}
	return syncDir(root, dir)
}

// syncDir makes a rename in dir durable: a file acknowledged (an upload) or recorded as
// written (a batch file) survives a power loss.
func syncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Open opens a file of a merchant's home for reading.
func (s *Server) Open(merchantID, name string) (og.ReadFile, error) {
	root, ok := s.roots[merchantID]
	if !ok {
		return nil, fmt.Errorf("no sftp home for merchant %s", merchantID)
	}
	return root.Open(rel(name))
}

// Reset removes every file of every home, keeping incoming/ and outgoing/.
func (s *Server) Reset() error {
	for _, root := range s.roots {
		entries, err := fs.ReadDir(root.FS(), ".")
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := root.RemoveAll(e.Name()); err != nil {
				return err
			}
		}
		for _, d := range []string{"incoming", "outgoing"} {
			if err := root.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
		}
	}
	return nil
}

func randomName() string {
	b := make([]byte, 8)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// dropped hands a complete upload to the DropHandler and records what it did. An error means
// the file could not be read: the client's close fails with it, so that the merchant knows.
func (s *Server) dropped(m *og.Merchant, name string, size int64) error {
	note := fmt.Sprintf("uploaded %s (%d bytes)", name, size)
	var err error
	if s.Drops != nil {
		var did string
		did, err = s.Drops.Dropped(context.Background(), og.Dropped{MerchantID: m.ID, Path: name, Size: size, At: s.Clock.Now()})
		switch {
		case err != nil:
			s.Log.Error("sftp: reading a dropped file failed", "merchant", m.ID, "file", name, "err", err)
			note += ": reading it failed: " + err.Error()
		case did != "":
			note += ": " + did
		}
	}
	s.record(m.ID, og.DirectionIn, note, nil)
	if err != nil {
		return fmt.Errorf("the file was stored but could not be read: %v", err)
	}
	return nil
}
