package og

import (
	"strings"
	"testing"
	"time"
)

var decideNow = time.Date(2026, 3, 10, 11, 0, 0, 0, time.UTC)

func success(id string) Answer {
	return Answer{HTTPStatus: 200, Response: &PlacementResponse{Code: "SUCCESS", OrderID: id}}
}

func errorAnswer(code string) Answer {
	return Answer{HTTPStatus: 200, Response: &PlacementResponse{Code: "ERROR", ErrorCode: code, ErrorMsg: "declined by gateway"}}
}

// O5, O6a-d, S4: every kind of answer, and what Ordergroove does with it.
func TestDecide(t *testing.T) {
	week := RetryWindow{Freqs: []Frequency{{1, PeriodWeek}}}
	earlier := decideNow.Add(-3 * 24 * time.Hour)
	longAgo := decideNow.Add(-8 * 24 * time.Hour)
	for _, tc := range []struct {
		name   string
		order  Order
		answer Answer
		window RetryWindow
		status string
		code   int
		rule   string
		email  string
		retry  bool
		done   bool
		r999   int
		text   string
	}{
		{name: "O4/success", answer: success("1224"), status: OrderPlaced, code: StatusSuccess, email: EmailPlaced, done: true, text: "order 1224"},
		{name: "O4/success_without_order_id", answer: success(""), status: OrderPlaced, code: StatusSuccess, email: EmailPlaced, done: true, text: "without an orderId"},
		{name: "O6b/020_technical", answer: errorAnswer("020"), status: OrderRejected, code: StatusRejected, rule: "O6b", email: EmailTechnical, done: true},
		{name: "O6b/100_card_type", answer: errorAnswer("100"), status: OrderRejected, code: StatusRejected, rule: "O6b", email: EmailPaymentIssue, done: true},
		{name: "O6b/110_card_number", answer: errorAnswer("110"), status: OrderRejected, code: StatusRejected, rule: "O6b", email: EmailPaymentIssue, done: true},
		{name: "O6b/120_expiry", answer: errorAnswer("120"), status: OrderRejected, code: StatusRejected, rule: "O6b", email: EmailPaymentIssue, done: true},
		{name: "O6b/130_billing_address", answer: errorAnswer("130"), status: OrderRejected, code: StatusRejected, rule: "O6b", email: EmailBillingAddress, done: true},
		{name: "O6b/140_declined", answer: errorAnswer("140"), status: OrderRejected, code: StatusRejected, rule: "O6b", email: EmailPaymentIssue, done: true},
		{name: "O6b/150_paypal", answer: errorAnswer("150"), status: OrderRejected, code: StatusRejected, rule: "O6b", email: EmailPayPal, done: true},
		{name: "O6b/160_do_not_retry", answer: errorAnswer("160"), status: OrderRejected, code: StatusRejected, rule: "O6b", email: EmailPaymentIssue, done: true},
		{name: "O6b/170_no_default_card", answer: errorAnswer("170"), status: OrderRejected, code: StatusRejected, rule: "O6b", email: EmailPaymentIssue, done: true},
		{name: "O6b/180_sca", answer: errorAnswer("180"), status: OrderRejected, code: StatusRejected, rule: "O6b", email: EmailSCA, done: true},
		{name: "O6b/two_digit_code_20", answer: errorAnswer("20"), status: OrderRejected, code: StatusRejected, rule: "O6b", email: EmailTechnical, done: true},
		{name: "O6c/unknown_error_code", answer: errorAnswer("555"), status: OrderRejected, code: StatusResponseError, rule: "O6c", done: true, text: "not one of O5's codes"},
		{name: "O6c/error_without_code", answer: errorAnswer(""), status: OrderRejected, code: StatusResponseError, rule: "O6c", done: true},
		{name: "O6c/code_neither_success_nor_error", answer: Answer{HTTPStatus: 200, Response: &PlacementResponse{Code: "OK"}}, status: OrderRejected, code: StatusResponseError, rule: "O6c", done: true},
		{name: "O6c/garbage_body", answer: Answer{HTTPStatus: 200, ParseError: "not XML"}, status: OrderRejected, code: StatusResponseError, rule: "O6c", done: true, text: "not XML"},
		{name: "O6c/404_with_html", answer: Answer{HTTPStatus: 404, ParseError: "not XML"}, status: OrderRejected, code: StatusResponseError, rule: "O6c", done: true},
		{name: "O6d/first_999", answer: errorAnswer("999"), status: OrderPending, code: StatusGenericError, rule: "O6d", retry: true, r999: 1, text: "retry 1 of 3"},
		{name: "O6d/third_999_retry", order: Order{Retries999: 2}, answer: errorAnswer("999"), status: OrderPending, code: StatusGenericError, rule: "O6d", retry: true, r999: 3},
		{name: "O6d/999_after_three_retries", order: Order{Retries999: 3}, answer: errorAnswer("999"), status: OrderRejected, code: StatusRejected, rule: "O6d", email: EmailGeneric, done: true, r999: 4},
		{name: "O6d/no_answer_to_a_retry", order: Order{Retries999: 1}, answer: Answer{Transport: "connection refused"}, status: OrderPending, code: StatusConnectionError, rule: "O6d", retry: true, r999: 2},
		{name: "O6d/no_answer_to_the_last_retry_stays_pending", order: Order{Retries999: 3}, answer: Answer{Transport: "timeout"}, status: OrderPending, code: StatusConnectionError, rule: "O6d", r999: 4, text: "stays pending"},
		{name: "O6d/success_on_a_retry", order: Order{Retries999: 2}, answer: success("9"), status: OrderPlaced, code: StatusSuccess, email: EmailPlaced, done: true},
		{name: "O6a/refused", answer: Answer{Transport: "connection refused"}, window: week, status: OrderPending, code: StatusConnectionError, rule: "O6a", retry: true},
		{name: "O6a/http_503", answer: Answer{HTTPStatus: 503}, window: week, status: OrderPending, code: StatusConnectionError, rule: "O6a", retry: true},
		{name: "O6a/still_in_window", order: Order{FailingSince: &earlier}, answer: Answer{Transport: "timeout"}, window: week, status: OrderPending, code: StatusConnectionError, rule: "O6a", retry: true},
		{name: "O6a/window_over", order: Order{FailingSince: &longAgo}, answer: Answer{Transport: "timeout"}, window: week, status: OrderRejected, code: StatusConnectionError, rule: "O6a", done: true, text: "window (90 days or the subscription's frequency, whichever is shorter) ended at"},
		{name: "O4/valid_error_in_a_500", answer: Answer{HTTPStatus: 500, Response: &PlacementResponse{Code: "ERROR", ErrorCode: "140"}}, status: OrderRejected, code: StatusRejected, rule: "O6b", email: EmailPaymentIssue, done: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(&tc.order, tc.answer, tc.window, decideNow)
			if d.Status != tc.status || d.StatusCode != tc.code || d.Rule != tc.rule || d.Email != tc.email || d.Retry != tc.retry || d.Done != tc.done {
				t.Fatalf("Decide = %+v", d)
			}
			if tc.r999 != 0 && d.Retries999 != tc.r999 {
				t.Fatalf("Retries999 = %d, want %d", d.Retries999, tc.r999)
			}
			if !strings.Contains(d.Text, tc.text) || d.Text == "" {
				t.Fatalf("text %q, want it to contain %q", d.Text, tc.text)
			}
			if tc.rule == "O6a" && tc.order.FailingSince == nil && (d.FailingSince == nil || !d.FailingSince.Equal(decideNow)) {
				t.Fatalf("the first failure does not start O6a's window: %v", d.FailingSince)
			}
		})
	}
}

