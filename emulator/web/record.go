package web

import (
	"bytes"
	"fmt"
	"io"
	"math/bits"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// MaxRecordedBody is how much of each body the journal keeps.
const MaxRecordedBody = 64 << 10

// MaxRecordedDiagnostics is how many of an exchange's diagnostics the journal keeps.
const MaxRecordedDiagnostics = 200

// MaxRequestBody is the most any request body may be; surfaces bound their own reads lower.
const MaxRequestBody = 256 << 20

// recordMiddleware records every exchange in the journal (X5) once the handler has answered.
// Reads of the control API are left out: they change nothing and would drown the record.
func (s *Server) recordMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		start, wall := s.clock.Now(), s.clock.Wall()
		if req.ContentLength != 0 && req.Body != nil && req.Body != http.NoBody {
			req.Body = s.idleDeadline(c.Response().Writer, req.Body)
		}
		req.Body = http.MaxBytesReader(c.Response(), req.Body, MaxRequestBody)
		// The first MaxRecordedBody bytes are read here, so that the journal shows what was
		// sent even to a handler that never reads it (a 404); the handler reads them back.
		head, _ := io.ReadAll(io.LimitReader(req.Body, MaxRecordedBody))
		reqCap := &capture{limit: MaxRecordedBody}
		reqCap.Write(head)
		req.Body = prefixedBody{Reader: io.MultiReader(bytes.NewReader(head), teeBody{ReadCloser: req.Body, w: reqCap}), Closer: req.Body}
		respCap := &captureWriter{ResponseWriter: c.Response().Writer, capture: capture{limit: MaxRecordedBody}}
		c.Response().Writer = respCap

		defer func() {
			if conn, ok := c.Get(keyDropped).(io.Closer); ok {
				conn.Close() // after the journal has the exchange (Drop)
			}
		}()
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
		scan, _ := c.Get(keyScanCards).(bool)
		m := newMasker(redact, s.known)
		m.known = s.knownAll
		rules := og.Rules(diags)
		if len(diags) > MaxRecordedDiagnostics {
			// The answer has them all; the journal keeps the first, as it keeps a body's
			// first 64 KiB: 60,000 bad products made one 21 MB entry.
			Note(c, fmt.Sprintf("the journal keeps the first %d of the answer's %d diagnostics", MaxRecordedDiagnostics, len(diags)))
			note, _ = c.Get(keyNote).(string)
			diags = diags[:MaxRecordedDiagnostics]
		}
		diags = m.diagnostics(diags)
		reqLen := reqCap.n
		if req.ContentLength > reqLen {
			reqLen = req.ContentLength
		}
		s.journal.Append(og.JournalEntry{
			Time: start, WallTime: wall, Surface: surface, MerchantID: merchant, Direction: og.DirectionIn,
			Request: og.Exchange{
				Method: req.Method, URL: m.url(req.URL.RequestURI()), Header: m.header(req.Header),
				Body: m.body(reqCap.String(), reqLen > int64(reqCap.buf.Len()), scan), BodyBytes: reqLen, Truncated: reqLen > int64(reqCap.buf.Len()),
			},
			Response: og.Exchange{
				Header: m.header(c.Response().Header()), Body: m.body(respCap.String(), respCap.n > int64(respCap.buf.Len()), false),
				BodyBytes: respCap.n, Truncated: respCap.n > int64(respCap.buf.Len()),
			},
			Status:     c.Response().Status,
			DurationMS: float64(s.clock.Wall().Sub(wall).Microseconds()) / 1000,
			Rules:      rules,
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

// idleBody keeps a deadline on the connection while the request's body arrives: each read
// that brings data pushes it BodyTimeout further, so a body that stops arriving fails (and
// ReadBody answers 408) while a large one that keeps coming, however slowly, does not.
type idleBody struct {
	io.ReadCloser
	rc *http.ResponseController
	d  time.Duration
}

// idleDeadline wraps a request body with a deadline. It is only for a request that has a body:
// net/http watches the connection of one without a body (and of one whose body has been read to
// its end) with a read of its own, and a deadline left on it would cancel the request. net/http
// clears the deadline itself when the body ends, and no read pushes it on after that.
func (s *Server) idleDeadline(w http.ResponseWriter, body io.ReadCloser) io.ReadCloser {
	d := s.BodyTimeout
	if d <= 0 {
		d = DefaultBodyTimeout
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(d)) != nil {
		return body
	}
	return &idleBody{ReadCloser: body, rc: rc, d: d}
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 && err == nil {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.d))
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

// masker hides secrets in what the journal keeps (X2): passwords, secrets, hash keys and CVVs
// entirely; card numbers and API keys down to their last four characters (how people tell
// them apart); signatures down to their first six; and any value a handler registered with
// Redact, in every encoding it may appear in. Keys match case-insensitively and by substring
// ("sftp_password", "Password"), values may be strings or numbers, and what the journal's body
// bound cut short is masked too: a secret key's value, and the start of a registered value.
type masker struct {
	forms []string          // every registered value in every encoding it may appear in
	known *strings.Replacer // the configuration's secrets, when there are too many to scan for
}

// jsonEscaped writes what Go's encoding/json (and other HTML-safe encoders) escape in a string.
var jsonEscaped = strings.NewReplacer("&", `\u0026`, "<", `\u003c`, ">", `\u003e`)

// KnowSecrets gives the journal the secrets of the configuration (merchants' hash keys, SFTP
// passwords, API keys): a request that carries one where no field name says so (a hash key
// pasted into a query string or a note) has it masked by value (X2). Values shorter than
// minKnownSecret are left to the field names: masked by value, "test" would be masked in any
// text. Call it before serving.
func (s *Server) KnowSecrets(values ...string) {
	var long []string
	for _, v := range values {
		if len(v) < minKnownSecret {
			continue
		}
		long = append(long, v)
		// A secret pasted into a URL unencoded is cut where it holds a delimiter (a hash key
		// may hold '&' or '#'): its long pieces are masked too.
		for _, piece := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune("&#?=;, ", r) }) {
			if piece != v && len(piece) >= minKnownSecret {
				long = append(long, piece)
			}
		}
	}
	s.known = newMasker(long, nil).forms
	s.knownAll = nil
	if len(s.known) > maxKnownScans {
		// Many merchants: one pass of a replacer over each text, not one scan per form.
		pairs := make([]string, 0, 2*len(s.known))
		for _, f := range s.known {
			pairs = append(pairs, f, "****")
		}
		s.knownAll, s.known = strings.NewReplacer(pairs...), nil
	}
}

// maxKnownScans is how many known secrets' forms are looked for one scan each (strings.Index is
// fastest for a few); beyond, a strings.Replacer finds them all in one pass.
const maxKnownScans = 16

const minKnownSecret = 8

func newMasker(values []string, known []string) masker {
	m := masker{forms: slices.Clip(known)}
	for _, v := range values {
		if v == "" {
			continue
		}
		for _, form := range []string{v, url.QueryEscape(v), url.PathEscape(v), strings.ReplaceAll(v, "/", `\/`), jsonEscaped.Replace(v)} {
			if !slices.Contains(m.forms, form) {
				m.forms = append(m.forms, form)
			}
		}
	}
	return m
}

const (
	hiddenKey = `password|passwd|secret|hash_?key|private_?key|cvv|cvc`
	lastFour  = `cc_?number|card_?number|api_?key|api-key|access_?token|auth_?token`
)

var (
	secretKeyRE = regexp.MustCompile(`(?i)` + hiddenKey + `|` + lastFour)
	hiddenKeyRE = regexp.MustCompile(`(?i)` + hiddenKey)
	// The AES-encrypted payment fields of a purchase body (E1).
	paymentKeyRE = regexp.MustCompile(`(?i)^cc_(holder|exp_date|number|number_ending|last_4)$`)
	// "key": "value" or "key": 123, the value possibly cut off at the end of the text.
	jsonPair = regexp.MustCompile(`("((?:[^"\\]|\\.)*)"\s*:\s*)("(?:[^"\\]|\\.)*(?:"|\\?$)|-?[0-9]+)`)
	// key=value in a query string or form body.
	formPair = regexp.MustCompile(`((?:^|[&?;\s])([A-Za-z0-9_.\-\[\]]+)=)([^&\s]*)`)
	// %22key%22%3A%22value%22 in a URL-encoded JSON body.
	encPair      = regexp.MustCompile(`(?i)(%22([^%]*?)%22(?:%20|\+)*%3A(?:%20|\+)*)(%22.*?(?:%22|$)|-?[0-9]+)`)
	cookieOGAuth = regexp.MustCompile(`(?i)(og_auth=[^|;]*(?:\||%7C)[0-9]*(?:\||%7C))([^;]*)`)
	queryOGAuth  = regexp.MustCompile(`(?i)(og_auth=[^|;&]*(?:\||%7C)[0-9]*(?:\||%7C))([^;&#\s]*)`)
)

// secretWords are the key fragments the pair patterns can mask; a text holding none of them
// (most bodies) skips the patterns, which would otherwise cost a third of a request's CPU.
var secretWords = []string{"password", "passwd", "secret", "hash_key", "hashkey", "private_key", "privatekey",
	"cvv", "cvc", "cc_number", "ccnumber", "card_number", "cardnumber", "api_key", "apikey", "api-key",
	"access_token", "accesstoken", "auth_token", "authtoken", "sig"} // "sig" stays last: maskJSONSig

// mayHoldSecret reports whether s holds one of secretWords, in any case.
func mayHoldSecret(s string) bool { return holdsAny(s, len(secretWords)) }

// starts maps the first two letters of a secret word (lower-cased, a to z) to the words that
// begin with them (bit i: secretWords[i]), so that the scan looks closer only where one may
// begin.
var starts [26][26]uint32

func init() {
	for i, w := range secretWords {
		starts[w[0]-'a'][w[1]-'a'] |= 1 << i
	}
}

// holdsAny reports whether s holds one of the first n secretWords, in any case, in one pass and
// without allocating.
func holdsAny(s string, n int) bool {
	want := uint32(1)<<n - 1
	for i := 0; i+1 < len(s); i++ {
		a, b := s[i]|0x20-'a', s[i+1]|0x20-'a' // bytes: anything but a letter is 26 or more
		if a >= 26 || b >= 26 {
			continue
		}
		for m := starts[a][b] & want; m != 0; m &= m - 1 {
			w := secretWords[bits.TrailingZeros32(m)]
			if len(s)-i >= len(w) && strings.EqualFold(s[i:i+len(w)], w) {
				return true
			}
		}
	}
	return false
}

// body masks a body the journal keeps: its secrets, and any card number, wherever it is (a
// free-text field, a label, extra data; E4). cut says the body bound cut it short. scan
// (ScanCardNumbers) is for a body nothing could parse, so no field named its secrets: it also
// masks the values of its payment fields, AES ciphertexts a parsed body would have registered
// (E1).
func (m masker) body(s string, cut, scan bool) string {
	s = og.MaskCardNumbers(m.mask(s, scan))
	if cut {
		s = m.cutShort(s, scan)
	}
	return s
}

// cutShort masks the end of a body cut short by the journal's body bound where it begins a
// registered value (the card number whose last digits the bound cut off), and, in a body
// nothing parsed (scan), a final run of digits that may begin a card number no field named.
// An end of fewer than minCut characters is left: it tells nothing (a card number's first six
// digits may be shown), and a body ending in "10" or "N" would otherwise seem to hold a secret.
func (m masker) cutShort(s string, scan bool) string {
	n := 0 // the longest end of s that begins a registered form
	for _, f := range m.forms {
		n = max(n, overlap(s, f))
	}
	if scan {
		n = max(n, og.CardDigitsAtEnd(s))
	}
	if n < minCut {
		return s
	}
	return s[:len(s)-n] + "****"
}

const minCut = 4

// overlap returns the length of the longest end of s, shorter than f, that f begins with (a
// whole f is text's to mask): a Knuth-Morris-Pratt scan of the last len(f)-1 bytes of s, in
// time linear in len(f) (a registered value may be 64 KiB long).
func overlap(s, f string) int {
	p := f[:max(0, len(f)-1)]
	if p == "" {
		return 0
	}
	pi := make([]int, len(p)) // pi[i]: the longest proper prefix of p[:i+1] that ends it
	for i, k := 1, 0; i < len(p); i++ {
		for k > 0 && p[i] != p[k] {
			k = pi[k-1]
		}
		if p[i] == p[k] {
			k++
		}
		pi[i] = k
	}
	k := 0
	for i := max(0, len(s)-len(p)); i < len(s); i++ {
		for k > 0 && (k == len(p) || s[i] != p[k]) {
			k = pi[k-1]
		}
		if s[i] == p[k] {
			k++
		}
	}
	return k
}

// holdsCC reports whether s holds "cc_", in any case: the start of a payment field's name.
func holdsCC(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i]|0x20 == 'c' && s[i+1]|0x20 == 'c' && s[i+2] == '_' {
			return true
		}
	}
	return false
}

