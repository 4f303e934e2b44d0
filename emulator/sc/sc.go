// Package sc is the subscription creation surface, <SC_DOMAIN>: the purchase POST
// (POST /subscription/create, P1-P8) and its status endpoint (GET /subscription/{id}/response).
//
// It answers as staging does (201, 207, 400, 401, 409 with staging's fields) and explains
// every refusal beside staging's fields in a diagnostics list: the rule, the field, what was
// expected. It authenticates with the HMAC authorization header (A1-A4) or an application
// x-api-key, reads every body form real clients send (P1, C2), decrypts the payment fields
// (E1, E2) and never keeps a card number (E4).
package sc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ogsandbox/ogsandbox/emulator/admit"
	"github.com/ogsandbox/ogsandbox/emulator/faults"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
	"github.com/ogsandbox/ogsandbox/emulator/web"
)

// AttemptRecorder keeps each purchase POST for the P8 conformance checks.
type AttemptRecorder interface {
	RecordAttempt(merchantID string, a og.PurchaseAttempt)
}

// Server is the purchase POST surface.
type Server struct {
	Merchants *og.Merchants
	Checkout  og.CheckoutService
	Attempts  AttemptRecorder
	Faults    *faults.Injector
	Clock     og.Clock
	Log       *slog.Logger
	// Stopping is closed when the sandbox begins to shut down: an injected latency then ends,
	// and the answer goes out, rather than be cut off with the connection.
	Stopping <-chan struct{}
	// Admit bounds how many purchase POSTs do their CPU work at once, from the body read to
	// the answer (see package admit); nil admits all.
	Admit *admit.Gate
}

// delay waits out an injected latency (real time: it exists to trip the client's own timeout).
// It ends early when the client goes (gone), or when the sandbox shuts down (cut).
func (srv *Server) delay(ctx context.Context, d time.Duration) (waited time.Duration, gone, cut bool) {
	if d <= 0 {
		return 0, false, false
	}
	start := time.Now()
	t := time.NewTimer(d)
	defer t.Stop()
	admit.From(ctx).Outside(func() { // a slot's holder leaves it while it waits
		select {
		case <-t.C:
		case <-ctx.Done():
			gone = true
		case <-srv.Stopping:
			cut = true
		}
	})
	if !gone && !cut {
		return d, false, false
	}
	return time.Since(start), gone, cut
}

// cutShort notes on the exchange that the sandbox's shutdown ended an injected latency.
func cutShort(c echo.Context, waited time.Duration) {
	web.Note(c, fmt.Sprintf("the injected latency was cut short after %s: the sandbox is shutting down", waited.Round(time.Millisecond)))
}

// Register adds the routes of <SC_DOMAIN> to s.
func (srv *Server) Register(s *web.Server) {
	r := s.Router(og.SurfaceSC)
	r.POST("/subscription/create", srv.create)
	r.POST("/subscription/create/", srv.create)
	r.GET("/subscription/:id/response", srv.response)
	r.GET("/subscription/:id/response/", srv.response)
	r.Fallback("/subscription/", func(c echo.Context, status int, err error) error {
		path := c.Request().URL.Path
		switch status {
		case http.StatusMethodNotAllowed:
			want := "the purchase POST is POST " + path
			if path != "/subscription/create" && path != "/subscription/create/" {
				want = "the result of a purchase POST is GET " + path
			}
			return c.JSON(status, map[string]any{"detail": fmt.Sprintf("Method %q not allowed.", c.Request().Method),
				"diagnostics": []og.Diagnostic{og.Finding("P1", "method", want)}})
		case http.StatusNotFound:
			hint := ""
			if strings.Contains(path, "//") {
				hint = " (the path has a doubled slash: a base URL ending in / joined to a path starting with /?)"
			}
			return c.JSON(status, map[string]any{"detail": "Not found.",
				"diagnostics": []og.Diagnostic{og.Finding("P1", "path", fmt.Sprintf(
					"no %s %s here%s: the purchase POST is POST /subscription/create (a trailing slash is allowed) and its result GET /subscription/{subs_req_id}/response",
					c.Request().Method, og.Clip(path), hint))}})
		}
		return errors.New("not handled")
	})
}

// pendingBody is staging's answer while a purchase request is being processed (P1).
const pendingBody = "Response is pending. Please try again soon."

