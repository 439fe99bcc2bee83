package pki

import (
	"crypto/x509"
	"net"
	"slices"
	"strings"
	"testing"
)

const testNPI = "8189991234"

func verifyUsage(cert *x509.Certificate, ca *CA, usage x509.ExtKeyUsage) error {
	_, err := cert.Verify(x509.VerifyOptions{
		Roots:       ca.CertPool(),
		CurrentTime: testNow,
		KeyUsages:   []x509.ExtKeyUsage{usage},
	})
	return err
}

func TestIssueServer(t *testing.T) {
	ca := newTestRoot(t, 0)
	c, err := ca.IssueServer(ServerOptions{
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.Leaf

	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("ExtKeyUsage = %v, want serverAuth only", leaf.ExtKeyUsage)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("KeyUsage = %v, want digitalSignature only", leaf.KeyUsage)
	}
	if leaf.IsCA || !leaf.BasicConstraintsValid {
		t.Errorf("IsCA=%v BasicConstraintsValid=%v, want false and true", leaf.IsCA, leaf.BasicConstraintsValid)
	}
	if leaf.Subject.CommonName != "localhost" {
		t.Errorf("CommonName = %q, want localhost", leaf.Subject.CommonName)
	}
	if len(leaf.IPAddresses) != 2 || len(leaf.URIs) != 0 {
		t.Errorf("IPAddresses=%v URIs=%v, want two addresses and no URIs", leaf.IPAddresses, leaf.URIs)
	}
	if len(c.Chain) != 1 {
		t.Errorf("chain from a root has %d certificates, want 1 (the root is left out)", len(c.Chain))
	}
	if err := verifyUsage(leaf, ca, x509.ExtKeyUsageServerAuth); err != nil {
		t.Errorf("server certificate does not verify for serverAuth: %v", err)
	}
	if err := verifyUsage(leaf, ca, x509.ExtKeyUsageClientAuth); err == nil {
		t.Error("server certificate verifies for clientAuth, want failure")
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(host); err != nil {
			t.Errorf("VerifyHostname(%q): %v", host, err)
		}
	}
}

func TestIssueServerIPAsDNSName(t *testing.T) {
	ca := newTestRoot(t, 0)
	for _, name := range []string{"127.0.0.1", "*.10.0.0.1"} {
		_, err := ca.IssueServer(ServerOptions{DNSNames: []string{name}})
		if err == nil || !strings.Contains(err.Error(), "IPAddresses") {
			t.Errorf("IssueServer(DNSNames: %q) error = %v, want one naming IPAddresses", name, err)
		}
	}
}

func TestIssueClient(t *testing.T) {
	ca := newTestRoot(t, 0)
	npiURI, err := NPIURI(testNPI)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.IssueClient(ClientOptions{PartnerID: "demo-ehr", OrganizationURIs: []string{npiURI}})
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.Leaf

	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ExtKeyUsage = %v, want clientAuth only", leaf.ExtKeyUsage)
	}
	if leaf.Subject.CommonName != "demo-ehr" {
		t.Errorf("CommonName = %q, want demo-ehr", leaf.Subject.CommonName)
	}
	var uris []string
	for _, u := range leaf.URIs {
		uris = append(uris, u.String())
	}
	want := []string{"urn:gatehouse:partner:demo-ehr", "urn:oid:2.16.840.1.113883.4.6:8189991234"}
	if !slices.Equal(uris, want) {
		t.Errorf("URI SANs = %q, want %q", uris, want)
	}
	if len(leaf.DNSNames) != 0 || len(leaf.IPAddresses) != 0 {
		t.Errorf("client certificate has DNS %v / IP %v SANs, want none", leaf.DNSNames, leaf.IPAddresses)
	}
	if id, ok := PartnerFromCertificate(leaf); !ok || id != "demo-ehr" {
		t.Errorf("PartnerFromCertificate = %q, %v; want demo-ehr, true", id, ok)
	}
	if err := verifyUsage(leaf, ca, x509.ExtKeyUsageClientAuth); err != nil {
		t.Errorf("client certificate does not verify for clientAuth: %v", err)
	}
	if err := verifyUsage(leaf, ca, x509.ExtKeyUsageServerAuth); err == nil {
		t.Error("client certificate verifies for serverAuth, want failure")
	}
}

