package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Certificate is an issued leaf certificate with its chain and, when the CA
// generated it, its private key.
type Certificate struct {
	// Leaf is the parsed leaf certificate, Chain[0].
	Leaf *x509.Certificate
	// Chain is the DER certificates, leaf first, then the intermediates that
	// peers need to build a path. The root is left out because peers must
	// already trust it.
	Chain [][]byte
	// Key is the leaf's private key. It is nil when the options supplied a
	// PublicKey, for example from a partner's certificate signing request.
	Key crypto.Signer
}

// ServerOptions configures (*CA).IssueServer.
type ServerOptions struct {
	// DNSNames and IPAddresses are the subject alternative names. At least
	// one name or address is required. DNS names must be lower case, and a
	// wildcard is allowed only as the whole first label ("*.example.org").
	DNSNames    []string
	IPAddresses []net.IP
	// CommonName is the subject CN. Empty means the first DNS name, or the
	// first IP address when there is no DNS name. TLS clients match the
	// SANs, not the CN.
	CommonName string
	// KeyType selects the generated key. Zero means ECDSAP256. Ignored when
	// PublicKey is set.
	KeyType KeyType
	// PublicKey certifies an existing key instead of generating one.
	PublicKey crypto.PublicKey
	// Validity is how long the certificate is valid. Zero means
	// DefaultLeafValidity, and the maximum is MaxLeafValidity. NotAfter is
	// clamped to the CA's NotAfter.
	Validity time.Duration
}

// ClientOptions configures (*CA).IssueClient.
type ClientOptions struct {
	// PartnerID becomes the subject CN and the URI SAN
	// urn:gatehouse:partner:<PartnerID>. Required, with the syntax that
	// ValidateID checks.
	PartnerID string
	// OrganizationURIs are extra URI SANs naming the partner's organisation,
	// such as the NPIURI of its requesting provider. They must be absolute
	// URIs and must not use a Gatehouse identity prefix.
	OrganizationURIs []string
	// OrganizationName is the subject O. Optional.
	OrganizationName string
	// KeyType, PublicKey and Validity are as in ServerOptions.
	KeyType   KeyType
	PublicKey crypto.PublicKey
	Validity  time.Duration
}

// AdminOptions configures (*CA).IssueAdmin.
type AdminOptions struct {
	// Name becomes the subject CN and the URI SAN urn:gatehouse:admin:<Name>.
	// Required, with the syntax that ValidateID checks.
	Name string
	// KeyType, PublicKey and Validity are as in ServerOptions.
	KeyType   KeyType
	PublicKey crypto.PublicKey
	Validity  time.Duration
}

// IssueServer issues a TLS server certificate: extended key usage serverAuth
// only, key usage digitalSignature.
func (c *CA) IssueServer(opts ServerOptions) (*Certificate, error) {
	if len(opts.DNSNames) == 0 && len(opts.IPAddresses) == 0 {
		return nil, errors.New("pki: server certificate needs at least one DNS name or IP address")
	}
	for _, name := range opts.DNSNames {
		if err := validateDNSName(name); err != nil {
			return nil, err
		}
	}
	for _, ip := range opts.IPAddresses {
		if ip.To16() == nil {
			return nil, fmt.Errorf("pki: invalid server IP address %v", ip)
		}
	}

	cn := opts.CommonName
	if cn == "" && len(opts.DNSNames) > 0 {
		cn = opts.DNSNames[0]
	} else if cn == "" {
		cn = opts.IPAddresses[0].String()
	}
	tmpl := leafTemplate(cn, "", x509.ExtKeyUsageServerAuth)
	tmpl.DNSNames = opts.DNSNames
	tmpl.IPAddresses = opts.IPAddresses
	return c.issueLeaf(tmpl, opts.KeyType, opts.PublicKey, opts.Validity)
}

// IssueClient issues a partner's TLS client certificate: extended key usage
// clientAuth only, subject CN set to the partner id, and the partner URI SAN
// followed by any organisation URI SANs.
func (c *CA) IssueClient(opts ClientOptions) (*Certificate, error) {
	if err := ValidateID(opts.PartnerID); err != nil {
		return nil, fmt.Errorf("pki: client PartnerID: %w", err)
	}
	uris := []*url.URL{mustParseURN(PartnerURI(opts.PartnerID))}
	for _, s := range opts.OrganizationURIs {
		u, err := parseOrganizationURI(s)
		if err != nil {
			return nil, err
		}
		uris = append(uris, u)
	}

	tmpl := leafTemplate(opts.PartnerID, opts.OrganizationName, x509.ExtKeyUsageClientAuth)
	tmpl.URIs = uris
	return c.issueLeaf(tmpl, opts.KeyType, opts.PublicKey, opts.Validity)
}

