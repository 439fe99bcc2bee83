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
// serves requests for its listener in process, with the payer key, and
// sends requests for any other host over the network.
func TestUpstreamClientServesPayerInProcess(t *testing.T) {
	// The payer's address has no listener, so a request that reaches the
	// handler cannot have used a socket.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr()
	ln.Close()

	var payerCalls atomic.Int64
	var gotKey, gotPath atomic.Value
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		payerCalls.Add(1)
		gotKey.Store(r.Header.Get(payerKeyHeader))
		gotPath.Store(r.URL.Path)
		w.Write([]byte("payer"))
	})
	payer := &payerServer{addr: addr, handler: handler}
	client, err := upstreamClient(&config.File{}, "payer-key", payer, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()

	resp, err := client.Get("http://" + addr.String() + "/fhir/metadata")
	if err != nil {
		t.Fatalf("request to the payer listener: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "payer" {
		t.Errorf("payer response body = %q, want %q", body, "payer")
	}
	if n := payerCalls.Load(); n != 1 {
		t.Fatalf("the payer handler received %d requests, want 1", n)
	}
	if got := gotKey.Load(); got != "payer-key" {
		t.Errorf("the payer handler received payer key %q, want payer-key", got)
	}
	if got := gotPath.Load(); got != "/fhir/metadata" {
		t.Errorf("the payer handler received path %q, want /fhir/metadata", got)
	}

	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("other"))
	}))
	defer other.Close()
	resp, err = client.Get(other.URL + "/fhir/metadata")
	if err != nil {
		t.Fatalf("request to another host: %v", err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "other" {
		t.Errorf("another host's response body = %q, want %q", body, "other")
	}
	if n := payerCalls.Load(); n != 1 {
		t.Errorf("the payer handler received %d requests after a request to another host, want 1", n)
	}
}
