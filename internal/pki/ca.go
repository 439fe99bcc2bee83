package pki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Validity defaults and limits.
const (
	DefaultRootValidity         = 10 * 365 * 24 * time.Hour
	DefaultIntermediateValidity = 5 * 365 * 24 * time.Hour
	// MaxCAValidity caps the validity of roots and intermediates.
	MaxCAValidity = 20 * 365 * 24 * time.Hour

	DefaultLeafValidity = 365 * 24 * time.Hour
	// MaxLeafValidity caps leaf validity at 398 days, so that yearly
	// rotation has a month of slack.
	MaxLeafValidity = 398 * 24 * time.Hour

	// Backdate is how far NotBefore is set before the issuing time, so that
	// peers whose clock runs slightly behind accept a new certificate.
	Backdate = 5 * time.Minute
)

// CA is a certificate authority that can sign certificates: a root created by
// NewRoot, an intermediate created by NewIntermediate, or one read by LoadCA.
type CA struct {
	// Certificate is the CA's own certificate.
	Certificate *x509.Certificate
	// Key is the private key for Certificate.
	Key crypto.Signer
	// Parents are the certificates above Certificate, nearest first, ending
	// with the root. A root CA has none.
	Parents []*x509.Certificate
	// Now returns the issuing time. Nil means time.Now. Tests set it to issue
	// certificates at a chosen time.
	Now func() time.Time
}

// RootOptions configures NewRoot.
type RootOptions struct {
	// CommonName is the subject CN. Required.
	CommonName string
	// Organization is the subject O. Optional.
	Organization string
	// KeyType is the root's key algorithm. Zero means ECDSAP256.
	KeyType KeyType
	// Validity is how long the root is valid. Zero means
	// DefaultRootValidity, and the maximum is MaxCAValidity.
	Validity time.Duration
	// PathLen is the number of intermediate CA levels allowed below the
	// root. Zero means the root signs only leaf certificates. A root kept
	// offline behind one intermediate needs 1.
	PathLen int
	// Now returns the current time and becomes CA.Now. Nil means time.Now.
	Now func() time.Time
}

// IntermediateOptions configures (*CA).NewIntermediate.
type IntermediateOptions struct {
	// CommonName is the subject CN. Required.
	CommonName string
	// Organization is the subject O. Optional.
	Organization string
	// KeyType is the intermediate's key algorithm. Zero means ECDSAP256.
	KeyType KeyType
	// Validity is how long the intermediate is valid. Zero means
	// DefaultIntermediateValidity. NotAfter is clamped to the parent's
	// NotAfter.
	Validity time.Duration
	// PathLen is the number of further intermediate levels allowed below
	// this one. Zero means it signs only leaf certificates.
	PathLen int
}

// NewRoot generates a key and a self-signed root CA certificate with key usage
// certSign and crlSign.
func NewRoot(opts RootOptions) (*CA, error) {
	if opts.CommonName == "" {
		return nil, errors.New("pki: root CommonName is empty")
	}
	if opts.PathLen < 0 {
		return nil, fmt.Errorf("pki: root PathLen %d is negative", opts.PathLen)
	}
	validity, err := chooseValidity("root Validity", opts.Validity, DefaultRootValidity, MaxCAValidity)
	if err != nil {
		return nil, err
	}
	key, err := GenerateKey(opts.KeyType)
	if err != nil {
		return nil, err
	}

	now := nowFunc(opts.Now)()
	tmpl := caTemplate(opts.CommonName, opts.Organization, opts.PathLen)
	tmpl.NotBefore = now.Add(-Backdate)
	tmpl.NotAfter = now.Add(validity)
	if tmpl.SerialNumber, err = randomSerial(); err != nil {
		return nil, err
	}

	cert, err := sign(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return &CA{Certificate: cert, Key: key, Now: opts.Now}, nil
}

// NewIntermediate generates a key and an intermediate CA certificate signed
// by c. The intermediate inherits c.Now.
func (c *CA) NewIntermediate(opts IntermediateOptions) (*CA, error) {
	if opts.CommonName == "" {
		return nil, errors.New("pki: intermediate CommonName is empty")
	}
	if opts.PathLen < 0 {
		return nil, fmt.Errorf("pki: intermediate PathLen %d is negative", opts.PathLen)
	}
	if err := c.checkCanSignCA(opts.PathLen); err != nil {
		return nil, err
	}
	validity, err := chooseValidity("intermediate Validity", opts.Validity, DefaultIntermediateValidity, MaxCAValidity)
	if err != nil {
		return nil, err
	}
	key, err := GenerateKey(opts.KeyType)
	if err != nil {
		return nil, err
	}

	tmpl := caTemplate(opts.CommonName, opts.Organization, opts.PathLen)
	cert, err := c.issue(tmpl, key.Public(), validity)
	if err != nil {
		return nil, err
	}
	parents := append([]*x509.Certificate{c.Certificate}, c.Parents...)
	return &CA{Certificate: cert, Key: key, Parents: parents, Now: c.Now}, nil
}

// checkCanSignCA returns an error unless c's path length constraint allows a
// subordinate CA whose own constraint is childPathLen.
func (c *CA) checkCanSignCA(childPathLen int) error {
	max := c.Certificate.MaxPathLen
	if max == 0 && c.Certificate.MaxPathLenZero {
		return fmt.Errorf("pki: CA %q has path length 0 and cannot sign an intermediate CA", c.Certificate.Subject.CommonName)
	}
	if max > 0 && childPathLen >= max {
		return fmt.Errorf("pki: intermediate PathLen %d must be less than the path length %d of CA %q",
			childPathLen, max, c.Certificate.Subject.CommonName)
	}
	return nil
}

// Root returns the last certificate of c's chain: the self-signed root,
// unless c was loaded from a file that leaves the root out.
func (c *CA) Root() *x509.Certificate {
	if len(c.Parents) == 0 {
		return c.Certificate
	}
	return c.Parents[len(c.Parents)-1]
}

// CertPool returns a pool that contains only c's root, for verifying
// certificates that c or its intermediates issued.
func (c *CA) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(c.Root())
	return pool
}

