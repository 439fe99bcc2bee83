package cadir

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/certreload"
	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// TestCertreloadUsesDirectory checks that the files a CA directory writes
// are what certreload reads: root.pem as the client CA bundle and crl.pem
// as the CRL, so that a revocation here refuses the partner at the TLS
// layer after one reload.
func TestCertreloadUsesDirectory(t *testing.T) {
	d := initCA(t, InitOptions{})
	server, _, err := d.IssueServer(pki.ServerOptions{DNSNames: []string{"gateway.payer.test"}})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(d.Path, "server.pem"), filepath.Join(d.Path, "server-key.pem")
	if err := server.WriteFiles(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	partner, rec, err := d.IssueClient(pki.ClientOptions{PartnerID: "acme-ehr"})
	if err != nil {
		t.Fatal(err)
	}

	h, err := certreload.New(certreload.Options{CertFile: certFile, KeyFile: keyFile,
		ClientCAFile: filepath.Join(d.Path, RootCertFile), CRLFile: filepath.Join(d.Path, CRLFile)})
	if err != nil {
		t.Fatal(err)
	}
	conf, err := h.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	clientCert, _ := partner.TLSCertificate()
	client := &tls.Config{RootCAs: d.Issuing.CertPool(), ServerName: "gateway.payer.test", Certificates: []tls.Certificate{clientCert}}

	if err := pipeHandshake(conf, client); err != nil {
		t.Fatalf("handshake before revocation: %v", err)
	}
	if _, err := d.Revoke(rec.Serial, "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	if changed, err := h.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v, %v", changed, err)
	}
	if err := pipeHandshake(conf, client); err == nil {
		t.Fatal("handshake after revocation succeeded")
	}
}

// pipeHandshake runs a handshake over an in-memory pipe and one byte from
// the server, where a TLS 1.3 client learns of a refused certificate.
func pipeHandshake(server, client *tls.Config) error {
	cc, sc := net.Pipe()
	defer cc.Close()
	deadline := time.Now().Add(5 * time.Second)
	cc.SetDeadline(deadline)
	sc.SetDeadline(deadline)
	go func() {
		s := tls.Server(sc, server)
		if s.Handshake() == nil {
			s.Write([]byte{1})
		}
		sc.Close()
	}()
	c := tls.Client(cc, client)
	if err := c.Handshake(); err != nil {
		return err
	}
	_, err := c.Read(make([]byte, 1))
	return err
}
