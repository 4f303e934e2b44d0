package og

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestErrorCarriesRuleAndField(t *testing.T) {
	err := Errorf(EUNAUTHORIZED, "A3", "authorization.ts", "the signature is %s old", "3h")
	if got := err.Error(); got != "A3: authorization.ts: the signature is 3h old" {
		t.Fatalf("Error() = %q", got)
	}
	wrapped := fmt.Errorf("purchase: %w", err)
	if ErrorCode(wrapped) != EUNAUTHORIZED || ErrorMessage(wrapped) != "the signature is 3h old" || AsError(wrapped) != err {
		t.Fatal("a wrapped *Error lost its code or message")
	}
	plain := errors.New("disk on fire")
	if ErrorCode(plain) != EINTERNAL || ErrorMessage(plain) != "Internal error." || ErrorCode(nil) != "" {
		t.Fatal("an internal error leaks its detail or loses its code")
	}
}

func TestInvalidTakesTheFirstErrorFinding(t *testing.T) {
	e := Invalid([]Diagnostic{Warning("E2", "cc_exp_date", "one-digit month"), Finding("P2", "user.email", "required"), Finding("C1", "name", "ASCII")})
	if e.Rule != "P2" || e.Field != "user.email" || len(e.AllDiagnostics()) != 3 {
		t.Fatalf("Invalid = %+v", e)
	}
	if got := Rules(e.Diagnostics); len(got) != 2 || got[0] != "P2" || got[1] != "C1" {
		t.Fatalf("Rules = %v: warnings are not broken rules", got)
	}
	own := Errorf(EINVALID, "P3", "country_code", "at most two characters")
	if d := own.AllDiagnostics(); len(d) != 1 || d[0].Rule != "P3" {
		t.Fatalf("AllDiagnostics of a lone error = %+v", d)
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "short": "****", "Mt!ZQ45q&GHsgiRD8{NB-_h87#rjvbn0": "****vbn0",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
	if got := MaskSignature("0nQ1KznESueBlFHYRebLpoKih6fkHt0cXC8Ens8eoWk="); got != "0nQ1Kz…(44 chars)" {
		t.Errorf("MaskSignature = %q", got)
	}
	if got := MaskSignature("abc"); got != "***" {
		t.Errorf("MaskSignature(short) = %q", got)
	}
}

// M2: each identity finds exactly one merchant.
func TestM2_MerchantsIndex(t *testing.T) {
	x := NewMerchants([]Merchant{
		{ID: "b", PublicID: "pb", SFTP: SFTPLogin{Username: "ub"}, APIKeys: []string{"kb"}},
		{ID: "a", PublicID: "pa", SFTP: SFTPLogin{Username: "ua"}, APIKeys: []string{"ka1", "ka2"}},
		{ID: "a", PublicID: "dup"},
	})
	if all := x.All(); len(all) != 2 || all[0].ID != "a" {
		t.Fatalf("All = %v", all)
	}
	for _, tc := range []struct {
		find func(string) (*Merchant, bool)
		key  string
		want string
	}{
		{x.ByID, "a", "a"}, {x.ByPublicID, "pb", "b"}, {x.BySFTPUser, "ua", "a"}, {x.ByAPIKey, "ka2", "a"},
		{x.ByPublicID, "dup", ""}, {x.ByAPIKey, "", ""}, {x.ByID, "c", ""},
	} {
		m, ok := tc.find(tc.key)
		if ok != (tc.want != "") || ok && m.ID != tc.want {
			t.Errorf("lookup %q = %v, %v; want %q", tc.key, m, ok, tc.want)
		}
	}
}

// F1: the product feed should arrive before placement, daily at least.
func TestCheckFeedCadence(t *testing.T) {
	run := time.Date(2026, 1, 11, 12, 0, 0, 0, time.UTC)
	feed := func(at time.Time) FeedReport { return FeedReport{Kind: "products", ReceivedAt: at} }
	for _, tc := range []struct {
		name   string
		feeds  []FeedReport
		run    time.Time
		status string
	}{
		{"no_placement", []FeedReport{feed(run)}, time.Time{}, CheckNotObserved},
		{"no_feed", nil, run, CheckFail},
		{"only_after_the_run", []FeedReport{feed(run.Add(time.Hour))}, run, CheckFail},
		{"two_days_before", []FeedReport{feed(run.Add(-48 * time.Hour))}, run, CheckFail},
		{"the_night_before", []FeedReport{feed(run.Add(-48 * time.Hour)), feed(run.Add(-6 * time.Hour))}, run, CheckPass},
		{"categories_do_not_count", []FeedReport{{Kind: "categories", ReceivedAt: run.Add(-time.Hour)}}, run, CheckFail},
		{"control_api_does_not_count", []FeedReport{{Kind: "products", Via: FeedViaControlAPI, ReceivedAt: run.Add(-time.Hour)}}, run, CheckFail},
		{"catalogue_file_does_not_count", []FeedReport{{Kind: "products", Via: FeedViaCatalogue, ReceivedAt: run.Add(-time.Hour)}}, run, CheckFail},
		{"sftp_counts", []FeedReport{{Kind: "products", Via: FeedViaSFTP, ReceivedAt: run.Add(-time.Hour)}}, run, CheckPass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := CheckFeedCadence(tc.feeds, tc.run)
			if c.Status != tc.status || c.Rule != "F1" || c.Message == "" {
				t.Fatalf("%+v", c)
			}
		})
	}
}

