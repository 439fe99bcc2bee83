package posture

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// ExpiryWarning is how long before expiry a certificate is reported.
const ExpiryWarning = 30 * 24 * time.Hour

var tlsChecks = []Check{
	{
		ID: "GH-TLS-001", Control: "C6", Severity: High, Mode: ModeConfig,
		Title:       "TLS 1.2 minimum and TLS 1.3 enabled on every listener and outbound connection",
		Rationale:   "SSL 3.0, TLS 1.0 and TLS 1.1 have known attacks (POODLE, BEAST) and allow downgrade; TLS 1.3 removes static RSA key exchange and renegotiation.",
		Remediation: "The policy is compiled into Gatehouse (internal/tlspolicy) and no key changes it. A failure means the binary was built with a modified policy: deploy an unmodified build.",
		config:      checkTLSVersions,
	},
	{
		ID: "GH-TLS-002", Control: "C6", Severity: High, Mode: ModeConfig,
		Title:       "TLS 1.2 cipher suites are ECDHE with AEAD only",
		Rationale:   "Static RSA key exchange has no forward secrecy, and CBC suites have a history of padding-oracle attacks (Lucky13).",
		Remediation: "The suite list is compiled into Gatehouse (tlspolicy.CipherSuites). Deploy an unmodified build; in front of Gatehouse, terminate nothing with a weaker policy.",
		config:      checkTLSSuites,
	},
	{
		ID: "GH-TLS-003", Control: "C3", Severity: High, Mode: ModeConfig,
		Title:       "Every listener requires and verifies a client certificate",
		Rationale:   "A listener without mutual TLS lets anyone who obtains a token or an admin password connect from anywhere.",
		Remediation: "Deploy an unmodified build: every listener uses tlspolicy.Server, which sets RequireAndVerifyClientCert. Set tls.client_ca_file, admin.client_ca_file and outbound.client_ca_file to the private CA bundles.",
		config:      checkClientAuth,
	},
	{
		ID: "GH-TLS-004", Control: "C3", Severity: High, Mode: ModeConfig,
		Title:       "Gateway certificates load, match their keys and stay valid for 30 days",
		Rationale:   "An expired or mismatched server certificate stops every partner at once; partners under pressure then tend to disable verification.",
		Remediation: "Issue a new certificate from the private CA before the old one expires and replace tls.cert_file and tls.key_file (or outbound.cert_file and outbound.key_file); Gatehouse reloads certificates without a restart.",
		config:      checkGatewayCertificates,
	},
	{
		ID: "GH-TLS-005", Control: "C3", Severity: High, Mode: ModeConfig,
		Title:       "CA bundles hold CA certificates that stay valid for 30 days",
		Rationale:   "When a CA certificate expires, every certificate it signed stops verifying; a leaf certificate in a CA bundle pins one peer instead of a CA.",
		Remediation: "Renew the CA (issue a new root or intermediate and add it to the bundle next to the old one until every leaf is reissued), and keep only CA certificates in the *_ca_file bundles.",
		config:      checkCABundles,
	},
	{
		ID: "GH-TLS-006", Control: "C3", Severity: High, Mode: ModeConfig,
		Title:       "Client certificates chain to a private CA, not a public one",
		Rationale:   "A public CA issues certificates to anyone who controls a domain; trusting it for client authentication lets strangers pass the mutual TLS check.",
		Remediation: "Create a private CA for partners (see internal/pki) and set tls.client_ca_file, admin.client_ca_file and outbound.client_ca_file to it alone.",
		config:      checkPrivateCA,
	},
	{
		ID: "GH-TLS-007", Control: "C3", Severity: High, Mode: ModeConfig,
		Title:       "The server certificate names the public URL's host",
		Rationale:   "Partners verify the host name of public_url against the server certificate; a mismatch breaks every connection or pushes partners to skip verification.",
		Remediation: "Issue the server certificate with the host of public_url as a DNS or IP subject alternative name, or correct public_url.",
		config:      checkServerName,
	},
	{
		ID: "GH-TLS-008", Control: "C3", Severity: Medium, Mode: ModeConfig,
		Title:       "Client certificates can be revoked: tls.crl_file holds a current CRL of each client CA",
		Rationale:   "Without a CRL, a stolen or withdrawn partner, administrator or engine certificate keeps working until it expires. A CRL past its next update makes the gateway reject every certificate of its issuer, so the inbound listener locks out those partners, and the admin and outbound listeners lock out that CA's administrators and engines, kill switch included. The admin and outbound listeners accept certificates whose issuer has no CRL in the file. The audit finds a CRL's issuer in the files the configuration names (the CA bundles, the partners' issuing_ca.cert_file, and the chains in tls.cert_file and outbound.cert_file): a CRL issued by an intermediate that none of them contains is not seen, so a listener whose CA issues through such an intermediate is reported uncovered even though the gateway checks its CRL.",
		Remediation: "Set tls.crl_file to the CRL that gatehouse pki writes (crl.pem) and re-sign it with gatehouse pki crl well before its next update. Add the CRLs of the CAs in admin.client_ca_file and outbound.client_ca_file to the same file, or issue short-lived administrator and engine certificates (--days).",
		config:      checkRevocation,
	},
	{
		ID: "GH-TLS-009", Control: "C3", Severity: Low, Mode: ModeConfig,
		Title:       "The integration engine authenticates with a CA separate from partners",
		Rationale:   "The outbound listener sends whatever an engine certificate requests to any partner, with the payer's client certificate and tokens. outbound.client_ca_file defaults to tls.client_ca_file, so a partner's own issuing CA in that bundle lets the partner issue itself an engine certificate and write to other partners' EHRs as the payer. With one CA for both, a certificate mistakenly issued from the partner enrolment process could carry an engine identity.",
		Remediation: "Create a separate CA for the integration engine's certificates and set outbound.client_ca_file to it, containing no partner's issuing CA.",
		config:      checkEngineCA,
	},
}

