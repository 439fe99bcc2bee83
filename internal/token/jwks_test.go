package token

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// TestParsePublicJWKSWithoutKid registers a key with no kid. The error
// names the key and the member to add.
func TestParsePublicJWKSWithoutKid(t *testing.T) {
	key, err := GenerateKey("ES384")
	if err != nil {
		t.Fatal(err)
	}
	public := key.Public()
	public.KeyID = ""
	data, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{public}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParsePublicJWKS(data)
	if err == nil {
		t.Fatal("a JWK set whose key has no kid was accepted")
	}
	if !strings.Contains(err.Error(), `keys[0] has no kid: give every key a "kid" member`) {
		t.Errorf("error %q does not say which key lacks a kid and what to add", err)
	}
}
