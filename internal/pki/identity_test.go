package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

var testSANKey = sync.OnceValue(func() crypto.Signer {
	key, err := GenerateKey(ECDSAP256)
	if err != nil {
		panic(err)
	}
	return key
})

// buildCertWithURIs returns a parsed self-signed certificate whose
// subjectAltName extension contains exactly the given URI strings. The
// extension is encoded by hand, bypassing net/url, so that non-canonical
// forms reach PartnerFromCertificate as a real peer could send them.
func buildCertWithURIs(uris ...string) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "san test"},
		NotBefore:    testNow,
		NotAfter:     testNow.Add(time.Hour),
	}
	if len(uris) > 0 {
		var names []asn1.RawValue
		for _, s := range uris {
			names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: uriGeneralNameTag, Bytes: []byte(s)})
		}
		value, err := asn1.Marshal(names)
		if err != nil {
			return nil, err
		}
		tmpl.ExtraExtensions = []pkix.Extension{{Id: oidSubjectAltName, Value: value}}
	}
	key := testSANKey()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func certWithURIs(t *testing.T, uris ...string) *x509.Certificate {
	t.Helper()
	cert, err := buildCertWithURIs(uris...)
	if err != nil {
		t.Fatalf("certificate with URI SANs %q: %v", uris, err)
	}
	return cert
}

func TestPartnerFromCertificate(t *testing.T) {
	tests := []struct {
		name   string
		uris   []string
		wantID string
		wantOK bool
	}{
		{"one partner SAN", []string{"urn:gatehouse:partner:demo-ehr"}, "demo-ehr", true},
		{"partner and organisation", []string{"urn:oid:2.16.840.1.113883.4.6:8189991234", "urn:gatehouse:partner:epic.prod-1"}, "epic.prod-1", true},
		{"no SANs", nil, "", false},
		{"only organisation", []string{"urn:oid:2.16.840.1.113883.4.6:8189991234"}, "", false},
		{"two partner SANs", []string{"urn:gatehouse:partner:a", "urn:gatehouse:partner:b"}, "", false},
		{"same partner twice", []string{"urn:gatehouse:partner:a", "urn:gatehouse:partner:a"}, "", false},
		{"second in upper case", []string{"urn:gatehouse:partner:a", "urn:GATEHOUSE:PARTNER:b"}, "", false},
		{"upper-case namespace", []string{"urn:Gatehouse:partner:a"}, "", false},
		{"upper-case id", []string{"urn:gatehouse:partner:Demo"}, "", false},
		{"empty id", []string{"urn:gatehouse:partner:"}, "", false},
		{"underscore", []string{"urn:gatehouse:partner:demo_ehr"}, "", false},
		{"colon in id", []string{"urn:gatehouse:partner:a:b"}, "", false},
		{"slash in id", []string{"urn:gatehouse:partner:a/b"}, "", false},
		{"query", []string{"urn:gatehouse:partner:a?b"}, "", false},
		{"fragment", []string{"urn:gatehouse:partner:a#b"}, "", false},
		{"empty fragment", []string{"urn:gatehouse:partner:a#"}, "", false},
		{"empty query", []string{"urn:gatehouse:partner:a?"}, "", false},
		{"upper-case scheme", []string{"URN:gatehouse:partner:a"}, "", false},
		{"percent-encoded", []string{"urn:gatehouse:partner:a%2Db"}, "", false},
		{"leading hyphen", []string{"urn:gatehouse:partner:-a"}, "", false},
		{"trailing dot", []string{"urn:gatehouse:partner:a."}, "", false},
		{"63 characters", []string{"urn:gatehouse:partner:" + strings.Repeat("a", 63)}, strings.Repeat("a", 63), true},
		{"64 characters", []string{"urn:gatehouse:partner:" + strings.Repeat("a", 64)}, "", false},
		{"partner and admin", []string{"urn:gatehouse:partner:a", "urn:gatehouse:admin:a"}, "", false},
		{"other scheme", []string{"https://gatehouse/partner/a"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := PartnerFromCertificate(certWithURIs(t, tt.uris...))
			if id != tt.wantID || ok != tt.wantOK {
				t.Errorf("PartnerFromCertificate(%q) = %q, %v; want %q, %v", tt.uris, id, ok, tt.wantID, tt.wantOK)
			}
		})
	}
}

