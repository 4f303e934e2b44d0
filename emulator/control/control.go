// Package control is the sandbox's own API under {base}/_sandbox/ (../shared/CONTROL.md):
// health, the clock, reset, the merchants and the journal. Its names are fixed: scripts,
// CI jobs and an acceptance suite depend on them.
//
// Control errors are {"error": what went wrong, "field": the field at fault, "expected": what
// would have been accepted}; an unknown control path gets a 404 listing the valid ones.
package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ogsandbox/ogsandbox/emulator/clock"
	"github.com/ogsandbox/ogsandbox/emulator/faults"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/web"
)

// Prefix is the path of the control API.
const Prefix = "/_sandbox"

// MaxBody bounds a control request body (PUT products takes a whole feed and bounds its own).
const MaxBody = 1 << 20

// Advancer moves the sandbox clock and runs the scheduled work on the way (clock.Runner).
type Advancer interface {
	Advance(ctx context.Context, to time.Time) (clock.Advanced, error)
	AdvanceBy(ctx context.Context, sp clock.Span) (clock.Advanced, error)
}

// Server is the control API.
type Server struct {
	Version   string
	Clock     og.Clock
	Advancer  Advancer
	Merchants *og.Merchants
	Journal   og.JournalService

	Catalogue     og.CatalogueService
	Subscriptions og.SubscriptionService
	Customers     og.CustomerService
	Checkout      og.CheckoutService
	Feeds         FeedLog
	Ingest        Ingest
	Attempts      AttemptLog
	Faults        *faults.Injector
	Orders        og.OrderService

	// Reset forgets every merchant's data and the journal (POST /_sandbox/reset).
	Reset func(ctx context.Context) error
	// Ready reports whether every surface accepts work and the merchants are loaded, and the
	// surfaces' addresses.
	Ready func() (bool, map[string]string)
	Log   *slog.Logger
	// Lifetime is cancelled when the sandbox shuts down: an advance outlives the request that
	// asked for it (a client timing out must not leave the clock half-way) but not the sandbox.
	Lifetime context.Context
}

// Register adds the control routes to s.
func (srv *Server) Register(s *web.Server) {
	r := s.Router(og.SurfaceControl)
	r.GET(Prefix+"/health", srv.health)
	r.GET(Prefix+"/clock", srv.getClock)
	r.POST(Prefix+"/clock/advance", srv.advance)
	r.POST(Prefix+"/reset", srv.reset)
	r.GET(Prefix+"/merchants", srv.merchants)
	r.GET(Prefix+"/journal", srv.journal)
	srv.registerMerchant(r)
	r.Fallback(Prefix, func(c echo.Context, status int, err error) error {
		req := c.Request()
		switch status {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			return c.JSON(status, map[string]any{
				"error": fmt.Sprintf("there is no control endpoint %s %s", req.Method, req.URL.Path),
				"valid": s.Routes(Prefix + "/"),
			})
		}
		if oe := og.AsError(err); oe != nil {
			return Fail(c, web.StatusOf(oe.Code), oe.Field, oe.Message, "")
		}
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return Fail(c, status, "", fmt.Sprint(he.Message), "")
		}
		if srv.Log != nil {
			srv.Log.Error("control: internal error", "path", req.URL.Path, "err", err)
		}
		return Fail(c, status, "", "internal error (the sandbox's log says why)", "")
	})
}

// Fail writes a control error.
func Fail(c echo.Context, status int, field, msg, expected string) error {
	body := map[string]string{"error": msg}
	if field != "" {
		body["field"] = field
	}
	if expected != "" {
		body["expected"] = expected
	}
	return c.JSON(status, body)
}

func (srv *Server) health(c echo.Context) error {
	ready, surfaces := srv.Ready()
	body := Health{Status: "ready", Version: srv.Version, Now: srv.Clock.Now().Format(time.RFC3339Nano),
		Surfaces: surfaces, Merchants: len(srv.Merchants.All())}
	if !ready {
		body.Status = "starting"
		return c.JSON(http.StatusServiceUnavailable, body)
	}
	return c.JSON(http.StatusOK, body)
}

