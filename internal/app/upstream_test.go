package app

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
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
