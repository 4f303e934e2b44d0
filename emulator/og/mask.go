package og

import (
	"strconv"
	"strings"
)

// Mask hides a secret (a hash key, a password, an API key) for logs, the journal and printed
// configuration (X2), keeping just enough to tell two secrets apart: the last four characters
// of a long one.
func Mask(secret string) string {
	switch {
	case secret == "":
		return ""
	case len(secret) < 16:
		return "****"
	default:
		return "****" + secret[len(secret)-4:]
	}
}

// MaskSignature shortens a signature for the journal: a signature is a bearer credential for
// two hours (A3), but the start of it is what a developer compares with what they sent.
func MaskSignature(sig string) string {
	if len(sig) <= 8 {
		return strings.Repeat("*", len(sig))
	}
	return sig[:6] + "…(" + strconv.Itoa(len(sig)) + " chars)"
}