// Ids made in one millisecond (public ids) or one second (request ids, P5) sort in the order
// they were made, and never repeat.
func TestIDsSortInCreationOrder(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	prevP, prevR := "", ""
	for i := range 1000 {
		p, r := NewPublicID(at), NewRequestID(at)
		if !IsHex(p, 32) || !IsHex(r, 24) {
			t.Fatalf("ids %q %q", p, r)
		}
		if p <= prevP || r <= prevR || seen[p] || seen[r] {
			t.Fatalf("id %d out of order or repeated: %s after %s, %s after %s", i, p, prevP, r, prevR)
		}
		seen[p], seen[r] = true, true
		prevP, prevR = p, r
	}
	if p := NewPublicID(at.Add(time.Millisecond)); p[:12] <= prevP[:12] {
		t.Fatalf("a later millisecond sorts first: %s, %s", p, prevP)
	}
}

// E4: what counts as a card number's shape.
func TestLooksLikeCardNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"4111111111111111":     true,
		"4111 1111 1111 1111":  true,
		"4111-1111-1111-1111":  true,
		"378282246310005":      true,  // American Express, 15 digits
		"4111111111111112":     false, // fails the Luhn check
		"411111111111":         false, // 12 digits
		"tok_4111111111111111": false,
		"":                     false,
		"00000000000000000000": false, // 20 digits
	} {
		if got := LooksLikeCardNumber(s); got != want {
			t.Errorf("LooksLikeCardNumber(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestMaskCardTokens(t *testing.T) {
	for in, want := range map[string]string{
		"<h><orderTokenId><![CDATA[4000056655665556]]></orderTokenId></h>":                                  "<h><orderTokenId><![CDATA[****5556]]></orderTokenId></h>",
		"<orderTokenId>4000 0566 5566 5556</orderTokenId>":                                                  "<orderTokenId>****5556</orderTokenId>",
		"<orderTokenId><![CDATA[tok_123]]></orderTokenId>":                                                  "<orderTokenId><![CDATA[tok_123]]></orderTokenId>",
		"<a><orderTokenId>4000056655665556</orderTokenId><orderTokenId>4111111111111111</orderTokenId></a>": "<a><orderTokenId>****5556</orderTokenId><orderTokenId>****1111</orderTokenId></a>",
		"<orderTokenId>4000056655665556":                                                                    "<orderTokenId>4000056655665556", // not closed: left alone
		"no xml":                                                                                            "no xml",
	} {
		if got := MaskCardTokens(in); got != want {
			t.Errorf("MaskCardTokens(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMaskCardNumbers(t *testing.T) {
	for in, want := range map[string]string{
		"[4111111111111111":                        "[****1111",
		`{"cc_number":4111 1111 1111 1111}`:        `{"cc_number":****1111}`,
		"a 5555-5555-5555-4444 b 4000056655665556": "a ****4444 b ****5556",
		"ts 1716000000000 and 4111111111111112":    "ts 1716000000000 and 4111111111111112", // too short; not Luhn
		"order 12345678901234567890123":            "order 12345678901234567890123",         // 23 digits: no card
		"4111111111111111":                         "****1111",
		"x4111111111111111y":                       "x****1111y",
		"4111111111111111 123":                     "****1111 123",
		"4111 1111 1111 1111 12 2030":              "****1111 12 2030",
		"qty 2 4111111111111111":                   "qty 2 ****1111",
		"4111111111111111-2030":                    "****1111-2030",
		"id 100000000000009 ts 1763835209123458":   "id 100000000000009 ts 1763835209123458", // 1 and 1..: no network's
		"plain text":                               "plain text",
		"label=Visa+4111+1111+1111+1111&x=1":       "label=Visa+****1111&x=1",
		// Long numbers that pass the Luhn check but are no network's card: order ids, dates, phones.
		`"merchant_order_id":"20240601000000003"`:   `"merchant_order_id":"20240601000000003"`,
		"id 2024060100000001":                       "id 2024060100000001",
		"ref 70000000000000003":                     "ref 70000000000000003",
		"2024-02-02 2024-01-01":                     "2024-02-02 2024-01-01",
		"phone 555-005-0005 00155":                  "phone 555-005-0005 00155",
		"3782-822463-10005":                         "****0005", // American Express, 4-6-5
		"3782 8224 6310 005":                        "****0005", // and 4-4-4-3
		"maestro 6759649826438453 5018000000000009": "maestro ****8453 ****0009",
		"mir 2200000000000004":                      "mir ****0004",
		"%22Visa%204111%201111%201111%201111%22":    "%22Visa%20****1111%22",
	} {
		if got := MaskCardNumbers(in); got != want {
			t.Errorf("MaskCardNumbers(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzMaskCardNumbers: masking never grows a card back, and masked text masks to itself.
func FuzzMaskCardNumbers(f *testing.F) {
	for _, s := range []string{"4111111111111111", "4111 1111 1111 1111 12 2030", "qty 2 4111111111111111", "1-2-3", "5555-5555-5555-4444-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := MaskCardNumbers(s)
		if twice := MaskCardNumbers(once); twice != once {
			t.Fatalf("MaskCardNumbers is not settled on %q: %q then %q", s, once, twice)
		}
		if len(once) > len(s) {
			t.Fatalf("masking grew %q to %q", s, once)
		}
	})
}

// F4, REFERENCE §6: an order held for an item out of stock is retried for 30 days, the customer
// emailed on days 1 and 15, and cancelled on day 30 (emailed), whatever the runs in between.
func TestF4_HoldEmailsOnDays1And15AndCancelsOnDay30(t *testing.T) {
	loc, _ := time.LoadLocation("America/Chicago")
	first := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // 06:00 Chicago
	o := &Order{Status: OrderScheduled}
	var got []string
	for day := 1; day <= 31; day += 1 + day%3 { // runs on some days only
		run := first.AddDate(0, 0, day-1)
		email, cancelled := Hold(o, "FT-3M is out of stock", run, loc)
		if email != "" {
			got = append(got, fmt.Sprintf("%d:%s", day, email))
		}
		if cancelled {
			break
		}
	}
	if want := "1:order_out_of_stock,15:order_out_of_stock,30:order_cancelled_out_of_stock"; strings.Join(got, ",") != want {
		t.Fatalf("emails %v, want %s", got, want)
	}
	if o.Status != OrderCancelled || o.StatusCode != StatusCancelled || o.Paused != "" || !strings.Contains(o.ErrorMessage, "FT-3M is out of stock") {
		t.Fatalf("the order on day 30: %+v", o)
	}
}
