package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/gatehouse-health/gatehouse/internal/safefile"
)

// File modes for the files this package writes. The process umask can only
// narrow them.
const (
	PrivateKeyFileMode  os.FileMode = 0o600
	CertificateFileMode os.FileMode = 0o644
)

// Size limits for files read by this package, far above any real chain or
// key, so that a wrong path (a log file, a device) fails fast.
const (
	maxCertificateFileSize = 1 << 20
	maxPrivateKeyFileSize  = 64 << 10
)

const (
	pemTypeCertificate = "CERTIFICATE"
	pemTypePKCS8       = "PRIVATE KEY"
	pemTypeEncrypted   = "ENCRYPTED PRIVATE KEY"
	pemTypeSEC1        = "EC PRIVATE KEY"
	pemTypePKCS1       = "RSA PRIVATE KEY"
)

// EncodeCertificatesPEM returns the DER certificates as consecutive
// CERTIFICATE PEM blocks.
func EncodeCertificatesPEM(chain [][]byte) []byte {
	var buf bytes.Buffer
	for _, der := range chain {
		// Writing PEM to a bytes.Buffer cannot fail.
		_ = pem.Encode(&buf, &pem.Block{Type: pemTypeCertificate, Bytes: der})
	}
	return buf.Bytes()
}

// EncodePrivateKeyPEM returns key as a PKCS #8 "PRIVATE KEY" PEM block.
func EncodePrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encoding %T as PKCS #8: %w", key, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemTypePKCS8, Bytes: der}), nil
}

// WriteCertificateFile creates path with mode 0644 and writes the chain as
// PEM. It fails if path already exists.
func WriteCertificateFile(path string, chain [][]byte) error {
	if len(chain) == 0 {
		return fmt.Errorf("pki: writing %s: no certificates", path)
	}
	if err := safefile.WriteNew(path, EncodeCertificatesPEM(chain), CertificateFileMode); err != nil {
		return fmt.Errorf("pki: writing certificate: %w", err)
	}
	return nil
}

// WritePrivateKeyFile creates path with mode 0600 and writes key as PKCS #8
// PEM. It fails if path already exists, so the mode is set at creation and
// the key is never readable by others, even briefly.
func WritePrivateKeyFile(path string, key crypto.Signer) error {
	data, err := EncodePrivateKeyPEM(key)
	if err != nil {
		return err
	}
	if err := safefile.WriteNew(path, data, PrivateKeyFileMode); err != nil {
		return fmt.Errorf("pki: writing private key: %w", err)
	}
	return nil
}

// WriteFiles writes c's chain to certPath with WriteCertificateFile and its
// key to keyPath with WritePrivateKeyFile. A Certificate without a key
// writes only certPath.
func (c *Certificate) WriteFiles(certPath, keyPath string) error {
	if c.Key != nil {
		if err := WritePrivateKeyFile(keyPath, c.Key); err != nil {
			return err
		}
	}
	return WriteCertificateFile(certPath, c.Chain)
}

// WriteFiles writes c's certificate followed by its parents to certPath and
// c's key to keyPath. LoadCA reads the pair back.
func (c *CA) WriteFiles(certPath, keyPath string) error {
	if err := WritePrivateKeyFile(keyPath, c.Key); err != nil {
		return err
	}
	chain := [][]byte{c.Certificate.Raw}
	for _, p := range c.Parents {
		chain = append(chain, p.Raw)
	}
	return WriteCertificateFile(certPath, chain)
}

// ParseCertificatesPEM parses every CERTIFICATE block in data. Text between
// blocks is allowed, as RFC 7468 permits, but any other PEM block type is an
// error.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	certs, err := parseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return certs, nil
}

func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != pemTypeCertificate {
			return nil, fmt.Errorf("PEM block %d is %q, want %q", n, block.Type, pemTypeCertificate)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no CERTIFICATE PEM block found")
	}
	return certs, nil
}

// ParsePrivateKeyPEM parses data that contains exactly one private key PEM block:
// PKCS #8 ("PRIVATE KEY"), SEC 1 ("EC PRIVATE KEY") or PKCS #1 ("RSA
// PRIVATE KEY"). Encrypted keys are not supported. Errors never include the
// key bytes.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	key, err := parsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return key, nil
}

