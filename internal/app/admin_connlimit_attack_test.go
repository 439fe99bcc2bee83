package app_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// adminTLS is the development administrator's client TLS configuration.
// It offers HTTP/2 only, so that the server speaks first after the
// handshake.
func adminTLS(t *testing.T, h *harness) *tls.Config {
	t.Helper()
	certFile, keyFile := app.DevAdminFiles(h.layout.Dir)
	cert, err := pki.LoadTLSCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	roots, _ := h.layout.CAPool()
	conf := tlspolicy.Client(roots, &cert)
	conf.NextProtos = []string{"h2"}
	conf.ServerName = "localhost"
	return conf
}

// dialAdminFrom opens a mutual-TLS connection to the admin listener from
// the loopback address from, as dialTLSFrom does.
func dialAdminFrom(t *testing.T, h *harness, from string) (*tls.Conn, error) {
	t.Helper()
	return dialTLSFrom(t, h.rt.AdminAddr.String(), adminTLS(t, h), from)
}

// openTCPFrom opens a plain TCP connection to the admin listener from the
// loopback address from and sends nothing, as a client that stalls before
// its ClientHello does.
func openTCPFrom(t *testing.T, h *harness, from string) net.Conn {
	t.Helper()
	c, err := dialerFrom(from).Dial("tcp", h.rt.AdminAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// adminHealthFrom sends GET /healthz to the admin listener from the
// loopback address from, on a new connection, and returns the status.
func adminHealthFrom(t *testing.T, h *harness, from string) (int, error) {
	t.Helper()
	conf := adminTLS(t, h)
	conf.NextProtos = []string{"h2", "http/1.1"}
	tr := &http.Transport{TLSClientConfig: conf, DialContext: dialerFrom(from).DialContext, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet,
		"https://localhost:"+portOf(h.rt.AdminAddr.String())+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	readBody(t, resp)
	return resp.StatusCode, nil
}

// TestAdminConnectionLimits fills the admin listener's caps with a stalled
// TCP connection and idle administrator connections. Each connection past
// a cap is closed before its handshake and counted by reason, and an
// administrator's request fails until the hoarded connections close, then
// succeeds.
func TestAdminConnectionLimits(t *testing.T) {
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) {
		cfg.Admin.MaxConnections = 3
		cfg.Admin.MaxConnectionsPerSource = 2
	}})
	overLimitCount := func(reason string) float64 {
		return counterValue(t, h, "gatehouse_connections_over_limit_total", map[string]string{"listener": "admin", "reason": reason})
	}

	// A client that never starts its handshake takes a slot, just as one
	// that finished it does.
	stalled := openTCPFrom(t, h, "127.0.0.1")
	idleAdmin, err := dialAdminFrom(t, h, "127.0.0.1")
	if err != nil {
		t.Fatalf("second connection from 127.0.0.1: %v", err)
	}
	requireClosedBeforeHandshake(t, h.rt.AdminAddr.String(), adminTLS(t, h), "127.0.0.1",
		"a third connection from 127.0.0.1, past admin.max_connections_per_source 2,")
	if got := overLimitCount("source"); got != 1 {
		t.Errorf("admin over-limit count for reason source = %v, want 1", got)
	}

	if _, err := dialAdminFrom(t, h, "127.0.0.2"); err != nil {
		t.Fatalf("connection from 127.0.0.2: %v", err)
	}
	requireClosedBeforeHandshake(t, h.rt.AdminAddr.String(), adminTLS(t, h), "127.0.0.3",
		"a fourth connection, past admin.max_connections 3,")
	if got := overLimitCount("listener"); got != 1 {
		t.Errorf("admin over-limit count for reason listener = %v, want 1", got)
	}
	if status, err := adminHealthFrom(t, h, "127.0.0.4"); err == nil {
		t.Fatalf("an administrator's request got status %d while the listener was full", status)
	}
	if got := overLimitCount("listener"); got != 2 {
		t.Errorf("admin over-limit count for reason listener = %v after the rejected request, want 2", got)
	}

	// The server releases a slot when it reads the close, on its own
	// goroutine, so the request may need a few attempts.
	stalled.Close()
	idleAdmin.Close()
	var status int
	err = retryUntilNil(func() error {
		var err error
		status, err = adminHealthFrom(t, h, "127.0.0.4")
		return err
	})
	if err != nil {
		t.Fatalf("administrator's request after the hoarded connections closed: %v", err)
	}
	if status != http.StatusOK {
		t.Errorf("administrator's request after the hoarded connections closed: status %d, want 200", status)
	}
}

// TestAdminHTTP2Settings checks that the admin listener announces the
// configured stream cap and frames sized to the admin API's body cap,
// not Go's defaults (250 streams, 1 MiB frames).
func TestAdminHTTP2Settings(t *testing.T) {
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) {
		cfg.Limits.HTTP2MaxConcurrentStreams = 7
	}})
	c, err := tls.Dial("tcp", h.rt.AdminAddr.String(), adminTLS(t, h))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	conn := newH2Conn(t, c)
	settings := conn.serverSettings(t)
	if got := settings[http2.SettingMaxConcurrentStreams]; got != 7 {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d, want 7", got)
	}
	if got := settings[http2.SettingMaxFrameSize]; got != 16<<10 {
		t.Errorf("SETTINGS_MAX_FRAME_SIZE = %d, want %d", got, 16<<10)
	}
}
