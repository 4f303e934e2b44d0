// Package sandbox assembles every surface of Ordergroove staging into one running sandbox. It
// is the library behind `ogsandbox serve`, and merchants' own Go tests embed it:
//
//	sb, err := sandbox.Start(ctx, sandbox.TestConfig(t.TempDir()), sandbox.Options{})
//	defer sb.Close()
//	resp, err := http.Post(sb.URL()+"/subscription/create", ...)
//	sb.Clock().Now()
//
// Start binds every listener before it returns (127.0.0.1:0 picks free ports), and Close
// finishes in-flight requests, stops scheduled work and closes the database. Nothing is kept
// in package-level state: two sandboxes run side by side in one process.
package sandbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ogsandbox/ogsandbox/emulator/admit"
	"github.com/ogsandbox/ogsandbox/emulator/clock"
	"github.com/ogsandbox/ogsandbox/emulator/config"
	"github.com/ogsandbox/ogsandbox/emulator/control"
	"github.com/ogsandbox/ogsandbox/emulator/faults"
	"github.com/ogsandbox/ogsandbox/emulator/ingest"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/refmerchant"
	"github.com/ogsandbox/ogsandbox/emulator/sc"
	"github.com/ogsandbox/ogsandbox/emulator/scheduler"
	"github.com/ogsandbox/ogsandbox/emulator/sftpd"
	"github.com/ogsandbox/ogsandbox/emulator/store"
	"github.com/ogsandbox/ogsandbox/emulator/web"
)

// Version is the sandbox's version, reported by health and `ogsandbox version`.
var Version = "0.1.0-dev"

// Shutdown bounds. Close waits up to ShutdownTimeout for in-flight requests; scheduled work
// still running after WorkGrace (a long advance) is cancelled, so that its request can answer
// within the timeout. Both stay under the 10 seconds a container runtime gives before SIGKILL.
const (
	ShutdownTimeout = 8 * time.Second
	WorkGrace       = 5 * time.Second
)

// Options are what a configuration file cannot say.
type Options struct {
	Log *slog.Logger
	// Wall is the wall clock (time.Now when nil). Tests inject one; sandbox time is derived.
	Wall func() time.Time
	// BodyTimeout bounds how long a request body may stop arriving (web.DefaultBodyTimeout
	// when zero). Tests shorten it.
	BodyTimeout time.Duration
}