// issue signs tmpl for pub with c. It sets the serial number and the
// validity window, clamping NotAfter to c's own NotAfter.
func (c *CA) issue(tmpl *x509.Certificate, pub crypto.PublicKey, validity time.Duration) (*x509.Certificate, error) {
	if err := checkPublicKey(pub); err != nil {
		return nil, err
	}
	now := nowFunc(c.Now)()
	if err := c.checkValidAt(now); err != nil {
		return nil, err
	}

	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-Backdate)
	tmpl.NotAfter = now.Add(validity)
	if tmpl.NotAfter.After(c.Certificate.NotAfter) {
		tmpl.NotAfter = c.Certificate.NotAfter
	}
	if tmpl.NotBefore.Before(c.Certificate.NotBefore) {
		tmpl.NotBefore = c.Certificate.NotBefore
	}
	return sign(tmpl, c.Certificate, pub, c.Key)
}

// checkValidAt returns an error if c's certificate is not valid at now.
func (c *CA) checkValidAt(now time.Time) error {
	cert := c.Certificate
	if now.After(cert.NotAfter) {
		return fmt.Errorf("pki: CA %q expired at %s", cert.Subject.CommonName, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("pki: CA %q is not valid until %s; check the system clock",
			cert.Subject.CommonName, cert.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// chainDER returns the DER certificates a leaf issued by c sends after
// itself: c's certificate and its parents, without the self-signed root.
func (c *CA) chainDER() [][]byte {
	var chain [][]byte
	for _, cert := range append([]*x509.Certificate{c.Certificate}, c.Parents...) {
		if isSelfSigned(cert) {
			break
		}
		chain = append(chain, cert.Raw)
	}
	return chain
}

func caTemplate(commonName, organization string, pathLen int) *x509.Certificate {
	return &x509.Certificate{
		Subject:               subject(commonName, organization),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            pathLen,
		MaxPathLenZero:        pathLen == 0,
	}
}

func subject(commonName, organization string) pkix.Name {
	name := pkix.Name{CommonName: commonName}
	if organization != "" {
		name.Organization = []string{organization}
	}
	return name
}

// sign creates the certificate and parses it back.
func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, fmt.Errorf("pki: signing certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parsing new certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	return cert, nil
}

// randomSerial returns a positive serial number of 128 random bits.
func randomSerial() (*big.Int, error) {
	buf := make([]byte, 16)
	for {
		if _, err := rand.Read(buf); err != nil {
			return nil, fmt.Errorf("pki: reading random serial number: %w", err)
		}
		// RFC 5280 requires a positive serial. SetBytes never yields a
		// negative number, so only zero needs a retry.
		if serial := new(big.Int).SetBytes(buf); serial.Sign() > 0 {
			return serial, nil
		}
	}
}

// chooseValidity applies the default for zero and rejects negative values
// and values above max. name is the option name used in errors.
func chooseValidity(name string, d, def, max time.Duration) (time.Duration, error) {
	switch {
	case d == 0:
		return def, nil
	case d < 0:
		return 0, fmt.Errorf("pki: %s %s is negative", name, d)
	case d > max:
		return 0, fmt.Errorf("pki: %s %s exceeds the maximum %s", name, d, max)
	}
	return d, nil
}

func isSelfSigned(cert *x509.Certificate) bool {
	return bytes.Equal(cert.RawIssuer, cert.RawSubject) && cert.CheckSignatureFrom(cert) == nil
}

func nowFunc(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}
