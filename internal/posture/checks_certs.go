package posture

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

var certificateChecks = []Check{
	{
		ID: "GH-TLS-010", Control: "C6", Severity: High, Mode: ModeConfig,
		Title: "Every certificate the configuration names has a strong key and signature and fits its role",
		Rationale: "A 1024-bit RSA or sub-P-256 key can be factored or broken by a well-funded attacker, and an MD5 or SHA-1 signature can be forged with a chosen-prefix collision, so either lets someone mint certificates the gateway or its peers accept. " +
			"A server certificate that is itself a CA (basicConstraints CA:TRUE) lets whoever holds its key, or steals it from the gateway, issue certificates for any name or partner. " +
			"A certificate without the extended key usage of its role (serverAuth for tls.cert_file, clientAuth for outbound.cert_file and payer.notifications.cert_file) is rejected by strict peers, and one with no extended key usage at all can act as server and client alike. " +
			"A server certificate valid for more than 398 days, the CA/Browser Forum limit for public certificates, keeps a stolen key useful for longer; beyond 825 days iOS 13, macOS 10.15 and later reject it even from a private root (Apple, \"Requirements for trusted certificates in iOS 13 and macOS 10.15\"). A private CA is not bound by the 398-day limit, so the audit reports a longer server certificate as low, and as medium beyond 825 days. " +
			"The self-signature of a root in a CA bundle is not checked, because chain verification trusts the root's key, not its signature.",
		Remediation: "Reissue the certificate from the private CA with gatehouse pki issue, which generates ECDSA P-256 (or RSA 3072) keys, signs with SHA-256 or stronger, sets CA:FALSE, one extended key usage for the role, and at most 398 days. Replace a weak CA by a new one with gatehouse pki init and reissue what it signed.",
		config:      checkCertificateProfiles,
	},
}

// Validity limits for the server certificate. maxServerValidity is the
// CA/Browser Forum limit for public TLS certificates and the maximum that
// gatehouse pki issues. The check adds pki.Backdate to it, because pki
// sets NotBefore that much before the issuing time. maxPlatformValidity is
// the limit that iOS 13 and macOS 10.15 and later enforce on server
// certificates from any root, private ones included.
const (
	maxServerValidity   = 398 * 24 * time.Hour
	maxPlatformValidity = 825 * 24 * time.Hour
)

// certRole is what a certificate file is for, which decides what its
// first certificate must be.
type certRole int

const (
	// roleServer is a file whose first certificate is the gateway's TLS
	// server certificate, followed by its chain.
	roleServer certRole = iota + 1
	// roleClient is a file whose first certificate is a TLS client
	// certificate the gateway presents, followed by its chain.
	roleClient
	// roleBundle is a bundle of CA certificates that verify peers.
	roleBundle
)

// certFile is a certificate file the configuration names, with its role.
type certFile struct {
	fileRef
	role certRole
}

// certificateFiles returns every certificate file the configuration
// names: the gateway's own certificates first, then each CA bundle once.
func (t *Target) certificateFiles() []certFile {
	c := t.Config
	files := []certFile{{t.ref("tls.cert_file", c.TLS.CertFile), roleServer}}
	if c.Outbound.Listen != "" && c.Outbound.CertFile != "" {
		files = append(files, certFile{t.ref("outbound.cert_file", c.Outbound.CertFile), roleClient})
	}
	if c.Payer.Notifications.CertFile != "" {
		files = append(files, certFile{t.ref("payer.notifications.cert_file", c.Payer.Notifications.CertFile), roleClient})
	}

	bundles := t.caFiles()
	for i, p := range c.Partners {
		if p.IssuingCA != nil && p.IssuingCA.CertFile != "" {
			bundles = append(bundles, t.ref(fmt.Sprintf("partners[%d].issuing_ca.cert_file", i), p.IssuingCA.CertFile))
		}
		if p.JWKSCAFile != "" {
			bundles = append(bundles, t.ref(fmt.Sprintf("partners[%d].jwks_ca_file", i), p.JWKSCAFile))
		}
	}
	if c.Payer.Notifications.CAFile != "" {
		bundles = append(bundles, t.ref("payer.notifications.ca_file", c.Payer.Notifications.CAFile))
	}
	for _, ref := range uniqueFiles(bundles) {
		files = append(files, certFile{ref, roleBundle})
	}
	return files
}

// certProblem is one reason a certificate fails GH-TLS-010.
type certProblem struct {
	severity Severity
	text     string
}

func checkCertificateProfiles(t *Target) []result {
	var out []result
	for _, f := range t.certificateFiles() {
		certs, err := pki.LoadCertificates(f.path)
		if err != nil {
			// GH-TLS-004 and GH-TLS-005 report most unreadable files as
			// failures, so this check reports only that it could not run.
			out = append(out, errorResult(f.key, "cannot load the certificates: %v", err))
			continue
		}
		before := len(out)
		for i, cert := range certs {
			what := describeCertificate(f.role, i)
			for _, p := range certificateProblems(f.role, i, cert) {
				out = append(out, failAt(p.severity, f.key, "%s %q %s", what, cert.Subject.CommonName, p.text))
			}
		}
		if len(out) == before {
			if len(certs) == 1 {
				out = append(out, pass(f.key, "1 certificate with a strong key and signature, fit for its role"))
			} else {
				out = append(out, pass(f.key, "%d certificates with strong keys and signatures, each fit for its role", len(certs)))
			}
		}
	}
	return out
}