// tlsEndpoint is a TLS configuration the gateway uses, with its name.
type tlsEndpoint struct {
	name, key string
	conf      *tls.Config
}

func (t *Target) tlsEndpoints() []tlsEndpoint {
	var out []tlsEndpoint
	for _, l := range t.Listeners {
		out = append(out, tlsEndpoint{l.Name + " listener", l.Key, l.TLS})
	}
	return append(out, tlsEndpoint{"outbound connections", "", t.Outbound})
}

func checkTLSVersions(t *Target) []result {
	var out []result
	for _, e := range t.tlsEndpoints() {
		switch c := e.conf; {
		case c.MinVersion < tls.VersionTLS12:
			out = append(out, fail(e.key, "%s: %s is accepted", e.name, versionName(c.MinVersion)))
		case c.MaxVersion != 0 && c.MaxVersion < tls.VersionTLS13:
			out = append(out, failAt(Medium, e.key, "%s: the maximum is %s, so TLS 1.3 is disabled", e.name, versionName(c.MaxVersion)))
		default:
			out = append(out, pass(e.key, "%s: TLS 1.2 and TLS 1.3 only", e.name))
		}
	}
	return out
}

func versionName(v uint16) string {
	if v == 0 {
		return "every version Go supports"
	}
	return tls.VersionName(v)
}

func checkTLSSuites(t *Target) []result {
	var out []result
	for _, e := range t.tlsEndpoints() {
		if len(e.conf.CipherSuites) == 0 {
			out = append(out, fail(e.key, "%s: no cipher suites are set, so Go's defaults apply", e.name))
			continue
		}
		var weak []string
		for _, id := range e.conf.CipherSuites {
			if !tlspolicy.AllowsSuite(id) {
				weak = append(weak, tls.CipherSuiteName(id))
			}
		}
		if len(weak) > 0 {
			out = append(out, fail(e.key, "%s: %s allowed", e.name, strings.Join(weak, ", ")))
			continue
		}
		out = append(out, pass(e.key, "%s: %d ECDHE suites with AES-GCM or ChaCha20-Poly1305", e.name, len(e.conf.CipherSuites)))
	}
	return out
}

func checkClientAuth(t *Target) []result {
	var out []result
	for _, l := range t.Listeners {
		if l.TLS.ClientAuth != tls.RequireAndVerifyClientCert {
			out = append(out, fail(l.Key, "the %s listener (%s) uses %s instead of RequireAndVerifyClientCert", l.Name, l.Addr, l.TLS.ClientAuth))
			continue
		}
		out = append(out, pass(l.Key, "the %s listener (%s) requires a client certificate chained to its CA", l.Name, l.Addr))
	}
	return out
}

// fileRef is a file the configuration names, with its key.
type fileRef struct{ key, path string }

func (t *Target) ref(key, p string) fileRef { return fileRef{key, t.Config.Resolve(p)} }

// gatewayCertificates returns the certificate and key pairs the gateway
// presents.
func (t *Target) gatewayCertificates() [][2]fileRef {
	c := t.Config
	pairs := [][2]fileRef{{t.ref("tls.cert_file", c.TLS.CertFile), t.ref("tls.key_file", c.TLS.KeyFile)}}
	if c.Outbound.Listen != "" {
		pairs = append(pairs, [2]fileRef{t.ref("outbound.cert_file", c.Outbound.CertFile), t.ref("outbound.key_file", c.Outbound.KeyFile)})
	}
	return pairs
}

func checkGatewayCertificates(t *Target) []result {
	var out []result
	for _, pair := range t.gatewayCertificates() {
		cert, err := pki.LoadTLSCertificate(pair[0].path, pair[1].path)
		if err != nil {
			out = append(out, fail(pair[0].key, "cannot load the certificate and key: %v", err))
			continue
		}
		out = append(out, expiryResult(pair[0].key, "certificate", cert.Leaf, t.Now))
	}
	return out
}

