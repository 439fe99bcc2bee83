package token

import (
	"os"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// cookbookVector is the part of an RFC 7520 JOSE Cookbook JWS file these
// tests read.
type cookbookVector struct {
	Input struct {
		Alg string `json:"alg"`
	} `json:"input"`
	Output struct {
		Compact string         `json:"compact"`
		JSON    jsontext.Value `json:"json"`
	} `json:"output"`
}

func readCookbook(t testing.TB, rel string, out any) {
	t.Helper()
	data, err := os.ReadFile(corpustest.File(t, "jose-cookbook/"+rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// TestCookbookAlgorithmsOutsideAllowlist checks that RFC 7520 signatures in
// algorithms Gatehouse does not accept are well-formed JWS, and that the
// assertion parser rejects them for their alg alone.
func TestCookbookAlgorithmsOutsideAllowlist(t *testing.T) {
	for _, file := range []string{
		"jws/4_1.rsa_v15_signature.json",              // RS256
		"jws/4_3.ecdsa_signature.json",                // ES512
		"jws/4_4.hmac-sha2_integrity_protection.json", // HS256
	} {
		t.Run(file, func(t *testing.T) {
			var v cookbookVector
			readCookbook(t, file, &v)

			alg := jose.SignatureAlgorithm(v.Input.Alg)
			if _, err := jose.ParseSignedCompact(v.Output.Compact, []jose.SignatureAlgorithm{alg}); err != nil {
				t.Fatalf("go-jose cannot parse the vector: %v", err)
			}
			_, e := parseJWS(v.Output.Compact)
			if e == nil || e.Code != CodeInvalidClient {
				t.Fatalf("parseJWS accepted alg %s: %v", alg, e)
			}
			if want := "assertion alg must be one of ES256, ES384, RS384, PS384"; e.Description != want {
				t.Errorf("description = %q, want %q", e.Description, want)
			}
		})
	}
}

// TestCookbookPS384 checks the signature path against RFC 7520 section 4.2:
// a PS384 signature by the key of section 3.3 verifies when that key is
// registered under the vector's kid, and fails when the key is pinned to
// another algorithm. The payload is prose, not a claims set.
func TestCookbookPS384(t *testing.T) {
	var v cookbookVector
	readCookbook(t, "jws/4_2.rsa-pss_signature.json", &v)
	var public jose.JSONWebKey
	readCookbook(t, "jwk/3_3.rsa_public_key.json", &public)

	jws, e := parseJWS(v.Output.Compact)
	if e != nil {
		t.Fatalf("parseJWS: %v", e)
	}
	if jws.alg != jose.PS384 || jws.kid != public.KeyID {
		t.Fatalf("header alg=%s kid=%s", jws.alg, jws.kid)
	}
	if e := verifySignature(jws, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{public}}); e != nil {
		t.Errorf("verifySignature with the RFC 7520 key: %v", e)
	}

	pinned := public
	pinned.Algorithm = "RS384"
	if e := verifySignature(jws, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pinned}}); e == nil {
		t.Error("verifySignature accepted a key pinned to RS384")
	}
	if _, e := parseClaims(jws.payload); e == nil {
		t.Error("parseClaims accepted a payload that is not a claims set")
	}

	if _, e := parseJWS(string(v.Output.JSON)); e == nil {
		t.Error("parseJWS accepted the JWS JSON serialization")
	}
}
