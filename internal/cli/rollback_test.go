package cli

import (
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app/apptest"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// A gateway or payer command that fails on a rolled-back log prints a hint
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
				t.Errorf("stderr lacks that entries were removed:\n%s", stderr)
			}
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks the hint %q:\n%s", want, stderr)
			}
			if !strings.Contains(stderr, "move "+checkpoint+" aside") {
				t.Errorf("stderr lacks the hint to move the checkpoint file aside:\n%s", stderr)
			}
		})
	}

	// The printed command runs and reports the truncation.
	code, _, stderr := run(t, context.Background(), "audit", "verify", "--database", filepath.Join(dir, "gatehouse.db"),
		"--key", filepath.Join(dir, "audit", "checkpoint.vkey"), "--from-checkpoint", checkpoint)
	if code != 1 {
		t.Errorf("audit verify exit code %d, want 1:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "entries were truncated") {
		t.Errorf("audit verify stderr lacks 'entries were truncated':\n%s", stderr)
	}
}

// The hint prints a PostgreSQL URL without a password whole, quoted for
// the shell, and one with a password only as a placeholder.
func TestRolledBackLogHintPostgres(t *testing.T) {
	tests := []struct {
		url, want string
	}{
		{"postgres://gh@db.internal/g?sslmode=verify-full&search_path=gatehouse", `--database "postgres://gh@db.internal/g?sslmode=verify-full&search_path=gatehouse" --key`},
		{"postgres://gh:secret@db.internal/g?search_path=gatehouse", "--database DATABASE_URL --key"},
		{"postgres://gh@db.internal/g?password=secret", "--database DATABASE_URL --key"},
	}
	for _, tt := range tests {
		var stderr strings.Builder
		e := &env{ctx: context.Background(), stdout: io.Discard, stderr: &stderr}
		cfg := &config.File{Database: config.Database{URL: tt.url}}
		cfg.Audit.CheckpointFile = "/var/lib/gatehouse-witness/checkpoint.txt"
		cfg.Audit.SigningKeyFile = "/etc/gatehouse/checkpoint.key"

		e.notExtendedHint(cfg, "")
		if !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("hint for %s lacks %q:\n%s", storage.Redacted(tt.url), tt.want, stderr.String())
		}
		if strings.Contains(stderr.String(), "secret") {
			t.Errorf("hint for %s prints the password:\n%s", storage.Redacted(tt.url), stderr.String())
		}
	}
}

// With a configuration file, the hint's command names the file, so it
// runs as printed and no database URL appears.
func TestRolledBackLogHintConfig(t *testing.T) {
	var stderr strings.Builder
	e := &env{ctx: context.Background(), stdout: io.Discard, stderr: &stderr}
	cfg := &config.File{Database: config.Database{URL: "postgres://gh:secret@db.internal/g"}}
	cfg.Audit.CheckpointFile = "/var/lib/gatehouse-witness/checkpoint.txt"
	e.notExtendedHint(cfg, "/etc/gatehouse/gatehouse.yaml")
	want := "'gatehouse audit verify --config /etc/gatehouse/gatehouse.yaml --from-checkpoint /var/lib/gatehouse-witness/checkpoint.txt'"
	if !strings.Contains(stderr.String(), want) || strings.Contains(stderr.String(), "db.internal") {
		t.Errorf("hint lacks %s or names the database:\n%s", want, stderr.String())
	}
}

// Paths that a shell would split or expand are quoted, so the hint's
// command still runs as printed: sh reads back the very paths.
func TestRolledBackLogHintQuotesPaths(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on this machine")
	}
	configPath := "/etc/gate house/$HOME `id` \"x\" \\y.yaml"
	checkpoint := "/var/lib/witness's copy/checkpoint.txt"
	var stderr strings.Builder
	e := &env{ctx: context.Background(), stdout: io.Discard, stderr: &stderr}
	cfg := &config.File{Database: config.Database{URL: "sqlite:///tmp/g.db"}}
	cfg.Audit.CheckpointFile = checkpoint
	e.notExtendedHint(cfg, configPath)

	_, after, ok := strings.Cut(stderr.String(), "'gatehouse audit verify ")
	command, _, ok2 := strings.Cut(after, "'; ")
	if !ok || !ok2 {
		t.Fatalf("no command in the hint:\n%s", stderr.String())
	}
	out, err := exec.Command(sh, "-c", `set -- `+command+`; for a; do printf '%s\n' "$a"; done`).Output()
	if err != nil {
		t.Fatalf("sh cannot parse %s: %v", command, err)
	}
	want := strings.Join([]string{"--config", configPath, "--from-checkpoint", checkpoint}, "\n") + "\n"
	if string(out) != want {
		t.Errorf("sh reads the hint's command as\n%s\nwant\n%s", out, want)
	}
}
