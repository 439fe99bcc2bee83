package pki

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// serverResult is what the server side of a loopback handshake observed.
type serverResult struct {
	err   error
	state tls.ConnectionState
}

// startTLSServer accepts one connection on a loopback port, completes the
// handshake, writes "ok" and closes. It returns the address and a channel
// that receives the outcome.
func startTLSServer(t *testing.T, cfg *tls.Config) (string, <-chan serverResult) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })

	results := make(chan serverResult, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			results <- serverResult{err: err}
			return
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(conn, cfg)
		// Closing the TLS connection, not the TCP one, sends close_notify,
		// which OpenSSL 3 clients expect before EOF.
		defer tc.Close()
		err = tc.Handshake()
		if err == nil {
			_, err = tc.Write([]byte("ok"))
		}
		results <- serverResult{err: err, state: tc.ConnectionState()}
	}()
	return ln.Addr().String(), results
}

// dialTLS connects, completes the handshake and reads the server's "ok".
// With TLS 1.3 a rejected client certificate shows up only on that read.
func dialTLS(addr string, cfg *tls.Config) error {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2)
	_, err = io.ReadFull(conn, buf)
	return err
}

func mutualTLSConfigs(t *testing.T, pool *x509.CertPool, server, client *Certificate, version uint16) (*tls.Config, *tls.Config) {
	t.Helper()
	serverCert, err := server.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := client.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	serverCfg := &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   version,
		MaxVersion:   version,
	}
	clientCfg := &tls.Config{
		Certificates: []tls.Certificate{clientCert},
		RootCAs:      pool,
		ServerName:   "localhost",
		MinVersion:   version,
		MaxVersion:   version,
	}
	return serverCfg, clientCfg
}

// newIntermediateCA builds root -> intermediate with the real clock, because
// crypto/tls verifies against time.Now.
func newIntermediateCA(t *testing.T) (*CA, *CA) {
	t.Helper()
	root, err := NewRoot(RootOptions{CommonName: "TLS Test Root", PathLen: 1})
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediate(IntermediateOptions{CommonName: "TLS Test Issuing CA"})
	if err != nil {
		t.Fatal(err)
	}
	return root, inter
}

func TestMutualTLSHandshake(t *testing.T) {
	root, inter := newIntermediateCA(t)
	server, err := inter.IssueServer(ServerOptions{DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	client, err := inter.IssueClient(ClientOptions{PartnerID: "demo-ehr"})
	if err != nil {
		t.Fatal(err)
	}

	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			serverCfg, clientCfg := mutualTLSConfigs(t, root.CertPool(), server, client, version)
			addr, results := startTLSServer(t, serverCfg)

			if err := dialTLS(addr, clientCfg); err != nil {
				t.Fatalf("client: %v", err)
			}
			res := <-results
			if res.err != nil {
				t.Fatalf("server: %v", res.err)
			}
			if len(res.state.VerifiedChains) == 0 {
				t.Fatal("server has no verified client chain")
			}
			id, ok := PartnerFromCertificate(res.state.VerifiedChains[0][0])
			if !ok || id != "demo-ehr" {
				t.Errorf("partner from verified chain = %q, %v; want demo-ehr", id, ok)
			}
		})
	}
}

func TestMutualTLSRejectsWrongUsage(t *testing.T) {
	root, inter := newIntermediateCA(t)
	server, err := inter.IssueServer(ServerOptions{DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	client, err := inter.IssueClient(ClientOptions{PartnerID: "demo-ehr"})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("server cert as client cert", func(t *testing.T) {
		serverCfg, clientCfg := mutualTLSConfigs(t, root.CertPool(), server, server, tls.VersionTLS13)
		addr, results := startTLSServer(t, serverCfg)
		if err := dialTLS(addr, clientCfg); err == nil {
			t.Error("client with a serverAuth certificate was accepted")
		}
		if res := <-results; res.err == nil || !strings.Contains(res.err.Error(), "incompatible key usage") {
			t.Errorf("server error = %v, want incompatible key usage", res.err)
		}
	})
	t.Run("client cert as server cert", func(t *testing.T) {
		// A clientAuth-only certificate that does name localhost, so that
		// only the extended key usage can make the client reject it.
		tmpl := leafTemplate("localhost", "", x509.ExtKeyUsageClientAuth)
		tmpl.DNSNames = []string{"localhost"}
		clientOnly, err := inter.issueLeaf(tmpl, ECDSAP256, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		serverCfg, clientCfg := mutualTLSConfigs(t, root.CertPool(), clientOnly, client, tls.VersionTLS13)
		addr, results := startTLSServer(t, serverCfg)
		if err := dialTLS(addr, clientCfg); err == nil || !strings.Contains(err.Error(), "incompatible key usage") {
			t.Errorf("client error = %v, want incompatible key usage", err)
		}
		<-results
	})
	t.Run("client cert from another CA", func(t *testing.T) {
		_, otherInter := newIntermediateCA(t)
		stranger, err := otherInter.IssueClient(ClientOptions{PartnerID: "demo-ehr"})
		if err != nil {
			t.Fatal(err)
		}
		serverCfg, clientCfg := mutualTLSConfigs(t, root.CertPool(), server, stranger, tls.VersionTLS13)
		addr, results := startTLSServer(t, serverCfg)
		if err := dialTLS(addr, clientCfg); err == nil {
			t.Error("client certificate from an unknown CA was accepted")
		}
		if res := <-results; res.err == nil || !strings.Contains(res.err.Error(), "unknown authority") {
			t.Errorf("server error = %v, want unknown authority", res.err)
		}
	})
}
