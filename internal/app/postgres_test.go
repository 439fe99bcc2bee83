package app_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// TestGatewayOnPostgres runs the development gateway with database.url
// naming a PostgreSQL schema: a PAS submission through the built-in payer
// service is recorded, decrypts, and the log verifies.
func TestGatewayOnPostgres(t *testing.T) {
	storagetest.SkipWithoutPostgres(t)
	cfg, layout, _, err := app.DevConfig(filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := storagetest.Backend{Dialect: storage.PostgreSQL}.NewURL(t)
	cfg.Database = config.Database{URL: url}
	h := &harness{t: t, layout: layout}
	h.start(cfg)
	if h.rt.DB.Dialect != storage.PostgreSQL {
		t.Fatalf("the gateway opened %s, want PostgreSQL", h.rt.DB.Dialect)
	}

	files, err := filepath.Glob("../demo/bundles/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped bundles: %v", err)
	}
	in, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, in)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	entries := h.entries(resp)
	if len(entries) != 2 {
		t.Fatalf("recorded %d entries, want request and response", len(entries))
	}
	req, _ := h.bodies(entries[0])
	if !bytes.Equal(req, in) {
		t.Error("the recorded request body differs from the one sent")
	}

	key, err := auditlog.LoadVerifier(auditlog.DevKeyPaths(layout.Dir).VerifierFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep, err := auditlog.Verify(context.Background(), storagetest.Open(t, url), auditlog.VerifyOptions{LogKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Intact() || rep.Size < 2 {
		t.Errorf("report = %+v, want an intact log with the exchange", rep)
	}
}
