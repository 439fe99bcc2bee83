package app_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// After a rotation of the checkpoint signing key whose handover did not
// reach audit.checkpoint_file, the record opens with the new key only
// once audit.retired_verifier_keys_file lists the old verifier key.
func TestOpenRecordAfterSigningKeyRotation(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	cfg, _, _, err := app.DevConfig(filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	db, err := storage.Open(ctx, cfg.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	l, err := app.OpenRecord(ctx, cfg, db, quiet)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e := &record.Entry{ExchangeID: "ex-" + string(rune('a'+i)), Phase: record.PhaseRequest, Direction: "inbound",
			Partner: "demo-ehr", Method: "GET", Target: "/fhir/Coverage", Decision: record.Allow, Status: 200, Received: time.Now()}
		if _, err := l.AppendEntry(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}

	oldPath := cfg.Resolve(cfg.Audit.SigningKeyFile)
	old, oldKey, err := auditlog.LoadSigningKey(oldPath)
	if err != nil {
		t.Fatal(err)
	}
	skey, _, err := note.GenerateKey(rand.Reader, cfg.Audit.Origin)
	if err != nil {
		t.Fatal(err)
	}
	newPath := filepath.Join(t.TempDir(), "checkpoint.key")
	if err := os.WriteFile(newPath, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	newSigner, newKey, err := auditlog.LoadSigningKey(newPath)
	if err != nil {
		t.Fatal(err)
	}
	published, err := os.ReadFile(cfg.Resolve(cfg.Audit.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auditlog.RotateSigningKey(ctx, db, auditlog.RotateOptions{Old: old, OldKey: oldKey, New: newSigner, NewKey: newKey, Published: published}); err != nil {
		t.Fatal(err)
	}
	cfg.Audit.SigningKeyFile = newPath

	if l, err := app.OpenRecord(ctx, cfg, db, quiet); err == nil {
		l.Close(ctx)
		t.Fatal("OpenRecord accepted a checkpoint file of the old key without audit.retired_verifier_keys_file")
	} else if !strings.Contains(err.Error(), "audit.retired_verifier_keys_file") {
		t.Errorf("error %q does not name audit.retired_verifier_keys_file", err)
	}

	oldVkey, err := auditlog.VerifierKeyOf(oldPath)
	if err != nil {
		t.Fatal(err)
	}
	retired := filepath.Join(t.TempDir(), "retired.vkeys")
	if err := os.WriteFile(retired, []byte(oldVkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Audit.RetiredVerifierKeysFile = retired
	l, err = app.OpenRecord(ctx, cfg, db, quiet)
	if err != nil {
		t.Fatalf("OpenRecord with the old key retired: %v", err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
