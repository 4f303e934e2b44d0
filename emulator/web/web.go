// Package web is the HTTP plumbing every HTTP surface shares: the echo instance, routing that
// tags each route with its surface, the journal middleware that records every exchange with
// its secrets masked (X2, X5), bounded body reading, and the JSON rendering.
//
// Surfaces (emulator/sc, emulator/api, emulator/control, ...) register routes on a Router and
// render their own errors in their own wire shape; this package renders only what no surface
// claimed (an unknown path, a wrong method), through the fallback a surface registered for
// its path prefix.
package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// Context keys.
const (
	keySurface   = "og.surface"
	keyMerchant  = "og.merchant"
	keyDiags     = "og.diags"
	keyRedact    = "og.redact"
	keyScanCards = "og.scan_cards"
	keyNote      = "og.note"
	keySkip      = "og.skipjournal"
	keyDropped   = "og.dropped"
)

// Drop closes the request's connection without an answer (status 0 in the journal), once the
// journal has recorded the exchange: a client that resends at once, as it should after a
// dropped connection (P8), finds the drop journaled before its resend.
func Drop(c echo.Context) error {
	c.Response().Status = 0
	conn, _, err := c.Response().Hijack()
	if err != nil {
		return err
	}
	c.Set(keyDropped, conn)
	return nil
}

// Fallback renders a framework error (404, 405) for requests under a path prefix.
type Fallback func(c echo.Context, status int, err error) error

// Server is the echo instance of the HTTP listener.
type Server struct {
	Echo *echo.Echo
	// BodyTimeout bounds how long a request's body may stop arriving: a client that stalls
	// mid-body gets 408, not a connection held for ever (a slow but steady body is fine). Zero
	// means DefaultBodyTimeout.
	BodyTimeout time.Duration
	// known are the configured secrets' forms (KnowSecrets): masked wherever they appear;
	// knownAll finds them in one pass when there are many.
	known     []string
	knownAll  *strings.Replacer
	journal   og.JournalService
	clock     og.Clock
	log       *slog.Logger
	fallbacks []prefixFallback
}

type prefixFallback struct {
	prefix  string
	surface string
	fn      Fallback
}

// surfaceOf names the surface of a path no route matched, from the fallbacks' prefixes.
func (s *Server) surfaceOf(path string) string {
	if f := s.fallbackFor(path); f != nil && f.surface != "" {
		return f.surface
	}
	return og.SurfaceHTTP
}

func (s *Server) fallbackFor(path string) *prefixFallback {
	for strings.Contains(path, "//") { // a base URL ending in / joined to a path starting with /
		path = strings.ReplaceAll(path, "//", "/")
	}
	var best *prefixFallback
	for i, f := range s.fallbacks {
		if strings.HasPrefix(path, f.prefix) && (best == nil || len(f.prefix) > len(best.prefix)) {
			best = &s.fallbacks[i]
		}
	}
	return best
}

// New returns the HTTP server every surface registers on.
func New(journal og.JournalService, clock og.Clock, log *slog.Logger) *Server {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.JSONSerializer = jsonSerializer{}
	e.Logger.SetOutput(io.Discard)
	s := &Server{Echo: e, journal: journal, clock: clock, log: log}
	e.HTTPErrorHandler = s.handleError
	e.Use(s.recordMiddleware)
	return s
}

// Router registers routes of one surface.
type Router struct {
	s       *Server
	surface string
}

// Router returns a router whose routes are recorded as surface.
func (s *Server) Router(surface string) Router { return Router{s: s, surface: surface} }

// Fallback renders framework errors under prefix (the longest matching prefix wins); the
// journal records unmatched requests under prefix as the router's surface.
func (r Router) Fallback(prefix string, fn Fallback) {
	r.s.fallbacks = append(r.s.fallbacks, prefixFallback{prefix, r.surface, fn})
}

func (r Router) tag(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(keySurface, r.surface)
		return next(c)
	}
}

// Add registers h for method and path.
func (r Router) Add(method, path string, h echo.HandlerFunc) {
	r.s.Echo.Add(method, path, h, r.tag)
}

// GET registers a GET route.
func (r Router) GET(path string, h echo.HandlerFunc) { r.Add(http.MethodGet, path, h) }

// POST registers a POST route.
func (r Router) POST(path string, h echo.HandlerFunc) { r.Add(http.MethodPost, path, h) }

// PUT registers a PUT route.
func (r Router) PUT(path string, h echo.HandlerFunc) { r.Add(http.MethodPut, path, h) }

// PATCH registers a PATCH route.
func (r Router) PATCH(path string, h echo.HandlerFunc) { r.Add(http.MethodPatch, path, h) }

// DELETE registers a DELETE route.
func (r Router) DELETE(path string, h echo.HandlerFunc) { r.Add(http.MethodDelete, path, h) }

var pathParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// Routes returns "METHOD path" of every route whose path starts with prefix, sorted by path.
func (s *Server) Routes(prefix string) []string {
	var out []string
	for _, rt := range s.Echo.Routes() {
		if strings.HasPrefix(rt.Path, prefix) && !strings.HasSuffix(rt.Path, "/*") {
			out = append(out, rt.Method+" "+pathParam.ReplaceAllString(rt.Path, "{$1}"))
		}
	}
	sortRoutes(out)
	return out
}