// Sandbox is one running sandbox.
type Sandbox struct {
	cfg       config.Config
	log       *slog.Logger
	db        *store.DB
	clock     *clock.Clock
	runner    *clock.Runner
	merchants *og.Merchants
	web       *web.Server
	faults    *faults.Injector
	scheduler *scheduler.Scheduler
	sftp      *sftpd.Server
	sftpLn    net.Listener // bound, not yet served
	ingest    *ingest.Ingester
	// refMerchant answers the orders of merchants configured without a placement URL.
	refMerchant *refmerchant.Merchant

	httpSrv *http.Server
	httpLn  net.Listener
	baseURL string
	tempDir string // --ephemeral: removed by Close

	ready     atomic.Bool
	lifetime  context.Context
	stopping  chan struct{} // closed as Close begins
	cancel    context.CancelFunc
	serveDone chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// TestConfig returns a configuration for tests: the demo merchant, both listeners on
// 127.0.0.1:0, state in dir.
func TestConfig(dir string) config.Config {
	c := config.Default()
	c.Listen, c.SFTPListen, c.DataDir = "127.0.0.1:0", "127.0.0.1:0", dir
	return c
}

// Start opens the sandbox's state and starts every surface. It returns once all of them
// listen; a failure names the setting at fault (a port in use, a locked data_dir). ctx bounds
// start-up only: the sandbox runs until Close.
func Start(ctx context.Context, cfg config.Config, opts Options) (_ *Sandbox, err error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s := &Sandbox{cfg: cfg, log: opts.Log, serveDone: make(chan struct{})}
	s.lifetime, s.cancel = context.WithCancel(context.Background())
	s.stopping = make(chan struct{})
	defer func() {
		if err != nil {
			s.cancel()
			s.closeStores()
		}
	}()

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.Ephemeral {
		dir, err := os.MkdirTemp("", "ogsandbox-*")
		if err != nil {
			return nil, fmt.Errorf("ephemeral data_dir: %w", err)
		}
		s.tempDir, s.cfg.DataDir = dir, dir
	}
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("%s: data_dir %s: %w", cfg.Origin("data_dir"), s.cfg.DataDir, err)
	}

	// The database first: a second instance on the same data_dir must fail on its lock
	// (naming it), whatever else it shares with the first.
	s.clock = clock.New(opts.Wall, 0)
	s.merchants = og.NewMerchants(cfg.Merchants)
	ids := make([]string, 0, len(cfg.Merchants))
	for _, m := range s.merchants.All() {
		ids = append(ids, m.ID)
	}
	s.db, err = store.Open(filepath.Join(s.cfg.DataDir, store.FileName), store.Options{
		Merchants:       ids,
		Owner:           fmt.Sprintf("ogsandbox pid %d", os.Getpid()),
		JournalMaxBytes: cfg.JournalMaxBytes,
		Now:             s.clock.Now,
		Log:             s.log,
	})
	if err != nil {
		return nil, err
	}
	// The drop site's homes and host key are prepared beside the rest of start-up (a new
	// host key costs a couple of milliseconds); logins wait for it below.
	s.sftp = &sftpd.Server{
		Merchants: s.merchants, Dir: filepath.Join(s.cfg.DataDir, "sftp"), HostKeyFile: filepath.Join(s.cfg.DataDir, "sftp_host_ed25519_key"),
		Log: s.log,
	}
	prepared := make(chan error, 1)
	go func() { prepared <- s.sftp.Prepare() }()
	defer func() {
		if prepared != nil {
			<-prepared // never leave Prepare running behind a failed start
		}
	}()
	if err := s.loadClock(opts.Wall); err != nil {
		return nil, err
	}
	ln, err := listen(cfg.Listen)
	if err != nil {
		return nil, listenError(cfg, "listen", cfg.Listen, err)
	}
	s.httpLn = ln
	sftpLn, err := listen(cfg.SFTPListen)
	if err != nil {
		return nil, listenError(cfg, "sftp_listen", cfg.SFTPListen, err)
	}
	s.sftpLn = sftpLn
	s.db.SetOwner(fmt.Sprintf("ogsandbox pid %d (http %s, sftp %s)", os.Getpid(), ln.Addr(), sftpLn.Addr()))

	s.runner = clock.NewRunner(s.clock, s.log)
	s.sftp.Journal, s.sftp.Clock = s.db.Journal(), s.clock
	s.ingest = &ingest.Ingester{
		Merchants: s.merchants, Store: s.db, Homes: s.sftp, Clock: s.clock, Journal: s.db.Journal(), Log: s.log,
		Wake: s.runner.Wake,
	}
	s.sftp.Drops = s.ingest
	if err := s.loadCatalogues(ctx); err != nil {
		return nil, err
	}
	s.faults = faults.New(1)
	s.web = web.New(s.db.Journal(), s.clock, s.log)
	s.web.BodyTimeout = opts.BodyTimeout
	s.web.KnowSecrets(s.merchants.Secrets()...)
	s.refMerchant = &refmerchant.Merchant{Merchants: s.merchants, Wall: s.clock.Wall, Log: s.log}
	s.web.Echo.POST(refmerchant.Path, echo.WrapHandler(s.refMerchant), func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error { web.SkipJournal(c); return next(c) }
	})
	(&sc.Server{
		Merchants: s.merchants,
		Checkout:  s.db,
		Attempts:  s.db,
		Faults:    s.faults,
		Clock:     s.clock,
		Log:       s.log,
		Stopping:  s.stopping,
		Admit:     admit.New(admitSlots),
	}).Register(s.web)
	(&control.Server{
		Version:       Version,
		Clock:         s.clock,
		Advancer:      s.runner,
		Merchants:     s.merchants,
		Journal:       s.db.Journal(),
		Catalogue:     s.db,
		Subscriptions: s.db,
		Customers:     s.db,
		Checkout:      s.db,
		Feeds:         s.db,
		Ingest:        s.ingest,
		Attempts:      s.db,
		Faults:        s.faults,
		Orders:        s.db,
		Reset:         s.reset,
		Ready:         s.readiness,
		Lifetime:      s.lifetime,
		Log:           s.log,
	}).Register(s.web)

	scheme := "http"
	if cfg.TLS.Enabled() {
		tc, err := s.tlsConfig()
		if err != nil {
			return nil, err
		}
		s.httpLn = tls.NewListener(ln, tc)
		scheme = "https"
	}
	s.baseURL = scheme + "://" + hostPort(ln.Addr())
	s.httpSrv = &http.Server{
		Handler:           s.web.Echo,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ConnContext:       web.ConnContext(s.clock.Wall),
	}
	s.scheduler = &scheduler.Scheduler{
		Merchants: s.merchants, Store: s.db, Clock: s.clock, Journal: s.db.Journal(), Log: s.log,
		URL: s.placementURL, Homes: s.sftp, Batches: s.db,
	}
	s.ingest.Batches = s.scheduler
	// The homes exist from here on (the scheduler writes batch files at start); logins are
	// accepted once everything the drop site hands files to is in place.
	perr := <-prepared
	prepared = nil
	if perr != nil {
		return nil, fmt.Errorf("sftp drop site: %w", perr)
	}
	if err := s.scheduler.Start(ctx); err != nil {
		return nil, err
	}
	s.runner.Add(s.scheduler)
	s.runner.Add(s.ingest)
	if err := s.sftp.Start(sftpLn); err != nil {
		return nil, fmt.Errorf("sftp drop site: %w", err)
	}
	s.sftpLn = nil
	go func() {
		defer close(s.serveDone)
		if err := s.httpSrv.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http: serve stopped", "err", err)
		}
	}()
	s.runner.Start()
	s.ready.Store(true)
	return s, nil
}

