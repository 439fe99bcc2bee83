package netguard

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// testServer is a TLS server behind a Guard listener. It counts the
// connections that reached the TLS layer and the handshakes that started.
type testServer struct {
	addr       string
	handshakes atomic.Int32
	reached    atomic.Int32
	remotes    chan net.Addr
	sources    chan Source
}

var (
	certOnce sync.Once
	testCert tls.Certificate
)

// serverCertificate returns a server certificate for localhost, 127.0.0.1
// and ::1 from a throwaway CA.
func serverCertificate(t testing.TB) tls.Certificate {
	t.Helper()
	certOnce.Do(func() {
		ca, err := pki.NewRoot(pki.RootOptions{CommonName: "netguard test CA"})
		if err != nil {
			panic(err)
		}
		leaf, err := ca.IssueServer(pki.ServerOptions{
			DNSNames:    []string{"localhost"},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		})
		if err != nil {
			panic(err)
		}
		if testCert, err = leaf.TLSCertificate(); err != nil {
			panic(err)
		}
	})
	return testCert
}

// startTLS listens on network address addr through g and completes TLS
// handshakes on every accepted connection, reporting RemoteAddr and the
// connection's Source.
func startTLS(t *testing.T, g *Guard, addr string) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	s := &testServer{addr: ln.Addr().String(), remotes: make(chan net.Addr, 16), sources: make(chan Source, 16)}
	conf := &tls.Config{
		Certificates: []tls.Certificate{serverCertificate(t)},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			s.handshakes.Add(1)
			return nil, nil
		},
	}
	tlsLn := tls.NewListener(countingListener{g.Listen(ln), &s.reached}, conf)
	t.Cleanup(func() { tlsLn.Close() })
	go func() {
		for {
			c, err := tlsLn.Accept()
			if err != nil {
				return
			}
			go s.serve(c.(*tls.Conn))
		}
	}()
	return s
}

func (s *testServer) serve(c *tls.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := c.Handshake(); err != nil {
		return
	}
	s.remotes <- c.RemoteAddr()
	if src, ok := SourceOf(c); ok {
		s.sources <- src
	}
	io.Copy(c, c)
}

type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// dialFrom connects to addr from the local address from (port chosen by
// the kernel).
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, from, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readClosed asserts that c is closed by the server without a byte sent:
// the read ends in EOF or a connection reset.
func readClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if n != 0 {
		t.Errorf("client read %d bytes %x, want none", n, buf[:n])
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("client read error = %v, want EOF or connection reset", err)
	}
}

// tlsHandshake runs a client handshake on c, trusting any server
// certificate because these tests are about the transport.
func tlsHandshake(c net.Conn) error {
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true}) // test only: the certificate is not under test
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		return err
	}
	// Echo one byte to be sure the server finished its side.
	if _, err := tc.Write([]byte{1}); err != nil {
		return err
	}
	_, err := tc.Read(make([]byte, 1))
	return err
}

// proxyV2 returns a PROXY command header for TCP from src to dst.
func proxyV2(src, dst netip.AddrPort) []byte {
	b := bytes.Clone(proxySignature)
	if src.Addr().Is4() && dst.Addr().Is4() {
		b = append(b, 0x21, proxyTCP4, 0, 12)
		b = append(b, src.Addr().AsSlice()...)
		b = append(b, dst.Addr().AsSlice()...)
	} else {
		b = append(b, 0x21, proxyTCP6, 0, 36)
		s, d := src.Addr().As16(), dst.Addr().As16()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}

// logRecorder collects log records.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) logger() *slog.Logger { return slog.New(l) }

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	return nil
}

func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) attrs() []map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]string
	for _, r := range l.records {
		m := map[string]string{"msg": r.Message}
		r.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.String()
			return true
		})
		out = append(out, m)
	}
	return out
}

func mustGuard(t testing.TB, opts Options) *Guard {
	t.Helper()
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}
