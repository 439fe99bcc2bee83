// Package tlspolicy builds the TLS configurations Gatehouse uses on every
// listener and outbound connection: TLS 1.2 at least, TLS 1.3 preferred,
// and for TLS 1.2 only ECDHE key exchange with AEAD ciphers.
package tlspolicy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// CipherSuites are the TLS 1.2 suites allowed: ECDHE with AES-GCM or
// ChaCha20-Poly1305. TLS 1.3 suites are not configurable in Go and are all
// AEAD.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// CurvePreferences lists the key exchange groups offered: the hybrid
// post-quantum X25519MLKEM768 first, then X25519, P-256 and P-384.
var CurvePreferences = []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384}

// Server returns the configuration of a partner-facing listener: the
// server certificate, and a client certificate that must chain to
// clientCAs with the clientAuth extended key usage (Go checks the usage when
// it verifies the chain for RequireAndVerifyClientCert).
func Server(cert tls.Certificate, clientCAs *x509.CertPool) (*tls.Config, error) {
	if clientCAs == nil {
		return nil, errors.New("tlspolicy: a client CA pool is required")
	}
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CipherSuites:     CipherSuites,
		CurvePreferences: CurvePreferences,
		Certificates:     []tls.Certificate{cert},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        clientCAs,
		NextProtos:       []string{"h2", "http/1.1"},
	}, nil
}

// Client returns the configuration of an outbound connection verifying the
// server against roots (nil means the system roots) and presenting cert
// when it is not nil.
func Client(roots *x509.CertPool, cert *tls.Certificate) *tls.Config {
	c := &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CipherSuites:     CipherSuites,
		CurvePreferences: CurvePreferences,
		RootCAs:          roots,
	}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}