// text masks the registered secrets in s, and the values of secret-looking keys.
func (m masker) text(s string) string { return m.mask(s, false) }

// url is text for a request's URL: a query parameter may hold a card number or an og_auth
// cookie's value (A5) as well as a secret field.
func (m masker) url(s string) string {
	s = og.MaskCardNumbers(m.text(s))
	if strings.Contains(strings.ToLower(s), "og_auth=") {
		s = queryOGAuth.ReplaceAllStringFunc(s, func(x string) string {
			g := queryOGAuth.FindStringSubmatchIndex(x)
			return x[:g[4]] + og.MaskSignature(x[g[4]:g[5]]) + x[g[5]:]
		})
	}
	return s
}

// mask is text; payment also masks the values of the payment fields (paymentKeyRE).
func (m masker) mask(s string, payment bool) string {
	if s == "" {
		return s
	}
	for _, form := range m.forms {
		s = strings.ReplaceAll(s, form, "****")
	}
	if m.known != nil {
		s = m.known.Replace(s)
	}
	if strings.HasPrefix(strings.TrimSpace(s), "<") {
		// XML (order XML, feeds) holds no secret by construction: no card number (E4), the
		// expiry encrypted (E3) — only a token may be shaped like a card number. The JSON and
		// form patterns do not apply to it.
		return og.MaskCardTokens(s)
	}
	if !mayHoldSecret(s) && !(payment && holdsCC(s)) {
		return s
	}
	s = maskPairs(jsonPair, s, `"`, payment)
	s = maskPairs(formPair, s, "", payment)
	s = maskPairs(encPair, s, "%22", payment)
	return s
}

