// Package tlspolicy builds the TLS configurations Gatehouse uses on every
// listener and outbound connection: TLS 1.2 at least, TLS 1.3 preferred,
// and for TLS 1.2 only ECDHE key exchange with AEAD ciphers.
package tlspolicy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// AllowsSuite reports whether id is one of the TLS 1.2 CipherSuites, or a
// TLS 1.3 suite (all of which are AEAD).
func AllowsSuite(id uint16) bool {
	if slices.Contains(CipherSuites, id) {
		return true
	}
	for _, s := range tls.CipherSuites() {
		if s.ID == id && len(s.SupportedVersions) == 1 && s.SupportedVersions[0] == tls.VersionTLS13 {
			return true
		}
	}
	return false
}

// Check returns an error unless c keeps to this policy: MinVersion TLS 1.2
// or higher, MaxVersion unset or TLS 1.3 so that TLS 1.3 stays available,
// CipherSuites set and limited to the allowed suites, and certificate
// verification on. It checks configurations built elsewhere, such as one
// returned by a GetConfigForClient hook.
func Check(c *tls.Config) error {
	if c == nil {
		return errors.New("tlspolicy: configuration is nil")
	}
	var problems []string
	if c.MinVersion < tls.VersionTLS12 {
		problems = append(problems, fmt.Sprintf("MinVersion %s is below TLS 1.2", tls.VersionName(c.MinVersion)))
	}
	if c.MaxVersion != 0 && c.MaxVersion != tls.VersionTLS13 {
		problems = append(problems, fmt.Sprintf("MaxVersion %s disables TLS 1.3", tls.VersionName(c.MaxVersion)))
	}
	if len(c.CipherSuites) == 0 {
		problems = append(problems, "CipherSuites is empty, so Go's defaults apply")
	}
	for _, id := range c.CipherSuites {
		if !AllowsSuite(id) {
			problems = append(problems, fmt.Sprintf("cipher suite %s is not ECDHE with AEAD", tls.CipherSuiteName(id)))
		}
	}
	if c.InsecureSkipVerify {
		problems = append(problems, "InsecureSkipVerify is set")
	}
	if len(problems) > 0 {
		return fmt.Errorf("tlspolicy: configuration violates the policy: %s", strings.Join(problems, "; "))
	}
	return nil
}
