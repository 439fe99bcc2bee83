package cli

import (
	"context"
	"os"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/gatehouse-health/gatehouse/internal/auditlog/audittest"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// An insider who destroys the bodies of an entry a day after it was
// recorded, in a deployment that keeps bodies for years, destroys evidence.
// verify --config must report it from audit.retention without --retention.
func TestAuditVerifyConfigRetention(t *testing.T) {
	cfgPath, signer, identity, dbPath := keyedHardenedExample(t)

	ctx := context.Background()
	db, err := storage.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	audittest.AppendShreddedEarly(t, db, auditTestOrigin, signer, []age.Recipient{identity.Recipient()})
	db.Close()

	yaml, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.NewReplacer("origin: gatehouse.payer.example/audit", "origin: "+auditTestOrigin,
		"path: /var/lib/gatehouse/gatehouse.db", "path: db/gatehouse.db",
		"checkpoint_file: /var/lib/gatehouse-witness/checkpoint.txt", "checkpoint_file: witness/checkpoint.txt").Replace(string(yaml))
	if !strings.Contains(edited, "retention: 52560h") || !strings.Contains(edited, "path: db/gatehouse.db") {
		t.Fatal("the hardened example no longer sets the retention, database path and origin this test relies on")
	}
	if err := os.WriteFile(cfgPath, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := run(t, ctx, "audit", "verify", "--config", cfgPath, "--no-checkpoint-file")
	if code != 1 {
		t.Errorf("verify --config: exit code %d, want 1\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "entry 1: shredded at") || !strings.Contains(stderr, "less than 52560h0m0s after it was recorded") {
		t.Errorf("verify --config: stderr %q, want entry 1 shredded too early", stderr)
	}
	if !strings.Contains(stdout, "audit.retention 52560h0m0s") {
		t.Errorf("verify --config: stdout %q, want the retention period named", stdout)
	}

	// An explicit --retention replaces the configured period, for example
	// after the deployment shortened it.
	code, stdout, stderr = run(t, ctx, "audit", "verify", "--config", cfgPath, "--no-checkpoint-file", "--retention", "24h")
	if code != 0 || !strings.Contains(stdout, "retention destroyed the bodies of 1 entry") {
		t.Errorf("verify --config --retention 24h: code %d stdout %q stderr %q, want intact with 1 shredded entry", code, stdout, stderr)
	}
}