func sortRoutes(rs []string) {
	path := func(r string) string { _, p, _ := strings.Cut(r, " "); return p }
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && (path(rs[j]) < path(rs[j-1]) || path(rs[j]) == path(rs[j-1]) && rs[j] < rs[j-1]); j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// SetMerchant records which merchant an exchange belongs to (M2), for the journal.
func SetMerchant(c echo.Context, merchantID string) { c.Set(keyMerchant, merchantID) }

// AddDiagnostics records findings of an exchange, for the journal.
func AddDiagnostics(c echo.Context, diags ...og.Diagnostic) {
	prev, _ := c.Get(keyDiags).([]og.Diagnostic)
	c.Set(keyDiags, append(prev, diags...))
}

// Redact registers secret values the handler found in the request (a card number, a password)
// so that the journal masks them wherever they appear.
func Redact(c echo.Context, secrets ...string) {
	prev, _ := c.Get(keyRedact).([]string)
	for _, s := range secrets {
		if len(s) >= 4 {
			prev = append(prev, s)
		}
	}
	c.Set(keyRedact, prev)
}

// ScanCardNumbers says the handler could not parse the request body, so Redact could not name
// its secrets: the journal masks its payment fields by their names, and a final run of digits
// its body bound cut short (every body has its card numbers masked).
func ScanCardNumbers(c echo.Context) { c.Set(keyScanCards, true) }

// Note adds a note to the exchange's journal entry. Notes add up: a fault's note stays beside
// how the body was read.
func Note(c echo.Context, note string) {
	if prev, _ := c.Get(keyNote).(string); prev != "" && prev != note {
		note = prev + "; " + note
	}
	c.Set(keyNote, note)
}

// SkipJournal keeps an exchange out of the journal (reads of the control API).
func SkipJournal(c echo.Context) { c.Set(keySkip, true) }

// DefaultBodyTimeout is Server.BodyTimeout's default.
const DefaultBodyTimeout = 30 * time.Second

// ReadBody reads the request body, refusing one over max bytes with an ETOOLARGE error, and one
// that stalls past the server's BodyTimeout with an ETIMEOUT error.
func ReadBody(c echo.Context, max int64) ([]byte, error) {
	r := c.Request()
	if r.ContentLength > max {
		return nil, og.Errorf(og.ETOOLARGE, "", "body", "the body is %d bytes; this endpoint takes at most %d", r.ContentLength, max)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if Stalled(err) {
		return nil, og.Errorf(og.ETIMEOUT, "", "body", "the body stopped arriving: %d of %s bytes came, then nothing for the deadline; send the whole body at once", len(b), lengthOf(r))
	}
	if err != nil {
		return nil, og.Errorf(og.EINVALID, "", "body", "reading the body failed: %v", err)
	}
	if int64(len(b)) > max {
		return nil, og.Errorf(og.ETOOLARGE, "", "body", "the body is over %d bytes, the most this endpoint takes", max)
	}
	return b, nil
}

// Stalled reports whether a read of a request body failed because the body stopped arriving
// for the server's BodyTimeout.
func Stalled(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// lengthOf says how long the request said its body is.
func lengthOf(r *http.Request) string {
	if r.ContentLength < 0 {
		return "an unstated number of (chunked)"
	}
	return strconv.FormatInt(r.ContentLength, 10)
}

// jsonSerializer writes JSON without HTML escaping: diagnostics quote '<' and '&' as they are.
type jsonSerializer struct{}

func (jsonSerializer) Serialize(c echo.Context, i any, indent string) error {
	enc := json.NewEncoder(c.Response())
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	return enc.Encode(i)
}

func (jsonSerializer) Deserialize(c echo.Context, i any) error {
	dec := json.NewDecoder(c.Request().Body)
	if err := dec.Decode(i); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "the body is not valid JSON: "+err.Error()).SetInternal(err)
	}
	return nil
}

// handleError renders what no handler rendered itself: framework errors, and errors a handler
// returned instead of rendering.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := http.StatusInternalServerError
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status = he.Code
	} else if oe := og.AsError(err); oe != nil {
		status = StatusOf(oe.Code)
	} else {
		s.log.Error("http: unhandled error", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	if best := s.fallbackFor(c.Request().URL.Path); best != nil {
		if rerr := best.fn(c, status, err); rerr == nil {
			return
		}
	}
	// Ordergroove's REST API is Django REST framework: errors are {"detail": ...}.
	detail := http.StatusText(status)
	switch status {
	case http.StatusNotFound:
		detail = "Not found."
	case http.StatusMethodNotAllowed:
		detail = fmt.Sprintf("Method %q not allowed.", c.Request().Method)
	case http.StatusInternalServerError:
		detail = "Internal error."
	default:
		if oe := og.AsError(err); oe != nil {
			detail = oe.Message
		}
	}
	_ = c.JSON(status, map[string]string{"detail": detail})
}

// StatusOf maps an og error code to its HTTP status.
func StatusOf(code string) int {
	switch code {
	case og.EINVALID:
		return http.StatusBadRequest
	case og.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case og.ECONFLICT:
		return http.StatusConflict
	case og.ENOTFOUND:
		return http.StatusNotFound
	case og.ELOCKED:
		return http.StatusLocked
	case og.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case og.ETIMEOUT:
		return http.StatusRequestTimeout
	default:
		return http.StatusInternalServerError
	}
}
