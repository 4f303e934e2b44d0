package og

import (
	"fmt"
	"strconv"
	"strings"
)

// Money is an amount in cents. Prices and totals are exact: never floats (O3).
type Money int64

// MaxPrice is the largest product price of a feed (F2): 99999999.99.
const MaxPrice Money = 9999999999

// String formats the amount with two decimals: "19.99".
func (m Money) String() string { return string(m.appendTo(make([]byte, 0, 24))) }

// appendTo appends the amount with two decimals, without fmt: prices are written on every
// stored subscription and order item (issue 3's throughput).
func (m Money) appendTo(b []byte) []byte {
	u := uint64(m)
	if m < 0 {
		b, u = append(b, '-'), uint64(-(m+1))+1 // math.MinInt64 too
	}
	b = strconv.AppendUint(b, u/100, 10)
	return append(b, '.', byte('0'+u%100/10), byte('0'+u%10))
}

// MarshalJSON writes the amount as a decimal string, as Ordergroove's API does ("19.99").
func (m Money) MarshalJSON() ([]byte, error) {
	// Digits, a sign and a point: nothing to escape.
	return append(m.appendTo(append(make([]byte, 0, 26), '"')), '"'), nil
}

// UnmarshalJSON reads a decimal string or number.
func (m *Money) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := ParseMoney(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Mul returns m times n.
func (m Money) Mul(n int) Money { return m * Money(n) }

// MulChecked returns m times n (a count, n ≥ 0), and false when the product is beyond what a
// Money holds.
func (m Money) MulChecked(n int) (Money, bool) {
	p := m * Money(n)
	return p, n == 0 || p/Money(n) == m
}

// ParseMoney reads a decimal amount with at most two digits after the point: "19.99", "2",
// "2.5". A third decimal is refused rather than rounded: money is exact.
func ParseMoney(s string) (Money, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || !allDigits(whole) || !allDigits(frac) {
		return 0, fmt.Errorf("%q is not a decimal amount", s)
	}
	if len(frac) > 2 {
		return 0, fmt.Errorf("%q has %d digits after the point; amounts have at most 2", s, len(frac))
	}
	if len(whole) > 12 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	w, _ := strconv.ParseInt("0"+whole, 10, 64)
	f, _ := strconv.ParseInt((frac + "00")[:2], 10, 64)
	v := Money(w*100 + f)
	if neg {
		v = -v
	}
	return v, nil
}

// ParseAmount reads a decimal amount as clients compute it: Magento sends four decimals
// ("54.9900"), float arithmetic leaves tails ("1.3000000000000007"). Trailing zeros are exact;
// anything finer is rounded half up to the cent and exact is false, so that the caller can say so.
func ParseAmount(s string) (m Money, exact bool, err error) {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if len(frac) <= 2 {
		m, err = ParseMoney(s)
		return m, true, err
	}
	if whole == "" && frac == "" || !allDigits(whole) || !allDigits(frac) || len(whole) > 12 {
		return 0, false, fmt.Errorf("%q is not a decimal amount", s)
	}
	cents, _ := strconv.ParseInt("0"+whole+frac[:2], 10, 64)
	rest := frac[2:]
	exact = strings.Trim(rest, "0") == ""
	if rest[0] >= '5' {
		cents++
	}
	if strings.HasPrefix(s, "-") {
		cents = -cents
	}
	return Money(cents), exact, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
