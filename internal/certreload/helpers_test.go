package certreload

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// testCA is a root with an issuing intermediate, as `gatehouse pki init`
// creates, and the files a Holder reads.
type testCA struct {
	root, issuing *pki.CA
	dir           string
	certFile      string
	keyFile       string
	caFile        string
	crlFile       string
	crlNumber     int64
	revoked       []x509.RevocationListEntry
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	root, err := pki.NewRoot(pki.RootOptions{CommonName: "certreload test root", PathLen: 1})
	if err != nil {
		t.Fatal(err)
	}
	issuing, err := root.NewIntermediate(pki.IntermediateOptions{CommonName: "certreload test issuing CA"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca := &testCA{root: root, issuing: issuing, dir: dir,
		certFile: filepath.Join(dir, "server.pem"), keyFile: filepath.Join(dir, "server-key.pem"),
		caFile: filepath.Join(dir, "ca.pem"), crlFile: filepath.Join(dir, "crl.pem")}
	writeFile(t, ca.caFile, pki.EncodeCertificatesPEM([][]byte{root.Certificate.Raw}))
	ca.writeServer(t, ca.issueServer(t, 0))
	ca.writeCRL(t, time.Now().Add(24*time.Hour))
	return ca
}

func (ca *testCA) issueServer(t *testing.T, validity time.Duration) *pki.Certificate {
	t.Helper()
	c, err := ca.issuing.IssueServer(pki.ServerOptions{DNSNames: []string{"gateway.test"}, Validity: validity})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (ca *testCA) issueClient(t *testing.T, partner string) tls.Certificate {
	t.Helper()
	c, err := ca.issuing.IssueClient(pki.ClientOptions{PartnerID: partner})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := c.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// writeServer replaces the server certificate and key files, as a
// deployment tool would: new file, then rename.
func (ca *testCA) writeServer(t *testing.T, c *pki.Certificate) {
	t.Helper()
	key, err := pki.EncodePrivateKeyPEM(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, ca.keyFile, key)
	writeFile(t, ca.certFile, pki.EncodeCertificatesPEM(c.Chain))
}

// revoke adds serial to the CRL and writes it with the next CRL number.
func (ca *testCA) revoke(t *testing.T, serial *big.Int) {
	t.Helper()
	ca.revoked = append(ca.revoked, x509.RevocationListEntry{SerialNumber: serial, RevocationTime: time.Now().Add(-time.Minute), ReasonCode: 1})
	ca.writeCRL(t, time.Now().Add(24*time.Hour))
}

func (ca *testCA) writeCRL(t *testing.T, nextUpdate time.Time) {
	t.Helper()
	ca.crlNumber++
	writeFile(t, ca.crlFile, ca.signCRL(t, ca.crlNumber, nextUpdate))
}

func (ca *testCA) signCRL(t *testing.T, number int64, nextUpdate time.Time) []byte {
	t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                time.Now().Add(-time.Hour),
		NextUpdate:                nextUpdate,
		RevokedCertificateEntries: ca.revoked,
	}, ca.issuing.Certificate, ca.issuing.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

func (ca *testCA) roots() *x509.CertPool { return ca.root.CertPool() }

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func (ca *testCA) options(logger *slog.Logger) Options {
	return Options{CertFile: ca.certFile, KeyFile: ca.keyFile, ClientCAFile: ca.caFile, CRLFile: ca.crlFile, Logger: logger}
}

// serve runs a TLS listener with h.ServerConfig on loopback. Each
// connection completes its handshake, writes one byte and waits for EOF.
func serve(t *testing.T, h *Holder) string {
	t.Helper()
	conf, err := h.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write([]byte{1}); err != nil {
					return
				}
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// connect dials addr, completes the handshake and reads the server's byte,
// which is where a TLS 1.3 client learns that its certificate was refused.
// It returns the client's connection state.
func connect(addr string, conf *tls.Config) (tls.ConnectionState, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		return c.ConnectionState(), err
	}
	return c.ConnectionState(), nil
}

func (ca *testCA) clientConfig(cert tls.Certificate, version uint16) *tls.Config {
	return &tls.Config{
		RootCAs:            ca.roots(),
		ServerName:         "gateway.test",
		Certificates:       []tls.Certificate{cert},
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
		MinVersion:         version,
		MaxVersion:         version,
	}
}

// verifyLog records the VerifyConnection calls a Holder makes.
type verifyLog struct {
	mu    sync.Mutex
	calls []verifyCall
}

type verifyCall struct {
	resumed bool
	err     error
}

func (v *verifyLog) record(cs tls.ConnectionState, err error) {
	v.mu.Lock()
	v.calls = append(v.calls, verifyCall{resumed: cs.DidResume, err: err})
	v.mu.Unlock()
}

func (v *verifyLog) last(t *testing.T) verifyCall {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.calls) == 0 {
		t.Fatal("VerifyConnection was never called")
	}
	return v.calls[len(v.calls)-1]
}

// logBuffer is a concurrency-safe log destination.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }
