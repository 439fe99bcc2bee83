package posture

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// certificateCases are the GH-TLS-010 rows of checkCases.
var certificateCases = []checkCase{
	{"GH-TLS-010", "gatehouse pki certificates", nil, Pass, 0},
	{"GH-TLS-010", "server certificate is a CA", serverCert(func(c *x509.Certificate) {
		c.IsCA = true
		c.KeyUsage |= x509.KeyUsageCertSign
	}), Fail, High},
	{"GH-TLS-010", "server certificate signed with SHA-1", serverCert(func(c *x509.Certificate) {
		c.SignatureAlgorithm = x509.ECDSAWithSHA1
	}), Fail, High},
	{"GH-TLS-010", "server certificate for clients only", serverCert(func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}), Fail, High},
	{"GH-TLS-010", "server certificate for any purpose", serverCert(func(c *x509.Certificate) { c.ExtKeyUsage = nil }), Fail, Low},
	{"GH-TLS-010", "server key usage without digitalSignature", serverCert(func(c *x509.Certificate) {
		c.KeyUsage = x509.KeyUsageKeyEncipherment
	}), Fail, Medium},
	{"GH-TLS-010", "server certificate for 398 days", serverValidity(398 * 24 * time.Hour), Pass, 0},
	{"GH-TLS-010", "server certificate for 500 days", serverValidity(500 * 24 * time.Hour), Fail, Low},
	{"GH-TLS-010", "server certificate for 900 days", serverValidity(900 * 24 * time.Hour), Fail, Medium},
	{"GH-TLS-010", "leaf after the server certificate", func(t *testing.T, fx *fixture, tg *Target) {
		server := issueFromPartnerCA(t, fx, serverTemplate())
		other := issueFromPartnerCA(t, fx, serverTemplate())
		writeLeaf(t, fx, tg, "tls", [][]byte{server.cert.Raw, other.cert.Raw}, server.key)
	}, Fail, High},
	{"GH-TLS-010", "outbound certificate for servers only", func(t *testing.T, fx *fixture, tg *Target) {
		c := cfgOf(tg)
		c.Outbound.Listen = "10.30.0.5:8444"
		c.Outbound.CertFile, c.Outbound.KeyFile = "pki/server.pem", "pki/server-key.pem"
	}, Fail, High},
	{"GH-TLS-010", "outbound client certificate", func(t *testing.T, fx *fixture, tg *Target) {
		client, err := fx.partnerCA.IssueClient(pki.ClientOptions{PartnerID: "example-payer"})
		if err != nil {
			t.Fatal(err)
		}
		writeLeaf(t, fx, tg, "outbound", client.Chain, client.Key)
	}, Pass, 0},
	{"GH-TLS-010", "1024-bit RSA client CA", caFile("tls.client_ca_file", rsaKey(1024), 0), Fail, High},
	{"GH-TLS-010", "1024-bit RSA upstream CA", caFile("upstream.ca_file", rsaKey(1024), 0), Fail, High},
	{"GH-TLS-010", "2048-bit RSA upstream CA", caFile("upstream.ca_file", rsaKey(2048), 0), Pass, 0},
	{"GH-TLS-010", "P-224 partner issuing CA", caFile("issuing_ca", p224Key, 0), Fail, High},
	// A root's self-signature is never verified, so its hash is harmless.
	{"GH-TLS-010", "SHA-1 self-signed root", caFile("upstream.ca_file", rsaKey(2048), x509.SHA1WithRSA), Pass, 0},
	{"GH-TLS-010", "SHA-1 intermediate in bundle", func(t *testing.T, fx *fixture, tg *Target) {
		tmpl := caTemplateFor("Example Engine Issuing CA")
		tmpl.SignatureAlgorithm = x509.ECDSAWithSHA1
		issued := issueFromPartnerCA(t, fx, tmpl)
		mustWrite(t, fx.file("pki/sha1-intermediate.pem"), pki.EncodeCertificatesPEM([][]byte{issued.cert.Raw}))
		cfgOf(tg).Upstream.CAFile = "pki/sha1-intermediate.pem"
	}, Fail, High},
}

func init() { checkCases = append(checkCases, certificateCases...) }

// issued is a certificate with its private key.
type issued struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// serverTemplate returns a server certificate template like the one
// gatehouse pki uses, valid for 365 days.
func serverTemplate() *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: "gatehouse.payer.example"},
		DNSNames:              []string{"gatehouse.payer.example"},
		NotBefore:             now.Add(-pki.Backdate),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
}

