package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// Tokens signed with the gateway's own key but not in the form it issues
// must be rejected over the real listener: a lifetime above token.lifetime,
// a key location in the header, or the high-s twin of a real token. Each
// gets 401 token.invalid and the upstream receives nothing.
func TestForgedAccessTokensRejected(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	key, err := pki.LoadPrivateKey(h.layout.TokenKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ecKey := key.(*ecdsa.PrivateKey)
	real := h.accessToken()
	header, claims := decodeToken(t, real)

	longLived := map[string]any{}
	for k, v := range claims {
		longLived[k] = v
	}
	longLived["exp"] = time.Now().AddDate(10, 0, 0).Unix()
	withJKU := map[string]any{"jku": "https://attacker.test/jwks"}
	for k, v := range header {
		withJKU[k] = v
	}

	// A token re-signed unchanged must pass, so each rejection below comes
	// from the one property its case changes and not from resign itself.
	control := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
		http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + resign(t, ecKey, header, claims)}}, shippedBundle(t))
	if body := readBody(t, control); control.StatusCode != http.StatusOK {
		t.Fatalf("re-signed unchanged token: status = %d, want 200: %s", control.StatusCode, body)
	}

	tests := map[string]string{
		"ten-year lifetime": resign(t, ecKey, header, longLived),
		"jku header":        resign(t, ecKey, withJKU, claims),
		"high-s twin":       flipS(t, real),
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			before := h.upstream.count.Load()

			resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
				http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + tok}}, shippedBundle(t))
			body := readBody(t, resp)

			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401: %s", resp.StatusCode, body)
			}
			if n := h.upstream.count.Load() - before; n != 0 {
				t.Errorf("upstream received %d requests, want 0", n)
			}
			e := h.entries(resp)
			if len(e) != 1 {
				t.Fatalf("entries = %+v, want one token.invalid refusal", e)
			}
			if e[0].Rule != "token.invalid" {
				t.Errorf("rule = %q, want token.invalid", e[0].Rule)
			}
		})
	}
}

func decodeToken(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	for i, dst := range []*map[string]any{&header, &claims} {
		data, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

// resign signs header and claims with key in low-s form, so that only the
// property under test differs from an issued token.
func resign(t *testing.T, key *ecdsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	h, err1 := json.Marshal(header)
	c, err2 := json.Marshal(claims)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	n := elliptic.P256().Params().N
	if s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		s.Sub(n, s)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// flipS returns the token with s replaced by n-s, which verifies too.
func flipS(t *testing.T, tok string) string {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("not an ES256 token: %v", err)
	}
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(elliptic.P256().Params().N, s)
	s.FillBytes(sig[32:])
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}
