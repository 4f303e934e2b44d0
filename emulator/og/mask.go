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

// MaskCardTokens masks, in order XML, each orderTokenId shaped like a card number down to its
// last four (E4): a gateway's network token looks like one and is kept to place orders, but
// the journal and listings show it as they show a card number. Other text is left alone.
func MaskCardTokens(xml string) string {
	const open, end = "<orderTokenId>", "</orderTokenId>"
	var b strings.Builder
	for {
		i := strings.Index(xml, open)
		if i < 0 {
			break
		}
		j := strings.Index(xml[i:], end)
		if j < 0 {
			break
		}
		inner := xml[i+len(open) : i+j]
		token := strings.TrimSuffix(strings.TrimPrefix(inner, "<![CDATA["), "]]>")
		b.WriteString(xml[:i+len(open)])
		if LooksLikeCardNumber(token) {
			b.WriteString(strings.Replace(inner, token, Mask(strings.ReplaceAll(token, " ", "")), 1))
		} else {
			b.WriteString(inner)
		}
		xml = xml[i+j:]
	}
	if b.Len() == 0 {
		return xml
	}
	b.WriteString(xml)
	return b.String()
}

// MaskCardNumbers masks every run of 15 to 19 digits (single spaces or dashes between them
// allowed) that passes the Luhn check, down to its last four: a card number a client sent
// where nothing could read it (a body that is not JSON, a request refused before it was read)
// never reaches the journal (E4, X2). Shorter runs are left alone: a 13-digit millisecond
// timestamp is not a card.
func MaskCardNumbers(s string) string {
	var b strings.Builder
	done := 0 // s[:done] is written to b (or nothing was masked yet)
	for i := 0; i < len(s); {
		if s[i] < '0' || s[i] > '9' {
			i++
			continue
		}
		end, digits := i, 0
		for j := i; j < len(s); j++ {
			if c := s[j]; c >= '0' && c <= '9' {
				digits, end = digits+1, j+1
			} else if (c != ' ' && c != '-') || j+1 >= len(s) || s[j+1] < '0' || s[j+1] > '9' {
				break
			}
		}
		if run := s[i:end]; digits >= 15 && digits <= 19 && LooksLikeCardNumber(run) {
			b.WriteString(s[done:i])
			b.WriteString("****" + run[len(run)-4:])
			done = end
		}
		i = end
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}
