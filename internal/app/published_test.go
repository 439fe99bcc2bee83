package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/app/apptest"
	"github.com/gatehouse-health/gatehouse/internal/auditlog"
)

// The gateway refuses to start on a log that no longer extends the
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
