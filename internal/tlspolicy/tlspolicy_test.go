package tlspolicy

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// fixture is a private CA with an ECDSA and an RSA server certificate and
// one partner client certificate.
type fixture struct {
	roots       *x509.CertPool
	ecdsaServer tls.Certificate
	rsaServer   tls.Certificate
	client      tls.Certificate
}

var (
	fixtureOnce sync.Once
	shared      fixture
)

func newFixture(t *testing.T) fixture {
	t.Helper()
	fixtureOnce.Do(func() {
		ca, err := pki.NewRoot(pki.RootOptions{CommonName: "tlspolicy test CA"})
		if err != nil {
			panic(err)
		}
		issue := func(kind pki.KeyType) tls.Certificate {
			c, err := ca.IssueServer(pki.ServerOptions{DNSNames: []string{"gateway.test"}, KeyType: kind})
			if err != nil {
				panic(err)
			}
			tc, _ := c.TLSCertificate()
			return tc
		}
		client, err := ca.IssueClient(pki.ClientOptions{PartnerID: "acme-ehr"})
		if err != nil {
			panic(err)
		}
		clientCert, _ := client.TLSCertificate()
		shared = fixture{roots: ca.CertPool(), ecdsaServer: issue(pki.ECDSAP256), rsaServer: issue(pki.RSA3072), client: clientCert}
	})
	return shared
}

// outcome is what one in-memory handshake produced.
type outcome struct {
	hello     *tls.ClientHelloInfo // as the server received it; nil if never read
	serverErr error
	clientErr error
	state     tls.ConnectionState // the client's view
}

// handshake runs a TLS handshake between a tlspolicy.Server configuration
// with serverCert and client over an in-memory pipe.
func handshake(t *testing.T, f fixture, serverCert tls.Certificate, client *tls.Config) outcome {
	t.Helper()
	conf, err := Server(serverCert, f.roots)
	if err != nil {
		t.Fatal(err)
	}
	var out outcome
	conf.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		out.hello = h
		return nil, nil
	}
	client = client.Clone()
	client.RootCAs = f.roots
	client.ServerName = "gateway.test"
	client.Certificates = []tls.Certificate{f.client}

	cc, sc := net.Pipe()
	deadline := time.Now().Add(10 * time.Second)
	cc.SetDeadline(deadline)
	sc.SetDeadline(deadline)
	done := make(chan error, 1)
	go func() {
		s := tls.Server(sc, conf)
		err := s.Handshake()
		if err == nil {
			// TLS 1.3 clients learn of a refused certificate only when they
			// read, so the server confirms with one byte.
			_, err = s.Write([]byte{1})
		}
		sc.Close()
		done <- err
	}()
	c := tls.Client(cc, client)
	out.clientErr = c.Handshake()
	if out.clientErr == nil {
		_, out.clientErr = c.Read(make([]byte, 1))
	}
	out.state = c.ConnectionState()
	cc.Close()
	out.serverErr = <-done
	return out
}

func TestServerRefusesOldVersions(t *testing.T) {
	f := newFixture(t)
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			out := handshake(t, f, f.ecdsaServer, &tls.Config{MinVersion: v, MaxVersion: v})
			if out.clientErr == nil || out.serverErr == nil {
				t.Fatalf("handshake succeeded with %s (version %s)", tls.VersionName(v), tls.VersionName(out.state.Version))
			}
			if out.hello == nil || slices.Max(out.hello.SupportedVersions) != v {
				t.Fatalf("the client did not offer %s as its highest version, so the test proves nothing", tls.VersionName(v))
			}
			if !strings.Contains(out.serverErr.Error(), "version") {
				t.Errorf("server error = %v, want a protocol version error", out.serverErr)
			}
		})
	}
}

