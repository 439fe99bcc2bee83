package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// stubResolver resolves names from a table. A name with several address
// lists returns the next one on each lookup, so tests can change the result
// between two connections as a rebinding DNS server would.
type stubResolver struct {
	mu      sync.Mutex
	answers map[string][][]netip.Addr
	lookups []string
}

func newStubResolver(table map[string][]string) *stubResolver {
	r := &stubResolver{answers: map[string][][]netip.Addr{}}
	for name, addrs := range table {
		r.answers[name] = append(r.answers[name], parseAddrs(addrs...))
	}
	return r
}

// then appends a later address list for name.
func (r *stubResolver) then(name string, addrs ...string) *stubResolver {
	r.answers[name] = append(r.answers[name], parseAddrs(addrs...))
	return r
}

func (r *stubResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups = append(r.lookups, host)
	list, ok := r.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	answer := list[0]
	if len(list) > 1 {
		r.answers[host] = list[1:]
	}
	return answer, nil
}

func parseAddrs(addrs ...string) []netip.Addr {
	out := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

// dialRecorder records every address dialled. With real set it connects
// (tests only point it at loopback listeners); otherwise it returns one end
// of a pipe.
type dialRecorder struct {
	mu     sync.Mutex
	real   bool
	dialed []string
}

func (d *dialRecorder) dial(ctx context.Context, network, address string) (net.Conn, error) {
	d.mu.Lock()
	d.dialed = append(d.dialed, address)
	d.mu.Unlock()
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, fmt.Errorf("dialRecorder: dial called with a name %q, want an IP address", address)
	}
	if d.real {
		if !ap.Addr().IsLoopback() {
			return nil, fmt.Errorf("dialRecorder: refusing to connect to non-loopback %s in a test", address)
		}
		var nd net.Dialer
		return nd.DialContext(ctx, network, address)
	}
	client, server := net.Pipe()
	server.Close()
	return client, nil
}

func (d *dialRecorder) calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.dialed...)
}

// denials collects the OnDeny hook's reports.
type denials struct {
	mu   sync.Mutex
	errs []*DeniedError
}

func (d *denials) add(e *DeniedError) {
	d.mu.Lock()
	d.errs = append(d.errs, e)
	d.mu.Unlock()
}

func (d *denials) all() []*DeniedError {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*DeniedError(nil), d.errs...)
}

// testPKI is a CA and a server certificate for the given names.
type testPKI struct {
	roots *x509.CertPool
	cert  tls.Certificate
}

func newTestPKI(t *testing.T, names ...string) testPKI {
	t.Helper()
	ca, err := pki.NewRoot(pki.RootOptions{CommonName: "egress test CA"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.IssueServer(pki.ServerOptions{DNSNames: names})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := leaf.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return testPKI{roots: ca.CertPool(), cert: cert}
}