// expiryResult judges one certificate's validity period at now.
func expiryResult(key, what string, cert *x509.Certificate, now time.Time) result {
	name := fmt.Sprintf("%s %q", what, cert.Subject.CommonName)
	switch {
	case now.Before(cert.NotBefore):
		return fail(key, "%s is not valid before %s", name, day(cert.NotBefore))
	case now.After(cert.NotAfter):
		return fail(key, "%s expired on %s", name, day(cert.NotAfter))
	case cert.NotAfter.Sub(now) < ExpiryWarning:
		return failAt(Medium, key, "%s expires on %s, in %d days", name, day(cert.NotAfter), int(cert.NotAfter.Sub(now).Hours()/24))
	}
	return pass(key, "%s is valid until %s", name, day(cert.NotAfter))
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// clientCAFiles returns the CA bundles that authenticate clients, without
// repeating a file that two keys name.
func (t *Target) clientCAFiles() []fileRef {
	c := t.Config
	refs := []fileRef{t.ref("tls.client_ca_file", c.TLS.ClientCAFile)}
	if c.Admin.Listen != "" {
		refs = append(refs, t.ref("admin.client_ca_file", c.Admin.ClientCAFile))
	}
	if c.Outbound.Listen != "" {
		refs = append(refs, t.ref("outbound.client_ca_file", c.Outbound.ClientCAFile))
	}
	return uniqueFiles(refs)
}

// caFiles returns every CA bundle the configuration names.
func (t *Target) caFiles() []fileRef {
	c := t.Config
	refs := t.clientCAFiles()
	if c.Upstream.CAFile != "" {
		refs = append(refs, t.ref("upstream.ca_file", c.Upstream.CAFile))
	}
	for i, p := range c.Partners {
		if p.Outbound != nil && p.Outbound.CAFile != "" {
			refs = append(refs, t.ref(fmt.Sprintf("partners[%d].outbound.ca_file", i), p.Outbound.CAFile))
		}
	}
	return uniqueFiles(refs)
}

func uniqueFiles(refs []fileRef) []fileRef {
	seen := map[string]bool{}
	var out []fileRef
	for _, r := range refs {
		if r.path == "" || seen[r.path] {
			continue
		}
		seen[r.path] = true
		out = append(out, r)
	}
	return out
}

func checkCABundles(t *Target) []result {
	var out []result
	for _, ref := range t.caFiles() {
		certs, err := pki.LoadCertificates(ref.path)
		if err != nil {
			out = append(out, fail(ref.key, "cannot load the CA bundle: %v", err))
			continue
		}
		for _, cert := range certs {
			if !cert.IsCA {
				out = append(out, fail(ref.key, "%q is not a CA certificate", cert.Subject.CommonName))
				continue
			}
			out = append(out, expiryResult(ref.key, "CA", cert, t.Now))
		}
	}
	return out
}

func checkPrivateCA(t *Target) []result {
	if t.PublicRoots == nil {
		return []result{errorResult("tls.client_ca_file", "the system's public roots could not be loaded, so the CA could not be compared with them")}
	}
	var out []result
	for _, ref := range t.clientCAFiles() {
		certs, err := pki.LoadCertificates(ref.path)
		if err != nil {
			// GH-TLS-005 reports the unreadable bundle as a failure.
			out = append(out, errorResult(ref.key, "cannot load the CA bundle: %v", err))
			continue
		}
		public := publicCertificates(certs, t.PublicRoots)
		if len(public) > 0 {
			out = append(out, fail(ref.key, "%s chains to a publicly trusted root", strings.Join(public, ", ")))
			continue
		}
		out = append(out, pass(ref.key, "no certificate in the bundle chains to a public root"))
	}
	return out
}

// publicCertificates returns the common names of the certificates in
// bundle that are public roots or chain to one. A certificate is checked
// halfway through its validity, so expiry does not hide a public chain.
func publicCertificates(bundle []*x509.Certificate, roots *x509.CertPool) []string {
	intermediates := x509.NewCertPool()
	for _, c := range bundle {
		intermediates.AddCert(c)
	}
	var names []string
	for _, c := range bundle {
		mid := c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) / 2)
		opts := x509.VerifyOptions{Roots: roots, Intermediates: intermediates, CurrentTime: mid, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
		if _, err := c.Verify(opts); err == nil {
			names = append(names, fmt.Sprintf("%q", c.Subject.CommonName))
		}
	}
	return names
}

func checkServerName(t *Target) []result {
	u, err := url.Parse(t.Config.PublicURL)
	if err != nil || u.Hostname() == "" {
		return []result{fail("public_url", "public_url %q has no host", t.Config.PublicURL)}
	}
	certs, err := pki.LoadCertificates(t.Config.Resolve(t.Config.TLS.CertFile))
	if err != nil {
		return []result{fail("tls.cert_file", "cannot load the server certificate: %v", err)}
	}
	if err := certs[0].VerifyHostname(u.Hostname()); err != nil {
		return []result{fail("tls.cert_file", "the server certificate does not name %q, the host of public_url", u.Hostname())}
	}
	return []result{pass("tls.cert_file", "the server certificate names %q", u.Hostname())}
}
