package token

import (
	"crypto/elliptic"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// accessHeaderMembers are the only protected header members an access
// token may carry: the ones mint writes. A key or key location (jwk, jku,
// x5u, x5c) or a crit list is rejected as in client assertions, so that
// no reader of the token can be pointed at another key.
var accessHeaderMembers = map[string]bool{"alg": true, "kid": true, "typ": true}

// checkAccessHeader rejects a protected header with a member mint does not
// write, or with a duplicate member. raw is at most maxAccessTokenBytes.
func checkAccessHeader(raw string) error {
	encoded, _, ok := strings.Cut(raw, ".")
	if !ok {
		return fmt.Errorf("%w: not a JWS in compact serialization", ErrInvalidToken)
	}
	data, err := base64URL.DecodeString(encoded)
	if err != nil {
		return fmt.Errorf("%w: header is not unpadded base64url", ErrInvalidToken)
	}
	var members map[string]jsontext.Value
	if err := json.Unmarshal(data, &members); err != nil || members == nil {
		return fmt.Errorf("%w: header must be a JSON object without duplicate members", ErrInvalidToken)
	}
	for name := range members {
		if !accessHeaderMembers[name] {
			return fmt.Errorf("%w: header carries a member other than alg, kid and typ", ErrInvalidToken)
		}
	}
	return nil
}

// p256HalfOrder is n/2 for the P-256 group order n.
var p256HalfOrder = new(big.Int).Rsh(elliptic.P256().Params().N, 1)

// checkLowS rejects an ES256 signature whose s is above n/2. For every
// valid (r, s), (r, n-s) verifies too, so without this rule one token has
// two valid strings with different fingerprints. The signer used by mint
// (crypto/ecdsa) may produce either half, so mint normalises s.
func checkLowS(signature []byte) error {
	if len(signature) != 64 {
		return fmt.Errorf("%w: ES256 signature is not 64 bytes", ErrInvalidToken)
	}
	if new(big.Int).SetBytes(signature[32:]).Cmp(p256HalfOrder) > 0 {
		return fmt.Errorf("%w: signature is not in low-s form", ErrInvalidToken)
	}
	return nil
}

// checkLifetime rejects a token whose exp is further after its iat than
// this server issues tokens for, with the skew on top, so that a token
// forged with a stolen signing key lives no longer than an issued one.
func (s *Server) checkLifetime(c *accessTokenClaims) error {
	limit := int64((s.opts.Lifetime + s.opts.Skew) / time.Second)
	if c.IssuedAt < 0 || c.Expiry < c.IssuedAt || c.Expiry-c.IssuedAt > limit {
		return fmt.Errorf("%w: exp - iat is negative or exceeds the configured token lifetime", ErrInvalidToken)
	}
	return nil
}

// lowS rewrites a compact ES256 JWS so that its signature is in low-s
// form, which verifies against the same key and payload.
func lowS(compact string) (string, error) {
	i := strings.LastIndexByte(compact, '.')
	sig, err := base64URL.DecodeString(compact[i+1:])
	if i < 0 || err != nil || len(sig) != 64 {
		return "", fmt.Errorf("token: signer returned an unexpected ES256 signature")
	}
	sValue := new(big.Int).SetBytes(sig[32:])
	if sValue.Cmp(p256HalfOrder) <= 0 {
		return compact, nil
	}
	sValue.Sub(elliptic.P256().Params().N, sValue)
	sValue.FillBytes(sig[32:])
	return compact[:i+1] + base64URL.EncodeToString(sig), nil
}
