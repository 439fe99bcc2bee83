package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/app/apptest"
	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// The gateway does not start on a log that no longer extends the
// checkpoint it last wrote to audit.checkpoint_file: here, one whose
// newest checkpoints and entries were deleted while it was down, which it
// would otherwise sign over.
func TestStartRefusesRolledBackLog(t *testing.T) {
	for _, keepHashes := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep hashes %t", keepHashes), func(t *testing.T) {
			cfg, _ := apptest.RolledBackDevData(t, keepHashes)
			rt, err := app.Start(context.Background(), cfg, app.Options{})
			if err == nil {
				rt.Close(context.Background())
				t.Fatal("Start succeeded on a rolled-back log")
			}
			if !strings.Contains(err.Error(), "entries were removed") {
				t.Errorf("error %q does not say that entries were removed", err)
			}
			if !strings.Contains(err.Error(), "audit.checkpoint_file "+cfg.Resolve(cfg.Audit.CheckpointFile)) {
				t.Errorf("error %q does not name the checkpoint file", err)
			}
			if !errors.Is(err, auditlog.ErrNotExtended) {
				t.Errorf("error %q does not wrap auditlog.ErrNotExtended", err)
			}
		})
	}
}

// A checkpoint file whose directory is missing would never be written,
// so the rollback check would stay off for good: the gateway does not
// start and names the directory to create.
func TestStartRefusesMissingCheckpointDirectory(t *testing.T) {
	ctx := context.Background()
	cfg, _, _, err := app.DevConfig(filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "witness")
	cfg.Audit.CheckpointFile = filepath.Join(missing, "checkpoint.txt")

	rt, err := app.Start(ctx, cfg, app.Options{Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		rt.Close(ctx)
		t.Fatal("Start succeeded without the checkpoint file's directory")
	}
	if !strings.Contains(err.Error(), "directory "+missing+" does not exist") {
		t.Errorf("error %q does not name the missing directory", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %q does not wrap fs.ErrNotExist", err)
	}
}

// A symbolic link to a file whose directory is missing, such as one on
// storage that is not mounted, is rejected as that directory would be.
func TestStartRefusesLinkIntoMissingDirectory(t *testing.T) {
	ctx := context.Background()
	cfg, _, _, err := app.DevConfig(filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "mnt", "witness")
	link := filepath.Join(t.TempDir(), "checkpoint.txt")
	if err := os.Symlink(filepath.Join(missing, "checkpoint.txt"), link); err != nil {
		t.Fatal(err)
	}
	cfg.Audit.CheckpointFile = link

	rt, err := app.Start(ctx, cfg, app.Options{Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		rt.Close(ctx)
		t.Fatal("Start succeeded with the checkpoint file linked into a missing directory")
	}
	if !strings.Contains(err.Error(), "directory "+missing+" does not exist") {
		t.Errorf("error %q does not name the missing directory", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %q does not wrap fs.ErrNotExist", err)
	}
}

// A missing checkpoint file turns the rollback check off, so the record
// opens with a warning that names the file.
func TestOpenRecordWarnsMissingCheckpointFile(t *testing.T) {
	ctx := context.Background()
	cfg, _, _, err := app.DevConfig(filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	db, err := storage.Open(ctx, cfg.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logged bytes.Buffer

	l, err := app.OpenRecord(ctx, cfg, db, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	if !strings.Contains(logged.String(), "level=WARN msg=\"audit checkpoint file not found") {
		t.Errorf("no warning for the missing checkpoint file:\n%s", logged.String())
	}
	if !strings.Contains(logged.String(), "file="+cfg.Resolve(cfg.Audit.CheckpointFile)) {
		t.Errorf("warning does not name the checkpoint file:\n%s", logged.String())
	}
}
