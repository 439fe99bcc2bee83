package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app/apptest"
)

// A gateway or payer command refused on a rolled-back log prints a hint
// with a verify command that runs as printed, on the right database, key
// and checkpoint file.
func TestRolledBackLogHint(t *testing.T) {
	_, dir := apptest.RolledBackDevData(t, false)
	checkpoint := filepath.Join(dir, "audit", "checkpoint.txt")
	want := "gatehouse: hint: see what changed with 'gatehouse audit verify --database " + filepath.Join(dir, "gatehouse.db") +
		" --key " + filepath.Join(dir, "audit", "checkpoint.vkey") + " --from-checkpoint " + checkpoint + "'"
	for _, args := range [][]string{
		{"serve", "--data", dir, "--listen", "127.0.0.1:0"},
		{"payer", "decide", "--data", dir, "claim-1", "1", "approve"},
	} {
		t.Run(args[0], func(t *testing.T) {
			code, _, stderr := run(t, context.Background(), args...)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(stderr, "entries were removed") {
				t.Errorf("stderr does not say that entries were removed:\n%s", stderr)
			}
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks the hint %q:\n%s", want, stderr)
			}
			if !strings.Contains(stderr, "move "+checkpoint+" aside") {
				t.Errorf("stderr does not say to move the checkpoint file aside:\n%s", stderr)
			}
		})
	}

	// The printed command runs and reports the truncation.
	code, _, stderr := run(t, context.Background(), "audit", "verify", "--database", filepath.Join(dir, "gatehouse.db"),
		"--key", filepath.Join(dir, "audit", "checkpoint.vkey"), "--from-checkpoint", checkpoint)
	if code != 1 || !strings.Contains(stderr, "entries were truncated") {
		t.Errorf("audit verify exit code %d, want 1 with 'entries were truncated':\n%s", code, stderr)
	}
}
