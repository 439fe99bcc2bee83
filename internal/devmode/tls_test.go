package devmode

import (
	"crypto/tls"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// serveOnce accepts one TLS connection on a loopback address, completes the
// handshake, writes "ok" and returns the partner id from the verified chain.
func serveOnce(t *testing.T, network, address string, l *Layout) (string, <-chan error, <-chan string) {
	t.Helper()
	serverCert, err := l.ServerTLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	clientCAs, err := l.ClientCAPool()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
		MinVersion:   tls.VersionTLS12,
	}
	ln, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })

	errs, partners := make(chan error, 1), make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			errs <- err
			return
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(conn, cfg)
		defer tc.Close()
		if err := tc.Handshake(); err != nil {
			errs <- err
			return
		}
		chains := tc.ConnectionState().VerifiedChains
		id, _ := pki.PartnerFromCertificate(chains[0][0])
		partners <- id
		_, err = tc.Write([]byte("ok"))
		errs <- err
	}()
	return ln.Addr().String(), errs, partners
}

func TestLayoutMutualTLS(t *testing.T) {
	l := ensureNew(t, filepath.Join(t.TempDir(), "data"), Options{})
	clientCert, err := l.PartnerClientCertificate()
	if err != nil {
		t.Fatal(err)
	}
	roots, err := l.CAPool()
	if err != nil {
		t.Fatal(err)
	}

	// The server certificate must be valid for every loopback name it lists.
	for _, tc := range []struct{ network, listen, serverName string }{
		{"tcp4", "127.0.0.1:0", "localhost"},
		{"tcp4", "127.0.0.1:0", "127.0.0.1"},
		{"tcp6", "[::1]:0", "::1"},
	} {
		t.Run(tc.serverName, func(t *testing.T) {
			addr, errs, partners := serveOnce(t, tc.network, tc.listen, l)
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, tc.network, addr, &tls.Config{
				Certificates: []tls.Certificate{clientCert},
				RootCAs:      roots,
				ServerName:   tc.serverName,
				MinVersion:   tls.VersionTLS12,
			})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			buf := make([]byte, 2)
			if _, err := io.ReadFull(conn, buf); err != nil {
				t.Fatalf("read: %v", err)
			}
			if id := <-partners; id != PartnerID {
				t.Errorf("server saw partner %q, want %q", id, PartnerID)
			}
			if err := <-errs; err != nil {
				t.Errorf("server: %v", err)
			}
		})
	}
}

func TestLayoutRejectsClientWithoutCertificate(t *testing.T) {
	l := ensureNew(t, filepath.Join(t.TempDir(), "data"), Options{})
	roots, err := l.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	addr, errs, _ := serveOnce(t, "tcp4", "127.0.0.1:0", l)

	conn, err := tls.Dial("tcp4", addr, &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS13})
	if err == nil {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadFull(conn, make([]byte, 2))
		conn.Close()
	}
	if err == nil {
		t.Error("client without a certificate read from the server")
	}
	if err := <-errs; err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("server error = %v, want a missing client certificate", err)
	}
}

// requireOpenSSL fails, rather than skips, when openssl is missing, so that
// CI cannot pass without the interoperability checks.
func requireOpenSSL(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl not found on PATH: %v; install OpenSSL to run the interoperability tests", err)
	}
	return path
}

func openssl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(requireOpenSSL(t), args...).CombinedOutput()
	return string(out), err
}

func TestOpenSSLVerifiesLayout(t *testing.T) {
	l := ensureNew(t, filepath.Join(t.TempDir(), "data"), Options{})

	out, err := openssl(t, "verify", "-CAfile", l.CACertFile, l.ClientCertFile)
	if err != nil || !strings.Contains(out, l.ClientCertFile+": OK") {
		t.Errorf("openssl verify client: %v\n%s", err, out)
	}
	out, err = openssl(t, "verify", "-purpose", "sslserver", "-CAfile", l.CACertFile, l.ServerCertFile)
	if err != nil || !strings.Contains(out, ": OK") {
		t.Errorf("openssl verify server: %v\n%s", err, out)
	}
	if out, err := openssl(t, "verify", "-purpose", "sslserver", "-CAfile", l.CACertFile, l.ClientCertFile); err == nil {
		t.Errorf("openssl accepts the client certificate as a server certificate:\n%s", out)
	}

	out, err = openssl(t, "x509", "-noout", "-ext", "extendedKeyUsage", "-in", l.ClientCertFile)
	if err != nil || !strings.Contains(out, "TLS Web Client Authentication") || strings.Contains(out, "Server") {
		t.Errorf("client extendedKeyUsage: %v\n%s", err, out)
	}
	out, err = openssl(t, "x509", "-noout", "-ext", "subjectAltName", "-in", l.ServerCertFile)
	for _, want := range []string{"DNS:localhost", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("server subjectAltName lacks %s: %v\n%s", want, err, out)
		}
	}
	for _, key := range []string{l.CAKeyFile, l.ServerKeyFile, l.ClientKeyFile, l.TokenKeyFile} {
		if out, err := openssl(t, "pkey", "-in", key, "-noout"); err != nil {
			t.Errorf("openssl cannot read %s: %v\n%s", key, err, out)
		}
	}
}
