package devmode

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// Each loader reads its files again on every call, so a caller that reloads
// certificates without a restart gets a reissued certificate.

// ServerTLSCertificate loads the gateway's TLS server certificate and key.
func (l *Layout) ServerTLSCertificate() (tls.Certificate, error) {
	return pki.LoadTLSCertificate(l.ServerCertFile, l.ServerKeyFile)
}

// ClientCAPool returns the pool that the gateway verifies partner client
// certificates against: the development CA.
func (l *Layout) ClientCAPool() (*x509.CertPool, error) {
	return pki.LoadCertPool(l.CACertFile)
}

// CAPool returns the pool that a client uses to verify the gateway's server
// certificate. In development mode it contains the same CA as ClientCAPool.
func (l *Layout) CAPool() (*x509.CertPool, error) {
	return pki.LoadCertPool(l.CACertFile)
}

// PartnerClientCertificate loads the demo partner's TLS client certificate
// and key, for the demo client and for tests.
func (l *Layout) PartnerClientCertificate() (tls.Certificate, error) {
	return pki.LoadTLSCertificate(l.ClientCertFile, l.ClientKeyFile)
}

// PartnerJWKS loads the demo partner's public JWK set, which the gateway
// registers to verify the partner's client assertions.
func (l *Layout) PartnerJWKS() (jose.JSONWebKeySet, error) {
	return loadJWKS(l.JWKSFile)
}

// PartnerAssertionKey loads the demo partner's private JWK for signing
// client assertions (RFC 7523). Its kid names the matching key in
// PartnerJWKS.
func (l *Layout) PartnerAssertionKey() (*jose.JSONWebKey, error) {
	return loadAssertionKey(l.AssertionKeyFile)
}

// TokenSigningKey loads the gateway's ECDSA P-256 key for signing access
// tokens.
func (l *Layout) TokenSigningKey() (crypto.Signer, error) {
	key, err := pki.LoadPrivateKey(l.TokenKeyFile)
	if err != nil {
		return nil, err
	}
	if k, ok := key.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("devmode: %s: key type is %s, want ECDSA P-256", l.TokenKeyFile, describeKey(key))
	}
	return key, nil
}

func describeKey(key crypto.Signer) string {
	if k, ok := key.(*ecdsa.PrivateKey); ok {
		return "ECDSA " + k.Curve.Params().Name
	}
	return fmt.Sprintf("%T", key)
}