func TestAdminFromCertificate(t *testing.T) {
	tests := []struct {
		name     string
		uris     []string
		wantName string
		wantOK   bool
	}{
		{"one admin SAN", []string{"urn:gatehouse:admin:alice"}, "alice", true},
		{"two admin SANs", []string{"urn:gatehouse:admin:alice", "urn:gatehouse:admin:bob"}, "", false},
		{"partner SAN", []string{"urn:gatehouse:partner:alice"}, "", false},
		{"admin and partner", []string{"urn:gatehouse:admin:alice", "urn:gatehouse:partner:x"}, "", false},
		{"none", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, ok := AdminFromCertificate(certWithURIs(t, tt.uris...))
			if name != tt.wantName || ok != tt.wantOK {
				t.Errorf("AdminFromCertificate(%q) = %q, %v; want %q, %v", tt.uris, name, ok, tt.wantName, tt.wantOK)
			}
		})
	}
}

func TestPartnerURI(t *testing.T) {
	if got := PartnerURI("demo-ehr"); got != "urn:gatehouse:partner:demo-ehr" {
		t.Errorf("PartnerURI = %q", got)
	}
	if got := AdminURI("alice"); got != "urn:gatehouse:admin:alice" {
		t.Errorf("AdminURI = %q", got)
	}
}

func TestNPIURI(t *testing.T) {
	tests := []struct {
		npi     string
		wantErr string
	}{
		// 8189991234 is the requesting provider in the Da Vinci PAS
		// examples, and 1234567893 is the insurer there.
		{"8189991234", ""},
		{"1234567893", ""},
		{"8189991235", "invalid check digit"},
		{"818999123", "10 digits"},
		{"81899912345", "10 digits"},
		{"818999123a", "10 digits"},
	}
	for _, tt := range tests {
		t.Run(tt.npi, func(t *testing.T) {
			uri, err := NPIURI(tt.npi)
			if tt.wantErr == "" {
				if err != nil || uri != NPIURIPrefix+tt.npi {
					t.Errorf("NPIURI(%q) = %q, %v; want %q", tt.npi, uri, err, NPIURIPrefix+tt.npi)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NPIURI(%q) error = %v, want one containing %q", tt.npi, err, tt.wantErr)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	ca := newTestRoot(t, 0)
	sum := sha256.Sum256(ca.Certificate.Raw)

	got := Fingerprint(ca.Certificate)
	if got != hex.EncodeToString(sum[:]) {
		t.Errorf("Fingerprint = %s, want %x", got, sum)
	}
	if len(got) != 64 || strings.ToLower(got) != got {
		t.Errorf("Fingerprint %q is not 64 lower-case hex digits", got)
	}
}

// TestIdentityKindsExclusive checks that a certificate names one kind of
// identity: an engine certificate is neither a partner nor an
// administrator, and the other way round.
func TestIdentityKindsExclusive(t *testing.T) {
	ca, err := NewRoot(RootOptions{CommonName: "Test CA"})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := ca.IssueEngine(AdminOptions{Name: "iris-prod"})
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := EngineFromCertificate(engine.Leaf); !ok || name != "iris-prod" {
		t.Errorf("EngineFromCertificate = %q, %v", name, ok)
	}
	if _, ok := PartnerFromCertificate(engine.Leaf); ok {
		t.Error("an engine certificate was read as a partner")
	}
	if _, ok := AdminFromCertificate(engine.Leaf); ok {
		t.Error("an engine certificate was read as an administrator")
	}
	partner, err := ca.IssueClient(ClientOptions{PartnerID: "ehr-a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := EngineFromCertificate(partner.Leaf); ok {
		t.Error("a partner certificate was read as an engine")
	}
	if _, err := ca.IssueClient(ClientOptions{PartnerID: "ehr-a", OrganizationURIs: []string{"urn:gatehouse:engine:x"}}); err == nil {
		t.Error("IssueClient accepted an engine URI as the organisation")
	}
}

func TestPartnerIdentityProblem(t *testing.T) {
	tests := []struct {
		name string
		uris []string
		want string
	}{
		{"one partner", []string{"urn:gatehouse:partner:acme-ehr"}, ""},
		{"none", []string{"urn:oid:2.16.840.1.113883.4.6:8189991234"}, "carries no partner identity"},
		{"two partners", []string{"urn:gatehouse:partner:a", "urn:gatehouse:partner:b"}, "carries 2 partner URI SANs: it must carry exactly one"},
		{"partner and admin", []string{"urn:gatehouse:partner:a", "urn:gatehouse:admin:ops"}, "carries an administrator or engine identity"},
		{"invalid id", []string{"urn:gatehouse:partner:Acme EHR"}, "carries an invalid partner URI SAN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PartnerIdentityProblem(certWithURIs(t, tt.uris...))
			if tt.want == "" && got != "" {
				t.Errorf("PartnerIdentityProblem = %q, want none", got)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("PartnerIdentityProblem = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}
