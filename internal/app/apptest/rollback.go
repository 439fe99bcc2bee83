// Package apptest provides test set-ups shared by the packages that drive
// the application: app's own tests and the CLI's.
package apptest

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// RolledBackDevData returns a new development data directory and its
// configuration. Its log had five entries, a checkpoint every two, and one
// of size five in the checkpoint file. While no gateway ran, it was rolled
// back to its first two entries, as an insider would to hide the rest: the
// newer entries and checkpoints are deleted, and their stored hashes too
// unless keepHashes.
func RolledBackDevData(t *testing.T, keepHashes bool) (cfg *config.File, dir string) {
	t.Helper()
	ctx := context.Background()
	dir = filepath.Join(t.TempDir(), "data")
	cfg, _, _, err := app.DevConfig(dir, "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Audit.CheckpointEvery = 2

	db, err := storage.Open(ctx, cfg.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	l, err := app.OpenRecord(ctx, cfg, db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		e := &record.Entry{ExchangeID: fmt.Sprintf("ex-%d", i), Phase: record.PhaseRefusal, Direction: "inbound",
			Method: "GET", Target: "/fhir/metadata", Decision: record.Deny, Rule: "test", Status: 403, Received: time.Now()}
		if _, err := l.AppendEntry(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}

	queries := []string{"DELETE FROM audit_checkpoints WHERE size > 2", "DELETE FROM audit_entries WHERE idx >= 2"}
	if !keepHashes {
		// Two entries keep three stored hashes (tlog.StoredHashCount(2)).
		queries = append(queries, "DELETE FROM audit_hashes WHERE id >= 3")
	}
	for _, q := range queries {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return cfg, dir
}
