package app

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/config"
)

// The client of forwarded requests wraps its transport to add the payer
// key. Closing the client's idle connections must still reach the
// transport, or stopping the built-in payer service waits for them.
func TestKeyTransportClosesIdleConnections(t *testing.T) {
	closed := make(chan struct{}, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	defer srv.Close()

	client := &http.Client{Transport: keyTransport{key: "k", next: &http.Transport{}}}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	client.CloseIdleConnections()
	// The wait only detects a connection that is never closed.
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the idle connection stayed open after CloseIdleConnections")
	}
}

// countingConn counts the Write calls on a connection.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// A forwarded PAS Bundle of typical size goes out with its headers in one
// write from the connection's buffer. Without that buffer net/http copies
// the body through a buffer it allocates for every request.
func TestUpstreamClientWritesBundleAtOnce(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()

	client, err := upstreamClient(&config.File{}, "payer-key", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var writes atomic.Int64
	tr := client.Transport.(keyTransport).next.(*http.Transport)
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, writes: &writes}, nil
	}
	defer client.CloseIdleConnections()

	body := bytes.Repeat([]byte("x"), 25<<10)
	resp, err := client.Post(srv.URL, "application/fhir+json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := writes.Load(); n != 1 {
		t.Errorf("a %d-byte request took %d writes, want 1", len(body), n)
	}
}

// With the built-in payer service as the upstream, the gateway's client
// serves requests for its listener in process.
func TestUpstreamClientServesPayerInProcess(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	payer := &payerServer{addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, handler: handler}
	client, err := upstreamClient(&config.File{}, "payer-key", payer, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := client.Transport.(keyTransport).next.(inProcessTransport)
	if !ok || tr.host != "127.0.0.1:9" {
		t.Fatalf("transport %T (host %q), want inProcessTransport for 127.0.0.1:9", client.Transport.(keyTransport).next, tr.host)
	}
}
