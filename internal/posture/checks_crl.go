package posture

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/certreload"
	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// loadCRLs parses tls.crl_file with the gateway's own reader
// (internal/certreload), so that the file is judged by the rules the
// gateway applies.
func loadCRLs(path string) ([]*x509.RevocationList, error) {
	return certreload.LoadCRLs(path)
}

// crlName names a CRL by its issuer's common name, or by the whole issuer
// name when it has none.
func crlName(list *x509.RevocationList) string {
	if list.Issuer.CommonName != "" {
		return list.Issuer.CommonName
	}
	return list.Issuer.String()
}

// verifyCRL checks list's signature the way the gateway does before it
// uses the CRL: issuer must be allowed to sign CRLs and its key must
// verify the signature.
func verifyCRL(list *x509.RevocationList, issuer *x509.Certificate) error {
	if issuer.KeyUsage != 0 && issuer.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return errors.New("the issuer's key usage lacks cRLSign")
	}
	return list.CheckSignatureFrom(issuer)
}

// crlIssuer returns the certificate among known whose name and key match
// list and whose key verifies its signature. When certificates match by
// name and key identifier but none verifies the signature, it returns nil
// and the verification error.
func crlIssuer(list *x509.RevocationList, known []*x509.Certificate) (*x509.Certificate, error) {
	var firstErr error
	for _, cert := range known {
		if !certreload.IssuedBy(list, cert) {
			continue
		}
		err := verifyCRL(list, cert)
		if err == nil {
			return cert, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// knownCertificates returns the certificates in the files the
// configuration names that may contain CA certificates: the CA bundles,
// the partners' issuing CA files, and the gateway's own certificate files,
// which `gatehouse pki` writes with the intermediates above the leaf. A
// file that cannot be loaded is skipped, because other checks report it.
func (t *Target) knownCertificates() []*x509.Certificate {
	c := t.Config
	refs := t.caFiles()
	for i, p := range c.Partners {
		if p.IssuingCA != nil && p.IssuingCA.CertFile != "" {
			refs = append(refs, t.ref(fmt.Sprintf("partners[%d].issuing_ca.cert_file", i), p.IssuingCA.CertFile))
		}
	}
	for _, pair := range t.gatewayCertificates() {
		refs = append(refs, pair[0])
	}
	var out []*x509.Certificate
	for _, ref := range uniqueFiles(refs) {
		certs, err := pki.LoadCertificates(ref.path)
		if err != nil {
			continue
		}
		out = append(out, certs...)
	}
	return out
}

// chainsToBundle reports whether cert is in bundle or chains to a
// certificate in it through the known intermediates. The chain is checked
// halfway through cert's validity, so that an expired CA, which GH-TLS-005
// reports, does not also hide a CRL.
func chainsToBundle(cert *x509.Certificate, bundle, known []*x509.Certificate) bool {
	roots := x509.NewCertPool()
	for _, b := range bundle {
		if b.Equal(cert) {
			return true
		}
		roots.AddCert(b)
	}
	intermediates := x509.NewCertPool()
	for _, k := range known {
		intermediates.AddCert(k)
	}
	mid := cert.NotBefore.Add(cert.NotAfter.Sub(cert.NotBefore) / 2)
	_, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, CurrentTime: mid, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

// revocationListener is a listener that accepts certificates whose issuer
// has no CRL in tls.crl_file, and the kind of certificate it authenticates.
type revocationListener struct {
	name, holder string
	bundle       fileRef
}

func (t *Target) revocationListeners() []revocationListener {
	c := t.Config
	var out []revocationListener
	if c.Admin.Listen != "" {
		out = append(out, revocationListener{"admin", "administrator", t.ref("admin.client_ca_file", c.Admin.ClientCAFile)})
	}
	if c.Outbound.Listen != "" {
		out = append(out, revocationListener{"outbound", "engine", t.ref("outbound.client_ca_file", c.Outbound.ClientCAFile)})
	}
	return out
}

func checkRevocation(t *Target) []result {
	if t.Config.TLS.CRLFile == "" {
		return []result{fail("tls.crl_file", "tls.crl_file is not set, so a revoked partner, administrator or engine certificate is accepted until it expires")}
	}
	lists, err := loadCRLs(t.Config.Resolve(t.Config.TLS.CRLFile))
	if err != nil {
		return []result{fail("tls.crl_file", "the gateway cannot use the CRL file: %v", err)}
	}

	known := t.knownCertificates()
	issuers := make([]*x509.Certificate, len(lists))
	var out []result
	for i, list := range lists {
		out = append(out, crlCurrency(list, t.Now))
		issuer, err := crlIssuer(list, known)
		if err != nil {
			out = append(out, fail("tls.crl_file", "the CRL from %q does not verify with its issuer's certificate (%v), so the gateway rejects every certificate that CA issued", crlName(list), err))
		}
		issuers[i] = issuer
	}
	for _, l := range t.revocationListeners() {
		out = append(out, crlCoverage(l, lists, issuers, known))
	}
	return out
}

// crlCurrency judges whether list is past its next update at now. A CRL
// without a next update never expires, as in the gateway.
func crlCurrency(list *x509.RevocationList, now time.Time) result {
	if !list.NextUpdate.IsZero() && now.After(list.NextUpdate) {
		return fail("tls.crl_file", "the CRL from %q passed its next update on %s, so every listener rejects the client certificates that CA issued; publish a new CRL", crlName(list), day(list.NextUpdate))
	}
	if list.NextUpdate.IsZero() {
		return pass("tls.crl_file", "the CRL from %q has no next update", crlName(list))
	}
	return pass("tls.crl_file", "the CRL from %q is current until %s", crlName(list), day(list.NextUpdate))
}

// crlCoverage reports whether some CRL comes from a CA in l's bundle or
// from an intermediate below one. issuers[i] is the verified issuer of
// lists[i], or nil when no known certificate is.
func crlCoverage(l revocationListener, lists []*x509.RevocationList, issuers []*x509.Certificate, known []*x509.Certificate) result {
	bundle, err := pki.LoadCertificates(l.bundle.path)
	if err != nil {
		// GH-TLS-005 reports the unreadable bundle as a failure.
		return errorResult(l.bundle.key, "cannot load the CA bundle: %v", err)
	}
	for i, list := range lists {
		if issuers[i] != nil && chainsToBundle(issuers[i], bundle, known) {
			return pass(l.bundle.key, "the %s listener checks %s certificates against the CRL from %q", l.name, l.holder, crlName(list))
		}
	}
	return failAt(Low, l.bundle.key, "no CRL in tls.crl_file comes from a CA in %s or from an intermediate below one that the configuration's files contain, so revoking an %s certificate has no effect on the %s listener",
		l.bundle.key, l.holder, l.name)
}
