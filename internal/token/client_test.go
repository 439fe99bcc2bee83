package token

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func TestGenerateKey(t *testing.T) {
	for _, alg := range []string{"ES256", "ES384", "RS384", "PS384"} {
		t.Run(alg, func(t *testing.T) {
			key := mustRSAKey(t) // made by GenerateKey("RS384") once per run
			if alg != "RS384" {
				key = mustGenerateKey(t, alg)
			}
			if key.Algorithm != alg || key.Use != "sig" || key.IsPublic() {
				t.Errorf("key alg=%q use=%q public=%v", key.Algorithm, key.Use, key.IsPublic())
			}
			sum, err := key.Thumbprint(crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if key.KeyID != base64.RawURLEncoding.EncodeToString(sum) {
				t.Errorf("kid %q is not the RFC 7638 thumbprint", key.KeyID)
			}
			got, err := signingAlgorithm(key)
			if err != nil || string(got) != alg {
				t.Errorf("signingAlgorithm = %q, %v; want %s", got, err, alg)
			}
		})
	}

	if _, err := GenerateKey("HS256"); err == nil {
		t.Error("GenerateKey(HS256) succeeded")
	}
}

func TestNewAssertion(t *testing.T) {
	key := mustGenerateKey(t, "ES384")
	now := testStart.Add(123 * time.Millisecond)
	a, err := NewAssertion("ehr-beta", "https://gatehouse.test/token", key, now)
	if err != nil {
		t.Fatal(err)
	}

	jws, e := parseJWS(a)
	if e != nil {
		t.Fatalf("parseJWS: %v", e)
	}
	if jws.alg != jose.ES384 || jws.kid != key.KeyID {
		t.Errorf("header alg=%s kid=%s", jws.alg, jws.kid)
	}
	if e := verifySignature(jws, publicSet(key)); e != nil {
		t.Errorf("verifySignature: %v", e)
	}
	claims, e := parseClaims(jws.payload)
	if e != nil {
		t.Fatal(e)
	}
	if claims.Issuer != "ehr-beta" || claims.Subject != "ehr-beta" || claims.ID == "" {
		t.Errorf("claims = %+v", claims)
	}
	if *claims.Expiry != float64(testStart.Add(4*time.Minute).Unix()) || *claims.IssuedAt != float64(testStart.Unix()) {
		t.Errorf("exp=%v iat=%v, want iat+4m", *claims.Expiry, *claims.IssuedAt)
	}
	if _, e := checkClaims(claims, "https://gatehouse.test/token", now, DefaultSkew); e != nil {
		t.Errorf("checkClaims: %v", e)
	}

	b, err := NewAssertion("ehr-beta", "https://gatehouse.test/token", key, now)
	if err != nil {
		t.Fatal(err)
	}
	if assertionJTI(t, a) == assertionJTI(t, b) {
		t.Error("two assertions share a jti")
	}
}

func TestNewAssertionRejectsKeys(t *testing.T) {
	priv := mustGenerateKey(t, "ES256")
	public := priv.Public()
	noKid := withKeyID(priv, "", "ES256")
	wrongAlg := withKeyID(priv, "k", "ES384")
	p521 := &jose.JSONWebKey{Key: mustECKey(t, elliptic.P521()), KeyID: "k"}

	for name, key := range map[string]*jose.JSONWebKey{
		"public key": &public, "no kid": noKid, "alg not fitting": wrongAlg, "P-521": p521, "nil": nil,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewAssertion("ehr-alpha", "https://gatehouse.test/token", key, testStart); err == nil {
				t.Error("NewAssertion succeeded")
			}
		})
	}
}