func (srv *Server) getClock(c echo.Context) error {
	now, wall := srv.Clock.Now(), srv.Clock.Wall()
	off := now.Sub(wall).Round(time.Second)
	return c.JSON(http.StatusOK, ClockState{Now: now.Format(time.RFC3339Nano), Wall: wall.Format(time.RFC3339Nano),
		Offset: clock.Format(off), OffsetSeconds: int64(off / time.Second)})
}

// Health is the body of GET /_sandbox/health.
type Health struct {
	Status    string            `json:"status"` // "ready", or "starting" with a 503
	Version   string            `json:"version"`
	Now       string            `json:"now"`
	Surfaces  map[string]string `json:"surfaces"`
	Merchants int               `json:"merchants"`
}

// ClockState is the body of GET /_sandbox/clock.
type ClockState struct {
	Now           string `json:"now"`
	Wall          string `json:"wall"`
	Offset        string `json:"offset"`
	OffsetSeconds int64  `json:"offset_seconds"`
}

// AdvanceResult is the body of POST /_sandbox/clock/advance.
type AdvanceResult struct {
	From   string      `json:"from"`
	Now    string      `json:"now"`
	Runs   int         `json:"runs"`
	Orders OrderCounts `json:"orders"`
	// Feeds counts the product feeds read at Ordergroove's 30-minute pickups (F1).
	Feeds int `json:"feeds"`
}

// OrderCounts sums what the placement runs of an advance decided.
type OrderCounts struct {
	Placed   int `json:"placed"`
	Rejected int `json:"rejected"`
	Pending  int `json:"pending"`
}

type advanceRequest struct {
	By *string `json:"by"`
	To *string `json:"to"`
}

func (srv *Server) advance(c echo.Context) error {
	const want = `{"by": "30d"} or {"to": "2026-02-01T00:00:00Z"}`
	body, rerr := web.ReadBody(c, MaxBody)
	if rerr != nil {
		return rerr
	}
	var req advanceRequest
	if len(strings.TrimSpace(string(body))) == 0 {
		return Fail(c, http.StatusBadRequest, "by", "the body is empty", want)
	}
	if derr := strictJSON(string(body), &req); derr != nil {
		field, msg := jsonProblem(derr, "")
		return Fail(c, http.StatusBadRequest, field, "the body is not a JSON object of by or to: "+msg, want)
	}
	ctx := srv.Lifetime
	if ctx == nil {
		ctx = context.WithoutCancel(c.Request().Context())
	}
	var res clock.Advanced
	var err error
	field := "by"
	switch {
	case req.By != nil && req.To != nil:
		return Fail(c, http.StatusBadRequest, "by", "give by or to, not both", want)
	case req.By != nil:
		sp, perr := clock.ParseSpan(*req.By)
		if perr != nil {
			return Fail(c, http.StatusBadRequest, "by", perr.Error(), "a forward duration: a number and a unit (y, mo, w, d, h, m, s), e.g. 30d, 12h, 90m")
		}
		res, err = srv.Advancer.AdvanceBy(ctx, sp)
	case req.To != nil:
		field = "to"
		to, perr := time.Parse(time.RFC3339Nano, *req.To)
		if perr != nil {
			return Fail(c, http.StatusBadRequest, "to", fmt.Sprintf("%q is not an RFC 3339 time", *req.To), "an RFC 3339 time later than now, e.g. "+srv.Clock.Now().Add(24*time.Hour).Format(time.RFC3339))
		}
		res, err = srv.Advancer.Advance(ctx, to)
	default:
		return Fail(c, http.StatusBadRequest, "by", "the body names neither by nor to", want)
	}
	if err != nil {
		var be *clock.BackwardsError
		var tf *clock.TooFarError
		switch {
		case errors.As(err, &be):
			return Fail(c, http.StatusBadRequest, field, err.Error(), "a time at or after "+be.Now.Format(time.RFC3339Nano))
		case errors.As(err, &tf):
			return Fail(c, http.StatusBadRequest, field, err.Error(), "a time at most 100 years after "+tf.Now.Format(time.RFC3339))
		case errors.Is(err, context.Canceled) && ctx.Err() != nil:
			// The sandbox is stopping (README: a long advance is cancelled after 5 seconds).
			return Fail(c, http.StatusServiceUnavailable, "", "the sandbox is shutting down: the advance stopped at "+srv.Clock.Now().Format(time.RFC3339)+"; the runs before it are kept, and the rest run when it starts again", "")
		}
		if srv.Log != nil {
			srv.Log.Error("control: advance failed", "err", err)
		}
		return Fail(c, http.StatusInternalServerError, "", "the advance stopped at "+srv.Clock.Now().Format(time.RFC3339)+": scheduled work failed (the sandbox's log says why); the runs before it are kept", "")
	}
	rep := res.Report
	return c.JSON(http.StatusOK, AdvanceResult{From: res.From.Format(time.RFC3339Nano), Now: res.To.Format(time.RFC3339Nano),
		Runs: rep.Runs, Orders: OrderCounts{Placed: rep.Placed, Rejected: rep.Rejected, Pending: rep.Pending}, Feeds: rep.Feeds})
}