func parsePrivateKey(data []byte) (crypto.Signer, error) {
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN ")) {
		return nil, errors.New("no private key PEM block at the start of the input")
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("malformed private key PEM block")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("unexpected data after the private key PEM block")
	}

	var parsed any
	var err error
	switch block.Type {
	case pemTypePKCS8:
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case pemTypeSEC1:
		parsed, err = x509.ParseECPrivateKey(block.Bytes)
	case pemTypePKCS1:
		parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case pemTypeEncrypted:
		return nil, errors.New("encrypted private keys are not supported; decrypt it with openssl pkey first")
	default:
		return nil, fmt.Errorf("PEM block is %q, want %q", block.Type, pemTypePKCS8)
	}
	if err != nil {
		// The parser's message can describe the DER structure, so it is
		// replaced rather than wrapped.
		return nil, fmt.Errorf("invalid %s PEM block", block.Type)
	}
	return checkPrivateKey(parsed)
}

func checkPrivateKey(parsed any) (crypto.Signer, error) {
	var signer crypto.Signer
	switch k := parsed.(type) {
	case *ecdsa.PrivateKey:
		signer = k
	case *rsa.PrivateKey:
		signer = k
	default:
		return nil, fmt.Errorf("unsupported private key type %T (want ECDSA or RSA)", parsed)
	}
	if err := checkPublicKey(signer.Public()); err != nil {
		return nil, err
	}
	return signer, nil
}

// LoadCertificates reads a PEM file of one or more certificates.
func LoadCertificates(path string) ([]*x509.Certificate, error) {
	data, err := readFileCapped(path, maxCertificateFileSize)
	if err != nil {
		return nil, err
	}
	certs, err := parseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", path, err)
	}
	return certs, nil
}

// LoadPrivateKey reads a private key PEM file in one of the forms that
// ParsePrivateKeyPEM accepts.
func LoadPrivateKey(path string) (crypto.Signer, error) {
	data, err := readFileCapped(path, maxPrivateKeyFileSize)
	if err != nil {
		return nil, err
	}
	key, err := parsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", path, err)
	}
	return key, nil
}

// LoadCertPool reads a PEM bundle and returns a pool of every certificate in
// it. Each certificate becomes a trust anchor.
func LoadCertPool(path string) (*x509.CertPool, error) {
	certs, err := LoadCertificates(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, cert := range certs {
		pool.AddCert(cert)
	}
	return pool, nil
}

// LoadTLSCertificate reads a certificate chain and its private key and
// checks that the key belongs to the first certificate.
func LoadTLSCertificate(certPath, keyPath string) (tls.Certificate, error) {
	certs, err := LoadCertificates(certPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := LoadPrivateKey(keyPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	if !publicKeysEqual(key.Public(), certs[0].PublicKey) {
		return tls.Certificate{}, fmt.Errorf("pki: private key %s does not match certificate %s", keyPath, certPath)
	}

	chain := make([][]byte, len(certs))
	for i, cert := range certs {
		chain[i] = cert.Raw
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: certs[0]}, nil
}

// LoadCA reads a CA written by (*CA).WriteFiles: certPath contains the CA
// certificate followed by its parents, keyPath its private key. It checks
// that the first certificate is a CA allowed to sign certificates, that each
// certificate is signed by the next, and that the key matches.
func LoadCA(certPath, keyPath string) (*CA, error) {
	certs, err := LoadCertificates(certPath)
	if err != nil {
		return nil, err
	}
	if err := checkCAChain(certs); err != nil {
		return nil, fmt.Errorf("pki: %s: %w", certPath, err)
	}
	key, err := LoadPrivateKey(keyPath)
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(key.Public(), certs[0].PublicKey) {
		return nil, fmt.Errorf("pki: private key %s does not match CA certificate %s", keyPath, certPath)
	}
	return &CA{Certificate: certs[0], Key: key, Parents: certs[1:]}, nil
}

func checkCAChain(certs []*x509.Certificate) error {
	for i, cert := range certs {
		if !cert.BasicConstraintsValid || !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
			return fmt.Errorf("certificate %d (%q) is not a CA certificate with key usage certSign", i+1, cert.Subject.CommonName)
		}
		if i+1 < len(certs) {
			if err := cert.CheckSignatureFrom(certs[i+1]); err != nil {
				return fmt.Errorf("certificate %d (%q) is not signed by the next certificate: %w", i+1, cert.Subject.CommonName, err)
			}
		}
	}
	return nil
}

// readFileCapped reads path, failing if it is larger than max bytes.
func readFileCapped(path string, max int64) ([]byte, error) {
	data, err := safefile.ReadCapped(path, max)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return data, nil
}