// maskPairs masks the value (third group) of every pair re matches whose key (second group) is
// a secret's or the signature's, or with payment a payment field's, keeping the value's quotes
// (quote) in place.
func maskPairs(re *regexp.Regexp, s, quote string, payment bool) string {
	return re.ReplaceAllStringFunc(s, func(match string) string {
		g := re.FindStringSubmatchIndex(match)
		key := match[g[4]:g[5]]
		val := match[g[6]:g[7]]
		var mask func(string) string
		switch {
		case strings.EqualFold(key, "sig"):
			mask = og.MaskSignature
		case hiddenKeyRE.MatchString(key), payment && paymentKeyRE.MatchString(key):
			mask = func(string) string { return "****" }
		case secretKeyRE.MatchString(key):
			mask = og.Mask
		default:
			return match
		}
		inner, open, closing := val, "", ""
		if quote != "" && strings.HasPrefix(strings.ToLower(val), strings.ToLower(quote)) {
			open, inner = val[:len(quote)], val[len(quote):]
			if len(inner) >= len(quote) && strings.EqualFold(inner[len(inner)-len(quote):], quote) {
				closing, inner = inner[len(inner)-len(quote):], inner[:len(inner)-len(quote)]
			} else {
				// Cut short by the body bound: its last characters are not the value's last
				// four, so none are shown.
				mask = func(string) string { return "****" }
			}
		}
		return match[:g[6]] + open + mask(inner) + closing + match[g[7]:]
	})
}

