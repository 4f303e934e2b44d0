package ogcrypto

import (
	"crypto/aes"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// KeySize is the length of a hash key: 32 ASCII bytes, an AES-256 key (M1, E1).
const KeySize = 32

// padBlock is the padding block of E1: plaintext is right-padded with '{' to a multiple of 32.
const padBlock = 32

// MaxCiphertext bounds a ciphertext the sandbox decrypts: encrypted fields are card holder
// names and expiry dates, never more than a few blocks.
const MaxCiphertext = 4 << 10

// CheckKey reports whether key can be a hash key (M1): exactly 32 bytes of printable ASCII.
func CheckKey(key string) error {
	if len(key) != KeySize {
		return fmt.Errorf("a hash key is exactly %d bytes (an AES-256 key), got %d", KeySize, len(key))
	}
	for i := 0; i < len(key); i++ {
		if key[i] == ' ' {
			return fmt.Errorf("a hash key has no spaces (32 printable ASCII characters other than the space); byte %d is a space", i)
		}
		if key[i] < 0x21 || key[i] > 0x7e {
			return fmt.Errorf("a hash key is printable ASCII, without spaces; byte %d is %q", i, key[i])
		}
	}
	return nil
}

// Encrypt encrypts plaintext per E1: pad with '{' to a multiple of 32 (a full 32 when it is
// already a multiple), AES-256-ECB with the 32 bytes of the hash key, standard base64.
// The result is not URL-encoded: callers that put it in a request field encode it there.
func Encrypt(key, plaintext string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	block, _ := aes.NewCipher([]byte(key))
	padded := plaintext + strings.Repeat("{", padBlock-len(plaintext)%padBlock)
	out := make([]byte, len(padded))
	for i := 0; i < len(padded); i += aes.BlockSize {
		block.Encrypt(out[i:i+aes.BlockSize], []byte(padded[i:i+aes.BlockSize]))
	}
	return base64.StdEncoding.EncodeToString(out), nil
}

// sealedPrefix marks a value Seal encrypted, so that a stored value says whether it is.
const sealedPrefix = "sealed:"

// Seal encrypts a value to keep at rest (E4) with a key of the sandbox's own, as E1 encrypts,
// behind a prefix that marks it sealed.
func Seal(key, plain string) string { return sealedPrefix + MustEncrypt(key, plain) }

// Open returns what Seal sealed, and true; a value that is not sealed (stored in clear by an
// older version) comes back as it is, with false. It reads only Seal's own output: none of
// Decrypt's tolerance of clients, nor its bound on their ciphertext.
func Open(key, v string) (string, bool) {
	ct, ok := strings.CutPrefix(v, sealedPrefix)
	if !ok {
		return v, false
	}
	raw, err := base64.StdEncoding.DecodeString(ct)
	if err != nil || len(raw)%aes.BlockSize != 0 || CheckKey(key) != nil {
		return "", true // not Seal's: nothing to show rather than the wrong thing
	}
	block, _ := aes.NewCipher([]byte(key))
	out := make([]byte, len(raw))
	for i := 0; i < len(raw); i += aes.BlockSize {
		block.Decrypt(out[i:i+aes.BlockSize], raw[i:i+aes.BlockSize])
	}
	return strings.TrimRight(string(out), "{"), true
}

// MustEncrypt is Encrypt for keys known to be valid (the configuration checked them).
func MustEncrypt(key, plaintext string) string {
	s, err := Encrypt(key, plaintext)
	if err != nil {
		panic(err)
	}
	return s
}

// Decrypt decrypts a field encrypted per E1 and returns its plaintext, accepting every form
// real clients send: URL-encoded or not, padded with '{' to 32 (E1) or with NULs to 16 (the
// doc's mcrypt example). Warnings name tolerated deviations; a refusal is an EINVALID
// *og.Error with rule E1 naming field and the likely cause.
func Decrypt(key, field, text string) (string, []og.Diagnostic, *og.Error) {
	var warns []og.Diagnostic
	fail := func(format string, args ...any) (string, []og.Diagnostic, *og.Error) {
		return "", warns, og.Errorf(og.EINVALID, "E1", field, format, args...)
	}
	if err := CheckKey(key); err != nil {
		return fail("%v", err)
	}
	s := strings.TrimSpace(text)
	if s == "" {
		return fail("the encrypted value is empty")
	}
	if len(s) > MaxCiphertext {
		return fail("the encrypted value is %d characters; encrypted fields are a few AES blocks", len(s))
	}
	if strings.Contains(s, "%") {
		dec, err := url.PathUnescape(s)
		if err != nil {
			return fail("the value has a '%%' that is not a valid URL escape: %v", err)
		}
		s = dec
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		switch {
		case strings.Contains(s, " ") && decodes(strings.ReplaceAll(s, " ", "+")):
			raw, _ = base64.StdEncoding.DecodeString(strings.ReplaceAll(s, " ", "+"))
			warns = append(warns, og.Warning("E1", field, "the base64 has spaces where '+' belongs: the value was form-decoded or not URL-encoded; URL-encode it (E1)"))
		case decodesWith(base64.RawStdEncoding, s):
			raw, _ = base64.RawStdEncoding.DecodeString(s)
			warns = append(warns, og.Warning("E1", field, "the base64 lacks its '=' padding; E1 uses standard base64"))
		case decodesWith(base64.URLEncoding, s) || decodesWith(base64.RawURLEncoding, s):
			raw, _ = base64.URLEncoding.DecodeString(s)
			if raw == nil {
				raw, _ = base64.RawURLEncoding.DecodeString(s)
			}
			warns = append(warns, og.Warning("E1", field, "the value uses the URL-safe base64 alphabet; E1 uses standard base64, then URL-encoding"))
		default:
			return fail("the value is not base64 (%v); E1 wants base64 of the AES-256-ECB ciphertext, URL-encoded in request fields", err)
		}
	}
	if len(raw) == 0 || len(raw)%aes.BlockSize != 0 {
		return fail("the ciphertext is %d bytes, not a multiple of the 16-byte AES block: it was not encrypted with AES-ECB", len(raw))
	}
	block, _ := aes.NewCipher([]byte(key))
	out := make([]byte, len(raw))
	for i := 0; i < len(raw); i += aes.BlockSize {
		block.Decrypt(out[i:i+aes.BlockSize], raw[i:i+aes.BlockSize])
	}
	if n := len(out); out[n-1] >= 1 && out[n-1] <= 16 && allBytes(out[n-int(out[n-1]):], out[n-1]) && printable(out[:n-int(out[n-1])]) {
		return fail("the plaintext ends in PKCS#7 padding (OpenSSL's default); E1 pads with '{' to a multiple of 32 (PHP: openssl_encrypt(str_pad($v, 32*ceil((strlen($v)+1)/32), '{'), 'aes-256-ecb', $key, OPENSSL_ZERO_PADDING))")
	}
	plain := strings.TrimRight(string(out), "{\x00")
	if i := og.NonASCII(plain); i >= 0 && utf8.ValidString(plain) && !strings.ContainsFunc(plain, unicode.IsControl) {
		// Text, in the right key, but not ASCII: the merchant's platform let an accent through.
		return "", warns, og.Errorf(og.EINVALID, "C1", field, "the value decrypts to text with a non-ASCII character at byte %d: C1 wants ASCII only, so transliterate it before encrypting (é → e)", i)
	}
	if !printable([]byte(plain)) {
		return fail("the value does not decrypt to text with this merchant's hash key: it was encrypted with another key (staging and production keys differ) or another algorithm (E1: AES-256-ECB keyed with the 32 bytes of the hash key)")
	}
	if len(out)%padBlock != 0 && strings.HasSuffix(string(out), "{") {
		warns = append(warns, og.Warning("E1", field, "the plaintext was padded to a multiple of 16, not 32; E1 pads with '{' to a multiple of 32"))
	}
	return plain, warns, nil
}

func decodes(s string) bool { return decodesWith(base64.StdEncoding, s) }

func decodesWith(enc *base64.Encoding, s string) bool {
	_, err := enc.DecodeString(s)
	return err == nil
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func allBytes(b []byte, v byte) bool {
	for _, x := range b {
		if x != v {
			return false
		}
	}
	return true
}

// Expiry is a decrypted cc_exp_date (E2).
type Expiry struct {
	Month int
	Year  int
}

// String formats the expiry as E2 wants it: MM/YYYY.
func (e Expiry) String() string { return fmt.Sprintf("%02d/%04d", e.Month, e.Year) }

// PayPalExpiry is the cc_exp_date every PayPal payment carries (E2).
var PayPalExpiry = Expiry{Month: 12, Year: 2099}

// ParseExpiry checks a decrypted cc_exp_date (E2): MM/YYYY; M/YYYY is accepted with a warning
// (Magento sends it); a two-digit year, or a month outside 1-12, is refused.
func ParseExpiry(field, s string) (Expiry, []og.Diagnostic, *og.Error) {
	var warns []og.Diagnostic
	mm, yyyy, ok := strings.Cut(s, "/")
	if !ok || !digits(mm) || !digits(yyyy) || len(mm) == 0 || len(mm) > 2 {
		return Expiry{}, nil, og.Errorf(og.EINVALID, "E2", field, "Expiration date is not valid, received: %s (E2 wants MM/YYYY, e.g. 03/2027)", s)
	}
	if len(yyyy) != 4 {
		return Expiry{}, nil, og.Errorf(og.EINVALID, "E2", field, "Expiration date is not valid, received: %s (the year has %d digits; E2 wants four: MM/YYYY)", s, len(yyyy))
	}
	var e Expiry
	fmt.Sscan(mm, &e.Month)
	fmt.Sscan(yyyy, &e.Year)
	if e.Year < 2000 {
		return Expiry{}, nil, og.Errorf(og.EINVALID, "E2", field, "Expiration date is not valid, received: %s (year %04d is not a card expiry year)", s, e.Year)
	}
	if e.Month < 1 || e.Month > 12 {
		return Expiry{}, nil, og.Errorf(og.EINVALID, "E2", field, "Expiration date is not valid, received: %s (month %d is not 01-12)", s, e.Month)
	}
	if len(mm) == 1 {
		warns = append(warns, og.Warning("E2", field, fmt.Sprintf("cc_exp_date %q has a one-digit month; accepted, but E2 wants MM/YYYY (%s)", s, e)))
	}
	return e, warns, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
