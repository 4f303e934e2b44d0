package og

import (
	"slices"
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

// MaskCardNumbers masks each card number in s down to its last four digits: digits with a
// card network's prefix and length (cardNetwork) that pass the Luhn check, written in one run
// or in the groups cards print (4-4-4-4, 4-6-5, ...) separated by single spaces or dashes (or
// their URL encodings, + and %20), even with other digit groups beside them
// ("4111111111111111 12/2030"). The journal runs it on every body it keeps: a card number may
// come in a field that does not name it, or in a body nothing could parse (E4, X2). Other long
// numbers (order ids, timestamps) are left: about one in ten passes the Luhn check.
func MaskCardNumbers(s string) string {
	var masks, groups []span
	var digits []byte
	for i := 0; i < len(s); {
		if s[i] == '%' && i+2 < len(s) && IsHexDigit(s[i+1]) && IsHexDigit(s[i+2]) {
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
			for h := g; h < len(groups); h++ {
				digits = digits[:0]
				for _, gr := range groups[g : h+1] {
					digits = append(digits, s[gr.start:gr.end]...)
				}
				if len(digits) > 19 {
					break
				}
				if cardLayout(groups[g:h+1]) && cardNetwork(digits) && luhn(digits) {
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
		last := make([]byte, 0, 4) // the last four digits, not characters: "4111-1111-1111-1111" ends 1111
		for k := m.end - 1; k >= m.start && len(last) < 4; k-- {
			if isDigit(s[k]) {
				last = append([]byte{s[k]}, last...)
			}
		}
		b.WriteString("****")
		b.Write(last)
		done = m.end
	}
	b.WriteString(s[done:])
	return b.String()
}

// span is a part of a string, from start to end.
type span struct{ start, end int }

// cardLayouts are the digit groups cards print their numbers in.
var cardLayouts = [][]int{{4, 4, 4, 4}, {4, 4, 4, 4, 3}, {4, 4, 4, 3}, {4, 6, 5}, {4, 6, 4}, {4, 3, 3, 3}}

// cardLayout reports whether groups are laid out as a card prints its number: one run, or
// one of cardLayouts.
func cardLayout(groups []span) bool {
	if len(groups) == 1 {
		return true
	}
	return slices.ContainsFunc(cardLayouts, func(l []int) bool {
		return slices.EqualFunc(l, groups, func(n int, g span) bool { return g.end-g.start == n })
	})
}

// cardNetwork reports whether d (13 to 19 digits) has the prefix and length of a card network's
// numbers: Visa, Mastercard, American Express, Discover, UnionPay, JCB, Diners Club, Mir,
// Maestro.
func cardNetwork(d []byte) bool {
	n := len(d)
	if n < 13 || n > 19 {
		return false
	}
	p := func(k int) int {
		v := 0
		for _, c := range d[:k] {
			v = v*10 + int(c-'0')
		}
		return v
	}
	switch {
	case d[0] == '4':
		return n == 13 || n == 16 || n == 19 // Visa
	case p(2) >= 51 && p(2) <= 55, p(4) >= 2221 && p(4) <= 2720:
		return n == 16 // Mastercard
	case p(2) == 34 || p(2) == 37:
		return n == 15 // American Express
	case p(4) == 6011, p(3) >= 644 && p(3) <= 649, p(2) == 65, p(2) == 62:
		return n >= 16 // Discover, UnionPay
	case p(4) >= 3528 && p(4) <= 3589:
		return n >= 16 // JCB
	case p(3) >= 300 && p(3) <= 305, p(2) == 36, p(2) == 38, p(2) == 39:
		return n >= 14 // Diners Club
	case p(4) >= 2200 && p(4) <= 2204:
		return n >= 16 // Mir
	case p(2) == 50, p(2) >= 56 && p(2) <= 69:
		return true // Maestro: 12 to 19 digits
	}
	return false
}

// luhn reports whether digits pass the Luhn check.
func luhn(digits []byte) bool {
	sum := 0
	for i := range digits {
		d := int(digits[len(digits)-1-i] - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// CardDigitsAtEnd returns how many bytes at the end of s are a run of digits that may begin
// a card number cut short (more than six digits, in groups MaskCardNumbers' separators join),
// or 0. The journal masks them in a body its bound cut and nothing parsed (X2). A URL escape's
// hex digits ("%2011") count as no card's.
func CardDigitsAtEnd(s string) int {
	d, digits := len(s), 0 // the run starts at d
	for d > 0 {
		escape := d >= 3 && s[d-3] == '%' && IsHexDigit(s[d-2]) && IsHexDigit(s[d-1])
		if isDigit(s[d-1]) && !escape {
			d, digits = d-1, digits+1
			continue
		}
		sep := 0
		switch {
		case escape:
			if cardSeparator(s[d-3:d]) == 3 {
				sep = 3
			}
		case cardSeparator(s[d-1:d]) == 1:
			sep = 1
		}
		if sep == 0 || d-sep < 1 || !isDigit(s[d-sep-1]) {
			break
		}
		d -= sep
	}
	if digits <= 6 {
		return 0
	}
	return len(s) - d
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

// IsHexDigit reports whether c is a hex digit, either case.
func IsHexDigit(c byte) bool { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }
