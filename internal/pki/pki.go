// Package pki is the small private certificate authority behind Gatehouse's
// mutual TLS: a root, optional intermediates, and the three kinds of leaf
// certificate the gateway accepts or presents.
//
// Every leaf carries exactly one extended key usage, so no certificate can act
// as both a TLS server and a TLS client:
//
//   - server certificates: serverAuth, with DNS and IP subject alternative
//     names (SANs);
//   - partner client certificates: clientAuth, subject CN set to the partner
//     id, one URI SAN urn:gatehouse:partner:<id>, and optional organisation
//     URI SANs such as urn:oid:2.16.840.1.113883.4.6:<NPI>;
//   - administrator client certificates: clientAuth, one URI SAN
//     urn:gatehouse:admin:<name>.
//
// Partner ids and administrator names use the same strict syntax: 1 to 63
// characters from lower-case letters, digits, '-' and '.', starting and ending
// with a letter or digit.
//
// Serial numbers are 128 random bits. NotBefore is set a few minutes in the
// past so that peers with a slightly slow clock accept a new certificate. A
// leaf never outlives the CA that signs it.
//
// Keys are written as PKCS #8 PEM files with mode 0600, created exclusively
// so an existing file is never overwritten. Certificates are PEM files with
// mode 0644. Errors from parsing a private key never quote the file content.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
)

// KeyType names a key algorithm and size that the CA generates and accepts.
type KeyType string

// The key types this package generates. The zero value means ECDSAP256.
const (
	ECDSAP256 KeyType = "ecdsa-p256"
	ECDSAP384 KeyType = "ecdsa-p384"
	RSA3072   KeyType = "rsa-3072"
)

// minRSABits is the smallest RSA modulus accepted for a caller-supplied public
// key, because partners' existing keys are often 2048-bit. Generated RSA keys
// are always 3072-bit.
const minRSABits = 2048

// ParseKeyType returns the KeyType named by s, for command-line flags and
// configuration. The empty string selects ECDSAP256.
func ParseKeyType(s string) (KeyType, error) {
	switch k := KeyType(s); k {
	case "":
		return ECDSAP256, nil
	case ECDSAP256, ECDSAP384, RSA3072:
		return k, nil
	}
	return "", fmt.Errorf("pki: unknown key type %q (want %s, %s or %s)", s, ECDSAP256, ECDSAP384, RSA3072)
}

// GenerateKey returns a new private key of the given type. The zero KeyType
// generates an ECDSA P-256 key.
func GenerateKey(kind KeyType) (crypto.Signer, error) {
	switch kind {
	case "", ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	}
	return nil, fmt.Errorf("pki: unknown key type %q (want %s, %s or %s)", kind, ECDSAP256, ECDSAP384, RSA3072)
}

// checkPublicKey rejects keys that this CA does not certify: anything other
// than ECDSA P-256, ECDSA P-384 or RSA of at least minRSABits.
func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("pki: unsupported ECDSA curve %s (want P-256 or P-384)", k.Curve.Params().Name)
		}
		return nil
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("pki: RSA key of %d bits is too short (minimum %d)", k.N.BitLen(), minRSABits)
		}
		return nil
	}
	return fmt.Errorf("pki: unsupported public key type %T (want ECDSA or RSA)", pub)
}

// publicKeysEqual reports whether a and b are the same public key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}