// auth is who a request authenticated as.
type auth struct {
	m *og.Merchant
	// storefront: a signature over sigField, the customer's user id, whose own objects it
	// reaches (S3); otherwise an application x-api-key, which reaches every object.
	storefront bool
	sigField   string
	warnings   []og.Diagnostic // about the header, for the answer's diagnostics
}

// authenticate checks the storefront authorization header (A1-A4) or an application x-api-key
// (S3, X3). On a failure, the merchant is still returned when the header named one, so that
// the journal files the refusal under it.
func (srv *Server) authenticate(c echo.Context) (auth, *og.Error) {
	req := c.Request()
	if k := req.Header.Get("x-api-key"); k != "" {
		m, ok := srv.Merchants.ByAPIKey(k)
		if !ok {
			return auth{}, og.Errorf(og.EUNAUTHORIZED, "X3", "x-api-key", "x-api-key %s is not an API key of any configured merchant", og.Mask(k))
		}
		return auth{m: m}, nil
	}
	h, err := ogcrypto.ParseAuthHeader(req.Header.Get("Authorization"))
	if err != nil {
		// A header that names its merchant is that merchant's failure, for the journal.
		m, ok := srv.Merchants.ByPublicID(h.PublicID)
		if !ok {
			m, _ = srv.Merchants.ByID(h.PublicID)
		}
		return auth{m: m}, err
	}
	a := auth{warnings: h.Warnings}
	m, ok := srv.Merchants.ByPublicID(h.PublicID)
	if !ok {
		m, ok = srv.Merchants.ByID(h.PublicID)
		if !ok {
			e := og.Errorf(og.EUNAUTHORIZED, "A4", "authorization.public_id",
				"no merchant has public_id %s: use the public_id the sandbox printed at start-up (GET /_sandbox/merchants lists them)", quote(h.PublicID))
			e.Wire = msgInvalidMerchant + og.Clip(h.PublicID) // REFERENCE §3.4
			return auth{}, e
		}
		// Real integrations send one id in both places (the SFCC cartridge fills the header's
		// public_id and the body's merchant_id from one setting), and staging takes it
		// (REFERENCE §1.2: a header whose public_id was "Your Merchant ID" was answered 200).
		a.warnings = append(a.warnings, og.Warning("A4", "authorization.public_id", fmt.Sprintf(
			"%q is the merchant_id of %q; the header's public_id is %s (M1). Accepted, as staging accepts it", h.PublicID, m.Name, m.PublicID)))
	}
	a.m = m
	if verr := ogcrypto.Verify(m.HashKey, h.Signed(), srv.Clock.Wall()); verr != nil {
		// A warning about the field that failed says again what the refusal says.
		verr.Diagnostics = append(verr.AllDiagnostics(), slices.DeleteFunc(a.warnings, func(w og.Diagnostic) bool { return w.Field == verr.Field })...)
		return a, verr
	}
	a.storefront, a.sigField = true, h.SigField
	return a, nil
}

