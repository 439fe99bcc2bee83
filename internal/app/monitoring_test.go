package app_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// adminClient returns an HTTP client with the development administrator's
// certificate, and the admin listener's base URL.
func adminClient(t *testing.T, h *harness) (*http.Client, string) {
	t.Helper()
	roots, _ := h.layout.CAPool()
	certFile, keyFile := app.DevAdminFiles(h.layout.Dir)
	cert, err := pki.LoadTLSCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &cert)},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(c.CloseIdleConnections)
	return c, "https://localhost:" + portOf(h.rt.AdminAddr.String())
}

// TestConsoleOnAdminListener checks that the console is served to
// administrators only, with its security headers, and refuses a POST
// without a CSRF token.
func TestConsoleOnAdminListener(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	admin, base := adminClient(t, h)
	for _, path := range []string{"/console/", "/console/partners", "/console/alerts", "/console/killswitch",
		"/console/auditlog", "/console/posture", "/console/dataflow", "/console/dataflow.svg"} {
		resp, err := admin.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d", path, resp.StatusCode)
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: security headers missing: %v", path, resp.Header)
		}
	}

	resp, err := admin.PostForm(base+"/console/killswitch/engage", url.Values{"mode": {"full"}, "scope_kind": {"all"}, "reason": {"x"}, "confirm": {"yes"}})
	if err != nil {
		t.Fatal(err)
	}
	if readBody(t, resp); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST without a CSRF token: status %d, want 403", resp.StatusCode)
	}
	if n := len(h.rt.KillSwitch.Cuts()); n != 0 {
		t.Errorf("%d cuts engaged by a POST without a CSRF token", n)
	}

	resp, err = h.ehr.HTTPClient().Get(base + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	if readBody(t, resp); resp.StatusCode != http.StatusForbidden {
		t.Errorf("partner certificate on the console: status %d, want 403", resp.StatusCode)
	}
}

// TestCanaryAlertCutsPartner sends a search for the development canary
// member and checks that the alert is raised, counted and logged without
// the identifier, and that with alerts.kill_switch on it cuts the partner
// off and records the cut.
func TestCanaryAlertCutsPartner(t *testing.T) {
	cfg, layout, _, err := app.DevConfig(filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Alerts.KillSwitch = true
	h := &harness{t: t, layout: layout}
	h.start(cfg)

	token := h.accessToken()
	req, _ := http.NewRequest("GET", h.rt.PublicURL+"/fhir/Patient?identifier=urn:gatehouse:dev:member%7CCANARY-0001", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	// The cut closes the partner's live connections, and it may do so
	// before the 403 has been flushed, so a connection error is expected too.
	if resp, err := h.ehr.HTTPClient().Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body) // may end early when the cut closes the connection
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("canary search: status %d, want 403", resp.StatusCode)
		}
	}

	deadline := time.Now().Add(10 * time.Second)
	for len(h.rt.KillSwitch.Cuts()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cuts := h.rt.KillSwitch.Cuts()
	if len(cuts) != 1 || cuts[0].Scope != "partner:"+app.DevPartner || cuts[0].EngagedBy != "alerts" || !strings.Contains(cuts[0].Reason, "canary") {
		t.Fatalf("cuts = %+v, want one cut of the partner by the canary alert", cuts)
	}
	// The cut acts first; its control entry follows.
	recorded := false
	for !recorded && time.Now().Before(deadline) {
		list, err := h.rt.Records.(record.Reader).List(context.Background(), record.Filter{Partner: app.DevPartner})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range list {
			recorded = recorded || (e.Interaction == "killswitch.engage" && e.Source == "alerts")
		}
		if !recorded {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !recorded {
		t.Error("the alert's cut is not in the record")
	}

	admin, base := adminClient(t, h)
	mresp, err := admin.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics := string(readBody(t, mresp))
	if !strings.Contains(metrics, `gatehouse_alerts_total{partner="demo-ehr",rule="canary",severity="high"} 1`) {
		t.Errorf("metrics do not count the alert:\n%s", grep(metrics, "gatehouse_alert"))
	}
	// The monitor logs the engagement after the kill switch has returned,
	// which may be after the cut and its record are visible.
	logs := h.logs.String()
	for !strings.Contains(logs, "alert engaged the kill switch") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		logs = h.logs.String()
	}
	if !strings.Contains(logs, "alert raised") || !strings.Contains(logs, "alert engaged the kill switch") {
		t.Errorf("the alert is not logged:\n%s", grep(logs, "alert"))
	}
	if strings.Contains(logs, "CANARY-0001") || strings.Contains(metrics, "CANARY-0001") {
		t.Error("the canary identifier leaked into the logs or metrics")
	}

	// The partner is cut off: its token is revoked or its request refused.
	resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", http.Header{"Authorization": {"Bearer " + token}}, nil)
	if readBody(t, resp); resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("request after the cut: status %d, want 503 or 401", resp.StatusCode)
	}
}