// IssueAdmin issues an administrator's TLS client certificate: extended key
// usage clientAuth only, subject CN set to the name, and the URI SAN
// urn:gatehouse:admin:<name>.
func (c *CA) IssueAdmin(opts AdminOptions) (*Certificate, error) {
	if err := ValidateID(opts.Name); err != nil {
		return nil, fmt.Errorf("pki: admin Name: %w", err)
	}
	tmpl := leafTemplate(opts.Name, "", x509.ExtKeyUsageClientAuth)
	tmpl.URIs = []*url.URL{mustParseURN(AdminURI(opts.Name))}
	return c.issueLeaf(tmpl, opts.KeyType, opts.PublicKey, opts.Validity)
}

// IssueEngine issues the payer integration engine's TLS client
// certificate for the outbound listener: extended key usage clientAuth only,
// subject CN set to the name, and the URI SAN urn:gatehouse:engine:<name>.
func (c *CA) IssueEngine(opts AdminOptions) (*Certificate, error) {
	if err := ValidateID(opts.Name); err != nil {
		return nil, fmt.Errorf("pki: engine Name: %w", err)
	}
	tmpl := leafTemplate(opts.Name, "", x509.ExtKeyUsageClientAuth)
	tmpl.URIs = []*url.URL{mustParseURN(EngineURIPrefix + opts.Name)}
	return c.issueLeaf(tmpl, opts.KeyType, opts.PublicKey, opts.Validity)
}

// issueLeaf generates a key unless pub is set, signs tmpl and assembles the
// Certificate.
func (c *CA) issueLeaf(tmpl *x509.Certificate, kind KeyType, pub crypto.PublicKey, validity time.Duration) (*Certificate, error) {
	validity, err := chooseValidity("leaf Validity", validity, DefaultLeafValidity, MaxLeafValidity)
	if err != nil {
		return nil, err
	}
	var key crypto.Signer
	if pub == nil {
		if key, err = GenerateKey(kind); err != nil {
			return nil, err
		}
		pub = key.Public()
	}

	leaf, err := c.issue(tmpl, pub, validity)
	if err != nil {
		return nil, err
	}
	chain := append([][]byte{leaf.Raw}, c.chainDER()...)
	return &Certificate{Leaf: leaf, Chain: chain, Key: key}, nil
}

func leafTemplate(commonName, organization string, usage x509.ExtKeyUsage) *x509.Certificate {
	return &x509.Certificate{
		Subject:               subject(commonName, organization),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{usage},
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
}

// TLSCertificate returns c as a tls.Certificate for a tls.Config. It fails
// when c has no private key.
func (c *Certificate) TLSCertificate() (tls.Certificate, error) {
	if c.Key == nil {
		return tls.Certificate{}, fmt.Errorf("pki: certificate %q has no private key", c.Leaf.Subject.CommonName)
	}
	return tls.Certificate{Certificate: c.Chain, PrivateKey: c.Key, Leaf: c.Leaf}, nil
}

// Fingerprint returns the SHA-256 fingerprint of the leaf, as the package
// function Fingerprint computes it.
func (c *Certificate) Fingerprint() string { return Fingerprint(c.Leaf) }

// validateDNSName accepts lower-case host names of letters, digits and
// hyphens, with an optional "*." wildcard first label.
func validateDNSName(name string) error {
	host := strings.TrimPrefix(name, "*.")
	if host == "" || len(name) > 253 {
		return fmt.Errorf("pki: invalid server DNS name %q", name)
	}
	if net.ParseIP(host) != nil {
		return fmt.Errorf("pki: invalid server DNS name %q: an IP address belongs in IPAddresses", name)
	}
	for label := range strings.SplitSeq(host, ".") {
		if err := validateDNSLabel(label); err != nil {
			return fmt.Errorf("pki: invalid server DNS name %q: %w", name, err)
		}
	}
	return nil
}

func validateDNSLabel(label string) error {
	if label == "" || len(label) > 63 {
		return errors.New("each label must be 1 to 63 characters long")
	}
	for i := 0; i < len(label); i++ {
		if !isAlphaNum(label[i]) && label[i] != '-' {
			return fmt.Errorf("label %q contains %q (allowed: a-z, 0-9, '-')", label, label[i])
		}
	}
	if label[0] == '-' || label[len(label)-1] == '-' {
		return fmt.Errorf("label %q starts or ends with '-'", label)
	}
	return nil
}

// parseOrganizationURI parses an organisation URI SAN and rejects anything
// that could be read as a Gatehouse identity.
func parseOrganizationURI(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.String() != s {
		return nil, fmt.Errorf("pki: organisation URI %q is not an absolute URI in canonical form", s)
	}
	lower := strings.ToLower(s)
	for _, prefix := range identityPrefixes {
		if strings.HasPrefix(lower, prefix) {
			return nil, fmt.Errorf("pki: organisation URI %q must not use a Gatehouse identity prefix", s)
		}
	}
	return u, nil
}

// mustParseURN parses a URN built from a validated id. A failure is a bug in
// this package, not a caller mistake.
func mustParseURN(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic("pki: built an unparsable URN: " + err.Error())
	}
	return u
}
