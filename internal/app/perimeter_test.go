package app_test

import (
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// TestSourceAllowlists checks both allowlists on a running gateway: a
// connection from outside the global list gets no TLS byte, and a partner
// connecting from outside its own list is refused and recorded.
func TestSourceAllowlists(t *testing.T) {
	cfg, layout, _, err := app.DevConfig(filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Network.AllowSources = []string{"127.0.0.1/32"}
	cfg.Partners[0].Sources = []string{"127.0.0.3/32"}
	h := &harness{t: t, layout: layout, upstream: newCountingUpstream(t)}
	cfg.Upstream.URL = h.upstream.srv.URL
	h.start(cfg)

	// From 127.0.0.2: closed before the handshake.
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	conn, err := dialer.Dial("tcp", h.rt.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(make([]byte, 1))
	conn.Close()
	if n != 0 || err == nil {
		t.Errorf("read %d bytes, err %v from a refused source; want none and a closed connection", n, err)
	}
	cert, _ := layout.PartnerClientCertificate()
	roots, _ := layout.CAPool()
	tr := &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &cert), DialContext: dialer.DialContext}
	if _, err := (&http.Client{Transport: tr}).Get(h.rt.FHIRBase + "/metadata"); err == nil {
		t.Error("an HTTPS request from a refused source succeeded")
	}

	// From 127.0.0.1: inside the global list, outside the partner's.
	resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", nil, nil)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden || outcomeCode(t, body) != "security" {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if e := h.entries(resp); len(e) != 1 || e[0].Rule != "source.partner" || e[0].Source != "127.0.0.1" {
		t.Errorf("entries = %+v", e)
	}
	if h.upstream.count.Load() != 0 {
		t.Error("the upstream received a request from a refused source")
	}
}