// create is the purchase POST (P1-P8). The request is authenticated first: a fault injected
// for the merchant (PUT /_sandbox/faults) then applies, and every attempt is filed under the
// merchant it authenticated as, for the P8 checks.
//
// Its work is done in an admission slot (package admit), taken once the body is read and
// left while it waits (for the commit, for an injected latency) and before the answer goes
// out: the answer is kept until then, so that a client that does not read it holds no slot.
func (srv *Server) create(c echo.Context) error {
	started := srv.Clock.Wall()
	raw, rerr := web.ReadBody(c, MaxBody)
	// A body that stopped arriving ends the request's context (the read deadline): it is
	// still answered (408), so only a request read whole gives up its place in the queue.
	if rerr != nil {
		srv.Admit.Enter()
	} else if !srv.Admit.EnterCtx(c.Request().Context()) {
		c.Response().Status = 0
		web.Note(c, "the client went away before the sandbox, busy with other purchase POSTs, could process its request: nothing was created")
		return nil
	}
	c.SetRequest(c.Request().WithContext(admit.With(c.Request().Context(), srv.Admit)))
	out := &heldWriter{ResponseWriter: c.Response().Writer}
	c.Response().Writer = out
	err := func() error {
		defer srv.Admit.Leave()
		return srv.admitted(c, started, raw, rerr)
	}()
	c.Response().Writer = out.ResponseWriter
	if out.buf.Len() > 0 {
		if _, werr := out.ResponseWriter.Write(out.buf.Bytes()); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// heldWriter keeps the body written to it until the handler has left its admission slot.
type heldWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (w *heldWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }
func (w *heldWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// admitted is create once the body is read and a slot is held.
func (srv *Server) admitted(c echo.Context, started time.Time, raw []byte, rerr error) error {
	req := c.Request()
	if rerr != nil {
		web.ScanCardNumbers(c) // a body cut short (413, 408) is parsed by nobody
		oe := og.AsError(rerr)
		return c.JSON(web.StatusOf(oe.Code), errorBody(map[string]any{"body": oe.Message}, []og.Diagnostic{og.Finding("P1", "body", oe.Message)}))
	}
	var diags []og.Diagnostic
	if ct := req.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		diags = append(diags, og.Warning("P1", "content-type", fmt.Sprintf("content-type is %q; staging expects application/json even for a create_request= body (P1)", ct)))
	}
	a, aerr := srv.authenticate(c)
	if a.m != nil {
		web.SetMerchant(c, a.m.ID)
	}
	if aerr != nil {
		all := append(aerr.AllDiagnostics(), diags...)
		web.AddDiagnostics(c, all...)
		dec, decErr := decodeBody(raw)
		redactUnprocessed(c, dec, decErr, a.m)
		wire := aerr.Message
		if aerr.Wire != "" {
			wire = aerr.Wire
		}
		return c.JSON(http.StatusUnauthorized, map[string]any{"error": wire, "errors": map[string]any{aerr.Field: wire}, "diagnostics": all})
	}
	m := a.m
	diags = append(diags, a.warnings...)
	dec, decErr := decodeBody(raw)
	attempt := og.PurchaseAttempt{At: srv.Clock.Now(), Wall: started}
	attempt.Conn, attempt.ConnOpened = web.ConnOf(req.Context())
	if dec != nil {
		switch id := dec.obj["merchant_order_id"].(type) {
		case string:
			attempt.MerchantOrderID = id
		case json.Number:
			attempt.MerchantOrderID = id.String()
		}
	}
	record := func(status int) {
		attempt.Status, attempt.Answered = status, srv.Clock.Wall()
		srv.Attempts.RecordAttempt(m.ID, attempt)
	}

	f := srv.Faults.Take(faults.Request{Surface: og.SurfaceSC, Merchant: m.ID, Path: req.URL.Path, Main: true})
	if f != nil {
		web.Note(c, f.Describe())
		attempt.Fault = f.Describe()
		if (f.Status != 0 || f.Drop) && !f.AfterProcessing {
			redactUnprocessed(c, dec, decErr, m)
			waited, gone, cut := srv.delay(req.Context(), f.Latency)
			attempt.DelayMS, attempt.WaitedMS = ms(f.Latency), ms(waited)
			if cut {
				cutShort(c, waited)
			}
			if f.Drop || gone {
				record(0)
				return web.Drop(c)
			}
			record(f.Status)
			return faultAnswer(c, f)
		}
	}

	status, body := srv.process(c, a, dec, decErr, diags)
	if f != nil && f.Latency > 0 {
		waited, gone, cut := srv.delay(req.Context(), f.Latency)
		attempt.DelayMS, attempt.WaitedMS = ms(f.Latency), ms(waited)
		if cut {
			cutShort(c, waited)
		}
		if gone {
			record(status)
			c.Response().Status = 0
			web.Note(c, fmt.Sprintf("the client gave up after %s, before the answer (%d)", time.Duration(attempt.WaitedMS*float64(time.Millisecond)).Round(time.Millisecond), status))
			return nil // there is nobody to answer
		}
	}
	if f != nil && f.Drop {
		record(0)
		return web.Drop(c)
	}
	if f != nil && f.Status != 0 { // after processing: what was done stays done
		web.Note(c, fmt.Sprintf("processed (%d), then answered %d instead", status, f.Status))
		record(f.Status)
		return faultAnswer(c, f)
	}
	record(status)
	return c.JSON(status, body)
}

// faultAnswer answers an injected status.
func faultAnswer(c echo.Context, f *faults.Fault) error {
	return c.JSON(f.Status, map[string]any{"detail": http.StatusText(f.Status),
		"diagnostics": []og.Diagnostic{og.Warning("P8", "request", fmt.Sprintf("%s (PUT /_sandbox/faults); P8: on a 5xx, resend 3 times within 10 minutes, then once after 24 hours", f.Describe()))}})
}

// redactUnprocessed registers the secrets of a purchase body that is answered without being
// processed (a refused authorization, an injected fault), so that the journal masks them as
// it masks a processed one's; a body that cannot be parsed has the journal scan it for card
// numbers instead.
func redactUnprocessed(c echo.Context, dec *decoded, decErr *og.Error, m *og.Merchant) {
	if decErr != nil {
		web.ScanCardNumbers(c)
		return
	}
	key := ""
	if m != nil {
		key = m.HashKey
	}
	_, _, r := readPurchase(key, dec.obj)
	web.Redact(c, r.secrets...)
}

// process reads and applies an authenticated purchase POST and returns its answer.
func (srv *Server) process(c echo.Context, a auth, dec *decoded, decErr *og.Error, diags []og.Diagnostic) (int, any) {
	m := a.m
	if decErr != nil {
		web.ScanCardNumbers(c) // no field names its secrets
		all := append(decErr.AllDiagnostics(), diags...)
		web.AddDiagnostics(c, all...)
		return http.StatusBadRequest, errorBody(map[string]any{decErr.Field: decErr.Message}, all)
	}
	web.Note(c, dec.note())
	diags = append(diags, dec.diags...)
	p, bodyMerchant, rd := readPurchase(m.HashKey, dec.obj)
	web.Redact(c, rd.secrets...)
	diags = append(diags, rd.diags...)
	if bodyMerchant != "" && bodyMerchant == m.PublicID && m.PublicID != m.ID {
		diags = append(diags, og.Warning("M1", "merchant_id", fmt.Sprintf("merchant_id %q is the merchant's public_id; the body's merchant_id is %s (M1). Accepted, as staging accepts it", bodyMerchant, m.ID)))
	}
	if bodyMerchant != "" && bodyMerchant != m.ID && bodyMerchant != m.PublicID {
		d := og.Finding("M2", "merchant_id", fmt.Sprintf("merchant_id %q is not the merchant the request authenticated as (%s): a credential of one merchant never writes another's data", bodyMerchant, m.ID))
		all := append([]og.Diagnostic{d}, diags...)
		web.AddDiagnostics(c, all...)
		return http.StatusUnauthorized, map[string]any{"error": msgInvalidMerchant + bodyMerchant, "errors": map[string]any{"merchant_id": msgInvalidMerchant + bodyMerchant}, "diagnostics": all}
	}
	if a.storefront && p.User.UserID != "" && a.sigField != p.User.UserID {
		d := og.Finding("A4", "authorization.sig_field", fmt.Sprintf("the signature is over sig_field %q but the purchase is for user.user_id %q: sign the customer's merchant user id", a.sigField, p.User.UserID))
		all := append([]og.Diagnostic{d}, diags...)
		web.AddDiagnostics(c, all...)
		return http.StatusUnauthorized, map[string]any{"error": d.Message, "errors": map[string]any{"authorization.sig_field": d.Message}, "diagnostics": all}
	}
	if rd.failed() {
		web.AddDiagnostics(c, diags...)
		return http.StatusBadRequest, errorBody(rd.errs, diags)
	}
	res, err := srv.Checkout.Checkout(c.Request().Context(), m, &p)
	if err != nil {
		srv.Log.Error("sc: checkout failed", "merchant", m.ID, "err", err)
		return http.StatusInternalServerError, map[string]any{"detail": "Internal error."}
	}
	diags = append(diags, res.Diagnostics...)
	web.AddDiagnostics(c, diags...)
	if res.Status == http.StatusCreated {
		body := map[string]any{"result": "Subscription request received", "subs_req_id": res.SubsReqID}
		if len(diags) > 0 {
			body["diagnostics"] = diags
		}
		return res.Status, body
	}
	body := errorBody(res.Errors, diags)
	for k, v := range map[string]string{"customer": res.Customer, "shipping_address": res.ShippingAddress, "payment": res.Payment, "subs_req_id": res.SubsReqID} {
		if v != "" {
			body[k] = v
		}
	}
	body["subscriptions"] = res.Subscriptions
	return res.Status, body
}

// errorBody is the body of a 207, 400 or 409 (P6): staging's errors object, its flat
// error_message (the first refusal), and the diagnostics.
func errorBody(errs map[string]any, diags []og.Diagnostic) map[string]any {
	body := map[string]any{"errors": errs, "diagnostics": diags}
	for _, d := range diags {
		if d.Severity == og.SeverityWarning {
			continue
		}
		if v, ok := errs[d.Field].(string); ok {
			key := "error_message"
			if v == msgMerchantString || strings.HasPrefix(v, msgInvalidMerchant) {
				key = "error" // staging's merchant errors are {"error": ...} (REFERENCE §3.4)
			}
			body[key] = v
			break
		}
	}
	if _, ok := body["error_message"]; !ok && body["error"] == nil {
		// Per-product errors only: the first message of the first product, in key order.
		keys := make([]string, 0, len(errs))
		for k := range errs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
	find:
		for _, k := range keys {
			switch v := errs[k].(type) {
			case string:
				body["error_message"] = v
				break find
			case map[string]string:
				for _, f := range sortedKeys(v) {
					body["error_message"] = k + ": " + v[f]
					break find
				}
			}
		}
	}
	if diags == nil {
		body["diagnostics"] = []og.Diagnostic{}
	}
	return body
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// response is GET /subscription/{subs_req_id}/response (P1): 202 while pending, 200 with the
// created ids when done.
func (srv *Server) response(c echo.Context) error {
	a, aerr := srv.authenticate(c)
	if a.m != nil {
		web.SetMerchant(c, a.m.ID)
	}
	if aerr != nil {
		web.AddDiagnostics(c, aerr.AllDiagnostics()...)
		return c.JSON(http.StatusForbidden, map[string]any{"detail": "Authentication Failed", "diagnostics": aerr.AllDiagnostics()})
	}
	m := a.m
	id := c.Param("id")
	if f := srv.Faults.Take(faults.Request{Surface: og.SurfaceSC, Merchant: m.ID, Path: c.Request().URL.Path}); f != nil {
		web.Note(c, f.Describe())
		waited, gone, cut := srv.delay(c.Request().Context(), f.Latency)
		if gone {
			c.Response().Status = 0
			return nil
		}
		if cut {
			cutShort(c, waited)
		}
		switch {
		case f.Drop:
			return web.Drop(c)
		case f.Status == http.StatusAccepted:
			return c.String(http.StatusAccepted, pendingBody)
		case f.Status != 0:
			return c.JSON(f.Status, map[string]string{"detail": http.StatusText(f.Status)})
		}
	}
	if !og.IsHex(id, 24) {
		why := fmt.Sprintf("%s is not a subs_req_id (24 hex digits, as the purchase POST's 201 answers)", quote(id))
		if og.IsHex(strings.ToLower(id), 24) {
			why = fmt.Sprintf("%s has upper-case letters: a subs_req_id is 24 lower-case hex digits, matched exactly as the purchase POST's 201 answered it", quote(id))
		}
		d := og.Finding("P5", "subs_req_id", why)
		web.AddDiagnostics(c, d)
		return c.JSON(http.StatusNotFound, map[string]any{"detail": "Not found", "diagnostics": []og.Diagnostic{d}})
	}
	res, err := srv.Checkout.PurchaseResponse(c.Request().Context(), m.ID, id)
	if og.ErrorCode(err) == og.ENOTFOUND {
		d := og.Finding("P1", "subs_req_id", fmt.Sprintf("merchant %s has no purchase request %s", m.ID, id))
		web.AddDiagnostics(c, d)
		return c.JSON(http.StatusNotFound, map[string]any{"detail": "Not found", "diagnostics": []og.Diagnostic{d}})
	} else if err != nil {
		return err
	}
	if a.storefront && res.Customer != a.sigField {
		// Storefront scope is the signed customer's own objects (S3); an x-api-key sees all.
		d := og.Finding("S3", "authorization.sig_field", fmt.Sprintf("purchase request %s is another customer's: a storefront signature (sig_field %q) reads only its own customer's requests", id, a.sigField))
		web.AddDiagnostics(c, d)
		return c.JSON(http.StatusNotFound, map[string]any{"detail": "Not found", "diagnostics": []og.Diagnostic{d}})
	}
	body := map[string]any{
		"customer": res.Customer, "payment": res.Payment, "shipping_address": res.ShippingAddress,
		"subscriptions": res.Subscriptions, "errors": res.Errors,
	}
	if len(a.warnings) > 0 {
		web.AddDiagnostics(c, a.warnings...)
		body["diagnostics"] = a.warnings
	}
	return c.JSON(http.StatusOK, body)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
