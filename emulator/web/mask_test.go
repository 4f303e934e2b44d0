package web

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// X2: what the journal keeps has its secrets masked, in every encoding a request uses.
func TestX2_MaskerText(t *testing.T) {
	sig := "0nQ1KznESueBlFHYRebLpoKih6fkHt0cXC8Ens8eoWk="
	m := newMasker([]string{"4111111111111111", "tok+en/value=="}, nil)
	for _, tc := range []struct{ name, in, gone, kept string }{
		{"json_password", `{"password": "hunter2"}`, "hunter2", `"password": "****"`},
		{"json_escaped_quote", `{"password":"a\"b-long-secret"}`, "long-secret", `"password":"****"`},
		{"form_password", `user=u&password=hunter2&x=1`, "hunter2", "password=****&x=1"},
		{"json_sig", `{"sig":"` + sig + `"}`, sig, `"sig":"0nQ1Kz…(44 chars)"`},
		{"query_sig", `/customer/x?merchant_id=m&sig=` + sig, sig, "sig=0nQ1Kz…(44 chars)"},
		{"encoded_json_sig", `create_request=%7B%22sig%22%3A%22` + sig + `%22%7D`, sig, "%22sig%22%3A%220nQ1Kz…(44 chars)%22"},
		{"encoded_json_cc_number", `%7B%22cc_number%22%3A%225500005555555559%22%7D`, "5500005555555559", "%22cc_number%22%3A%22****5559%22"},
		{"numeric_card_number", `{"cc_number": 5500005555555559}`, "5500005555555559", `"cc_number": ****5559`},
		{"capitalised_key", `{"Password":"hunter2"}`, "hunter2", `"Password":"****"`},
		{"key_containing_password", `{"sftp_password":"hunter2"}`, "hunter2", `"sftp_password":"****"`},
		{"upper_case_form_key", `user=u&PASSWORD=hunter2`, "hunter2", "PASSWORD=****"},
		{"value_cut_by_the_body_bound", `{"a":1,"password":"hunter2-super-sec`, "hunter2", `"password":"****`},
		{"encoded_value_cut", `%7B%22password%22%3A%22hunter2-super`, "hunter2", `%22password%22%3A%22****`},
		{"client_secret", `client_secret=abcdefghijklmnopqrstuvwxyz`, "abcdefghij", "client_secret=****"},
		{"ordinary_fields_untouched", `{"first_name":"Nicholas","token_id":"tok_123"}`, "****", `"first_name":"Nicholas","token_id":"tok_123"`},
		{"json_card_number_keeps_last_four", `{"cc_number":"5500005555555559"}`, "5500005555555559", `"cc_number":"****5559"`},
		{"long_password_shows_nothing", `{"password":"correct-horse-battery"}`, "tery", `"password":"****"`},
		{"registered_value", `{"note":"card 4111111111111111"}`, "4111111111111111", "card ****"},
		{"registered_value_url_encoded", `token=tok%2Ben%2Fvalue%3D%3D`, "tok%2Ben", "token=****"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := m.text(tc.in)
			if strings.Contains(got, tc.gone) || !strings.Contains(got, tc.kept) {
				t.Fatalf("masked %q to %q; want %q gone and %q kept", tc.in, got, tc.gone, tc.kept)
			}
		})
	}
}

func TestX2_MaskerHeaders(t *testing.T) {
	sig := "0nQ1KznESueBlFHYRebLpoKih6fkHt0cXC8Ens8eoWk="
	h := http.Header{
		"Authorization":  {`{"public_id":"p","ts":1,"sig_field":"u","sig":"` + sig + `"}`},
		"X-Api-Key":      {"application-key-123456"},
		"Signed-Payload": {"eyJhbGciOiJIUzI1NiJ9.eyJjdXN0b21lciI6MX0.c2lnbmF0dXJl"},
		"Cookie":         {"a=1; og_auth=123|1516309285|" + sig + "; b=2"},
		"Accept":         {"*/*"},
	}
	h.Set("Proxy-Authorization", "Basic dXNlcjpwYXNz")
	h.Set("X-Auth-Token", "token-abcdefghijklmnop")
	got := masker{}.header(h)
	if got["Proxy-Authorization"][0] != "Basic ****" || got["X-Auth-Token"][0] != "****mnop" {
		t.Errorf("proxy authorization and auth token: %v", got)
	}
	bearer := masker{}.header(http.Header{"Authorization": {"Bearer eyJhbGciOi.secret"}, "Cookie": {"og_auth=123%7c1516309285%7c" + sig}})
	if bearer["Authorization"][0] != "Bearer ****" || strings.Contains(bearer["Cookie"][0], sig) {
		t.Errorf("bearer and lower-case encoded og_auth: %v", bearer)
	}
	joined := strings.Join(got["Authorization"], "") + strings.Join(got["X-Api-Key"], "") + strings.Join(got["Signed-Payload"], "") + strings.Join(got["Cookie"], "")
	for _, secret := range []string{sig, "application-key-123456", "c2lnbmF0dXJl"} {
		if strings.Contains(joined, secret) {
			t.Errorf("headers keep %q: %v", secret, got)
		}
	}
	if got["Cookie"][0] != "a=1; og_auth=123|1516309285|0nQ1Kz…(44 chars); b=2" || got["Accept"][0] != "*/*" {
		t.Errorf("headers %v", got)
	}
}

