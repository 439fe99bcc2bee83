package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

// testNow is a fixed issuing time for tests that check validity windows.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func newTestRoot(t *testing.T, pathLen int) *CA {
	t.Helper()
	ca, err := NewRoot(RootOptions{CommonName: "Test Root", PathLen: pathLen, Now: fixedClock(testNow)})
	if err != nil {
		t.Fatalf("NewRoot: %v", err)
	}
	return ca
}

func TestNewRootProperties(t *testing.T) {
	ca := newTestRoot(t, 0)
	cert := ca.Certificate

	if !cert.IsCA || !cert.BasicConstraintsValid {
		t.Errorf("IsCA=%v BasicConstraintsValid=%v, want both true", cert.IsCA, cert.BasicConstraintsValid)
	}
	if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign; cert.KeyUsage != want {
		t.Errorf("KeyUsage = %v, want %v", cert.KeyUsage, want)
	}
	if cert.MaxPathLen != 0 || !cert.MaxPathLenZero {
		t.Errorf("MaxPathLen=%d MaxPathLenZero=%v, want 0 and true", cert.MaxPathLen, cert.MaxPathLenZero)
	}
	if len(cert.ExtKeyUsage) != 0 {
		t.Errorf("root ExtKeyUsage = %v, want none", cert.ExtKeyUsage)
	}
	if !cert.NotBefore.Equal(testNow.Add(-Backdate)) {
		t.Errorf("NotBefore = %v, want %v", cert.NotBefore, testNow.Add(-Backdate))
	}
	if !cert.NotAfter.Equal(testNow.Add(DefaultRootValidity)) {
		t.Errorf("NotAfter = %v, want %v", cert.NotAfter, testNow.Add(DefaultRootValidity))
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		t.Errorf("root is not self-signed: %v", err)
	}
	if k, ok := ca.Key.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("default key is %T, want ECDSA P-256", ca.Key)
	}
	if ca.Root() != cert {
		t.Error("Root() of a root CA is not its own certificate")
	}
}

func TestNewRootRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts RootOptions
		want string
	}{
		{"empty name", RootOptions{}, "CommonName is empty"},
		{"negative path", RootOptions{CommonName: "x", PathLen: -1}, "PathLen -1 is negative"},
		{"negative validity", RootOptions{CommonName: "x", Validity: -time.Hour}, "negative"},
		{"validity too long", RootOptions{CommonName: "x", Validity: MaxCAValidity + time.Hour}, "exceeds the maximum"},
		{"unknown key type", RootOptions{CommonName: "x", KeyType: "dsa"}, `unknown key type "dsa"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRoot(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewRoot error = %v, want one containing %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "pki: ") {
				t.Errorf("error %q lacks the pki: prefix", err)
			}
		})
	}
}

func TestSerialsRandomAndPositive(t *testing.T) {
	ca := newTestRoot(t, 0)
	seen := map[string]bool{ca.Certificate.SerialNumber.String(): true}
	for range 20 {
		c, err := ca.IssueServer(ServerOptions{DNSNames: []string{"localhost"}})
		if err != nil {
			t.Fatal(err)
		}
		serial := c.Leaf.SerialNumber
		if serial.Sign() <= 0 || serial.BitLen() > 128 {
			t.Fatalf("serial %x is not a positive 128-bit number", serial)
		}
		if seen[serial.String()] {
			t.Fatalf("serial %x repeated", serial)
		}
		seen[serial.String()] = true
	}
}

func TestIntermediateChain(t *testing.T) {
	root := newTestRoot(t, 1)
	inter, err := root.NewIntermediate(IntermediateOptions{CommonName: "Test Issuing CA"})
	if err != nil {
		t.Fatalf("NewIntermediate: %v", err)
	}

	if inter.Root() != root.Certificate {
		t.Error("intermediate Root() is not the root certificate")
	}
	if inter.Certificate.MaxPathLen != 0 || !inter.Certificate.MaxPathLenZero {
		t.Errorf("intermediate MaxPathLen=%d zero=%v, want 0 and true", inter.Certificate.MaxPathLen, inter.Certificate.MaxPathLenZero)
	}
	if !inter.Certificate.NotAfter.Equal(testNow.Add(DefaultIntermediateValidity)) {
		t.Errorf("intermediate NotAfter = %v, want %v", inter.Certificate.NotAfter, testNow.Add(DefaultIntermediateValidity))
	}

	leaf, err := inter.IssueServer(ServerOptions{DNSNames: []string{"gateway.example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.Chain) != 2 {
		t.Fatalf("leaf chain has %d certificates, want leaf and intermediate", len(leaf.Chain))
	}
	_, err = leaf.Leaf.Verify(x509.VerifyOptions{
		Roots:         root.CertPool(),
		Intermediates: poolOf(t, leaf.Chain[1:]),
		DNSName:       "gateway.example.org",
		CurrentTime:   testNow,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		t.Errorf("leaf from intermediate does not verify: %v", err)
	}
}

func TestIntermediatePathLenEnforced(t *testing.T) {
	leafOnly := newTestRoot(t, 0)
	_, err := leafOnly.NewIntermediate(IntermediateOptions{CommonName: "x"})
	if err == nil || !strings.Contains(err.Error(), "path length 0") {
		t.Errorf("intermediate under PathLen 0 root: err = %v, want path length error", err)
	}

	oneLevel := newTestRoot(t, 1)
	_, err = oneLevel.NewIntermediate(IntermediateOptions{CommonName: "x", PathLen: 1})
	if err == nil || !strings.Contains(err.Error(), "must be less than") {
		t.Errorf("intermediate PathLen 1 under PathLen 1 root: err = %v, want path length error", err)
	}
}

func TestLeafValidityOptions(t *testing.T) {
	ca := newTestRoot(t, 0)

	c, err := ca.IssueClient(ClientOptions{PartnerID: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Leaf.NotAfter.Sub(testNow); got != DefaultLeafValidity {
		t.Errorf("default leaf validity = %v, want %v", got, DefaultLeafValidity)
	}
	if !c.Leaf.NotBefore.Equal(testNow.Add(-Backdate)) {
		t.Errorf("leaf NotBefore = %v, want %v", c.Leaf.NotBefore, testNow.Add(-Backdate))
	}

	c, err = ca.IssueClient(ClientOptions{PartnerID: "p1", Validity: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Leaf.NotAfter.Sub(testNow); got != 48*time.Hour {
		t.Errorf("leaf validity = %v, want 48h", got)
	}

	_, err = ca.IssueClient(ClientOptions{PartnerID: "p1", Validity: MaxLeafValidity + time.Hour})
	if err == nil || !strings.Contains(err.Error(), "leaf Validity") {
		t.Errorf("over-long validity: err = %v, want one naming leaf Validity", err)
	}
}

func TestLeafClampedToCAExpiry(t *testing.T) {
	ca := newTestRoot(t, 0)
	ca.Now = fixedClock(ca.Certificate.NotAfter.Add(-30 * 24 * time.Hour))

	c, err := ca.IssueServer(ServerOptions{DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Leaf.NotAfter.Equal(ca.Certificate.NotAfter) {
		t.Errorf("leaf NotAfter = %v, want the CA's %v", c.Leaf.NotAfter, ca.Certificate.NotAfter)
	}
}

func TestExpiredCARefusesToIssue(t *testing.T) {
	ca := newTestRoot(t, 0)
	ca.Now = fixedClock(ca.Certificate.NotAfter.Add(time.Second))

	_, err := ca.IssueServer(ServerOptions{DNSNames: []string{"localhost"}})
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("issuing from expired CA: err = %v, want expiry error", err)
	}
}

func TestKeyTypes(t *testing.T) {
	tests := []struct {
		kind KeyType
		bits int
	}{
		{ECDSAP256, 256},
		{ECDSAP384, 384},
		{RSA3072, 3072},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			key, err := GenerateKey(tt.kind)
			if err != nil {
				t.Fatal(err)
			}
			var bits int
			switch k := key.(type) {
			case *ecdsa.PrivateKey:
				bits = k.Curve.Params().BitSize
			case *rsa.PrivateKey:
				bits = k.N.BitLen()
			}
			if bits != tt.bits {
				t.Errorf("key %T has %d bits, want %d", key, bits, tt.bits)
			}
		})
	}
}

func TestParseKeyType(t *testing.T) {
	if k, err := ParseKeyType(""); err != nil || k != ECDSAP256 {
		t.Errorf(`ParseKeyType("") = %q, %v; want %q`, k, err, ECDSAP256)
	}
	if k, err := ParseKeyType("rsa-3072"); err != nil || k != RSA3072 {
		t.Errorf(`ParseKeyType("rsa-3072") = %q, %v; want %q`, k, err, RSA3072)
	}
	if _, err := ParseKeyType("rsa-1024"); err == nil {
		t.Error(`ParseKeyType("rsa-1024") succeeded, want error`)
	}
}

func poolOf(t *testing.T, ders [][]byte) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	for _, der := range ders {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		pool.AddCert(cert)
	}
	return pool
}
