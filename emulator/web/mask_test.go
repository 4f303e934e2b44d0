package web

import (
	"net/http"
	"strings"
	"testing"
)

// X2: what the journal keeps has its secrets masked, in every encoding a request uses.
func TestX2_MaskerText(t *testing.T) {
	sig := "0nQ1KznESueBlFHYRebLpoKih6fkHt0cXC8Ens8eoWk="
	m := masker{values: []string{"4111111111111111", "tok+en/value=="}}
	for _, tc := range []struct{ name, in, gone, kept string }{
		{"json_password", `{"password": "hunter2"}`, "hunter2", `"password": "****"`},
		{"json_escaped_quote", `{"password":"a\"b-long-secret"}`, "long-secret", `"password":"****"`},
		{"form_password", `user=u&password=hunter2&x=1`, "hunter2", "password=****&x=1"},
		{"json_sig", `{"sig":"` + sig + `"}`, sig, `"sig":"0nQ1Kz…(44 chars)"`},
		{"query_sig", `/customer/x?merchant_id=m&sig=` + sig, sig, "sig=0nQ1Kz…(44 chars)"},
		{"encoded_json_sig", `create_request=%7B%22sig%22%3A%22` + sig + `%22%7D`, sig, "%22sig%22%3A%220nQ1Kz…(44 chars)%22"},
		{"encoded_json_cc_number", `%7B%22cc_number%22%3A%224111111111111111%22%7D`, "4111111111111111", "%22cc_number%22%3A%22****"},
		{"json_card_number_keeps_last_four", `{"cc_number":"5500005555555559"}`, "5500005555555559", `"cc_number":"****5559"`},
		{"long_password_shows_nothing", `{"password":"correct-horse-battery"}`, "tery", `"password":"****"`},
		{"registered_value", `{"note":"card 4111111111111111"}`, "4111111111111111", "card ****1111"},
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
	got := masker{}.header(h)
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
