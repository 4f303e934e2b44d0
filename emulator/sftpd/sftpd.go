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
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ og.Homes = (*Server)(nil)

// Start creates the homes, loads (or creates) the host key and serves on ln.
func (s *Server) Start(ln net.Listener) error {
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
	s.srv = &ssh.Server{
		Version:          "ogsandbox",
		HostSigners:      []ssh.Signer{signer},
		Handler:          s.shell,
		PasswordHandler:  s.password,
		PublicKeyHandler: s.publicKey,
		SubsystemHandlers: map[string]ssh.SubsystemHandler{
			"sftp": s.sftp,
		},
		IdleTimeout: 30 * time.Minute,
	}
	s.ln = ln
	s.wg.Go(func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, ssh.ErrServerClosed) {
			s.Log.Error("sftp: serve stopped", "err", err)
		}
	})
	return nil
}

// Addr returns the listener's address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server: sessions are cut (an upload in progress is dropped) and Close waits
// for them to end. It is safe to call more than once.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	s.closeOnce.Do(func() {
		s.closeErr = s.srv.Close()
		// Serve may not have registered the listener yet (Close right after Start).
		s.ln.Close()
		s.wg.Wait()
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

// password authenticates a merchant (X4: locked after repeated failures).
func (s *Server) password(ctx ssh.Context, pass string) bool {
	m, ok := s.Merchants.BySFTPUser(ctx.User())
	good := ok && m.SFTP.Password != "" && subtle.ConstantTimeCompare([]byte(pass), []byte(m.SFTP.Password)) == 1
	return s.login(ctx, m, good, "password")
}

func (s *Server) publicKey(ctx ssh.Context, key ssh.PublicKey) bool {
	m, ok := s.Merchants.BySFTPUser(ctx.User())
	good := false
	if ok {
		for _, k := range s.keys[m.ID] {
			if ssh.KeysEqual(k, key) {
				good = true
			}
		}
	}
	// A client offers its keys before asking for the password: a key that does not fit is
	// not a failed login.
	if !good {
		return false
	}
	return s.login(ctx, m, good, "public key")
}

// login applies the lockout (X4) to an authentication attempt and records it.
func (s *Server) login(ctx ssh.Context, m *og.Merchant, good bool, how string) bool {
	user := ctx.User()
	now := s.Clock.Wall()
	s.lockMu.Lock()
	until, isLocked := s.locked[user]
	if isLocked && now.After(until) {
		delete(s.locked, user)
		delete(s.fails, user)
		isLocked = false
	}
	if !good && !isLocked {
		recent := s.fails[user][:0]
		for _, t := range s.fails[user] {
			if now.Sub(t) < FailureWindow {
				recent = append(recent, t)
			}
		}
		s.fails[user] = append(recent, now)
		if len(s.fails[user]) >= MaxFailures {
			s.locked[user] = now.Add(LockFor)
			until, isLocked = s.locked[user], true
		}
	}
	if good && !isLocked {
		delete(s.fails, user)
	}
	s.lockMu.Unlock()
	merchant := ""
	if m != nil {
		merchant = m.ID
	}
	switch {
	case isLocked:
		s.record(merchant, og.DirectionIn, fmt.Sprintf("login of %s refused: the account is locked after %d failed logins, until %s (X4)", user, MaxFailures, until.Format(time.RFC3339)), []og.Diagnostic{og.Finding("X4", "username", "locked after repeated failed logins")})
		return false
	case !good:
		s.record(merchant, og.DirectionIn, fmt.Sprintf("failed %s login as %q from %s", how, user, ctx.RemoteAddr()), nil)
		return false
	}
	ctx.SetValue(ctxMerchant, m)
	s.record(m.ID, og.DirectionIn, fmt.Sprintf("%s logged in (%s) from %s", user, how, ctx.RemoteAddr()), nil)
	return true
}

// shell refuses anything but SFTP.
func (s *Server) shell(sess ssh.Session) {
	io.WriteString(sess.Stderr(), "This is an SFTP drop site: connect with an SFTP client (sftp, WinSCP, lftp).\n")
	sess.Exit(1)
}

// sftp serves one SFTP session, confined to the merchant's home.
func (s *Server) sftp(sess ssh.Session) {
	m, _ := sess.Context().Value(ctxMerchant).(*og.Merchant)
	if m == nil {
		sess.Exit(1)
		return
	}
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
	tmp := path.Join(path.Dir(rel(name)), uploadPrefix+randomName())
	if err := root.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := root.Rename(tmp, rel(name)); err != nil {
		root.Remove(tmp)
		return err
	}
	return nil
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

// dropped hands a complete upload to the DropHandler and records what it did.
func (s *Server) dropped(m *og.Merchant, name string, size int64) {
	note := fmt.Sprintf("uploaded %s (%d bytes)", name, size)
	if s.Drops != nil {
		did, err := s.Drops.Dropped(context.Background(), og.Dropped{MerchantID: m.ID, Path: name, Size: size})
		switch {
		case err != nil:
			s.Log.Error("sftp: reading a dropped file failed", "merchant", m.ID, "file", name, "err", err)
			note += ": reading it failed: " + err.Error()
		case did != "":
			note += ": " + did
		}
	}
	s.record(m.ID, og.DirectionIn, note, nil)
}