// O6a: the window is 90 days or the shortest frequency, on the merchant's calendar: a month is
// a calendar month, and a week across a daylight-saving change ends at the same local hour.
func TestO6a_RetryWindow(t *testing.T) {
	chicago, _ := time.LoadLocation("America/Chicago")
	at := func(s string, loc *time.Location) time.Time {
		t, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			panic(err)
		}
		return t
	}
	for _, tc := range []struct {
		name  string
		freqs []Frequency
		since time.Time
		want  time.Time
	}{
		{"none_90_days", nil, at("2026-01-11 06:00", chicago), at("2026-04-11 06:00", chicago)},
		{"two_weeks", []Frequency{{2, PeriodWeek}}, at("2026-01-11 06:00", chicago), at("2026-01-25 06:00", chicago)},
		{"six_months_capped_at_90_days", []Frequency{{6, PeriodMonth}}, at("2026-01-11 06:00", chicago), at("2026-04-11 06:00", chicago)},
		{"shortest_of_two", []Frequency{{1, PeriodMonth}, {10, PeriodDay}}, at("2026-01-11 06:00", chicago), at("2026-01-21 06:00", chicago)},
		{"a_month_from_feb_28_is_mar_28", []Frequency{{1, PeriodMonth}}, at("2026-02-28 06:00", chicago), at("2026-03-28 06:00", chicago)},
		{"a_week_across_spring_forward_is_a_calendar_week", []Frequency{{1, PeriodWeek}}, at("2026-03-05 06:00", chicago), at("2026-03-12 06:00", chicago)},
		{"a_day_across_fall_back", []Frequency{{1, PeriodDay}}, at("2026-10-31 06:00", chicago), at("2026-11-01 06:00", chicago)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := (RetryWindow{Freqs: tc.freqs, Loc: chicago}).Until(tc.since); !got.Equal(tc.want) {
				t.Errorf("Until(%v) = %v, want %v", tc.since, got, tc.want)
			}
		})
	}
}

