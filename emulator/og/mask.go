package og

import (
	"strconv"
	"strings"
)

// Hide masks a secret shown to no one, a hash key or a password, entirely (X2); an unset one
// stays empty.
func Hide(secret string) string {
	if secret == "" {
		return ""
	}
	return "****"
}

// Mask hides a secret people tell apart by its end (an API key, a card number) for logs, the
// journal and printed configuration (X2): the last four characters of a long one. Hash keys
// and passwords are hidden entirely (Hide).
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

// MaskCardNumbers masks each card number in s down to its last four: 15 to 19 digits, in
// groups that single spaces or dashes may separate (or their URL encodings, + and %20),
// starting with 2 to 6 (the card networks) and passing the Luhn check, even with other digit
// groups beside it ("4111111111111111 12/2030"). The journal runs it on every body it keeps: a
// card number may come in a field that does not name it, or in a body nothing could parse
// (E4, X2).
func MaskCardNumbers(s string) string {
	type span struct{ start, end int }
	var masks, groups []span
	luhn := func(groups []span) bool {
		sum, i := 0, 0
		for g := len(groups) - 1; g >= 0; g-- {
			for k := groups[g].end - 1; k >= groups[g].start; k-- {
				d := int(s[k] - '0')
				if i%2 == 1 {
					if d *= 2; d > 9 {
						d -= 9
					}
				}
				sum += d
				i++
			}
		}
		return sum%10 == 0
	}
	for i := 0; i < len(s); {
		if s[i] == '%' && i+2 < len(s) && isHexDigit(s[i+1]) && isHexDigit(s[i+2]) {
			i += 3 // a URL escape's hex digits ("%204111…") begin no number
			continue
		}
		if !isDigit(s[i]) {
			i++
			continue
		}
		// A run: digit groups joined by one separator each.
		groups = groups[:0]
		j := i
		for {
			k := j
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			groups = append(groups, span{j, k})
			if n := cardSeparator(s[k:]); n > 0 && k+n < len(s) && isDigit(s[k+n]) {
				j = k + n
				continue
			}
			j = k
			break
		}
		for g := 0; g < len(groups); g++ {
			digits := 0
			for h := g; h < len(groups); h++ {
				if digits += groups[h].end - groups[h].start; digits > 19 {
					break
				}
				if first := s[groups[g].start]; digits >= 15 && first >= '2' && first <= '6' && luhn(groups[g:h+1]) {
					masks = append(masks, span{groups[g].start, groups[h].end})
					g = h
					break
				}
			}
		}
		i = j
	}
	if len(masks) == 0 {
		return s
	}
	var b strings.Builder
	done := 0
	for _, m := range masks {
		b.WriteString(s[done:m.start])
		b.WriteString("****" + s[m.end-4:m.end])
		done = m.end
	}
	b.WriteString(s[done:])
	return b.String()
}

// cardSeparator returns the length of the separator s starts with, between a card number's
// digit groups: a space or a dash, or + or %20 in URL-encoded text; else 0.
func cardSeparator(s string) int {
	switch {
	case s == "":
		return 0
	case s[0] == ' ' || s[0] == '-' || s[0] == '+':
		return 1
	case strings.HasPrefix(s, "%20"):
		return 3
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHexDigit(c byte) bool { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }
