package ogcrypto

import (
	"crypto/aes"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// The key and vectors of SPEC A1 and E1 (checked there with openssl).
const docKey = "Mt!ZQ45q&GHsgiRD8{NB-_h87#rjvbn0"

var signedAt = time.Unix(1516309285, 0)

func TestA1_SignatureTestVector(t *testing.T) {
	if got, want := Sign(docKey, "123456789", 1516309285), "0nQ1KznESueBlFHYRebLpoKih6fkHt0cXC8Ens8eoWk="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if got, want := Cookie(docKey, "123456789", 1516309285), "123456789|1516309285|0nQ1KznESueBlFHYRebLpoKih6fkHt0cXC8Ens8eoWk="; got != want {
		t.Fatalf("Cookie = %s, want %s", got, want)
	}
}

func TestE1_EncryptionTestVectors(t *testing.T) {
	for plain, want := range map[string]string{
		"12/2099":          "kwWZ/53+x32tmofPBfCppQzDFDlnWL9lCXQ/q5nFNdk=",
		"01/2019":          "nq+UQCFXsSJQx/dOvA+zwQzDFDlnWL9lCXQ/q5nFNdk=",
		"Nicholas Bundy":   "/CusOs7miSTxbvh3D4n4awzDFDlnWL9lCXQ/q5nFNdk=",
		"4111111111111111": "liUAjAnLVH5tToX+SoIFIAzDFDlnWL9lCXQ/q5nFNdk=",
	} {
		got, err := Encrypt(docKey, plain)
		if err != nil || got != want {
			t.Errorf("Encrypt(%q) = %s, %v; want %s", plain, got, err, want)
		}
		for _, form := range []string{want, url.QueryEscape(want)} {
			back, warns, e := Decrypt(docKey, "cc_holder", form)
			if e != nil || back != plain || len(warns) != 0 {
				t.Errorf("Decrypt(%q) = %q, %v, %v; want %q", form, back, warns, e, plain)
			}
		}
	}
}

func TestE1_FullBlockOfPaddingWhenAlreadyAMultipleOf32(t *testing.T) {
	plain := strings.Repeat("x", 32)
	ct, _ := Encrypt(docKey, plain)
	raw, _ := base64.StdEncoding.DecodeString(ct)
	if len(raw) != 64 {
		t.Fatalf("ciphertext of 32 bytes is %d bytes, want 64 (a full block of '{')", len(raw))
	}
}

// encryptRaw encrypts already-padded bytes, to build the forms other clients send.
func encryptRaw(t *testing.T, padded []byte) string {
	t.Helper()
	b, _ := aes.NewCipher([]byte(docKey))
	out := make([]byte, len(padded))
	for i := 0; i < len(padded); i += 16 {
		b.Encrypt(out[i:i+16], padded[i:i+16])
	}
	return base64.StdEncoding.EncodeToString(out)
}

func TestE1_DecryptAcceptsRealClientVariants(t *testing.T) {
	nul16 := encryptRaw(t, []byte("12/2099\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	brace16 := encryptRaw(t, []byte("12/2099{{{{{{{{{"))
	std := MustEncrypt(docKey, "12/2099")
	for _, tc := range []struct {
		name, in, warn string
	}{
		{"E1/mcrypt_NUL_padding_to_16", nul16, ""},
		{"E1/brace_padding_to_16", brace16, "multiple of 16"},
		{"E1/url_encoded", url.QueryEscape(std), ""},
		{"E1/plus_became_space", strings.ReplaceAll(std, "+", " "), "spaces where '+'"},
		{"E1/unpadded_base64", strings.TrimRight(std, "="), "padding"},
		{"E1/url_safe_alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(std), "URL-safe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, warns, err := Decrypt(docKey, "cc_exp_date", tc.in)
			if err != nil || got != "12/2099" {
				t.Fatalf("Decrypt = %q, %v", got, err)
			}
			if tc.warn == "" && len(warns) > 0 || tc.warn != "" && (len(warns) == 0 || !strings.Contains(warns[0].Message, tc.warn)) {
				t.Fatalf("warnings %v, want one containing %q", warns, tc.warn)
			}
		})
	}
}

func TestE1_DecryptRefusals(t *testing.T) {
	otherKey := strings.Repeat("k", 32)
	pkcs := encryptRaw(t, append([]byte("12/2099"), 9, 9, 9, 9, 9, 9, 9, 9, 9))
	for _, tc := range []struct{ name, key, in, want string }{
		{"E1/empty", docKey, "", "empty"},
		{"E1/not_base64", docKey, "not*base64!", "not base64"},
		{"E1/not_block_multiple", docKey, base64.StdEncoding.EncodeToString([]byte("short")), "not a multiple of the 16-byte AES block"},
		{"E1/wrong_key", docKey, MustEncrypt(otherKey, "Nicholas Bundy"), "another key"},
		{"E1/pkcs7_padding", docKey, pkcs, "PKCS#7"},
		{"E1/bad_url_escape", docKey, "abc%zz", "URL escape"},
		{"E1/oversized", docKey, strings.Repeat("A", MaxCiphertext+4), "a few AES blocks"},
		{"M1/short_key", "short", MustEncrypt(docKey, "x"), "exactly 32 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Decrypt(tc.key, "cc_holder", tc.in)
			if err == nil || err.Rule != "E1" || err.Field != "cc_holder" || !strings.Contains(err.Message, tc.want) {
				t.Fatalf("Decrypt error = %+v, want rule E1 on cc_holder containing %q", err, tc.want)
			}
		})
	}
}

func TestCheckKey(t *testing.T) {
	if err := CheckKey(docKey); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"", strings.Repeat("a", 31), strings.Repeat("a", 33), strings.Repeat("a", 31) + "\n"} {
		if CheckKey(k) == nil {
			t.Errorf("CheckKey(%q) accepted", k)
		}
	}
	// A space is refused, and the refusal does not call it unprintable.
	if err := CheckKey(strings.Repeat("a", 25) + " " + strings.Repeat("a", 6)); err == nil || !strings.Contains(err.Error(), "byte 25 is a space") {
		t.Errorf("a key with a space: %v", err)
	}
}

func TestE2_Expiry(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Expiry
		warn bool
		err  string
	}{
		{in: "03/2027", want: Expiry{3, 2027}},
		{in: "12/2099", want: PayPalExpiry},
		{in: "3/2027", want: Expiry{3, 2027}, warn: true},
		{in: "03/27", err: "has 2 digits"},
		{in: "13/2027", err: "not 01-12"},
		{in: "00/2027", err: "not 01-12"},
		{in: "2027-03", err: "MM/YYYY"},
		{in: "", err: "MM/YYYY"},
		{in: "123/2027", err: "MM/YYYY"},
		{in: "1/0000", err: "not a card expiry year"},
	} {
		t.Run("E2/"+tc.in, func(t *testing.T) {
			got, warns, err := ParseExpiry("cc_exp_date", tc.in)
			if tc.err != "" {
				if err == nil || err.Rule != "E2" || !strings.Contains(err.Message, tc.err) {
					t.Fatalf("ParseExpiry(%q) error = %v, want E2 containing %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want || (len(warns) > 0) != tc.warn {
				t.Fatalf("ParseExpiry(%q) = %v, %v, %v", tc.in, got, warns, err)
			}
			if tc.warn && warns[0].Severity != og.SeverityWarning {
				t.Fatalf("warning has severity %q", warns[0].Severity)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	good := Sign(docKey, "123456789", 1516309285)
	digest := digest(docKey, "123456789|1516309285")
	hexSig := strings.ToLower(base16(digest))
	sign := func(msg string) string { return base64.StdEncoding.EncodeToString(digestOf(msg)) }
	header := func(sig string) Signed {
		return Signed{DataPoint: "123456789", TS: 1516309285, Sig: sig, Where: "authorization header", Field: "authorization.sig"}
	}
	// A user whose signature has '+' and '/', for the alphabet and form-decoding mistakes.
	user := ""
	for i := 0; user == ""; i++ {
		if u := "user" + string(rune('a'+i%26)) + strings.Repeat("x", i/26); strings.ContainsAny(Sign(docKey, u, 1516309285), "+") && strings.Contains(Sign(docKey, u, 1516309285), "/") {
			user = u
		}
	}
	plusSig := Sign(docKey, user, 1516309285)
	userSigned := func(sig string) Signed {
		return Signed{DataPoint: user, TS: 1516309285, Sig: sig, Where: "authorization header", Field: "authorization.sig"}
	}
	for _, tc := range []struct {
		name string
		s    Signed
		wall time.Time
		rule string
		want string
	}{
		{"A1/valid", header(good), signedAt.Add(time.Minute), "", ""},
		{"A3/valid_at_just_under_two_hours", header(good), signedAt.Add(2*time.Hour - time.Second), "", ""},
		{"A3/valid_slightly_in_future", header(good), signedAt.Add(-time.Second), "", ""},
		{"A1/hex_digest", header(hexSig), signedAt, "A1", "hex digest"},
		{"A1/upper_hex_digest", header(strings.ToUpper(hexSig)), signedAt, "A1", "hex digest"},
		{"A1/other_hex", header(strings.Repeat("ab", 32)), signedAt, "A1", "64-character hex"},
		{"A4/url_encoded_in_header", header(url.QueryEscape(good)), signedAt, "A1", "URL-encoded; in the authorization header"},
		{"A1/url_safe_alphabet", userSigned(strings.NewReplacer("+", "-", "/", "_").Replace(plusSig)), signedAt, "A1", "URL-safe"},
		{"A1/no_padding", header(strings.TrimRight(good, "=")), signedAt, "A1", "padding"},
		{"A1/plus_became_space", userSigned(strings.ReplaceAll(plusSig, "+", " ")), signedAt, "A1", "spaces where '+'"},
		{"A1/reversed_message", header(sign("1516309285|123456789")), signedAt, "A1", "reversed"},
		{"A1/no_pipe", header(sign("1234567891516309285")), signedAt, "A1", "without the pipe"},
		{"A1/wrong_key", header(Sign(strings.Repeat("k", 32), "123456789", 1516309285)), signedAt, "A1", "does not match"},
		{"A1/empty", header(""), signedAt, "A1", "empty"},
		{"A1/garbage", header("!!"), signedAt, "A1", "not standard base64"},
		{"A2/milliseconds", Signed{DataPoint: "123456789", TS: 1516309285000, Sig: good, Field: "authorization.sig"}, signedAt, "A2", "milliseconds"},
		{"A2/too_short", Signed{DataPoint: "123456789", TS: 15163092, Sig: good, Field: "authorization.sig"}, signedAt, "A2", "10-digit"},
		{"A3/stale", header(good), signedAt.Add(3*time.Hour + 12*time.Minute), "A3", "3h12m old"},
		{"A3/just_stale_does_not_read_2h", header(good), signedAt.Add(2*time.Hour + time.Second), "A3", "2h0m1s old, past the 2 hours"},
		{"A3/future", header(good), signedAt.Add(-time.Hour), "A3", "1h in the future, past the 5m ahead a signature is accepted for"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(docKey, tc.s, tc.wall)
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("Verify refused a good signature: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Verify accepted a bad signature")
			}
			if err.Code != og.EUNAUTHORIZED || err.Rule != tc.rule || !strings.Contains(err.Message, tc.want) {
				t.Fatalf("Verify = %+v, want %s containing %q", err, tc.rule, tc.want)
			}
		})
	}
}

func TestVerifyCookieNamesA5(t *testing.T) {
	c := OGAuth{UserID: "123456789", TS: 1516309285, Sig: url.QueryEscape(Sign(docKey, "123456789", 1516309285))}
	err := Verify(docKey, c.Signed(), signedAt)
	if err == nil || !strings.Contains(err.Message, "og_auth cookie") || !strings.Contains(err.Message, "(A5)") {
		t.Fatalf("Verify = %v, want the cookie named with A5", err)
	}
}

func TestVerifyTrustLevel(t *testing.T) {
	ts := int64(1516309285)
	sig := base64.StdEncoding.EncodeToString(digestOf("123456789|recognized|1516309285"))
	if err := Verify(docKey, Signed{DataPoint: "123456789", TrustLevel: "recognized", TS: ts, Sig: sig}, signedAt); err != nil {
		t.Fatalf("trust level signature refused: %v", err)
	}
	err := Verify(docKey, Signed{DataPoint: "123456789", TrustLevel: "recognized", TS: ts, Sig: Sign(docKey, "123456789", ts)}, signedAt)
	if err == nil || !strings.Contains(err.Message, "trust_level") {
		t.Fatalf("Verify = %v, want the trust level named", err)
	}
}

func digestOf(msg string) []byte { return digest(docKey, msg) }

func base16(b []byte) string {
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, hexdigits[c>>4], hexdigits[c&15])
	}
	return string(out)
}

func TestA4_ParseAuthHeader(t *testing.T) {
	sig := Sign(docKey, "123456789", 1516309285)
	for _, tc := range []struct {
		name, raw string
		rule      string
		want      string
	}{
		{name: "A4/ts_number", raw: `{"public_id": "pub", "ts": 1516309285, "sig_field": "123456789", "sig": "` + sig + `"}`},
		{name: "A4/ts_string", raw: `{"public_id":"pub","ts":"1516309285","sig_field":"123456789","sig":"` + sig + `"}`},
		{name: "A4/pretty_printed", raw: "{\n     \"public_id\": \"pub\",\n     \"ts\": \"1516309285\",\n     \"sig_field\": \"123456789\",\n     \"sig\": \"" + sig + "\"\n}"},
		{name: "A4/php_slash_escapes", raw: `{"public_id":"pub","ts":1516309285,"sig_field":"123456789","sig":"` + strings.ReplaceAll(sig, "/", `\/`) + `"}`},
		{name: "A4/sig_field_number", raw: `{"public_id":"pub","ts":1516309285,"sig_field":123456789,"sig":"` + sig + `"}`},
		{name: "A4/url_encoded", raw: url.QueryEscape(`{"public_id":"pub"}`), rule: "A4", want: "URL-encoded"},
		{name: "A4/missing", raw: "", rule: "A4", want: "missing"},
		{name: "A4/bearer", raw: "Bearer abc", rule: "A4", want: "Bearer"},
		{name: "A4/not_json", raw: "public_id=pub", rule: "A4", want: "not a JSON object"},
		{name: "A4/broken_json", raw: `{"public_id":`, rule: "A4", want: "not valid JSON: unexpected end of the text at offset 13 (in /public_id)"},
		{name: "A4/broken_json_quotes_nothing", raw: `{"public_id":"pub","sig":"` + sig + `",,}`, rule: "A4", want: "at offset 72"},
		{name: "A4/trailing_bracket", raw: `{"public_id":"p","ts":1,"sig_field":"u","sig":"s"}}`, rule: "A4", want: "after its JSON"},
		{name: "A4/repeated_name_last_wins", raw: `{"public_id":"pub","ts":1516309285,"sig_field":"123456789","sig":"x","sig":"` + sig + `"}`},
		{name: "A4/sig_field_array", raw: `{"public_id":"pub","ts":1516309285,"sig_field":[1,{"a":[]}],"sig":"s"}`, rule: "A4", want: "sig_field must be a string, got an array"},
		{name: "A4/trailing", raw: `{"public_id":"p","ts":1,"sig_field":"u","sig":"s"} x`, rule: "A4", want: "after its JSON"},
		{name: "A4/blank_sig_field", raw: `{"public_id":"pub","ts":1516309285,"sig_field":" ","sig":"s"}`, rule: "A4", want: "sig_field is blank"},
		{name: "A4/missing_sig", raw: `{"public_id":"pub","ts":1516309285,"sig_field":"123456789"}`, rule: "A4", want: "no sig"},
		{name: "A4/sig_object", raw: `{"public_id":"pub","ts":1516309285,"sig_field":"123456789","sig":{}}`, rule: "A4", want: "must be a string"},
		{name: "A2/ts_fraction", raw: `{"public_id":"pub","ts":1516309285.5,"sig_field":"u","sig":"s"}`, rule: "A2", want: "fraction"},
		{name: "A2/ts_word", raw: `{"public_id":"pub","ts":"now","sig_field":"u","sig":"s"}`, rule: "A2", want: "not a whole number"},
		{name: "A4/ts_missing", raw: `{"public_id":"pub","sig_field":"u","sig":"s"}`, rule: "A4", want: "no ts"},
		{name: "A4/oversized", raw: "{" + strings.Repeat(" ", MaxHeaderBytes) + "}", rule: "A4", want: "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseAuthHeader(tc.raw)
			if tc.rule != "" {
				if err == nil || err.Code != og.EUNAUTHORIZED || err.Rule != tc.rule || !strings.Contains(err.Message, tc.want) {
					t.Fatalf("ParseAuthHeader error = %+v, want %s containing %q", err, tc.rule, tc.want)
				}
				if strings.Contains(err.Message, sig) {
					t.Fatalf("the refusal quotes the signature: %s", err.Message)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAuthHeader: %v", err)
			}
			if h.PublicID != "pub" || h.TS != 1516309285 || h.SigField != "123456789" || h.Sig != sig {
				t.Fatalf("parsed %+v", h)
			}
			if verr := Verify(docKey, h.Signed(), signedAt); verr != nil {
				t.Fatalf("Verify: %v", verr)
			}
		})
	}
}

func TestA5_ParseOGAuth(t *testing.T) {
	good := Cookie(docKey, "123456789", 1516309285)
	for _, tc := range []struct{ name, raw, rule, want string }{
		{name: "A5/valid", raw: good},
		{name: "A5/url_encoded_by_php_setcookie", raw: url.QueryEscape(good), rule: "A5", want: "setcookie"},
		{name: "A5/missing", raw: "", rule: "A5", want: "no og_auth"},
		{name: "A5/two_parts", raw: "123456789|1516309285", rule: "A5", want: "exactly 3"},
		{name: "A5/four_parts", raw: good + "|x", rule: "A5", want: "exactly 3"},
		{name: "A2/bad_ts", raw: "u|soon|sig", rule: "A2", want: "not a whole number"},
		{name: "A5/empty_user", raw: "|1516309285|sig", rule: "A5", want: "empty merchant user id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseOGAuth(tc.raw)
			if tc.rule != "" {
				if err == nil || err.Rule != tc.rule || !strings.Contains(err.Message, tc.want) {
					t.Fatalf("ParseOGAuth error = %+v, want %s containing %q", err, tc.rule, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if verr := Verify(docKey, c.Signed(), signedAt); verr != nil {
				t.Fatal(verr)
			}
		})
	}
}

func TestHeaderJSON(t *testing.T) {
	got := HeaderJSON(docKey, "pub", "123456789", 1516309285)
	want := `{"public_id":"pub","ts":1516309285,"sig_field":"123456789","sig":"0nQ1KznESueBlFHYRebLpoKih6fkHt0cXC8Ens8eoWk="}`
	if got != want {
		t.Fatalf("HeaderJSON = %s\nwant %s", got, want)
	}
	h, err := ParseAuthHeader(got)
	if err != nil || h.Sig != Sign(docKey, "123456789", 1516309285) {
		t.Fatalf("round trip: %+v %v", h, err)
	}
}
