// Package ogcrypto is Ordergroove's cryptography as the sandbox checks it: HMAC-SHA256
// signatures (A1-A3), the authorization header (A4), the og_auth cookie (A5) and the
// AES-256-ECB field encryption with '{' padding (E1-E2).
//
// Every check explains a refusal: a hex digest instead of base64, a URL-encoded header or
// cookie, a timestamp in milliseconds, a stale timestamp (and by how much), a ciphertext that
// does not decrypt with the merchant's key.
package ogcrypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// MaxAge is how old a signature's timestamp may be (A3).
const MaxAge = 2 * time.Hour

// MaxSkew is how far in the future a timestamp may be: merchants' clocks drift, and the
// SFCC cartridge rounds its timestamp up by as much as half a second.
const MaxSkew = 5 * time.Minute

// Message is the signed message of A1: "<raw data point>|<seconds since epoch>". With a
// trust level (the REST storefront's "recognized" scope) it is "<data>|<trust>|<ts>".
func Message(dataPoint, trustLevel string, ts int64) string {
	if trustLevel != "" {
		return dataPoint + "|" + trustLevel + "|" + strconv.FormatInt(ts, 10)
	}
	return dataPoint + "|" + strconv.FormatInt(ts, 10)
}

func digest(key, msg string) []byte {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// Sign returns the signature of A1: standard base64 of HMAC-SHA256(hash_key, "<user>|<ts>").
func Sign(key, dataPoint string, ts int64) string {
	return base64.StdEncoding.EncodeToString(digest(key, Message(dataPoint, "", ts)))
}

// Signed is a signature as a request carried it.
type Signed struct {
	DataPoint  string // the merchant user id (sig_field)
	TrustLevel string // optional REST storefront trust level
	TS         int64
	Sig        string
	// Where names the carrier, for diagnostics: "authorization header" (A4), "og_auth
	// cookie" (A5) or "sig parameter" (legacy body or query auth, URL-decoded already).
	Where string
	// Field is the request field of the signature, for diagnostics ("authorization.sig").
	Field string
}

// rule returns the rule id of the carrier's encoding rules.
func (s Signed) carrierRule() string {
	if strings.Contains(s.Where, "cookie") {
		return "A5"
	}
	return "A4"
}

// Verify checks a signature against the merchant's hash key: its timestamp is 10 digits (A2)
// and within the last two hours of wall time (A3), and it matches in constant time (A1).
// The refusal is an EUNAUTHORIZED *og.Error that says which rule failed and why.
func Verify(key string, s Signed, wall time.Time) *og.Error {
	tsField := strings.TrimSuffix(s.Field, ".sig") + ".ts"
	if s.Field == "" {
		tsField = "ts"
	}
	switch {
	case s.TS >= 1e12:
		return og.Errorf(og.EUNAUTHORIZED, "A2", tsField,
			"ts %d has %d digits: it is in milliseconds; send seconds since the epoch, a 10-digit number (%d)",
			s.TS, len(strconv.FormatInt(s.TS, 10)), s.TS/1000)
	case s.TS < 1e9:
		return og.Errorf(og.EUNAUTHORIZED, "A2", tsField,
			"ts %d is not a 10-digit number of seconds since the epoch", s.TS)
	}
	signedAt := time.Unix(s.TS, 0)
	if age := wall.Sub(signedAt); age > MaxAge {
		old := roundAge(age)
		if age < MaxAge+time.Minute { // "2h" would read as within the limit
			old = age.Round(time.Millisecond).String()
		}
		return og.Errorf(og.EUNAUTHORIZED, "A3", tsField,
			"the signature is stale: ts %d (%s) is %s old, past the 2 hours of wall time a signature is accepted for; sign again with the current time",
			s.TS, signedAt.UTC().Format(time.RFC3339), old)
	} else if -age > MaxSkew {
		return og.Errorf(og.EUNAUTHORIZED, "A3", tsField,
			"ts %d (%s) is %s in the future, past the %s ahead a signature is accepted for; check the signing server's clock",
			s.TS, signedAt.UTC().Format(time.RFC3339), roundAge(-age), roundAge(MaxSkew))
	}
	want := digest(key, Message(s.DataPoint, s.TrustLevel, s.TS))
	if got, err := base64.StdEncoding.DecodeString(s.Sig); err == nil && hmac.Equal(got, want) {
		return nil
	}
	return og.Errorf(og.EUNAUTHORIZED, "A1", s.Field, "%s", diagnoseMismatch(key, s, want))
}

// diagnoseMismatch names the commonest ways a signature goes wrong. It runs only after the
// constant-time comparison failed, and tells only what the sender can see in its own code.
func diagnoseMismatch(key string, s Signed, want []byte) string {
	msg := Message(s.DataPoint, s.TrustLevel, s.TS)
	wantB64 := base64.StdEncoding.EncodeToString(want)
	sig := strings.TrimSpace(s.Sig)
	switch {
	case sig == "":
		return "the signature is empty"
	case strings.EqualFold(sig, hex.EncodeToString(want)):
		return fmt.Sprintf("the signature is a hex digest (what PHP's hash_hmac returns by default); A1 wants standard base64 of the raw 32-byte HMAC-SHA256 digest: in PHP base64_encode(hash_hmac('sha256', %q, $hashKey, true))", msg)
	case isHex64(sig):
		return fmt.Sprintf("the signature is a 64-character hex digest, and it does not match either; A1 wants standard base64 of the raw digest of %q keyed with the merchant's hash key", msg)
	}
	if dec, err := url.PathUnescape(sig); err == nil && dec != sig && dec == wantB64 {
		return fmt.Sprintf("the signature is URL-encoded; in the %s it must be sent as is (%s), without %%2B, %%2F or %%3D escapes", s.Where, s.carrierRule())
	}
	if strings.ContainsAny(sig, "-_") && strings.NewReplacer("-", "+", "_", "/").Replace(sig) == strings.TrimRight(wantB64, "=") ||
		strings.NewReplacer("-", "+", "_", "/").Replace(sig) == wantB64 {
		return "the signature uses the URL-safe base64 alphabet ('-', '_'); A1 wants standard base64 ('+', '/', '=' padding)"
	}
	if sig == strings.TrimRight(wantB64, "=") {
		return "the signature lacks its '=' padding; A1 wants standard, padded base64"
	}
	if strings.Contains(sig, " ") && strings.ReplaceAll(sig, " ", "+") == wantB64 {
		return "the signature has spaces where '+' belongs: it was form-decoded (a '+' became a space) or sent unencoded in a URL; encode it, or send it raw in a header"
	}
	alt := func(m string) bool {
		return hmac.Equal([]byte(sig), []byte(base64.StdEncoding.EncodeToString(digest(key, m))))
	}
	ts := strconv.FormatInt(s.TS, 10)
	switch {
	case alt(ts + "|" + s.DataPoint):
		return fmt.Sprintf("the signature is over %q: the order is reversed; A1 signs %q", ts+"|"+s.DataPoint, msg)
	case alt(s.DataPoint + ts):
		return fmt.Sprintf("the signature is over %q, without the pipe; A1 signs %q", s.DataPoint+ts, msg)
	case s.TrustLevel != "" && alt(Message(s.DataPoint, "", s.TS)):
		return fmt.Sprintf("the header names trust_level %q but the signature is over %q; with a trust level it must be over %q", s.TrustLevel, Message(s.DataPoint, "", s.TS), msg)
	}
	if raw, err := base64.StdEncoding.DecodeString(sig); err != nil || len(raw) != sha256.Size {
		return fmt.Sprintf("the signature is not standard base64 of a 32-byte digest (%d characters); A1 wants base64 of HMAC-SHA256 of %q", len(sig), msg)
	}
	return fmt.Sprintf("the signature does not match: A1 signs %q with the merchant's 32-byte hash key; check that the key is this merchant's staging key and that sig_field and ts are the ones signed", msg)
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// roundAge formats an age for a person: "3h12m", "47s".
func roundAge(d time.Duration) string {
	switch {
	case d >= time.Hour:
		d = d.Round(time.Minute)
	default:
		d = d.Round(time.Second)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