// O1: placement runs on the merchant's calendar, right across daylight-saving changes.
func TestO1_RunsOn(t *testing.T) {
	chicago, _ := time.LoadLocation("America/Chicago")
	for _, tc := range []struct {
		name  string
		day   Date
		hours []int
		want  []string // UTC
	}{
		{"O1/winter_6am", Date{2026, 1, 15}, []int{6}, []string{"2026-01-15T12:00:00Z"}},
		{"O1/summer_6am", Date{2026, 7, 15}, []int{6}, []string{"2026-07-15T11:00:00Z"}},
		{"O1/spring_forward_2am_moves_to_3am", Date{2026, 3, 8}, []int{2}, []string{"2026-03-08T08:00:00Z"}},
		{"O1/spring_forward_2_and_3_are_one_run", Date{2026, 3, 8}, []int{2, 3}, []string{"2026-03-08T08:00:00Z"}},
		{"O1/fall_back_1am_happens_once", Date{2026, 11, 1}, []int{1}, []string{"2026-11-01T06:00:00Z"}},
		{"O1/fall_back_day_has_its_runs", Date{2026, 11, 1}, []int{0, 1, 2}, []string{"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T08:00:00Z"}},
		{"O1/hourly_on_spring_forward_has_23_runs", Date{2026, 3, 8}, hoursAll(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs := RunsOn(tc.day, tc.hours, chicago)
			if tc.want == nil {
				if len(runs) != 23 {
					t.Fatalf("%d runs, want 23", len(runs))
				}
				return
			}
			var got []string
			for _, r := range runs {
				got = append(got, r.Format(time.RFC3339))
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("runs %v, want %v", got, tc.want)
			}
		})
	}
	// A year of daily 6am runs: 365 of them, one per local day, each at 6:00 local.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, chicago)
	n := 0
	for r := NextRun(t0, []int{6}, chicago); r.Before(t0.AddDate(1, 0, 0)); r = NextRun(r, []int{6}, chicago) {
		if r.In(chicago).Hour() != 6 {
			t.Fatalf("run at %v is not 6:00 in Chicago", r.In(chicago))
		}
		n++
	}
	if n != 365 {
		t.Fatalf("%d runs in 2026, want 365", n)
	}
}

func hoursAll() []int {
	h := make([]int, 24)
	for i := range h {
		h[i] = i
	}
	return h
}

