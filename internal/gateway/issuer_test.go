package gateway

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"net/http/httptest"
	"testing"
)

func TestIdentifyIssuingCA(t *testing.T) {
	partnerCA := &x509.Certificate{Raw: []byte("partner-ca-der")}
	otherCA := &x509.Certificate{Raw: []byte("other-ca-der")}
	intermediate := &x509.Certificate{Raw: []byte("intermediate-der")}
	registered := [][sha256.Size]byte{sha256.Sum256(partnerCA.Raw)}
	tests := []struct {
		name   string
		chains [][]*x509.Certificate
		cas    [][sha256.Size]byte
		refuse bool
	}{
		{"chain through the partner CA", [][]*x509.Certificate{{testLeaf, partnerCA}}, registered, false},
		{"partner CA above an intermediate", [][]*x509.Certificate{{testLeaf, intermediate, partnerCA}}, registered, false},
		{"second chain through the partner CA", [][]*x509.Certificate{{testLeaf, otherCA}, {testLeaf, partnerCA}}, registered, false},
		{"chain through another CA", [][]*x509.Certificate{{testLeaf, otherCA}}, registered, true},
		{"leaf with the CA's fingerprint", [][]*x509.Certificate{{partnerCA}}, registered, true},
		{"no registered fingerprint", [][]*x509.Certificate{{testLeaf, partnerCA}}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := testGateway(t, stubVerifier{}, &memStore{})
			g.opts.Partners["ehr-a"].IssuingCAs = func() [][sha256.Size]byte { return tt.cas }
			r := httptest.NewRequest("GET", "https://gw/fhir/metadata", nil)
			r.TLS = &tls.ConnectionState{VerifiedChains: tt.chains}
			// The leaf-only row presents the CA certificate as its leaf, so
			// it needs the partner URI and clientAuth usage to reach the
			// issuer check.
			if len(tt.chains[0]) == 1 {
				leaf := *testLeaf
				leaf.Raw = partnerCA.Raw
				r.TLS.VerifiedChains = [][]*x509.Certificate{{&leaf}}
			}
			ref := g.identify(g.begin(r))
			if !tt.refuse {
				if ref != nil {
					t.Errorf("identify rejected the request: %+v", ref)
				}
				return
			}
			if ref == nil {
				t.Fatal("identify = nil, want 403 identity.issuer")
			}
			if ref.Rule != "identity.issuer" {
				t.Errorf("rule = %q, want identity.issuer", ref.Rule)
			}
			if ref.Status != 403 {
				t.Errorf("status = %d, want 403", ref.Status)
			}
		})
	}
}