// TestServerCipherSuites offers each TLS 1.2 suite Go implements, one at a
// time, and checks that exactly the ECDHE+AEAD suites are accepted. The
// recorded ClientHello proves the client really offered the suite.
func TestServerCipherSuites(t *testing.T) {
	f := newFixture(t)
	suites := append(tls.CipherSuites(), tls.InsecureCipherSuites()...)
	for _, s := range suites {
		if !slices.Contains(s.SupportedVersions, tls.VersionTLS12) {
			continue
		}
		t.Run(s.Name, func(t *testing.T) {
			cert := f.rsaServer
			if strings.Contains(s.Name, "_ECDSA_") {
				cert = f.ecdsaServer
			}
			out := handshake(t, f, cert, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{s.ID}})
			want := slices.Contains(CipherSuites, s.ID)
			if out.hello == nil || !slices.Contains(out.hello.CipherSuites, s.ID) {
				t.Fatalf("the client did not offer %s, so the test proves nothing", s.Name)
			}
			if want && (out.clientErr != nil || out.state.CipherSuite != s.ID) {
				t.Errorf("allowed suite: client error %v, negotiated %s", out.clientErr, tls.CipherSuiteName(out.state.CipherSuite))
			}
			if !want && out.clientErr == nil {
				t.Errorf("server accepted %s", s.Name)
			}
			if !want && out.serverErr != nil && !strings.Contains(out.serverErr.Error(), "no cipher suite supported") {
				t.Errorf("server error = %v, want no shared cipher suite", out.serverErr)
			}
		})
	}
}

func TestServerNegotiatesTLS13(t *testing.T) {
	f := newFixture(t)
	for _, cert := range []tls.Certificate{f.ecdsaServer, f.rsaServer} {
		out := handshake(t, f, cert, &tls.Config{})
		if out.clientErr != nil {
			t.Fatalf("handshake: %v", out.clientErr)
		}
		if out.state.Version != tls.VersionTLS13 {
			t.Errorf("negotiated %s, want TLS 1.3", tls.VersionName(out.state.Version))
		}
	}
}

func TestServerTLS12OnlyECDHEAEAD(t *testing.T) {
	f := newFixture(t)
	// A TLS 1.2 client offering Go's full list, secure and insecure: the
	// server must pick an ECDHE+AEAD suite.
	var all []uint16
	for _, s := range append(tls.InsecureCipherSuites(), tls.CipherSuites()...) {
		all = append(all, s.ID)
	}
	for _, cert := range []tls.Certificate{f.ecdsaServer, f.rsaServer} {
		out := handshake(t, f, cert, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: all})
		if out.clientErr != nil {
			t.Fatalf("handshake: %v", out.clientErr)
		}
		if out.state.Version != tls.VersionTLS12 || !slices.Contains(CipherSuites, out.state.CipherSuite) {
			t.Errorf("negotiated %s with %s, want TLS 1.2 with an allowed suite",
				tls.VersionName(out.state.Version), tls.CipherSuiteName(out.state.CipherSuite))
		}
	}
}

func TestClientRefusesWeakServer(t *testing.T) {
	f := newFixture(t)
	weak := &tls.Config{
		Certificates: []tls.Certificate{f.rsaServer},
		MaxVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256},
	}
	cc, sc := net.Pipe()
	defer cc.Close()
	go func() {
		tls.Server(sc, weak).Handshake()
		sc.Close()
	}()
	err := tls.Client(cc, Client(f.roots, nil)).Handshake()
	if err == nil {
		t.Fatal("policy client accepted a server offering only CBC and RSA key exchange")
	}
}

func TestCheck(t *testing.T) {
	f := newFixture(t)
	server, _ := Server(f.ecdsaServer, f.roots)
	if err := Check(server); err != nil {
		t.Errorf("Check(Server(...)) = %v", err)
	}
	if err := Check(Client(nil, nil)); err != nil {
		t.Errorf("Check(Client(...)) = %v", err)
	}
	tests := []struct {
		name   string
		modify func(*tls.Config)
		want   string
	}{
		{"TLS 1.0 minimum", func(c *tls.Config) { c.MinVersion = tls.VersionTLS10 }, "below TLS 1.2"},
		{"TLS 1.3 capped", func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }, "disables TLS 1.3"},
		{"default suites", func(c *tls.Config) { c.CipherSuites = nil }, "CipherSuites is empty"},
		{"CBC suite", func(c *tls.Config) {
			c.CipherSuites = append(c.CipherSuites, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA)
		}, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"},
		{"RSA key exchange", func(c *tls.Config) {
			c.CipherSuites = append(c.CipherSuites, tls.TLS_RSA_WITH_AES_256_GCM_SHA384)
		}, "TLS_RSA_WITH_AES_256_GCM_SHA384"},
		{"skip verify", func(c *tls.Config) { c.InsecureSkipVerify = true }, "InsecureSkipVerify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := server.Clone()
			tt.modify(c)
			if err := Check(c); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
