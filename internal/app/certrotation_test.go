package app_test

import (
	"crypto/tls"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// TestRotatedServerCertificateOnEveryListener replaces tls.cert_file and
// tls.key_file of a running gateway as the runbook does, by renaming. Once
// the inbound listener presents the new certificate, the admin and
// outbound listeners, which serve the same files, must present it too.
func TestRotatedServerCertificateOnEveryListener(t *testing.T) {
	cfg, layout, _, engineCert := newPayerOutbound(t)
	cfg.TLS.ReloadInterval = 10 * time.Millisecond
	h := &harness{t: t, layout: layout}
	h.start(cfg)

	roots, err := layout.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	partnerCert, err := pki.LoadTLSCertificate(layout.ClientCertFile, layout.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	adminCertFile, adminKeyFile := app.DevAdminFiles(layout.Dir)
	adminCert, err := pki.LoadTLSCertificate(adminCertFile, adminKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	engineTLS, err := engineCert.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	serial := func(addr net.Addr, clientCert tls.Certificate) *big.Int {
		t.Helper()
		conf := tlspolicy.Client(roots, &clientCert)
		conf.ServerName = "localhost"
		conn, err := tls.Dial("tcp", addr.String(), conf)
		if err != nil {
			t.Fatalf("handshake with %s: %v", addr, err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber
	}
	before := serial(h.rt.AdminAddr, adminCert)

	ca, err := pki.LoadCA(layout.CACertFile, layout.CAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := ca.IssueServer(pki.ServerOptions{DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	staging := t.TempDir()
	newCert, newKey := filepath.Join(staging, "server.pem"), filepath.Join(staging, "server-key.pem")
	if err := rotated.WriteFiles(newCert, newKey); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(newKey, cfg.TLS.KeyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(newCert, cfg.TLS.CertFile); err != nil {
		t.Fatal(err)
	}

	want := rotated.Leaf.SerialNumber
	if before.Cmp(want) == 0 {
		t.Fatal("the admin listener presented the rotated certificate before the rotation")
	}
	// The holder reloads on its own schedule; the deadline only bounds a
	// broken reload.
	deadline := time.Now().Add(30 * time.Second)
	for serial(h.rt.Addr, partnerCert).Cmp(want) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the inbound listener never presented the rotated certificate")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := serial(h.rt.AdminAddr, adminCert); got.Cmp(want) != 0 {
		t.Errorf("admin listener presents serial %x after the rotation, want %x", got, want)
	}
	if got := serial(h.rt.OutboundAddr, engineTLS); got.Cmp(want) != 0 {
		t.Errorf("outbound listener presents serial %x after the rotation, want %x", got, want)
	}
}