// admitSlots is how many purchase POSTs do their CPU work at once: GOMAXPROCS (see package
// admit).
const admitSlots = 0

// loadClock sets the clock's offset: the persisted one if the database has it, else the one
// clock_start asks for (persisted at once, so that a restart continues from it), else none.
func (s *Sandbox) loadClock(wall func() time.Time) error {
	off, ok, err := s.db.ClockOffset()
	if err != nil {
		return err
	}
	if !ok && !s.cfg.ClockStart.IsZero() {
		off, ok = clock.OffsetFor(wall, s.cfg.ClockStart), true
		if err := s.db.SaveClockOffset(off); err != nil {
			return err
		}
	} else if ok && !s.cfg.ClockStart.IsZero() {
		s.log.Info("clock: data_dir already has a clock; clock_start applies to a new data_dir only", "clock_start", s.cfg.ClockStart)
	}
	if ok {
		s.clock.Restore(off)
	}
	s.clock.Persist(s.db.SaveClockOffset)
	return nil
}

func (s *Sandbox) readiness() (bool, map[string]string) {
	return s.ready.Load(), map[string]string{"http": s.baseURL, "sftp": s.SFTPAddr()}
}

// reset forgets everything but the configured merchants and the clock, and loads the
// configured catalogues again: the sandbox is as it was just after start-up.
func (s *Sandbox) reset(ctx context.Context) error {
	s.faults.Set(nil)
	if err := s.db.Reset(); err != nil {
		return err
	}
	if err := s.sftp.Reset(); err != nil {
		return fmt.Errorf("reset the SFTP homes: %w", err)
	}
	s.refMerchant.Reset()
	return s.loadCatalogues(ctx)
}

// placementURL is where a merchant's orders go: its configured endpoint, or the built-in
// reference merchant.
func (s *Sandbox) placementURL(m *og.Merchant) string {
	if m.Placement.URL != "" {
		return m.Placement.URL
	}
	return s.baseURL + refmerchant.Path
}

// ReferenceMerchant returns the built-in reference merchant (its received orders, for tests).
func (s *Sandbox) ReferenceMerchant() *refmerchant.Merchant { return s.refMerchant }

