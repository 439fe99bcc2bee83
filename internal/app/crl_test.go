package app_test

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// TestRevokedCertificateRefused configures a CRL that revokes one partner
// certificate: that certificate gets no TLS session, another one from the
// same CA still works.
func TestRevokedCertificateRefused(t *testing.T) {
	dir := t.TempDir()
	cfg, layout, _, err := app.DevConfig(filepath.Join(dir, "data"), "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(layout.CACertFile, layout.CAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := ca.IssueClient(pki.ClientOptions{PartnerID: "demo-ehr"})
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:     big.NewInt(1),
		ThisUpdate: time.Now().Add(-time.Minute),
		NextUpdate: time.Now().Add(24 * time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{
			{SerialNumber: revoked.Leaf.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)},
		},
	}, ca.Certificate, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLS.CRLFile = filepath.Join(dir, "crl.pem")
	if err := os.WriteFile(cfg.TLS.CRLFile, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl}), 0o644); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, layout: layout, upstream: newCountingUpstream(t)}
	cfg.Upstream.URL = h.upstream.srv.URL
	cfg.Strict.Mode = "off"
	h.start(cfg)

	roots, _ := layout.CAPool()
	tc, _ := revoked.TLSCertificate()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &tc)}}
	defer client.CloseIdleConnections()
	if resp, err := client.Get(h.rt.FHIRBase + "/metadata"); err == nil {
		resp.Body.Close()
		t.Fatalf("a revoked certificate got a response: status %d, want a failed handshake", resp.StatusCode)
	}
	// The development partner certificate is not on the CRL.
	resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", http.Header{"Authorization": {"Bearer " + h.accessToken()}}, nil)
	if readBody(t, resp); resp.StatusCode != 200 {
		t.Errorf("unrevoked certificate: status %d", resp.StatusCode)
	}
}
