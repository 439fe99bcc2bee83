package app_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// engageBody is a valid engage request: only the caller decides whether
// it may take effect.
const engageBody = `{"mode":"full","scope":"partner:demo-ehr","reason":"attack test"}`

// adminAttackClient returns a client of the development CA presenting cert, or
// no certificate when cert is nil.
func (h *harness) adminAttackClient(cert *tls.Certificate) *http.Client {
	h.t.Helper()
	roots, _ := h.layout.CAPool()
	tr := &http.Transport{TLSClientConfig: tlspolicy.Client(roots, cert)}
	h.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		// A redirect must not be followed, so that the test gets the
		// listener's own response to the path it sent.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// engineCert issues an integration engine certificate from the development
// CA: it chains to the admin listener's CA but names no administrator.
func (h *harness) engineCert() *tls.Certificate {
	h.t.Helper()
	ca, err := pki.LoadCA(h.layout.CACertFile, h.layout.CAKeyFile)
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := ca.IssueEngine(pki.AdminOptions{Name: "engine-1"})
	if err != nil {
		h.t.Fatal(err)
	}
	tc, err := c.TLSCertificate()
	if err != nil {
		h.t.Fatal(err)
	}
	return &tc
}

// assertNoCut fails unless the kill switch has no cut and the record has no
// control entry, so that a rejected request changed nothing.
func (h *harness) assertNoCut(name string) {
	h.t.Helper()
	if cuts := h.rt.KillSwitch.Cuts(); len(cuts) != 0 {
		h.t.Errorf("%s: %d cuts engaged, want none", name, len(cuts))
	}
	entries, err := h.rt.Records.(record.Reader).List(h.t.Context(), record.Filter{})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, e := range entries {
		if e.Phase == record.PhaseControl {
			h.t.Errorf("%s: control entry %s recorded", name, e.Interaction)
		}
	}
}

// TestAdminAttacksEngageNothing sends engage requests to the kill switch
// from everyone but an operator, and from an operator's browser in ways
// that a cross-site page could trigger. None may engage a cut.
func TestAdminAttacksEngageNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	adminHTTP, adminURL := h.adminClient()
	adminTLS := adminHTTP.Transport.(*http.Transport).TLSClientConfig.Certificates[0]
	admin := h.adminAttackClient(&adminTLS)
	partner := h.ehr.HTTPClient()

	type attempt struct {
		name       string
		client     *http.Client
		base       string
		method     string
		path       string
		header     http.Header
		wantStatus int
		wantText   string // in the response body
	}
	json := http.Header{"Content-Type": {"application/json"}}
	attempts := []attempt{
		{"partner certificate", partner, adminURL, "POST", "/killswitch", json,
			http.StatusForbidden, "administrator client certificate is required"},
		{"engine certificate", h.adminAttackClient(h.engineCert()), adminURL, "POST", "/killswitch", json,
			http.StatusForbidden, "administrator client certificate is required"},
		{"cross-site browser request", admin, adminURL, "POST", "/killswitch",
			http.Header{"Content-Type": {"application/json"}, "Sec-Fetch-Site": {"cross-site"}},
			http.StatusForbidden, "cross-site"},
		{"same-site browser request", admin, adminURL, "POST", "/killswitch",
			http.Header{"Content-Type": {"application/json"}, "Sec-Fetch-Site": {"same-site"}},
			http.StatusForbidden, "cross-site"},
		{"form body", admin, adminURL, "POST", "/killswitch",
			http.Header{"Content-Type": {"text/plain"}}, http.StatusUnsupportedMediaType, "JSON"},
		{"two content types", admin, adminURL, "POST", "/killswitch",
			http.Header{"Content-Type": {"text/plain", "application/json"}}, http.StatusUnsupportedMediaType, "JSON"},
		// The console's prefix skips the JSON check because the console
		// checks its own CSRF token. A path that only starts like it must
		// not reach the kill switch without either check: the mux
		// redirects it to the clean path (307 keeps the method), where the
		// JSON check applies.
		{"dot segments past the console prefix", admin, adminURL, "POST", "/console/../killswitch",
			http.Header{"Content-Type": {"text/plain"}}, http.StatusTemporaryRedirect, ""},
		{"encoded dot segments past the console prefix", admin, adminURL, "POST", "/console%2F..%2Fkillswitch",
			http.Header{"Content-Type": {"text/plain"}}, http.StatusNotFound, ""},
		{"double slash", admin, adminURL, "POST", "//killswitch",
			http.Header{"Content-Type": {"text/plain"}}, http.StatusUnsupportedMediaType, "JSON"},
		{"console engage form without CSRF token", admin, adminURL, "POST", "/console/killswitch/engage",
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, http.StatusForbidden, "CSRF"},
		{"method override header on GET", admin, adminURL, "GET", "/killswitch",
			http.Header{"X-HTTP-Method-Override": {"POST"}, "X-HTTP-Method": {"POST"}, "X-Method-Override": {"POST"}},
			http.StatusOK, `"cuts"`},
		{"admin path on the partner listener, partner certificate", partner, h.rt.FHIRBase, "POST", "/../killswitch", json,
			0, ""},
		{"admin path on the partner listener root, admin certificate", admin, strings.TrimSuffix(h.rt.FHIRBase, "/fhir"), "POST", "/killswitch", json,
			0, ""},
	}
	for _, a := range attempts {
		t.Run(a.name, func(t *testing.T) {
			req, err := http.NewRequest(a.method, a.base+a.path, strings.NewReader(engageBody))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(a.path, "%") || strings.HasPrefix(a.path, "//") || strings.Contains(a.path, "..") {
				// Send the path byte for byte, whatever the URL's encoding would make of it.
				req.URL.Opaque = "//" + req.URL.Host + a.path
			}
			for k, v := range a.header {
				req.Header[k] = v
			}
			resp, err := a.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case a.wantStatus == 0 && resp.StatusCode < 400:
				t.Errorf("status %d, want a rejection: %s", resp.StatusCode, body)
			case a.wantStatus != 0 && resp.StatusCode != a.wantStatus:
				t.Errorf("status %d, want %d: %s", resp.StatusCode, a.wantStatus, body)
			}
			if !strings.Contains(string(body), a.wantText) {
				t.Errorf("body %q does not contain %q", body, a.wantText)
			}
			h.assertNoCut(a.name)
		})
	}
}

// TestAdminListenerRejectsWithoutCertificate checks that the admin listener
// rejects a TLS client without a certificate at the handshake and plain
// HTTP with 400, and engages nothing.
func TestAdminListenerRejectsWithoutCertificate(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	_, adminURL := h.adminClient()

	resp, err := h.adminAttackClient(nil).Post(adminURL+"/killswitch", "application/json", strings.NewReader(engageBody))
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Errorf("request without a client certificate: status %d: %s", resp.StatusCode, body)
	} else if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("request without a client certificate failed with %v, want a TLS certificate alert", err)
	}

	// Plain HTTP on the TLS port: net/http returns 400 before any handler runs.
	conn, err := net.Dial("tcp", h.rt.AdminAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "POST /killswitch HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "+
		strconv.Itoa(len(engageBody))+"\r\nConnection: close\r\n\r\n"+engageBody)
	reply, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(reply), "HTTP/1.0 400") {
		t.Errorf("plain HTTP reply %q, want HTTP/1.0 400", firstLine(string(reply)))
	}
	h.assertNoCut("without a certificate")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
