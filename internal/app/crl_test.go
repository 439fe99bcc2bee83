package app_test

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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

// TestRevokedAdminAndEngineCertificatesRefused revokes an administrator
// and an engine certificate in tls.crl_file. The admin and outbound
// listeners, which take their clients from the same CA, must refuse them,
// while an administrator certificate that is not on the CRL still works.
func TestRevokedAdminAndEngineCertificatesRefused(t *testing.T) {
	cfg, layout, _, engineCert := newPayerOutbound(t)
	ca, err := pki.LoadCA(layout.CACertFile, layout.CAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	revokedAdmin, err := ca.IssueAdmin(pki.AdminOptions{Name: "mallory"})
	if err != nil {
		t.Fatal(err)
	}
	goodAdmin, err := ca.IssueAdmin(pki.AdminOptions{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:     big.NewInt(1),
		ThisUpdate: now.Add(-time.Minute),
		NextUpdate: now.Add(24 * time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{
			{SerialNumber: revokedAdmin.Leaf.SerialNumber, RevocationTime: now.Add(-time.Minute)},
			{SerialNumber: engineCert.Leaf.SerialNumber, RevocationTime: now.Add(-time.Minute)},
		},
	}, ca.Certificate, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLS.CRLFile = filepath.Join(t.TempDir(), "crl.pem")
	if err := os.WriteFile(cfg.TLS.CRLFile, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl}), 0o644); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, layout: layout}
	h.start(cfg)

	roots, err := layout.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	// handshake reports the server's verdict on cert, waiting up to wait
	// for a refusal.
	handshake := func(addr string, cert *pki.Certificate, wait time.Duration) error {
		tc, err := cert.TLSCertificate()
		if err != nil {
			t.Fatal(err)
		}
		conf := tlspolicy.Client(roots, &tc)
		conf.ServerName = "localhost"
		conn, err := tls.Dial("tcp", addr, conf)
		if err != nil {
			return err
		}
		defer conn.Close()
		// In TLS 1.3 the server's verdict on the client certificate
		// arrives after the client's handshake has completed.
		conn.SetReadDeadline(time.Now().Add(wait))
		_, err = conn.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil
		}
		return err
	}
	if err := handshake(h.rt.AdminAddr.String(), goodAdmin, 200*time.Millisecond); err != nil {
		t.Fatalf("admin listener refused an administrator certificate that is not revoked: %v", err)
	}
	if err := handshake(h.rt.AdminAddr.String(), revokedAdmin, 10*time.Second); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("admin listener: a revoked administrator certificate got a session (error %v)", err)
	}
	if err := handshake(h.rt.OutboundAddr.String(), engineCert, 10*time.Second); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("outbound listener: a revoked engine certificate got a session (error %v)", err)
	}
}