func TestFrequencyNextKeepsTheAnchorDay(t *testing.T) {
	start := Date{2026, 1, 31}
	monthly := Frequency{1, PeriodMonth}
	var got []string
	for n := 1; n <= 4; n++ {
		got = append(got, monthly.Next(start, n).String())
	}
	if strings.Join(got, ",") != "2026-02-28,2026-03-31,2026-04-30,2026-05-31" {
		t.Fatalf("monthly from Jan 31: %v", got)
	}
	if d := (Frequency{1, PeriodYear}).Next(Date{2028, 2, 29}, 1); d.String() != "2029-02-28" {
		t.Fatalf("yearly from Feb 29: %s", d)
	}
	if d := (Frequency{2, PeriodWeek}).Next(start, 1); d.String() != "2026-02-14" {
		t.Fatalf("every 2 weeks: %s", d)
	}
}

// A subscription whose order went out late moves on to its next date still to come, on its
// own calendar: no order is owed for the dates that went by while it was retried or paused.
func TestFrequencyNextNotBefore(t *testing.T) {
	d := func(s string) Date {
		v, err := ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name        string
		f           Frequency
		from, today string
		anchor      int
		want        string
	}{
		{"on time, daily", Frequency{1, PeriodDay}, "2026-01-10", "2026-01-10", 10, "2026-01-11"},
		{"on time, monthly", Frequency{1, PeriodMonth}, "2026-01-31", "2026-01-31", 31, "2026-02-28"},
		{"a day late, daily: today's date", Frequency{1, PeriodDay}, "2026-01-10", "2026-01-11", 10, "2026-01-11"},
		{"five days late, daily", Frequency{1, PeriodDay}, "2026-01-10", "2026-01-15", 10, "2026-01-15"},
		{"a retry window late, weekly", Frequency{1, PeriodWeek}, "2026-01-11", "2026-01-18", 11, "2026-01-18"},
		{"paused two months, monthly keeps the day", Frequency{1, PeriodMonth}, "2026-01-10", "2026-03-20", 10, "2026-04-10"},
		{"paused, month ends keep the anchor", Frequency{1, PeriodMonth}, "2026-01-31", "2026-04-02", 31, "2026-04-30"},
		{"every 3 days, late", Frequency{3, PeriodDay}, "2026-01-10", "2026-01-18", 10, "2026-01-19"},
		{"a century late, daily, bounded", Frequency{1, PeriodDay}, "2026-01-10", "2126-01-10", 10, "2126-01-10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.NextNotBefore(d(tc.from), tc.anchor, d(tc.today)); got.String() != tc.want {
				t.Fatalf("%s from %s on %s: %s, want %s", tc.f, tc.from, tc.today, got, tc.want)
			}
		})
	}
}

// The clock advance summary counts orders, not attempts: each by its latest outcome.
func TestRunReportCountsEachOrderOnce(t *testing.T) {
	var total RunReport
	for _, run := range []map[int64]string{
		{1: OutcomePending, 2: OutcomePending, 3: OutcomeRejected}, // 1 answered 999, 2 paused
		{1: OutcomePending, 2: OutcomePending},
		{1: OutcomePlaced, 2: OutcomePending, 4: OutcomePlaced},
	} {
		r := RunReport{Runs: 1}
		for id, outcome := range run {
			r.Order("m1", id, outcome)
		}
		total.Add(r)
	}
	other := RunReport{Runs: 1} // another merchant's order 1: og ids are per merchant
	other.Order("m2", 1, OutcomePlaced)
	total.Add(other)
	if total.Runs != 4 || total.Placed != 3 || total.Rejected != 1 || total.Pending != 1 {
		t.Fatalf("runs %d placed %d rejected %d pending %d, want 4/3/1/1", total.Runs, total.Placed, total.Rejected, total.Pending)
	}
}