func TestFetch(t *testing.T) {
	// Fetch signs with the real clock, so the server's clock starts there.
	env := newTestEnv(t, time.Now().Truncate(time.Second))
	alpha := env.partners["ehr-alpha"]
	ctx := context.Background()

	resp, err := Fetch(ctx, alpha.http, env.tokenURL, alpha.id, alpha.key, "system/Claim.read")
	if err != nil {
		t.Fatal(err)
	}
	if resp.TokenType != "Bearer" || resp.ExpiresIn != 300 || resp.Scope != "system/Claim.read" {
		t.Errorf("response = %v", resp)
	}
	if _, err := env.server.Verify(resp.AccessToken, alpha.cert.Leaf); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if strings.Contains(resp.String(), resp.AccessToken) {
		t.Error("Response.String reveals the access token")
	}

	_, err = Fetch(ctx, alpha.http, env.tokenURL, alpha.id, alpha.key, "system/Patient.read")
	var re *ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *ResponseError", err)
	}
	if re.Status != http.StatusBadRequest || re.Code != CodeInvalidScope || re.Description == "" {
		t.Errorf("ResponseError = %+v", re)
	}

	if _, err := Fetch(ctx, nil, env.tokenURL, alpha.id, alpha.key, "system/Claim.read"); err == nil {
		t.Error("Fetch with a nil client succeeded")
	}
}

func TestFetchNonJSONError(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream \x1b[31mdown", http.StatusBadGateway)
	}))
	defer ts.Close()

	key := mustGenerateKey(t, "ES256")
	_, err := Fetch(context.Background(), ts.Client(), ts.URL+"/token", "ehr-alpha", key, "system/Claim.read")
	var re *ResponseError
	if !errors.As(err, &re) || re.Status != http.StatusBadGateway || re.Code != "" {
		t.Errorf("err = %v, want a ResponseError with status 502 and no code", err)
	}
}

func TestFetchKeepsResponseHeaders(t *testing.T) {
	record := "7"
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Gatehouse-Record", record)
		w.Header().Set("Content-Type", "application/json")
		if r.FormValue("scope") == "system/Patient.read" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_scope"}`))
			return
		}
		_, _ = w.Write([]byte(`{"access_token":"t","token_type":"Bearer","expires_in":300}`))
	}))
	defer ts.Close()
	key := mustGenerateKey(t, "ES256")

	resp, err := Fetch(context.Background(), ts.Client(), ts.URL+"/token", "ehr-alpha", key, "system/Claim.read")
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("X-Gatehouse-Record"); got != record {
		t.Errorf("response X-Gatehouse-Record = %q, expected %q", got, record)
	}
	_, err = Fetch(context.Background(), ts.Client(), ts.URL+"/token", "ehr-alpha", key, "system/Patient.read")
	var re *ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, expected *ResponseError", err)
	}
	if got := re.Header.Get("X-Gatehouse-Record"); got != record {
		t.Errorf("error X-Gatehouse-Record = %q, expected %q", got, record)
	}
}

func TestParseErrorResponseSanitizes(t *testing.T) {
	body := []byte(`{"error":"invalid_client","error_description":"bad\nline \u001b[31m` + strings.Repeat("x", 400) + `"}`)
	e := parseErrorResponse(401, body)
	if strings.ContainsAny(e.Description, "\n\x1b") || len(e.Description) > maxDescriptionBytes {
		t.Errorf("description not sanitized: %q", e.Description)
	}
	if e.Code != CodeInvalidClient {
		t.Errorf("code = %q", e.Code)
	}
}

func TestSigningAlgorithmFromKeyType(t *testing.T) {
	tests := []struct {
		key  any
		want jose.SignatureAlgorithm
	}{
		{mustECKey(t, elliptic.P256()), jose.ES256},
		{mustECKey(t, elliptic.P384()), jose.ES384},
		{mustRSAKey(t).Key, jose.RS384},
	}
	for _, tt := range tests {
		got, err := signingAlgorithm(&jose.JSONWebKey{Key: tt.key, KeyID: "k"})
		if err != nil || got != tt.want {
			t.Errorf("signingAlgorithm(%T) = %q, %v; want %s", tt.key, got, err, tt.want)
		}
	}
	if _, err := signingAlgorithm(&jose.JSONWebKey{Key: &mustECKey(t, elliptic.P256()).PublicKey}); err == nil {
		t.Error("a public key was accepted for signing")
	}
}