func caTemplateFor(name string) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-pki.Backdate),
		NotAfter:              now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
}

// issueFromPartnerCA signs tmpl for a new P-256 key with the fixture's
// partner CA.
func issueFromPartnerCA(t *testing.T, fx *fixture, tmpl *x509.Certificate) issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	der, err := x509.CreateCertificate(rand.Reader, tmpl, fx.partnerCA.Certificate, key.Public(), fx.partnerCA.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return issued{cert, key}
}

// writeLeaf writes chain and key to new files and names them in the
// tls or outbound section.
func writeLeaf(t *testing.T, fx *fixture, tg *Target, section string, chain [][]byte, key crypto.Signer) {
	t.Helper()
	certPath, keyPath := "pki/"+section+"-leaf.pem", "pki/"+section+"-leaf-key.pem"
	if err := pki.WriteCertificateFile(fx.file(certPath), chain); err != nil {
		t.Fatal(err)
	}
	if err := pki.WritePrivateKeyFile(fx.file(keyPath), key); err != nil {
		t.Fatal(err)
	}
	c := cfgOf(tg)
	switch section {
	case "tls":
		c.TLS.CertFile, c.TLS.KeyFile = certPath, keyPath
	case "outbound":
		c.Outbound.Listen = "10.30.0.5:8444"
		c.Outbound.CertFile, c.Outbound.KeyFile = certPath, keyPath
	default:
		t.Fatalf("unknown section %q", section)
	}
}

// serverCert returns a mutation that replaces the server certificate by
// one from serverTemplate after edit.
func serverCert(edit func(*x509.Certificate)) func(*testing.T, *fixture, *Target) {
	return func(t *testing.T, fx *fixture, tg *Target) {
		tmpl := serverTemplate()
		edit(tmpl)
		server := issueFromPartnerCA(t, fx, tmpl)
		writeLeaf(t, fx, tg, "tls", [][]byte{server.cert.Raw}, server.key)
	}
}

// serverValidity returns a mutation that replaces the server certificate
// by one valid for d after the backdated NotBefore, as gatehouse pki sets
// it.
func serverValidity(d time.Duration) func(*testing.T, *fixture, *Target) {
	return serverCert(func(c *x509.Certificate) { c.NotAfter = c.NotBefore.Add(pki.Backdate + d) })
}

func rsaKey(bits int) func(*testing.T) crypto.Signer {
	return func(t *testing.T) crypto.Signer {
		t.Helper()
		key, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
}

func p224Key(t *testing.T) crypto.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// caFile returns a mutation that writes a self-signed CA with a key from
// newKey, signed with alg (0 for Go's default), and names it in key:
// tls.client_ca_file, upstream.ca_file, or issuing_ca for the first
// partner's issuing_ca.cert_file.
func caFile(key string, newKey func(*testing.T) crypto.Signer, alg x509.SignatureAlgorithm) func(*testing.T, *fixture, *Target) {
	return func(t *testing.T, fx *fixture, tg *Target) {
		signer := newKey(t)
		tmpl := caTemplateFor("Weak CA")
		tmpl.SerialNumber = big.NewInt(1)
		tmpl.SignatureAlgorithm = alg
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, fx.file("pki/weak-ca.pem"), pki.EncodeCertificatesPEM([][]byte{der}))
		c := cfgOf(tg)
		switch key {
		case "tls.client_ca_file":
			c.TLS.ClientCAFile = "pki/weak-ca.pem"
		case "upstream.ca_file":
			c.Upstream.CAFile = "pki/weak-ca.pem"
		case "issuing_ca":
			c.Partners[0].IssuingCA = &config.IssuingCA{CertFile: "pki/weak-ca.pem"}
		default:
			t.Fatalf("unknown key %q", key)
		}
	}
}

// Go cannot create MD5 or DSA signatures, so these algorithms are checked
// on the function alone.
func TestSignatureProblem(t *testing.T) {
	weak := []x509.SignatureAlgorithm{x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1, x509.DSAWithSHA256, x509.UnknownSignatureAlgorithm}
	for _, alg := range weak {
		if _, ok := signatureProblem(alg); !ok {
			t.Errorf("%s: accepted, want a problem", alg)
		}
	}
	strong := []x509.SignatureAlgorithm{x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA256WithRSAPSS, x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.PureEd25519}
	for _, alg := range strong {
		if p, ok := signatureProblem(alg); ok {
			t.Errorf("%s: %s, want no problem", alg, p.text)
		}
	}
}