// P6/P8: a 409 is resent only when a request with the same merchant_order_id arrives after the
// 409 was answered; those that arrived while it was being answered are a double submit.
func TestCheckConflictsCountsOnlyResendsAfterThe409(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	attempt := func(status, arrived, answered int) PurchaseAttempt {
		a := PurchaseAttempt{MerchantOrderID: "X", Status: status, At: at(arrived), Wall: at(arrived)}
		if answered >= 0 {
			a.Answered = at(answered)
		}
		return a
	}
	// on puts an attempt on connection conn, accepted at opened.
	on := func(conn uint64, opened int, a PurchaseAttempt) PurchaseAttempt {
		a.Conn, a.ConnOpened = conn, at(opened)
		return a
	}
	for _, tc := range []struct {
		name   string
		as     []PurchaseAttempt
		status string
		want   string
	}{
		{"no 409", []PurchaseAttempt{attempt(201, 0, 5)}, "", ""},
		{"a 409 not sent again", []PurchaseAttempt{attempt(201, 0, 5), attempt(409, 10, 12)}, CheckPass, "not sent again"},
		{"a double submit", []PurchaseAttempt{attempt(201, 0, 50), attempt(409, 1, 20), attempt(409, 2, 21), attempt(409, 3, 22)}, CheckPass, "3 request(s) with it arrived before its first request was answered"},
		{"a triple click, only the first answer slow", []PurchaseAttempt{attempt(201, 0, 400), attempt(409, 100, 101), attempt(409, 200, 201)}, CheckPass, "double submit"},
		{"a double submit while a 409 is slow", []PurchaseAttempt{attempt(201, 0, 5), attempt(409, 10, 500), attempt(409, 200, 201)}, CheckPass, "not sent again"},
		{"resent after the 409's answer", []PurchaseAttempt{attempt(201, 0, 5), attempt(409, 10, 12), attempt(409, 40, 41)}, CheckFail, "sent again 1 time(s)"},
		{"records from before answers were timed", []PurchaseAttempt{attempt(201, 0, -1), attempt(409, 10, -1), attempt(409, 11, -1)}, CheckFail, "sent again 1 time(s)"},
		// Sent together on connections opened beforehand, read by a busy sandbox only after
		// the first answers: a double submit.
		{"read after the answers, on connections opened before them", []PurchaseAttempt{on(1, 0, attempt(201, 0, 3)), on(2, 0, attempt(409, 4, 5)), on(3, 0, attempt(409, 6, 7))}, CheckPass, "within 1s of that answer on a connection opened before it"},
		{"resent on the 409's connection", []PurchaseAttempt{on(1, 0, attempt(201, 0, 3)), on(2, 0, attempt(409, 4, 5)), on(2, 0, attempt(409, 6, 7))}, CheckFail, "sent again 1 time(s)"},
		{"resent on a connection opened after the 409", []PurchaseAttempt{on(1, 0, attempt(201, 0, 3)), on(2, 0, attempt(409, 4, 5)), on(3, 6, attempt(409, 6, 7))}, CheckFail, "sent again 1 time(s)"},
		{"resent on an older connection a second after the 409", []PurchaseAttempt{on(1, 0, attempt(201, 0, 3)), on(2, 0, attempt(409, 4, 5)), on(3, 0, attempt(409, 1005, 1006))}, CheckFail, "sent again 1 time(s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := checkConflicts("X", tc.as)
			if !ok {
				if tc.status != "" {
					t.Fatalf("no verdict, want %s", tc.status)
				}
				return
			}
			if c.Status != tc.status || !strings.Contains(c.Message, tc.want) {
				t.Fatalf("%s: %s; want %s saying %q", c.Status, c.Message, tc.status, tc.want)
			}
		})
	}
}

// An order keeps the errorCode the merchant sent when it is not one of O5's; a short form of
// one of O5's ("20") is read, and kept, as that code.
func TestDecisionKeepsTheErrorCodeSent(t *testing.T) {
	week := RetryWindow{Freqs: []Frequency{{1, PeriodWeek}}}
	for sent, want := range map[string]string{"40": "40", " 555 ": "555", "20": "020", "140": "140"} {
		if d := Decide(&Order{}, errorAnswer(sent), week, decideNow); d.ErrorCode != want {
			t.Errorf("errorCode %q: the order keeps %q, want %q", sent, d.ErrorCode, want)
		}
	}
}
