package devmode

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/safefile"
)

// maxJSONFileSize caps the JWK, JWK set and marker files, far above their
// real size of a few hundred bytes.
const maxJSONFileSize = 64 << 10

// newAssertionKey returns a new P-384 private JWK with alg ES384, use "sig"
// and its RFC 7638 SHA-256 thumbprint as kid.
func newAssertionKey() (*jose.JSONWebKey, error) {
	key, err := pki.GenerateKey(pki.ECDSAP384)
	if err != nil {
		return nil, err
	}
	jwk := &jose.JSONWebKey{Key: key, Algorithm: AssertionAlgorithm, Use: "sig"}
	thumbprint, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("devmode: computing JWK thumbprint: %w", err)
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(thumbprint)
	return jwk, nil
}

// writeAssertionKeys writes the demo partner's private JWK (mode 0600) and
// the public JWK set that the gateway registers for it.
func writeAssertionKeys(l *Layout) error {
	jwk, err := newAssertionKey()
	if err != nil {
		return err
	}
	private, err := json.MarshalIndent(jwk, "", "  ")
	if err != nil {
		return errors.New("devmode: encoding assertion key as JWK failed")
	}
	if err := writeNewFile(l.AssertionKeyFile, append(private, '\n'), 0o600); err != nil {
		return err
	}

	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk.Public()}}
	public, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		return fmt.Errorf("devmode: encoding JWK set: %w", err)
	}
	return writeNewFile(l.JWKSFile, append(public, '\n'), 0o644)
}

// loadAssertionKey reads a private signing JWK. Parse errors are not
// wrapped, because they can quote the key.
func loadAssertionKey(path string) (*jose.JSONWebKey, error) {
	data, err := readFileCapped(path, maxJSONFileSize)
	if err != nil {
		return nil, err
	}
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(data, &jwk); err != nil {
		return nil, fmt.Errorf("devmode: %s is not a valid JWK (parse error not shown)", path)
	}
	if err := checkSigningJWK(&jwk, true); err != nil {
		return nil, fmt.Errorf("devmode: %s: %w", path, err)
	}
	return &jwk, nil
}

// loadJWKS reads a public JWK set with at least one key and distinct kids.
func loadJWKS(path string) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	data, err := readFileCapped(path, maxJSONFileSize)
	if err != nil {
		return set, err
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return set, fmt.Errorf("devmode: %s is not a valid JWK set: %w", path, err)
	}
	if len(set.Keys) == 0 {
		return set, fmt.Errorf("devmode: %s: JWK set has no keys", path)
	}
	seen := map[string]bool{}
	for i := range set.Keys {
		key := &set.Keys[i]
		if err := checkSigningJWK(key, false); err != nil {
			return set, fmt.Errorf("devmode: %s: key %d: %w", path, i, err)
		}
		if seen[key.KeyID] {
			return set, fmt.Errorf("devmode: %s: kid %q appears twice", path, key.KeyID)
		}
		seen[key.KeyID] = true
	}
	return set, nil
}

// checkSigningJWK accepts an ECDSA P-256 or P-384 key with a kid and the
// matching alg (ES256 or ES384). The key must be private if wantPrivate is
// set and public otherwise.
func checkSigningJWK(jwk *jose.JSONWebKey, wantPrivate bool) error {
	if !jwk.Valid() {
		return errors.New("JWK is missing key parameters")
	}
	if jwk.KeyID == "" {
		return errors.New("JWK has no kid")
	}
	if jwk.Use != "" && jwk.Use != "sig" {
		return fmt.Errorf("JWK use is %q, want \"sig\"", jwk.Use)
	}

	var curve elliptic.Curve
	switch k := jwk.Key.(type) {
	case *ecdsa.PrivateKey:
		if !wantPrivate {
			return fmt.Errorf("JWK %q contains a private key; a JWK set must hold public keys only", jwk.KeyID)
		}
		curve = k.Curve
	case *ecdsa.PublicKey:
		if wantPrivate {
			return fmt.Errorf("JWK %q is a public key, want a private key", jwk.KeyID)
		}
		curve = k.Curve
	default:
		return fmt.Errorf("JWK %q has unsupported key type %T, want EC", jwk.KeyID, jwk.Key)
	}

	want := map[elliptic.Curve]string{elliptic.P256(): "ES256", elliptic.P384(): "ES384"}[curve]
	if want == "" {
		return fmt.Errorf("JWK %q uses curve %s, want P-256 or P-384", jwk.KeyID, curve.Params().Name)
	}
	if jwk.Algorithm != want {
		return fmt.Errorf("JWK %q has alg %q, want %q for curve %s", jwk.KeyID, jwk.Algorithm, want, curve.Params().Name)
	}
	return nil
}

// checkJWKSHasKey returns an error unless set contains exactly one key with
// private's kid and that key is private's public half.
func checkJWKSHasKey(set jose.JSONWebKeySet, private *jose.JSONWebKey) error {
	matches := set.Key(private.KeyID)
	if len(matches) != 1 {
		return fmt.Errorf("JWK set has %d keys with kid %q, want 1", len(matches), private.KeyID)
	}
	priv, privOK := private.Key.(*ecdsa.PrivateKey)
	pub, pubOK := matches[0].Key.(*ecdsa.PublicKey)
	if !privOK || !pubOK || !priv.PublicKey.Equal(pub) {
		return fmt.Errorf("JWK set key %q is not the public half of the assertion key", private.KeyID)
	}
	return nil
}

// readFileCapped reads path, failing if it is larger than max bytes.
func readFileCapped(path string, max int64) ([]byte, error) {
	data, err := safefile.ReadCapped(path, max)
	if err != nil {
		return nil, fmt.Errorf("devmode: %w", err)
	}
	return data, nil
}
