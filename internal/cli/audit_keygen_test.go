package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
)

// TestAuditKeygen creates a checkpoint key pair and checks that the
// gateway's loaders accept it: the signer names the origin, and a note it
// signs verifies under the verifier key file.
func TestAuditKeygen(t *testing.T) {
	dir := t.TempDir()
	const origin = "gatehouse.payer.example/audit"
	code, stdout, stderr := run(t, context.Background(), "audit", "keygen", "--origin", origin, "--out", dir)
	if code != 0 {
		t.Fatalf("keygen: exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "audit.signing_key_file") {
		t.Errorf("stdout = %q, want the configuration key to set", stdout)
	}

	keyPath, vkeyPath := filepath.Join(dir, "checkpoint.key"), filepath.Join(dir, "checkpoint.vkey")
	st, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("signing key mode = %o, want 600", st.Mode().Perm())
	}
	signer, err := auditlog.LoadSigner(keyPath)
	if err != nil {
		t.Fatalf("LoadSigner: %v", err)
	}
	if signer.Name() != origin {
		t.Errorf("signer name = %q, want %q", signer.Name(), origin)
	}
	verifier, err := auditlog.LoadVerifier(vkeyPath)
	if err != nil {
		t.Fatalf("LoadVerifier: %v", err)
	}
	msg, err := note.Sign(&note.Note{Text: "checkpoint\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(msg, note.VerifierList(verifier)); err != nil {
		t.Errorf("the verifier key does not verify the signing key's note: %v", err)
	}
}

func TestAuditKeygenErrors(t *testing.T) {
	existing := t.TempDir()
	if code, _, stderr := run(t, context.Background(), "audit", "keygen", "--origin", "log.example/a", "--out", existing); code != 0 {
		t.Fatalf("first keygen: exit %d, %s", code, stderr)
	}
	before, _ := os.ReadFile(filepath.Join(existing, "checkpoint.key"))

	tests := []struct {
		name      string
		args      []string
		code      int
		err, hint string
	}{
		{"missing origin", []string{"audit", "keygen", "--out", t.TempDir()}, 2, "missing --origin", "usage: gatehouse audit keygen"},
		{"origin with space", []string{"audit", "keygen", "--origin", "my log", "--out", t.TempDir()}, 2, `invalid --origin "my log"`, "without spaces or '+'"},
		{"missing directory", []string{"audit", "keygen", "--origin", "log.example/a", "--out", filepath.Join(existing, "none")}, 2, "is not a directory", "create it first"},
		{"existing key", []string{"audit", "keygen", "--origin", "log.example/a", "--out", existing}, 1, "checkpoint.key already exists", "keep the existing files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := run(t, context.Background(), tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, stderr)
			}
			if !strings.HasPrefix(stderr, "gatehouse: error: ") || !strings.Contains(stderr, tt.err) {
				t.Errorf("stderr = %q, want error %q", stderr, tt.err)
			}
			if !strings.Contains(stderr, "gatehouse: hint: ") || !strings.Contains(stderr, tt.hint) {
				t.Errorf("stderr = %q, want a hint with %q", stderr, tt.hint)
			}
		})
	}

	after, _ := os.ReadFile(filepath.Join(existing, "checkpoint.key"))
	if string(after) != string(before) {
		t.Error("keygen replaced an existing signing key")
	}
}

// TestAuditUsageMatchesSynopses checks that the group usage of 'gatehouse
// audit' lists the same options as -h of the subcommands it shows in full.
func TestAuditUsageMatchesSynopses(t *testing.T) {
	for _, synopsis := range []string{verifySynopsis, checkProofSynopsis, auditKeygenSynopsis, rotateSynopsis} {
		if !strings.Contains(auditUsage, "\n    "+synopsis+"\n") {
			t.Errorf("audit usage lacks the synopsis %q:\n%s", synopsis, auditUsage)
		}
	}
}
