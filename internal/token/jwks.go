package token

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/fhirjson"
)

// maxRegisteredJWKSBytes caps a JWK set registered in configuration.
const maxRegisteredJWKSBytes = 1 << 20

// ParsePublicJWKS reads a partner's JWK set as registered in configuration
// (a file or inline text): strict JSON, at least one key, every key public
// and with a kid. A private key is refused, because the gateway must never
// hold a partner's signing key. Errors never quote key material.
func ParsePublicJWKS(data []byte) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := fhirjson.CheckObject(data, fhirjson.Limits{MaxBytes: maxRegisteredJWKSBytes, MaxDepth: 16}); err != nil {
		return set, fmt.Errorf("token: JWK set: %w", err)
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return set, errors.New("token: not a JWK set (expected {\"keys\": [...]})")
	}
	if len(set.Keys) == 0 {
		return set, errors.New("token: the JWK set has no keys")
	}
	for i, k := range set.Keys {
		if !k.IsPublic() {
			return set, fmt.Errorf("token: keys[%d] is a private key; register only the public key", i)
		}
		if k.KeyID == "" {
			return set, fmt.Errorf("token: keys[%d] has no kid: give every key a \"kid\" member, the key id that the partner's client assertions name in their header", i)
		}
	}
	return set, nil
}