// An empty redacted value masks nothing; the cache of secret header names stops growing at its
// bound and still answers right past it.
func TestMaskerEdges(t *testing.T) {
	if got := newMasker([]string{"", "tok"}, nil).text("a tok b"); got != "a **** b" {
		t.Fatalf("masked %q", got)
	}
	for i := range 2 * maxSecretHeaders {
		secretHeader(fmt.Sprintf("x-header-%d", i))
	}
	if n := secretHeaderCount.Load(); n > maxSecretHeaders {
		t.Fatalf("%d header names remembered, bound %d", n, maxSecretHeaders)
	}
	if !secretHeader("x-merchant-password-overflow") || secretHeader("x-request-id-overflow") {
		t.Fatal("past the bound, header names are judged wrongly")
	}
}

// holdsAny's table holds a bit per secret word, and finds what a plain search finds.
func TestHoldsAnyFindsWhatASearchFinds(t *testing.T) {
	if len(secretWords) > 32 || secretWords[len(secretWords)-1] != "sig" {
		t.Fatalf("secretWords: %d words, last %q; the starts table holds 32 and sig goes last", len(secretWords), secretWords[len(secretWords)-1])
	}
	for _, w := range secretWords {
		if w[0] < 'a' || w[0] > 'z' || w[1] < 'a' || w[1] > 'z' {
			t.Fatalf("secret word %q does not start with two lower-case letters, as the starts table needs", w)
		}
	}
	naive := func(s string, n int) bool {
		for _, w := range secretWords[:n] {
			if strings.Contains(strings.ToLower(s), w) {
				return true
			}
		}
		return false
	}
	for _, s := range []string{"", "s", "sig", "SIG", "a_Sig_b", "x API-KEY", "apikey", "api_ke", "Cc_Number=1",
		"cc_holder cc_exp_date", `{"hash_key":"x"}`, "PassWd", "pas", "secre", "accesstoken", "AUTH_TOKEN", "cvc", "cv"} {
		for _, n := range []int{len(secretWords), len(secretWords) - 1} {
			if got, want := holdsAny(s, n), naive(s, n); got != want {
				t.Errorf("holdsAny(%q, %d) = %v, want %v", s, n, got, want)
			}
		}
	}
}

