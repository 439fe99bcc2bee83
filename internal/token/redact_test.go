package token

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
)

var fingerprintPattern = regexp.MustCompile(`^sha256:[0-9a-f]{16}$`)

func TestFingerprint(t *testing.T) {
	fp := Fingerprint("eyJhbGciOiJFUzI1NiJ9.e30.c2ln")
	if !fingerprintPattern.MatchString(fp) {
		t.Errorf("Fingerprint = %q, want sha256: and 16 hex digits", fp)
	}
	if fp == Fingerprint("eyJhbGciOiJFUzI1NiJ9.e30.c2lo") {
		t.Error("different inputs share a fingerprint")
	}
	// SHA-256("abc") begins ba7816bf8f01cfea (FIPS 180-2, appendix B.1).
	if got := Fingerprint("abc"); got != "sha256:ba7816bf8f01cfea" {
		t.Errorf("Fingerprint(abc) = %q", got)
	}
}

func TestRedactForm(t *testing.T) {
	env := newTestEnv(t, testStart)
	assertion := env.assertion("ehr-alpha")
	form := tokenForm(assertion, "system/Claim.read")
	form.Set("client_secret", "s3cret")
	body := []byte(form.Encode())

	got := string(RedactForm(body))
	for _, secret := range []string{assertion, "s3cret"} {
		if strings.Contains(got, secret) {
			t.Errorf("redacted body still contains %.20q...", secret)
		}
	}
	for _, want := range []string{
		"client_assertion=" + Fingerprint(assertion),
		"client_secret=" + Fingerprint("s3cret"),
		"grant_type=client_credentials",
		"scope=system%2FClaim.read",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("redacted body %q lacks %q", got, want)
		}
	}
}

func TestRedactFormOddEncodings(t *testing.T) {
	tests := []struct {
		name, body, secret string
	}{
		{"encoded parameter name", "client%5Fassertion=SECRETVALUE&scope=a", "SECRETVALUE"},
		{"repeated parameter", "client_assertion=SECRET1&client_assertion=SECRET2", "SECRET"},
		{"undecodable name", "client_assert%ZZion=SECRETVALUE", "SECRETVALUE"},
		{"undecodable value", "client_assertion=SECRET%ZZVALUE", "SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(RedactForm([]byte(tt.body)))
			if strings.Contains(got, tt.secret) {
				t.Errorf("RedactForm(%q) = %q, still contains the secret", tt.body, got)
			}
		})
	}
}

func TestRedactJSON(t *testing.T) {
	env := newTestEnv(t, testStart)
	tok := env.issueDirect(t, env.server, "ehr-alpha", "system/Claim.read")
	rec := httptest.NewRecorder()
	res := &Result{accessToken: tok, Scopes: []string{"system/Claim.read"}, IssuedAt: testStart, Expiry: testStart.Add(DefaultLifetime)}
	env.server.WriteResponse(rec, res, nil)

	got := RedactJSON(rec.Body.Bytes())
	if strings.Contains(string(got), tok) {
		t.Fatal("redacted response still contains the access token")
	}
	var fields map[string]any
	if err := json.Unmarshal(got, &fields); err != nil {
		t.Fatalf("redacted response is not JSON: %v", err)
	}
	if fields["access_token"] != Fingerprint(tok) || fields["scope"] != "system/Claim.read" || fields["expires_in"] != float64(300) {
		t.Errorf("redacted response = %s", got)
	}

	errBody := []byte(`{"error":"invalid_client","error_description":"assertion has expired"}`)
	if got := RedactJSON(errBody); string(got) != string(errBody) {
		t.Errorf("error body changed: %s", got)
	}
	for _, bad := range []string{`not json ` + tok, `{"access_token":"a","access_token":"` + tok + `"}`, `["` + tok + `"]`} {
		got := string(RedactJSON([]byte(bad)))
		if strings.Contains(got, tok) || !strings.HasPrefix(got, `{"redacted_body":"sha256:`) {
			t.Errorf("RedactJSON(malformed) = %s", got)
		}
	}
}
