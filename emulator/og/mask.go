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

// MaskCardNumbers masks each card number in s down to its last four: 15 to 19 digits, in
// groups that single spaces or dashes may separate, starting with 2 to 6 (the card networks)
// and passing the Luhn check, even with other digit groups beside it ("4111111111111111
// 12/2030"). It is for text nothing could parse — a purchase body that is not JSON — where a
// card number cannot be found by its field (E4, X2).
func MaskCardNumbers(s string) string {
	type span struct{ start, end int }
	var masks []span
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		// A run: digit groups joined by one separator each.
		var groups []span
		j := i
		for {
			k := j
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			groups = append(groups, span{j, k})
			if k+1 < len(s) && (s[k] == ' ' || s[k] == '-') && isDigit(s[k+1]) {
				j = k + 1
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
				card := s[groups[g].start:groups[h].end]
				if digits >= 15 && card[0] >= '2' && card[0] <= '6' && LooksLikeCardNumber(card) {
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

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
