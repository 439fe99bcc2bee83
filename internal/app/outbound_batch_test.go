package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// The engine's batch to a partner is checked entry by entry against the
// outbound allowlist, as a partner's batch is inbound: batch-transaction
// alone does not let the engine read a Patient at the partner.
func TestOutboundBatchEntriesAllowlisted(t *testing.T) {
	dir := t.TempDir()
	cfg, layout, _, err := app.DevConfig(filepath.Join(dir, "data"), "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(layout.CACertFile, layout.CAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	payerKey, err := token.GenerateKey("ES384")
	if err != nil {
		t.Fatal(err)
	}
	keyJSON, _ := json.Marshal(payerKey)
	keyFile := filepath.Join(dir, "payer.jwk")
	if err := os.WriteFile(keyFile, keyJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	payerCert, _ := ca.IssueClient(pki.ClientOptions{PartnerID: "payer-123"})
	if err := payerCert.WriteFiles(filepath.Join(dir, "payer.pem"), filepath.Join(dir, "payer-key.pem")); err != nil {
		t.Fatal(err)
	}
	engineCert, _ := ca.IssueEngine(pki.AdminOptions{Name: "iris"})

	ehr := newFakeEHR(t, ca, payerKey)
	cfg.Outbound = config.Outbound{
		Listen: "127.0.0.1:0", ClientCAFile: layout.CACertFile,
		CertFile: filepath.Join(dir, "payer.pem"), KeyFile: filepath.Join(dir, "payer-key.pem"), AssertionKeyFile: keyFile,
	}
	cfg.Partners[0].Outbound = &config.PartnerOutbound{
		FHIRBase: ehr.srv.URL + "/fhir", TokenURL: ehr.srv.URL + "/oauth2/token", ClientID: "payer-123",
		Scopes: []string{"system/Task.cruds"}, CAFile: layout.CACertFile,
		Interactions: []string{"batch-transaction", "Task.read"},
	}
	cfg.Egress.Allow = []string{ehr.srv.Listener.Addr().String()}
	h := &harness{t: t, layout: layout}
	h.start(cfg)

	tc, _ := engineCert.TLSCertificate()
	roots, _ := layout.CAPool()
	engine := &http.Client{Transport: &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &tc)}}
	defer engine.CloseIdleConnections()
	base := "https://localhost:" + portOf(h.rt.OutboundAddr.String()) + "/partners/demo-ehr/fhir"

	batch := `{"resourceType":"Bundle","type":"batch","entry":[` +
		`{"request":{"method":"GET","url":"Task/1"}},{"request":{"method":"GET","url":"Patient/1"}}]}`
	resp, err := engine.Post(base, "application/fhir+json", bytes.NewReader([]byte(batch)))
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)

	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status = %d, want 403: %s", resp.StatusCode, body)
	}
	if n := ehr.calls.Load(); n != 0 {
		t.Errorf("the partner received %d calls, want 0", n)
	}
	if e := h.entries(resp); len(e) != 1 || e[0].Rule != "policy.not-allowed" || e[0].Direction != "outbound" {
		t.Errorf("entries = %+v, want one outbound policy.not-allowed refusal", e)
	}
}
