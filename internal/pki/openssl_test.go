package pki

import (
	"crypto/tls"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The tests in this file check the files this package writes against
// OpenSSL, an independent X.509 and TLS implementation. They fail, rather
// than skip, when openssl is not on PATH, so that CI cannot pass without them.

func requireOpenSSL(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl not found on PATH: %v; install OpenSSL to run the interoperability tests", err)
	}
	return path
}

func runOpenSSL(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(requireOpenSSL(t), args...).CombinedOutput()
	return string(out), err
}

func mustOpenSSL(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runOpenSSL(t, args...)
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// opensslFiles is the PEM files of one root and its two leaves.
type opensslFiles struct {
	ca, server, serverKey, client, clientKey string
	serverCert, clientCert                   *Certificate
}

func writeOpenSSLFiles(t *testing.T, kind KeyType) opensslFiles {
	t.Helper()
	dir := t.TempDir()
	ca, err := NewRoot(RootOptions{CommonName: "OpenSSL Test Root", KeyType: kind})
	if err != nil {
		t.Fatal(err)
	}
	npiURI, err := NPIURI(testNPI)
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.IssueServer(ServerOptions{DNSNames: []string{"localhost"}, KeyType: kind})
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.IssueClient(ClientOptions{PartnerID: "demo-ehr", OrganizationURIs: []string{npiURI}, KeyType: kind})
	if err != nil {
		t.Fatal(err)
	}

	f := opensslFiles{
		ca:     filepath.Join(dir, "ca.pem"),
		server: filepath.Join(dir, "server.pem"), serverKey: filepath.Join(dir, "server-key.pem"),
		client: filepath.Join(dir, "client.pem"), clientKey: filepath.Join(dir, "client-key.pem"),
		serverCert: server, clientCert: client,
	}
	if err := ca.WriteFiles(f.ca, filepath.Join(dir, "ca-key.pem")); err != nil {
		t.Fatal(err)
	}
	if err := server.WriteFiles(f.server, f.serverKey); err != nil {
		t.Fatal(err)
	}
	if err := client.WriteFiles(f.client, f.clientKey); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestOpenSSLAcceptsIssuedCertificates(t *testing.T) {
	for _, kind := range []KeyType{ECDSAP256, ECDSAP384, RSA3072} {
		t.Run(string(kind), func(t *testing.T) {
			f := writeOpenSSLFiles(t, kind)

			if out := mustOpenSSL(t, "verify", "-CAfile", f.ca, f.client); !strings.Contains(out, ": OK") {
				t.Errorf("openssl verify client: %s", out)
			}
			mustOpenSSL(t, "verify", "-purpose", "sslclient", "-CAfile", f.ca, f.client)
			mustOpenSSL(t, "verify", "-purpose", "sslserver", "-CAfile", f.ca, f.server)
			if out, err := runOpenSSL(t, "verify", "-purpose", "sslserver", "-CAfile", f.ca, f.client); err == nil {
				t.Errorf("openssl accepts the client certificate for sslserver:\n%s", out)
			}
			if out, err := runOpenSSL(t, "verify", "-purpose", "sslclient", "-CAfile", f.ca, f.server); err == nil {
				t.Errorf("openssl accepts the server certificate for sslclient:\n%s", out)
			}
		})
	}
}

func TestOpenSSLReadsExtensions(t *testing.T) {
	f := writeOpenSSLFiles(t, ECDSAP256)

	eku := mustOpenSSL(t, "x509", "-noout", "-ext", "extendedKeyUsage", "-in", f.client)
	if !strings.Contains(eku, "TLS Web Client Authentication") || strings.Contains(eku, "Server") {
		t.Errorf("client extendedKeyUsage:\n%s", eku)
	}
	eku = mustOpenSSL(t, "x509", "-noout", "-ext", "extendedKeyUsage", "-in", f.server)
	if !strings.Contains(eku, "TLS Web Server Authentication") || strings.Contains(eku, "Client") {
		t.Errorf("server extendedKeyUsage:\n%s", eku)
	}

	san := mustOpenSSL(t, "x509", "-noout", "-ext", "subjectAltName", "-in", f.client)
	for _, want := range []string{"URI:urn:gatehouse:partner:demo-ehr", "URI:urn:oid:2.16.840.1.113883.4.6:8189991234"} {
		if !strings.Contains(san, want) {
			t.Errorf("client subjectAltName lacks %s:\n%s", want, san)
		}
	}
	subject := mustOpenSSL(t, "x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", f.client)
	if strings.TrimSpace(subject) != "subject=CN=demo-ehr" {
		t.Errorf("client subject = %q, want CN=demo-ehr", subject)
	}
}

func TestOpenSSLFingerprintAndKeys(t *testing.T) {
	f := writeOpenSSLFiles(t, ECDSAP384)

	out := mustOpenSSL(t, "x509", "-noout", "-fingerprint", "-sha256", "-in", f.client)
	_, colonHex, _ := strings.Cut(strings.TrimSpace(out), "=")
	got := strings.ToLower(strings.ReplaceAll(colonHex, ":", ""))
	if got != f.clientCert.Fingerprint() {
		t.Errorf("openssl fingerprint %s, Fingerprint %s", got, f.clientCert.Fingerprint())
	}

	// The PKCS #8 key file must hold the private half of the certified key.
	fromKey := mustOpenSSL(t, "pkey", "-in", f.clientKey, "-pubout")
	fromCert := mustOpenSSL(t, "x509", "-noout", "-pubkey", "-in", f.client)
	if fromKey != fromCert {
		t.Errorf("public key from %s:\n%s\ndiffers from certificate:\n%s", f.clientKey, fromKey, fromCert)
	}
}

func TestOpenSSLClientHandshake(t *testing.T) {
	f := writeOpenSSLFiles(t, ECDSAP256)
	pool, err := LoadCertPool(f.ca)
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := LoadTLSCertificate(f.server, f.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	addr, results := startTLSServer(t, &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	})

	// s_client reads an empty stdin, so it closes right after the handshake.
	out := mustOpenSSL(t, "s_client", "-connect", addr, "-servername", "localhost",
		"-CAfile", f.ca, "-cert", f.client, "-key", f.clientKey, "-verify_return_error", "-brief")
	if !strings.Contains(out, "Verification: OK") {
		t.Errorf("s_client did not verify the server:\n%s", out)
	}
	res := <-results
	if res.err != nil {
		t.Fatalf("server: %v\ns_client output:\n%s", res.err, out)
	}
	if len(res.state.VerifiedChains) == 0 {
		t.Fatal("server has no verified chain for the openssl client")
	}
	if id, ok := PartnerFromCertificate(res.state.VerifiedChains[0][0]); !ok || id != "demo-ehr" {
		t.Errorf("partner = %q, %v; want demo-ehr", id, ok)
	}
}
