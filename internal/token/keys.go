package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// RSA modulus sizes accepted for RS384 and PS384, in bits. The upper bound
// is go-jose's MaxRSAModulusBits default, and it keeps a registered key from
// making each verification expensive.
const (
	minRSABits      = 2048
	maxRSABits      = 4096
	generateRSABits = 3072
)

// fittingKey returns the public key of k if k may verify alg: the key type
// and size fit alg, and the JWK's "use" and "alg" members, when set, agree.
func fittingKey(k jose.JSONWebKey, alg jose.SignatureAlgorithm) (any, bool) {
	if k.Use != "" && k.Use != "sig" {
		return nil, false
	}
	if k.Algorithm != "" && k.Algorithm != string(alg) {
		return nil, false
	}
	pub := k.Public()
	if !keyFitsAlgorithm(pub.Key, alg) {
		return nil, false
	}
	return pub.Key, true
}

func keyFitsAlgorithm(key any, alg jose.SignatureAlgorithm) bool {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		return (alg == jose.ES256 && k.Curve == elliptic.P256()) ||
			(alg == jose.ES384 && k.Curve == elliptic.P384())
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		return (alg == jose.RS384 || alg == jose.PS384) && bits >= minRSABits && bits <= maxRSABits
	}
	return false
}

// signingAlgorithm returns the algorithm a private key signs assertions
// with: the key's own "alg" member when set, otherwise ES256 for P-256,
// ES384 for P-384 and RS384 for RSA.
func signingAlgorithm(key *jose.JSONWebKey) (jose.SignatureAlgorithm, error) {
	if key.IsPublic() {
		return "", fmt.Errorf("token: signing key %q is a public key", key.KeyID)
	}
	pub := key.Public().Key

	alg := jose.SignatureAlgorithm(key.Algorithm)
	if alg == "" {
		alg = defaultAlgorithm(pub)
	}
	if !allowedAlgorithm(string(alg)) || !keyFitsAlgorithm(pub, alg) {
		return "", fmt.Errorf("token: signing key %q (%T, alg %q) does not fit any of ES256, ES384, RS384, PS384; "+
			"use EC P-256, EC P-384 or RSA of %d to %d bits", key.KeyID, pub, key.Algorithm, minRSABits, maxRSABits)
	}
	return alg, nil
}

func defaultAlgorithm(pub any) jose.SignatureAlgorithm {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256
		case elliptic.P384():
			return jose.ES384
		}
	case *rsa.PublicKey:
		return jose.RS384
	}
	return ""
}

// GenerateKey returns a new private signing key for client assertions with
// alg ES256 (P-256), ES384 (P-384), RS384 or PS384 (RSA, 3072 bits). The
// JWK carries alg, use "sig" and a kid that is its RFC 7638 thumbprint.
// Register key.Public() with the token server.
func GenerateKey(alg string) (*jose.JSONWebKey, error) {
	var priv any
	var err error
	switch jose.SignatureAlgorithm(alg) {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jose.RS384, jose.PS384:
		priv, err = rsa.GenerateKey(rand.Reader, generateRSABits)
	default:
		return nil, fmt.Errorf("token: cannot generate a key for alg %q; use ES256, ES384, RS384 or PS384", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("token: generating %s key: %w", alg, err)
	}

	key := &jose.JSONWebKey{Key: priv, Algorithm: alg, Use: "sig"}
	sum, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("token: computing key thumbprint: %w", err)
	}
	key.KeyID = base64.RawURLEncoding.EncodeToString(sum)
	return key, nil
}
