package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// TestAdminListener checks that metrics and health are served to an
// administrator certificate only, and that the metrics count exchanges.
func TestAdminListener(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	// One refused exchange to count.
	readBody(t, h.send(h.ehr.HTTPClient(), "GET", "/fhir/Patient/1", nil, nil))

	roots, _ := h.layout.CAPool()
	certFile, keyFile := app.DevAdminFiles(h.layout.Dir)
	adminCert, err := pki.LoadTLSCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	adminURL := "https://localhost:" + portOf(h.rt.AdminAddr.String())
	admin := &http.Client{Transport: &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &adminCert)}}
	defer admin.CloseIdleConnections()

	resp, err := admin.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := string(readBody(t, resp))
	if resp.StatusCode != 200 {
		t.Fatalf("metrics status %d", resp.StatusCode)
	}
	if !strings.Contains(body, `gatehouse_denials_total{partner="demo-ehr",rule="token.missing"} 1`) {
		t.Errorf("metrics do not count the refused exchange:\n%s", grep(body, "gatehouse_"))
	}
	for _, name := range []string{"gatehouse_killswitch_cuts_engaged 0", "gatehouse_audit_checkpoint_age_seconds",
		"gatehouse_record_commit_seconds_count", "gatehouse_tls_certificate_expiry_timestamp_seconds", "gatehouse_connections_accepted_total"} {
		if !strings.Contains(body, name) {
			t.Errorf("metrics lack %s", name)
		}
	}
	if strings.Contains(body, "Patient/1") {
		t.Error("metrics leak a request path")
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := admin.Get(adminURL + path)
		if err != nil {
			t.Fatal(err)
		}
		if readBody(t, resp); resp.StatusCode != 200 {
			t.Errorf("%s status %d", path, resp.StatusCode)
		}
	}

	// A partner certificate chains to the same CA but is not an
	// administrator's.
	resp, err = h.ehr.HTTPClient().Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if readBody(t, resp); resp.StatusCode != http.StatusForbidden {
		t.Errorf("partner certificate on the admin listener: status %d, want 403", resp.StatusCode)
	}
}

func portOf(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

func grep(s, substr string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
