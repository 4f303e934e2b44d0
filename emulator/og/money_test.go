package og

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
)

func TestMoneyFormatsTwoDecimals(t *testing.T) {
	for _, c := range []struct {
		m    Money
		want string
	}{
		{0, "0.00"}, {5, "0.05"}, {50, "0.50"}, {1999, "19.99"}, {-1, "-0.01"}, {-1999, "-19.99"},
		{MaxPrice, "99999999.99"}, {math.MaxInt64, "92233720368547758.07"}, {math.MinInt64, "-92233720368547758.08"},
	} {
		if got := c.m.String(); got != c.want {
			t.Errorf("Money(%d).String() = %q, want %q", int64(c.m), got, c.want)
		}
		js, err := json.Marshal(c.m)
		if err != nil || string(js) != fmt.Sprintf("%q", c.want) {
			t.Errorf("Money(%d) as JSON = %s, %v", int64(c.m), js, err)
		}
		if c.m == math.MinInt64 || c.m == math.MaxInt64 {
			continue // ParseMoney bounds amounts to 12 digits before the point
		}
		var back Money
		if err := json.Unmarshal(js, &back); err != nil || back != c.m {
			t.Errorf("Money(%d) read back as %d, %v", int64(c.m), int64(back), err)
		}
	}
}
