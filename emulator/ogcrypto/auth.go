package ogcrypto

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/go-json-experiment/json/jsontext"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// MaxHeaderBytes bounds an authorization header or og_auth cookie the parsers look at.
const MaxHeaderBytes = 8 << 10

// AuthHeader is the storefront authorization of A4:
// {"public_id": "...", "ts": 1516309285, "sig_field": "<user id>", "sig": "<signature>"}.
type AuthHeader struct {
	PublicID   string
	TS         int64
	SigField   string
	Sig        string
	TrustLevel string // optional: "recognized" (REST storefront)
	Warnings   []og.Diagnostic
}

// Signed returns the signature the header carries, for Verify.
func (h AuthHeader) Signed() Signed {
	return Signed{DataPoint: h.SigField, TrustLevel: h.TrustLevel, TS: h.TS, Sig: h.Sig,
		Where: "authorization header", Field: "authorization.sig"}
}

// ParseAuthHeader parses the authorization header of A4 with a real JSON parser, accepting
// what real clients send: ts as a number or a string (SFCC), pretty-printed JSON (SFCC's
// customer update), "\/" escapes (PHP's json_encode), sig_field as a number. It refuses a
// URL-encoded header (A4: "please do not URL encode the authorization headers") and says so.
// Refusals are EUNAUTHORIZED *og.Error values with rule A4.
func ParseAuthHeader(raw string) (AuthHeader, *og.Error) {
	var h AuthHeader
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		return h, og.Errorf(og.EUNAUTHORIZED, "A4", "authorization",
			`the authorization header is missing; send {"public_id": "<merchant public id>", "ts": <seconds since epoch>, "sig_field": "<merchant user id>", "sig": "<signature>"}`)
	case len(s) > MaxHeaderBytes:
		return h, og.Errorf(og.EUNAUTHORIZED, "A4", "authorization", "the authorization header is %d bytes; a JSON authorization is well under %d", len(s), MaxHeaderBytes)
	case strings.HasPrefix(s, "%7B") || strings.HasPrefix(s, "%7b"):
		return h, og.Errorf(og.EUNAUTHORIZED, "A4", "authorization",
			"the authorization header is URL-encoded (it starts with %%7B); A4 wants the raw JSON object: do not URL-encode authorization headers")
	case strings.HasPrefix(strings.ToLower(s), "bearer ") || strings.HasPrefix(strings.ToLower(s), "basic "):
		return h, og.Errorf(og.EUNAUTHORIZED, "A4", "authorization",
			"the authorization header is %q-style; A4 wants a JSON object {public_id, ts, sig_field, sig} signed with the hash key", strings.Fields(s)[0])
	case !strings.HasPrefix(s, "{"):
		return h, og.Errorf(og.EUNAUTHORIZED, "A4", "authorization",
			"the authorization header is not a JSON object; A4 wants {\"public_id\", \"ts\", \"sig_field\", \"sig\"}")
	}
	m, err := readHeaderJSON(s)
	if err != nil {
		return h, err
	}
	var diags []og.Diagnostic
	str := func(key string, required bool) string {
		v, ok := m[key]
		switch x := v.(type) {
		case string:
			return x
		case json.Number:
			return x.String()
		case nil:
			if required && !ok {
				diags = append(diags, og.Finding("A4", "authorization."+key, "the authorization header has no "+key))
			} else if required {
				diags = append(diags, og.Finding("A4", "authorization."+key, key+" is null"))
			}
		default:
			diags = append(diags, og.Finding("A4", "authorization."+key, fmt.Sprintf("%s must be a string, got %s", key, og.JSONKind(v))))
		}
		return ""
	}
	h.PublicID = str("public_id", true)
	h.SigField = str("sig_field", true)
	if _, sent := m["sig_field"]; sent && strings.TrimSpace(h.SigField) == "" && len(diags) == 0 {
		diags = append(diags, og.Finding("A4", "authorization.sig_field", "sig_field is blank: it is the customer's merchant user id, which the signature is over"))
	}
	h.Sig = str("sig", true)
	h.TrustLevel = str("trust_level", false)
	switch v := m["ts"].(type) {
	case json.Number:
		ts, err := parseTS(v.String())
		if err != nil {
			diags = append(diags, og.Finding("A2", "authorization.ts", err.Error()))
		}
		h.TS = ts
	case string:
		ts, err := parseTS(v)
		if err != nil {
			diags = append(diags, og.Finding("A2", "authorization.ts", err.Error()))
		}
		h.TS = ts
	case nil:
		diags = append(diags, og.Finding("A4", "authorization.ts", "the authorization header has no ts (seconds since the epoch)"))
	default:
		diags = append(diags, og.Finding("A4", "authorization.ts", "ts must be a number or a string of digits, got "+og.JSONKind(v)))
	}
	if len(diags) > 0 {
		e := og.Invalid(diags)
		e.Code = og.EUNAUTHORIZED
		return h, e
	}
	if strings.Contains(h.Sig, "%") {
		if dec, err := url.PathUnescape(h.Sig); err == nil && dec != h.Sig {
			// Verify names the mistake precisely; this is the likely cause when it fails.
			h.Warnings = append(h.Warnings, og.Warning("A4", "authorization.sig", "the signature looks URL-encoded; in the authorization header it is sent raw"))
		}
	}
	return h, nil
}