// maskJSONSig masks the sig of a JSON authorization header (A4) without the patterns: it is on
// every storefront request. A header holding anything else secret-looking takes the patterns.
func maskJSONSig(v string) string {
	if holdsAny(v, len(secretWords)-1) {
		return masker{}.text(v)
	}
	key := `"sig"`
	i := strings.Index(v, key)
	if i < 0 {
		key = `"signature"` // a client's wrong name for it (A4 refuses it) is still a signature
		if i = strings.Index(v, key); i < 0 {
			return v
		}
	}
	j := i + len(key)
	for j < len(v) && (v[j] == ' ' || v[j] == '\t' || v[j] == '\n' || v[j] == '\r' || v[j] == ':') {
		j++
	}
	if j >= len(v) || v[j] != '"' {
		return masker{}.text(v)
	}
	end := j + 1
	for end < len(v) && v[end] != '"' {
		if v[end] == '\\' {
			end++
		}
		end++
	}
	end = min(end, len(v))
	return v[:j+1] + og.MaskSignature(v[j+1:end]) + v[end:]
}

// diagnostics masks what a diagnostic quotes from the request (X2): a message may repeat a
// value it explains.
func (m masker) diagnostics(ds []og.Diagnostic) []og.Diagnostic {
	if len(ds) == 0 {
		return ds
	}
	out := make([]og.Diagnostic, len(ds))
	for i, d := range ds {
		d.Message = m.text(d.Message)
		out[i] = d
	}
	return out
}

