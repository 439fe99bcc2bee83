package app

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/auditlog/audittest"
	"github.com/gatehouse-health/gatehouse/internal/config"
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

	ctx := context.Background()
	db, err := storage.Open(ctx, filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	audittest.AppendShreddedEarly(t, db, origin, signer, recipients)

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