func describeCertificate(role certRole, index int) string {
	switch {
	case role == roleBundle:
		return "CA certificate"
	case index > 0:
		return "chain certificate"
	case role == roleServer:
		return "server certificate"
	}
	return "client certificate"
}

// certificateProblems returns what is wrong with the certificate at index
// in a file of role.
func certificateProblems(role certRole, index int, cert *x509.Certificate) []certProblem {
	var out []certProblem
	if p, ok := keyProblem(cert); ok {
		out = append(out, p)
	}
	if !isSelfSignedCA(cert) {
		if p, ok := signatureProblem(cert.SignatureAlgorithm); ok {
			out = append(out, p)
		}
	}

	switch {
	case role == roleBundle:
		// GH-TLS-005 reports a leaf in a CA bundle.
	case index > 0:
		if !cert.IsCA {
			out = append(out, certProblem{High, "follows the leaf but is not a CA certificate, so the chain cannot verify"})
		}
	default:
		out = append(out, leafProblems(role, cert)...)
	}
	return out
}

// leafProblems checks the CA flag, key usage and extended key usage of
// the gateway's own certificate, and the validity of a server certificate.
func leafProblems(role certRole, cert *x509.Certificate) []certProblem {
	var out []certProblem
	if cert.IsCA {
		out = append(out, certProblem{High, "is a CA certificate (basicConstraints CA:TRUE), so its key can issue certificates"})
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		out = append(out, certProblem{Medium, "has a key usage without digitalSignature, which TLS 1.3 and ECDHE handshakes need"})
	}

	want, name := x509.ExtKeyUsageServerAuth, "serverAuth"
	if role == roleClient {
		want, name = x509.ExtKeyUsageClientAuth, "clientAuth"
	}
	if p, ok := extKeyUsageProblem(cert, want, name); ok {
		out = append(out, p)
	}

	if role == roleServer {
		period := cert.NotAfter.Sub(cert.NotBefore)
		days := int(period.Hours() / 24)
		switch {
		case period > maxPlatformValidity:
			out = append(out, certProblem{Medium, fmt.Sprintf("is valid for %d days, more than the 825 days Apple platforms accept", days)})
		case period > maxServerValidity+pki.Backdate:
			out = append(out, certProblem{Low, fmt.Sprintf("is valid for %d days, more than the 398 days allowed for public certificates", days)})
		}
	}
	return out
}

func extKeyUsageProblem(cert *x509.Certificate, want x509.ExtKeyUsage, name string) (certProblem, bool) {
	if len(cert.ExtKeyUsage) == 0 && len(cert.UnknownExtKeyUsage) == 0 {
		return certProblem{Low, "has no extended key usage, so it is valid for any purpose, but " + name + " alone is expected"}, true
	}
	for _, u := range cert.ExtKeyUsage {
		if u == want {
			return certProblem{}, false
		}
		if u == x509.ExtKeyUsageAny {
			return certProblem{Low, "has the anyExtendedKeyUsage extended key usage, so it is valid for any purpose, but " + name + " alone is expected"}, true
		}
	}
	return certProblem{High, "lacks the " + name + " extended key usage, so peers that check it reject the certificate"}, true
}

// keyProblem reports a weak or unusable public key: RSA below 2048 bits, an elliptic curve
// below P-256, DSA, or a key type Go's TLS stack cannot use.
func keyProblem(cert *x509.Certificate) (certProblem, bool) {
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < 2048 {
			return certProblem{High, fmt.Sprintf("has a %d-bit RSA key; 2048 bits is the minimum", bits)}, true
		}
	case *ecdsa.PublicKey:
		if bits := k.Curve.Params().BitSize; bits < 256 {
			return certProblem{High, fmt.Sprintf("has a %d-bit elliptic curve key (%s); P-256 is the minimum", bits, k.Curve.Params().Name)}, true
		}
	case ed25519.PublicKey:
	default:
		return certProblem{High, fmt.Sprintf("has a %s key, which TLS in Gatehouse does not support", cert.PublicKeyAlgorithm)}, true
	}
	return certProblem{}, false
}

// signatureProblem rejects the signature algorithms whose hash has
// practical collision attacks, and those Go cannot verify at all.
func signatureProblem(alg x509.SignatureAlgorithm) (certProblem, bool) {
	switch alg {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1:
		return certProblem{High, fmt.Sprintf("is signed with %s, whose hash has practical collision attacks", alg)}, true
	case x509.UnknownSignatureAlgorithm, x509.DSAWithSHA256:
		return certProblem{High, fmt.Sprintf("is signed with %s, which Go cannot verify", alg)}, true
	}
	return certProblem{}, false
}

// isSelfSignedCA reports whether cert is a root: a CA certificate whose
// issuer is its subject. Its signature is never verified in a chain, so
// its algorithm does not matter.
func isSelfSignedCA(cert *x509.Certificate) bool {
	return cert.IsCA && bytes.Equal(cert.RawSubject, cert.RawIssuer)
}