// secretHeaders remembers which header names (lower case) hold a secret as a whole; the
// names a client may send are unbounded, so it stops learning at maxSecretHeaders.
var secretHeaders sync.Map

const maxSecretHeaders = 1024

var secretHeaderCount atomic.Int32

func secretHeader(lk string) bool {
	if v, ok := secretHeaders.Load(lk); ok {
		return v.(bool)
	}
	secret := lk == "x-api-key" || lk == "signed-payload" || lk == "authorization-client" || lk == "x-auth-token" || secretKeyRE.MatchString(lk)
	if secretHeaderCount.Load() < maxSecretHeaders {
		if _, loaded := secretHeaders.LoadOrStore(lk, secret); !loaded {
			secretHeaderCount.Add(1)
		}
	}
	return secret
}

// header copies h with secrets masked: the signature inside a JSON authorization header, the
// credentials of any other authorization scheme, API keys and tokens, the signature of an
// og_auth cookie, a BigCommerce signed-payload.
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
			case secretHeader(lk):
				masked[i] = og.Mask(v)
			case lk == "authorization" || lk == "proxy-authorization":
				if t := strings.TrimSpace(v); strings.HasPrefix(t, "{") {
					masked[i] = maskJSONSig(v)
				} else if strings.HasPrefix(strings.ToLower(t), "%7b") {
					masked[i] = m.text(v)
				} else if scheme, _, ok := strings.Cut(t, " "); ok {
					masked[i] = scheme + " ****"
				} else {
					masked[i] = og.Mask(v)
				}
			case lk == "cookie" || lk == "set-cookie":
				masked[i] = m.text(cookieOGAuth.ReplaceAllStringFunc(v, func(x string) string {
					g := cookieOGAuth.FindStringSubmatchIndex(x)
					return x[:g[4]] + og.MaskSignature(x[g[4]:g[5]]) + x[g[5]:]
				}))
			default:
				masked[i] = og.MaskCardNumbers(m.text(v))
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
		Request:    og.Exchange{Method: req.Method, URL: req.URL.Redacted(), Header: m.header(req.Header), Body: m.text(rb), BodyBytes: int64(len(reqBody)), Truncated: rt},
		Response:   og.Exchange{Header: m.header(respHeader), Body: m.text(sb), BodyBytes: int64(len(respBody)), Truncated: st},
		Status:     status,
		DurationMS: float64(took.Microseconds()) / 1000,
		Rules:      og.Rules(diags),
		Diags:      diags,
		Note:       note,
	})
}