func (srv *Server) reset(c echo.Context) error {
	if err := srv.Reset(c.Request().Context()); err != nil {
		return err
	}
	ids := []string{}
	for _, m := range srv.Merchants.All() {
		ids = append(ids, m.ID)
	}
	return c.JSON(http.StatusOK, map[string]any{"reset": true, "merchants": ids, "now": srv.Clock.Now().Format(time.RFC3339Nano)})
}

func (srv *Server) merchants(c echo.Context) error {
	out := []og.MerchantView{}
	for _, m := range srv.Merchants.All() {
		out = append(out, m.View())
	}
	return c.JSON(http.StatusOK, out)
}

func (srv *Server) journal(c echo.Context) error {
	if ok, err := knownParams(c, "surface", "merchant", "merchant_id", "limit", "cursor", "order"); !ok {
		return err
	}
	q := c.QueryParams()
	f := og.JournalFilter{Surface: q.Get("surface"), MerchantID: q.Get("merchant")}
	if f.MerchantID == "" {
		f.MerchantID = q.Get("merchant_id")
	}
	if f.Surface != "" && !slices.Contains(og.Surfaces, f.Surface) {
		return Fail(c, http.StatusBadRequest, "surface", fmt.Sprintf("unknown surface %q", f.Surface), strings.Join(og.Surfaces, ", "))
	}
	if f.MerchantID != "" {
		if _, ok := srv.Merchants.ByID(f.MerchantID); !ok {
			return Fail(c, http.StatusNotFound, "merchant", fmt.Sprintf("no merchant %q", f.MerchantID), "one of GET /_sandbox/merchants")
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > og.MaxJournalLimit {
			return Fail(c, http.StatusBadRequest, "limit", fmt.Sprintf("limit %q is not a number from 1 to %d", v, og.MaxJournalLimit), fmt.Sprintf("1 to %d", og.MaxJournalLimit))
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return Fail(c, http.StatusBadRequest, "cursor", fmt.Sprintf("cursor %q is not a seq", v), "the next value of the previous page")
		}
		f.Cursor = n
	}
	switch q.Get("order") {
	case "", "desc":
	case "asc":
		f.Ascending = true
	default:
		return Fail(c, http.StatusBadRequest, "order", fmt.Sprintf("order %q", q.Get("order")), "asc or desc")
	}
	page, err := srv.Journal.List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}
