package web

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// MaxRecordedBody is how much of each body the journal keeps.
const MaxRecordedBody = 64 << 10

// MaxRequestBody is the most any request body may be; surfaces bound their own reads lower.
const MaxRequestBody = 256 << 20

// recordMiddleware records every exchange in the journal (X5) once the handler has answered.
// Reads of the control API are left out: they change nothing and would drown the record.
func (s *Server) recordMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		start, wall := s.clock.Now(), s.clock.Wall()
		req.Body = http.MaxBytesReader(c.Response(), req.Body, MaxRequestBody)
		// The first MaxRecordedBody bytes are read here, so that the journal shows what was
		// sent even to a handler that never reads it (a 404); the handler reads them back.
		head, _ := io.ReadAll(io.LimitReader(req.Body, MaxRecordedBody))
		reqCap := &capture{limit: MaxRecordedBody}
		reqCap.Write(head)
		req.Body = prefixedBody{Reader: io.MultiReader(bytes.NewReader(head), teeBody{ReadCloser: req.Body, w: reqCap}), Closer: req.Body}
		respCap := &captureWriter{ResponseWriter: c.Response().Writer, capture: capture{limit: MaxRecordedBody}}
		c.Response().Writer = respCap

		err := next(c)
		if err != nil {
			c.Error(err)
		}
		if skip, _ := c.Get(keySkip).(bool); skip {
			return nil
		}
		surface, _ := c.Get(keySurface).(string)
		if surface == "" {
			surface = s.surfaceOf(req.URL.Path)
		}
		if surface == og.SurfaceControl && req.Method == http.MethodGet && c.Response().Status < 400 {
			return nil
		}
		merchant, _ := c.Get(keyMerchant).(string)
		diags, _ := c.Get(keyDiags).([]og.Diagnostic)
		redact, _ := c.Get(keyRedact).([]string)
		note, _ := c.Get(keyNote).(string)
		m := masker{values: redact}
		reqLen := reqCap.n
		if req.ContentLength > reqLen {
			reqLen = req.ContentLength
		}
		s.journal.Append(og.JournalEntry{
			Time: start, WallTime: wall, Surface: surface, MerchantID: merchant, Direction: og.DirectionIn,
			Request: og.Exchange{
				Method: req.Method, URL: m.text(req.URL.RequestURI()), Header: m.header(req.Header),
				Body: m.text(reqCap.String()), BodyBytes: reqLen, Truncated: reqCap.n > int64(reqCap.buf.Len()),
			},
			Response: og.Exchange{
				Header: m.header(c.Response().Header()), Body: m.text(respCap.String()),
				BodyBytes: respCap.n, Truncated: respCap.n > int64(respCap.buf.Len()),
			},
			Status:     c.Response().Status,
			DurationMS: float64(s.clock.Wall().Sub(wall).Microseconds()) / 1000,
			Rules:      og.Rules(diags),
			Diags:      diags,
			Note:       note,
		})
		return nil
	}
}

// capture keeps the first limit bytes written to it and counts them all.
type capture struct {
	buf   bytes.Buffer
	limit int
	n     int64
}

func (c *capture) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if room := c.limit - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (c *capture) String() string { return c.buf.String() }

type prefixedBody struct {
	io.Reader
	io.Closer
}

type teeBody struct {
	io.ReadCloser
	w io.Writer
}

func (t teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if n > 0 {
		t.w.Write(p[:n])
	}
	return n, err
}

type captureWriter struct {
	http.ResponseWriter
	capture
}

