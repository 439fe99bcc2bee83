package app

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// An insider who destroys the bodies of an entry a day after recording, in
// a deployment that keeps bodies for years, must not get an "intact" from
// the console's verification.
func TestConsoleVerifyUsesRetention(t *testing.T) {
	const origin = "dev.gatehouse.test/audit"
	dir := t.TempDir()
	paths, err := auditlog.EnsureDevKeys(dir, origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := auditlog.LoadSigner(paths.SigningKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := auditlog.LoadVerifier(paths.VerifierFile)
	if err != nil {
		t.Fatal(err)
	}
	recipients, err := auditlog.LoadRecipients(paths.RecipientsFile)
	if err != nil {
		t.Fatal(err)
	}

	// Entries recorded 40 days ago, so that a shredding time 30 hours
	// after recording lies in the past.
	ctx := context.Background()
	recordedAt := time.Now().Add(-40 * 24 * time.Hour)
	db, err := storage.Open(ctx, filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err := auditlog.Open(ctx, db, auditlog.Options{Origin: origin, Signer: signer, Recipients: recipients,
		Now: func() time.Time { return recordedAt }})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ex-0", "ex-1", "ex-2"} {
		e := &record.Entry{ExchangeID: id, Phase: record.PhaseRequest, Direction: "inbound", Partner: "demo-ehr",
			Method: "POST", Target: "/fhir/Claim/$submit", Decision: record.Allow, Received: recordedAt,
			RequestBody: []byte(`{"resourceType":"Bundle"}`)}
		if _, err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE audit_entries SET wrapped_key = NULL, request_ct = NULL, shredded_ns = recorded_ns + $1 WHERE idx = 1", int64(30*time.Hour)); err != nil {
		t.Fatal(err)
	}

	cfg := &config.File{}
	cfg.Audit.Retention = 52560 * time.Hour
	rep, err := auditlog.Verify(ctx, db, consoleVerifyOptions(cfg, &auditKeys{signer: signer, verifier: verifier}))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Intact() {
		t.Fatal("an entry shredded 30 hours after recording passed with audit.retention 52560h")
	}
	if first := rep.Problems[0].String(); !strings.Contains(first, "entry 1: shredded at") {
		t.Errorf("first problem %q, want entry 1 shredded too early", first)
	}
}