// X2: whatever a body holds and wherever the journal's bound cuts a registered value, no start
// of the value of minCut characters or more is kept at the end, and masking never panics.
func FuzzMaskerCutShort(f *testing.F) {
	f.Add(`{"payment":{"token_id":"`, "5555555555554444", 8, false)
	f.Add(`create_request=%7B%22cc_holder%22%3A%22`, "tok+en/value==", 5, true)
	f.Add(`{"n": 4111 1111 `, "x", 1, true)
	f.Add("", "é€", 2, false)
	f.Fuzz(func(t *testing.T, before, secret string, k int, scan bool) {
		if secret == "" || strings.Contains(secret, "*") || len(before) > 1<<12 || len(secret) > 256 {
			return
		}
		m := newMasker([]string{secret}, nil)
		k = 1 + abs(k)%len(secret)
		if k == len(secret) {
			k-- // a whole value is text's to mask
		}
		if k == 0 {
			return
		}
		body := before + secret[:k]
		got := m.body(body, true, scan)
		for j := minCut; j < len(secret); j++ {
			if strings.HasSuffix(got, secret[:j]) {
				t.Fatalf("body %q cut %d bytes into %q: kept as %q, which ends with %q", body, k, secret, got, secret[:j])
			}
		}
		m.body(body, false, scan)
		naive := 0 // the longest end of body, shorter than secret, that begins it
		for j := min(len(secret)-1, len(body)); j > 0; j-- {
			if strings.HasSuffix(body, secret[:j]) {
				naive = j
				break
			}
		}
		if got := overlap(body, secret); got != naive {
			t.Fatalf("overlap(%q, %q) = %d, want %d", body, secret, got, naive)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// X2: what the journal's body bound cut short, masked (cut) or left as it is.
func TestX2_MaskerCutShort(t *testing.T) {
	cipher := "kwWZ/53+x32tmofQ9vRz=="
	m := newMasker([]string{cipher, "6011000990139424123", "10/2030", "Nicholas Bundy"}, nil)
	for _, tc := range []struct {
		name    string
		in      string
		scan    bool
		want    string
		notKept string
	}{
		{"ciphertext", `{"payment":{"cc_holder":"kwWZ/53+x3`, false, `"cc_holder":"****`, "kwWZ"},
		{"ciphertext_escaped_slash", `{"payment":{"cc_holder":"kwWZ\/53+x3`, false, `"cc_holder":"****`, "kwWZ"},
		{"ciphertext_url_encoded", `create_request=%7B%22cc_holder%22%3A%22kwWZ%2F53`, false, `%22cc_holder%22%3A%22****`, "kwWZ"},
		{"card_under_a_secret_key_shows_no_middle_digits", `{"cc_number":"60110009901394241`, false, `{"cc_number":"****`, "4241"},
		{"cut_after_a_backslash", `{"sftp_password":"hunter2\`, false, `{"sftp_password":"****`, "hunter2"},
		{"card_in_a_body_nothing_parsed", `{"n": 4111 1111 11`, true, `{"n": ****`, "4111"},
		{"url_encoded_card_in_a_body_nothing_parsed", `n=Visa+4111+1111+11`, true, `n=Visa+****`, "4111"},
		{"percent_encoded_card_in_a_body_nothing_parsed", `n=Visa%204111%201111%2011`, true, `n=Visa%20****`, "4111"},
		{"ciphertext_in_a_body_nothing_parsed", `{"cc_exp_date":"TkuKztP2`, true, `{"cc_exp_date":"****`, "TkuK"},
		{"short_number_is_no_secret", `{"quantity":10`, false, `{"quantity":10`, "****"},
		{"short_digits_in_a_body_nothing_parsed", `{"quantity": 10`, true, `{"quantity": 10`, "****"},
		{"initial_is_no_secret", `{"name":"N`, false, `{"name":"N`, "****"},
		{"name_cut_after_four_letters", `{"x":"Nich`, false, `{"x":"****`, "Nich"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := m.body(tc.in, true, tc.scan)
			if !strings.HasSuffix(got, tc.want) || strings.Contains(got, tc.notKept) {
				t.Fatalf("cut body %q masked to %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// A registered value and a body as long as the journal keeps: cutShort is linear in them.
func BenchmarkCutShortLongValues(b *testing.B) {
	long := strings.Repeat("A", MaxRecordedBody)
	m := newMasker([]string{long + "/ 1", long + "/ 2", long + "/ 3", long + "/ 4", long + "/ 5"}, nil)
	body := `{"x":"` + long[:MaxRecordedBody-10]
	for b.Loop() {
		m.cutShort(body, true)
	}
}

// X2: with many merchants, the configuration's secrets are found in one pass (a replacer), and
// masked all the same.
func TestX2_ManyKnownSecretsAreMaskedInOnePass(t *testing.T) {
	s := &Server{}
	var secrets []string
	for i := range 20 {
		secrets = append(secrets, fmt.Sprintf("merchant-%02d-hash/key", i))
	}
	s.KnowSecrets(secrets...)
	if s.knownAll == nil || s.known != nil {
		t.Fatal("20 secrets are scanned for one by one")
	}
	m := newMasker(nil, s.known)
	m.known = s.knownAll
	for _, text := range []string{"a merchant-13-hash/key b", "a merchant-13-hash%2Fkey b", `a merchant-13-hash\/key b`} {
		if got := m.text(text); got != "a **** b" {
			t.Errorf("%q masked as %q", text, got)
		}
	}
}
