package app_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// optionsStar is a request in the asterisk form, "OPTIONS *". net/http
// responds to it with 200 before any handler runs, unless the server sets
// DisableGeneralOptionsHandler.
const optionsStar = "OPTIONS * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"

// sendRaw writes request on conn and reads one response with its body.
func sendRaw(t *testing.T, conn net.Conn, request string) (*http.Response, []byte) {
	t.Helper()
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readBody(t, resp)
}

// dialTLS opens a TLS connection to addr presenting cert.
func dialTLS(t *testing.T, h *harness, addr string, cert tls.Certificate) net.Conn {
	t.Helper()
	roots, err := h.layout.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	conf := tlspolicy.Client(roots, &cert)
	conf.ServerName = "localhost"
	conn, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// checkRefusedAndRecorded checks that resp is an OperationOutcome with
// status and code, and that its exchange has one refusal entry with rule.
func checkRefusedAndRecorded(t *testing.T, h *harness, resp *http.Response, body []byte, status int, code, rule string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if got := outcomeCode(t, body); got != code {
		t.Errorf("issue code = %q, want %s", got, code)
	}
	entries := h.entries(resp)
	if len(entries) != 1 || entries[0].Phase != record.PhaseRefusal || entries[0].Rule != rule || entries[0].Method != "OPTIONS" {
		t.Errorf("record = %+v, want one OPTIONS refusal with rule %s", entries, rule)
	}
}

// TestOptionsStarInbound sends "OPTIONS *" to the inbound listener with the
// partner's certificate: the gateway must refuse and record it.
func TestOptionsStarInbound(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	cert, err := h.layout.PartnerClientCertificate()
	if err != nil {
		t.Fatal(err)
	}

	resp, body := sendRaw(t, dialTLS(t, h, h.rt.Addr.String(), cert), optionsStar)
	checkRefusedAndRecorded(t, h, resp, body, http.StatusBadRequest, "invalid", "request.noncanonical")
	if n := h.upstream.count.Load(); n != 0 {
		t.Errorf("upstream received %d requests, want 0", n)
	}
}

// TestOptionsStarOutbound sends "OPTIONS *" to the outbound listener with
// the engine's certificate: the gateway must refuse and record it, and
// send nothing to the partner.
func TestOptionsStarOutbound(t *testing.T) {
	cfg, layout, ehr, engineCert := newPayerOutbound(t)
	cfg.Partners[0].Outbound = partnerOutbound(layout, ehr, "capabilities")
	cfg.Egress.Allow = []string{ehr.srv.Listener.Addr().String()}
	h := &harness{t: t, layout: layout}
	h.start(cfg)
	cert, err := engineCert.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}

	resp, body := sendRaw(t, dialTLS(t, h, h.rt.OutboundAddr.String(), cert), optionsStar)
	checkRefusedAndRecorded(t, h, resp, body, http.StatusNotFound, "not-found", "outbound.unknown-partner")
	if n := ehr.calls.Load(); n != 0 {
		t.Errorf("the partner received %d requests, want 0", n)
	}
}

// TestOptionsStarForwardProxy sends "OPTIONS *" to the engine's forward
// proxy, which accepts only CONNECT: it must be refused and recorded like
// any other method.
func TestOptionsStarForwardProxy(t *testing.T) {
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) {
		cfg.Egress.ForwardProxy = config.ForwardProxy{Listen: "127.0.0.1:0", AllowClients: []string{"127.0.0.1/32"}}
	}})
	conn, err := net.DialTimeout("tcp", h.rt.ProxyAddr.String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}

	resp, body := sendRaw(t, conn, optionsStar)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("status = %d, want 405; body %s", resp.StatusCode, body)
	}
	entries, err := h.rt.Records.(record.Reader).List(context.Background(), record.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	recorded := 0
	for _, e := range entries {
		if e.Direction == "egress" && e.Method == "OPTIONS" && e.Rule == "egress.proxy.denied" {
			recorded++
		}
	}
	if recorded != 1 {
		t.Errorf("record has %d refused OPTIONS attempts at the forward proxy, want 1", recorded)
	}
}

// TestOptionsStarAdmin sends "OPTIONS *" to the admin listener. With a
// partner certificate, which chains to the same CA in development mode, it
// must get the 403 of every other request rather than net/http's own 200.
// An administrator gets the 400 that http.ServeMux returns for "*".
func TestOptionsStarAdmin(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	partnerCert, err := h.layout.PartnerClientCertificate()
	if err != nil {
		t.Fatal(err)
	}
	adminCert, err := pki.LoadTLSCertificate(app.DevAdminFiles(h.layout.Dir))
	if err != nil {
		t.Fatal(err)
	}

	resp, body := sendRaw(t, dialTLS(t, h, h.rt.AdminAddr.String(), partnerCert), optionsStar)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("partner certificate: status = %d, want 403; body %s", resp.StatusCode, body)
	}
	resp, body = sendRaw(t, dialTLS(t, h, h.rt.AdminAddr.String(), adminCert), optionsStar)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("administrator certificate: status = %d, want 400; body %s", resp.StatusCode, body)
	}
}