func (w *captureWriter) Write(p []byte) (int, error) {
	w.capture.Write(p)
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach Flush and Hijack of the real writer.
func (w *captureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes a flush on (echo's Response flushes through it).
func (w *captureWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// masker hides secrets in what the journal keeps (X2): passwords, API keys, hash keys and card
// numbers entirely; signatures down to their first characters; and any value a handler
// registered with Redact, in every encoding it may appear in.
type masker struct{ values []string }

// secretKeys are request fields whose values are masked; those of hiddenKeys show nothing at
// all, the others (card numbers, API keys) their last four characters, which is how people
// tell them apart.
var (
	secretKeys = []string{"password", "hash_key", "api_key", "x-api-key", "client_secret", "cc_number", "card_number", "cc_cvv", "cvv", "private_key"}
	hiddenKeys = regexp.MustCompile(`(?i)password|hash_key|client_secret|cvv|private_key`)
)

var (
	jsonSecret   = regexp.MustCompile(`("(?:` + strings.Join(secretKeys, "|") + `)"\s*:\s*")((?:[^"\\]|\\.)*)(")`)
	formSecret   = regexp.MustCompile(`((?:^|[&?])(?:` + strings.Join(secretKeys, "|") + `)=)([^&]*)`)
	encSecret    = regexp.MustCompile(`(?i)(%22(?:` + strings.Join(secretKeys, "|") + `)%22(?:%20|\+)*%3A(?:%20|\+)*%22)(.*?)(%22)`)
	jsonSig      = regexp.MustCompile(`("sig"\s*:\s*")((?:[^"\\]|\\.)*)(")`)
	formSig      = regexp.MustCompile(`((?:^|[&?])sig=)([^&]*)`)
	encSig       = regexp.MustCompile(`(?i)(%22sig%22(?:%20|\+)*%3A(?:%20|\+)*%22)(.*?)(%22)`)
	cookieOGAuth = regexp.MustCompile(`(og_auth=[^|;]*(?:\||%7C)[0-9]*(?:\||%7C))([^;]*)`)
)

func (m masker) text(s string) string {
	if s == "" {
		return s
	}
	for _, v := range m.values {
		for _, form := range []string{v, url.QueryEscape(v), url.PathEscape(v), strings.ReplaceAll(v, "/", `\/`)} {
			s = strings.ReplaceAll(s, form, og.Mask(v))
		}
	}
	s = jsonSecret.ReplaceAllStringFunc(s, func(x string) string { return maskGroup(jsonSecret, x, secretMask(x)) })
	s = formSecret.ReplaceAllStringFunc(s, func(x string) string { return maskGroup(formSecret, x, secretMask(x)) })
	s = encSecret.ReplaceAllStringFunc(s, func(x string) string { return maskGroup(encSecret, x, secretMask(x)) })
	s = jsonSig.ReplaceAllStringFunc(s, func(x string) string { return maskGroup(jsonSig, x, og.MaskSignature) })
	s = formSig.ReplaceAllStringFunc(s, func(x string) string { return maskGroup(formSig, x, og.MaskSignature) })
	s = encSig.ReplaceAllStringFunc(s, func(x string) string { return maskGroup(encSig, x, og.MaskSignature) })
	return s
}

// secretMask returns the mask for a matched "key: value": nothing shown for a password-like
// key, the last four characters otherwise.
func secretMask(match string) func(string) string {
	key, _, _ := strings.Cut(match, ":")
	if strings.Contains(match, "=") && !strings.Contains(key, "%22") && !strings.HasPrefix(key, `"`) {
		key, _, _ = strings.Cut(match, "=")
	}
	if hiddenKeys.MatchString(key) {
		return func(string) string { return "****" }
	}
	return og.Mask
}

// maskGroup replaces the second group of re's match x with mask of it.
func maskGroup(re *regexp.Regexp, x string, mask func(string) string) string {
	g := re.FindStringSubmatchIndex(x)
	if g == nil || g[4] < 0 {
		return x
	}
	return x[:g[4]] + mask(x[g[4]:g[5]]) + x[g[5]:]
}

// header copies h with secrets masked: the signature inside a JSON authorization header, API
// keys, the signature of an og_auth cookie, a BigCommerce signed-payload, basic credentials.
func (m masker) header(h http.Header) map[string][]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string][]string, len(h))
	for k, vs := range h {
		lk := strings.ToLower(k)
		masked := make([]string, len(vs))
		for i, v := range vs {
			switch {
			case lk == "x-api-key" || lk == "signed-payload" || lk == "authorization-client":
				masked[i] = og.Mask(v)
			case lk == "authorization" && strings.HasPrefix(strings.ToLower(v), "basic "):
				masked[i] = "Basic ****"
			case lk == "cookie" || lk == "set-cookie":
				masked[i] = cookieOGAuth.ReplaceAllStringFunc(v, func(x string) string { return maskGroup(cookieOGAuth, x, og.MaskSignature) })
			default:
				masked[i] = m.text(v)
			}
		}
		out[k] = masked
	}
	return out
}

// Outbound records an exchange the sandbox made (an order POST to the merchant, O2).
func Outbound(j og.JournalService, c og.Clock, surface, merchant string, req *http.Request, reqBody []byte, status int, respHeader http.Header, respBody []byte, took time.Duration, diags []og.Diagnostic, note string) {
	m := masker{}
	cut := func(b []byte) (string, bool) {
		if len(b) > MaxRecordedBody {
			return string(b[:MaxRecordedBody]), true
		}
		return string(b), false
	}
	rb, rt := cut(reqBody)
	sb, st := cut(respBody)
	j.Append(og.JournalEntry{
		Time: c.Now(), WallTime: c.Wall(), Surface: surface, MerchantID: merchant, Direction: og.DirectionOut,
		Request:    og.Exchange{Method: req.Method, URL: req.URL.String(), Header: m.header(req.Header), Body: m.text(rb), BodyBytes: int64(len(reqBody)), Truncated: rt},
		Response:   og.Exchange{Header: m.header(respHeader), Body: m.text(sb), BodyBytes: int64(len(respBody)), Truncated: st},
		Status:     status,
		DurationMS: float64(took.Microseconds()) / 1000,
		Rules:      og.Rules(diags),
		Diags:      diags,
		Note:       note,
	})
}