// readHeaderJSON reads the header's JSON object: its members' values as encoding/json decodes
// them with UseNumber, except that an object or an array is kept empty (only its kind is ever
// named). A repeated name keeps its last value.
func readHeaderJSON(s string) (map[string]any, *og.Error) {
	dec := jsontext.NewDecoder(strings.NewReader(s), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	m := map[string]any{}
	fail := func(err error) (map[string]any, *og.Error) {
		return nil, og.Errorf(og.EUNAUTHORIZED, "A4", "authorization", "the authorization header is not valid JSON: %s", og.JSONSyntax(err))
	}
	if _, err := dec.ReadToken(); err != nil { // the '{' checked by the caller
		return fail(err)
	}
	for {
		name, err := dec.ReadToken()
		if err != nil {
			return fail(err)
		}
		if name.Kind() == '}' {
			break
		}
		key := name.String()
		tok, err := dec.ReadToken()
		if err != nil {
			return fail(err)
		}
		switch tok.Kind() {
		case '"':
			m[key] = tok.String()
		case '0':
			m[key] = json.Number(tok.String())
		case 't', 'f':
			m[key] = tok.Bool()
		case 'n':
			m[key] = nil
		case '{', '[':
			if tok.Kind() == '{' {
				m[key] = map[string]any{}
			} else {
				m[key] = []any{}
			}
			for dec.StackDepth() > 1 {
				if _, err := dec.ReadToken(); err != nil {
					return fail(err)
				}
			}
		}
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, og.Errorf(og.EUNAUTHORIZED, "A4", "authorization", "the authorization header has text after its JSON object")
	}
	return m, nil
}

// parseTS parses a seconds-since-epoch value sent as digits (A2).
func parseTS(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil && strings.ContainsAny(s, ".eE") {
		if f != math.Trunc(f) || f < 0 || f > 1e15 {
			return 0, fmt.Errorf("ts %s has a fraction; A2 wants whole seconds since the epoch, a 10-digit number", s)
		}
		return int64(f), nil
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ts < 0 {
		return 0, fmt.Errorf("ts %q is not a whole number of seconds since the epoch (A2: a 10-digit number)", s)
	}
	return ts, nil
}

// OGAuth is the og_auth cookie of A5: "<merchant user id>|<seconds since epoch>|<signature>".
type OGAuth struct {
	UserID string
	TS     int64
	Sig    string
}

// Signed returns the signature the cookie carries, for Verify.
func (c OGAuth) Signed() Signed {
	return Signed{DataPoint: c.UserID, TS: c.TS, Sig: c.Sig, Where: "og_auth cookie", Field: "og_auth.sig"}
}

// Cookie formats the og_auth value (A5). It is not URL-encoded.
func Cookie(key, userID string, ts int64) string {
	return userID + "|" + strconv.FormatInt(ts, 10) + "|" + Sign(key, userID, ts)
}

// ParseOGAuth parses an og_auth cookie value as Ordergroove's own script does: split on '|'
// into exactly three parts, no URL-decoding. A URL-encoded value (PHP's setcookie and
// Magento's setPublicCookie encode it: '|' becomes %7C) is refused with rule A5.
func ParseOGAuth(raw string) (OGAuth, *og.Error) {
	var c OGAuth
	switch {
	case raw == "":
		return c, og.Errorf(og.EUNAUTHORIZED, "A5", "og_auth", "there is no og_auth cookie: the auth page sets it for a logged-in user (\"<user id>|<ts>|<signature>\")")
	case len(raw) > MaxHeaderBytes:
		return c, og.Errorf(og.EUNAUTHORIZED, "A5", "og_auth", "the og_auth cookie is %d bytes; it is well under %d", len(raw), MaxHeaderBytes)
	case strings.Contains(strings.ToUpper(raw), "%7C"):
		return c, og.Errorf(og.EUNAUTHORIZED, "A5", "og_auth",
			"the og_auth cookie is URL-encoded ('|' sent as %%7C): PHP's setcookie() and Magento's setPublicCookie encode values; set it raw (PHP: setrawcookie, or header('Set-Cookie: ...')). A5: do not URL-encode this cookie")
	}
	parts := strings.Split(raw, "|")
	if len(parts) != 3 {
		return c, og.Errorf(og.EUNAUTHORIZED, "A5", "og_auth",
			"the og_auth cookie has %d '|'-separated parts; A5 wants exactly 3: <merchant user id>|<seconds since epoch>|<signature>", len(parts))
	}
	ts, err := parseTS(parts[1])
	if err != nil {
		return c, og.Errorf(og.EUNAUTHORIZED, "A2", "og_auth.ts", "%v", err)
	}
	c = OGAuth{UserID: parts[0], TS: ts, Sig: parts[2]}
	if c.UserID == "" {
		return c, og.Errorf(og.EUNAUTHORIZED, "A5", "og_auth.user_id", "the og_auth cookie has an empty merchant user id")
	}
	return c, nil
}

// HeaderJSON formats the authorization header of A4 for a user id, as `ogsandbox sign` prints
// it and the scheduler sends it with order XML (O2): ts as a JSON number.
func HeaderJSON(key, publicID, userID string, ts int64) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct {
		PublicID string `json:"public_id"`
		TS       int64  `json:"ts"`
		SigField string `json:"sig_field"`
		Sig      string `json:"sig"`
	}{publicID, ts, userID, Sign(key, userID, ts)})
	return strings.TrimSpace(b.String())
}