// Store returns the sandbox's storage, for benchmarks that measure a part of a run alone.
func (s *Sandbox) Store() *store.DB { return s.db }

// URL returns the base URL of every HTTP surface ({base} of SPEC.md).
func (s *Sandbox) URL() string { return s.baseURL }

// Clock returns the sandbox clock.
func (s *Sandbox) Clock() og.Clock { return s.clock }

// Advance moves the sandbox clock to t and runs everything that falls due on the way, as
// POST /_sandbox/clock/advance does.
func (s *Sandbox) Advance(ctx context.Context, to time.Time) (og.RunReport, error) {
	res, err := s.runner.Advance(ctx, to)
	return res.Report, err
}

// SFTPAddr returns the SFTP drop site's address, host:port.
func (s *Sandbox) SFTPAddr() string {
	if s.sftp == nil || s.sftp.Addr() == nil {
		return ""
	}
	return hostPort(s.sftp.Addr())
}

// SFTPFingerprint returns the SHA256 fingerprint of the drop site's host key.
func (s *Sandbox) SFTPFingerprint() string { return s.sftp.Fingerprint() }

// SFTPHostKey returns the drop site's public host key as a known_hosts line for its address.
func (s *Sandbox) SFTPHostKey() string { return s.sftp.KnownHostsLine() }

// Merchants returns the configured merchants.
func (s *Sandbox) Merchants() []*og.Merchant { return s.merchants.All() }

// Config returns the effective configuration (with the ephemeral data_dir filled in).
func (s *Sandbox) Config() config.Config { return s.cfg }

// Close stops accepting requests, finishes those in flight (for at most ShutdownTimeout),
// stops scheduled work, commits what is queued and closes the database. It is safe to call
// more than once.
func (s *Sandbox) Close() error {
	s.closeOnce.Do(func() {
		s.ready.Store(false)
		close(s.stopping)
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		grace := time.AfterFunc(WorkGrace, s.cancel)
		defer grace.Stop()
		if s.httpSrv != nil {
			if err := s.httpSrv.Shutdown(ctx); err != nil {
				s.closeErr = errors.Join(s.closeErr, fmt.Errorf("http shutdown: %w", err))
				s.httpSrv.Close()
			}
			<-s.serveDone
		}
		s.cancel()
		s.closeStores()
	})
	return s.closeErr
}

func (s *Sandbox) closeStores() {
	if s.runner != nil {
		s.runner.Close()
	}
	if s.sftpLn != nil {
		s.sftpLn.Close()
	}
	if s.sftp != nil {
		if err := s.sftp.Close(); err != nil {
			s.closeErr = errors.Join(s.closeErr, fmt.Errorf("sftp: %w", err))
		}
	}
	if s.httpSrv == nil && s.httpLn != nil {
		s.httpLn.Close()
	}
	if s.db != nil {
		if err := s.db.Close(); err != nil {
			s.closeErr = errors.Join(s.closeErr, err)
		}
	}
	if s.tempDir != "" {
		if err := os.RemoveAll(s.tempDir); err != nil {
			s.closeErr = errors.Join(s.closeErr, fmt.Errorf("remove the ephemeral data_dir: %w", err))
		}
	}
}

func listen(addr string) (net.Listener, error) {
	return net.Listen("tcp", addr)
}

// listenError names the setting behind an address that could not be bound.
func listenError(cfg config.Config, key, addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s: %s: %s is already in use (another ogsandbox?); choose a free port in %s, or set it with --%s / %s",
			cfg.Origin(key), key, addr, key, flagName(key), config.EnvName(flagName(key)))
	}
	return fmt.Errorf("%s: %s: cannot listen on %s: %w", cfg.Origin(key), key, addr, err)
}

func flagName(key string) string {
	if key == "sftp_listen" {
		return "sftp-listen"
	}
	return key
}

// hostPort formats a listener's address for URLs, naming 127.0.0.1 rather than [::].
func hostPort(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	host := ta.IP.String()
	if ta.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, fmt.Sprint(ta.Port))
}

var _ io.Closer = (*Sandbox)(nil)