func TestIssueAdmin(t *testing.T) {
	ca := newTestRoot(t, 0)
	c, err := ca.IssueAdmin(AdminOptions{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}

	if !slices.Equal(c.Leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ExtKeyUsage = %v, want clientAuth only", c.Leaf.ExtKeyUsage)
	}
	if name, ok := AdminFromCertificate(c.Leaf); !ok || name != "alice" {
		t.Errorf("AdminFromCertificate = %q, %v; want alice, true", name, ok)
	}
	if id, ok := PartnerFromCertificate(c.Leaf); ok {
		t.Errorf("admin certificate reads as partner %q", id)
	}
	if err := verifyUsage(c.Leaf, ca, x509.ExtKeyUsageServerAuth); err == nil {
		t.Error("admin certificate verifies for serverAuth, want failure")
	}
}

func TestIssueRejectsBadOptions(t *testing.T) {
	ca := newTestRoot(t, 0)
	tests := []struct {
		name  string
		issue func() (*Certificate, error)
		want  string
	}{
		{"server without names", func() (*Certificate, error) {
			return ca.IssueServer(ServerOptions{})
		}, "at least one DNS name"},
		{"server upper-case name", func() (*Certificate, error) {
			return ca.IssueServer(ServerOptions{DNSNames: []string{"Gateway.example.org"}})
		}, `"Gateway.example.org"`},
		{"server empty label", func() (*Certificate, error) {
			return ca.IssueServer(ServerOptions{DNSNames: []string{"a..b"}})
		}, "1 to 63 characters"},
		{"server inner wildcard", func() (*Certificate, error) {
			return ca.IssueServer(ServerOptions{DNSNames: []string{"a.*.b"}})
		}, `contains '*'`},
		{"server bad IP", func() (*Certificate, error) {
			return ca.IssueServer(ServerOptions{IPAddresses: []net.IP{{1, 2, 3}}})
		}, "invalid server IP"},
		{"client bad id", func() (*Certificate, error) {
			return ca.IssueClient(ClientOptions{PartnerID: "Demo_EHR"})
		}, "PartnerID"},
		{"client relative org URI", func() (*Certificate, error) {
			return ca.IssueClient(ClientOptions{PartnerID: "p", OrganizationURIs: []string{"just-text"}})
		}, "not an absolute URI"},
		{"client second partner URI", func() (*Certificate, error) {
			return ca.IssueClient(ClientOptions{PartnerID: "p", OrganizationURIs: []string{"urn:GATEHOUSE:partner:q"}})
		}, "identity prefix"},
		{"client upper-case scheme", func() (*Certificate, error) {
			return ca.IssueClient(ClientOptions{PartnerID: "p", OrganizationURIs: []string{"URN:oid:1.2.3"}})
		}, "canonical form"},
		{"client admin URI", func() (*Certificate, error) {
			return ca.IssueClient(ClientOptions{PartnerID: "p", OrganizationURIs: []string{"urn:gatehouse:admin:root"}})
		}, "identity prefix"},
		{"admin bad name", func() (*Certificate, error) {
			return ca.IssueAdmin(AdminOptions{Name: ""})
		}, "admin Name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.issue()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestWildcardServerName(t *testing.T) {
	ca := newTestRoot(t, 0)
	c, err := ca.IssueServer(ServerOptions{DNSNames: []string{"*.gateway.example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Leaf.VerifyHostname("a.gateway.example.org"); err != nil {
		t.Errorf("wildcard does not match a.gateway.example.org: %v", err)
	}
}

func TestIssueForSuppliedPublicKey(t *testing.T) {
	ca := newTestRoot(t, 0)
	key, err := GenerateKey(ECDSAP384)
	if err != nil {
		t.Fatal(err)
	}

	c, err := ca.IssueClient(ClientOptions{PartnerID: "p", PublicKey: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	if c.Key != nil {
		t.Error("certificate for a supplied public key carries a generated private key")
	}
	if !publicKeysEqual(c.Leaf.PublicKey, key.Public()) {
		t.Error("certificate does not certify the supplied public key")
	}
	if _, err := c.TLSCertificate(); err == nil {
		t.Error("TLSCertificate without a private key succeeded, want error")
	}
}

func TestIssueRejectsWeakSuppliedKey(t *testing.T) {
	ca := newTestRoot(t, 0)
	_, err := ca.IssueClient(ClientOptions{PartnerID: "p", PublicKey: "not a key"})
	if err == nil || !strings.Contains(err.Error(), "unsupported public key type") {
		t.Errorf("err = %v, want unsupported key type", err)
	}
}
