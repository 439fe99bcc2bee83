package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// rotationSetup is a deployment configuration whose log of 6 entries is
// signed by the key in pki/checkpoint.key, with a second key for the same
// origin in newkey/.
type rotationSetup struct {
	cfgPath, dir, dbPath string
	recipients           []age.Recipient
}

func newRotationSetup(t *testing.T) *rotationSetup {
	t.Helper()
	cfgPath := hardenedExample(t)
	s := &rotationSetup{cfgPath: cfgPath, dir: filepath.Dir(cfgPath)}
	if err := os.Remove(s.path("pki/checkpoint.key")); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{"pki", "newkey"} {
		if err := os.MkdirAll(s.path(out), 0o700); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := run(t, context.Background(), "audit", "keygen", "--origin", auditTestOrigin, "--out", s.path(out)); code != 0 {
			t.Fatalf("keygen --out %s: %s", out, stderr)
		}
	}
	for _, d := range []string{"db", "witness"} {
		if err := os.MkdirAll(s.path(d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	identity, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	s.recipients = []age.Recipient{identity.Recipient()}
	s.dbPath = s.path("db/gatehouse.db")
	s.appendEntries(t, 6)

	yaml, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.NewReplacer("origin: gatehouse.payer.example/audit", "origin: "+auditTestOrigin,
		"path: /var/lib/gatehouse/gatehouse.db", "path: db/gatehouse.db",
		"  checkpoint_file: /var/lib/gatehouse-witness/checkpoint.txt", "  checkpoint_file: witness/checkpoint.txt\n  retired_verifier_keys_file: retired.vkeys").Replace(string(yaml))
	if !strings.Contains(edited, "retired_verifier_keys_file: retired.vkeys") {
		t.Fatal("the hardened example no longer names the checkpoint file this test replaces")
	}
	if err := os.WriteFile(cfgPath, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.path("retired.vkeys"), []byte("# verifier keys of retired checkpoint signing keys, oldest first\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *rotationSetup) path(rel string) string { return filepath.Join(s.dir, rel) }

// appendEntries appends n entries signed by the key in pki/.
func (s *rotationSetup) appendEntries(t *testing.T, n int) {
	t.Helper()
	signer, err := auditlog.LoadSigner(s.path("pki/checkpoint.key"))
	if err != nil {
		t.Fatal(err)
	}
	writeAuditLog(t, s.dbPath, signer, s.recipients, n)
}

func (s *rotationSetup) rotate(t *testing.T, newKey string) (int, string, string) {
	t.Helper()
	return run(t, context.Background(), "audit", "rotate-signing-key", "--config", s.cfgPath, "--new-key", newKey)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAuditRotateSigningKey(t *testing.T) {
	s := newRotationSetup(t)
	ctx := context.Background()
	copyFile(t, s.path("pki/checkpoint.vkey"), s.path("old.vkey"))
	oldVkey, err := os.ReadFile(s.path("old.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	// A proof handed out before the rotation, signed by the old key only.
	code, proof, stderr := run(t, ctx, "audit", "prove", "2", "--config", s.cfgPath)
	if code != 0 {
		t.Fatalf("prove: %s", stderr)
	}
	if err := os.WriteFile(s.path("entry-2.proof"), []byte(proof), 0o644); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := s.rotate(t, s.path("newkey/checkpoint.key"))
	if code != 0 {
		t.Fatalf("rotate: exit code %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, strings.TrimSpace(string(oldVkey))) {
		t.Errorf("rotate: stdout %q, want the old verifier key line to add to audit.retired_verifier_keys_file", stdout)
	}
	if !strings.Contains(stdout, "Next steps") {
		t.Errorf("rotate: stdout %q, want the next steps", stdout)
	}
	written, err := os.ReadFile(s.path("witness/checkpoint.txt"))
	if err != nil {
		t.Fatalf("rotate wrote no checkpoint file: %v", err)
	}
	if strings.Count(string(written), "\n— "+auditTestOrigin+" ") != 2 {
		t.Errorf("checkpoint file %q, want the handover signed by both keys", written)
	}

	// The steps the command prints: new key in place, old verifier retired.
	copyFile(t, s.path("newkey/checkpoint.key"), s.path("pki/checkpoint.key"))
	copyFile(t, s.path("newkey/checkpoint.vkey"), s.path("pki/checkpoint.vkey"))
	f, err := os.OpenFile(s.path("retired.vkeys"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(oldVkey)
	f.Close()
	s.appendEntries(t, 3)

	code, stdout, stderr = run(t, ctx, "audit", "verify", "--config", s.cfgPath)
	if code != 0 {
		t.Errorf("verify --config after the rotation: exit code %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "hands the log over") {
		t.Errorf("verify --config: stdout %q, want the handover listed", stdout)
	}
	code, _, stderr = run(t, ctx, "audit", "verify", "--database", s.dbPath, "--key", s.path("old.vkey"), "--key", s.path("pki/checkpoint.vkey"))
	if code != 0 {
		t.Errorf("verify with both keys: exit code %d\n%s", code, stderr)
	}
	code, _, stderr = run(t, ctx, "audit", "verify", "--database", s.dbPath, "--key", s.path("pki/checkpoint.vkey"))
	if code != 1 {
		t.Errorf("verify with the new key only: exit code %d, want 1", code)
	}
	if !strings.Contains(stderr, "no signature by the verifier key") {
		t.Errorf("verify with the new key only: stderr %q, want the checkpoints of the old key named", stderr)
	}
	if !strings.Contains(stderr, "--key OLD.vkey --key NEW.vkey") {
		t.Errorf("verify with the new key only: stderr %q, want the hint to give every key, oldest first", stderr)
	}

	code, _, stderr = run(t, ctx, "audit", "check-proof", s.path("entry-2.proof"), "--key", s.path("old.vkey"), "--key", s.path("pki/checkpoint.vkey"))
	if code != 0 {
		t.Errorf("check-proof of an old proof with both keys: exit code %d\n%s", code, stderr)
	}
	code, _, _ = run(t, ctx, "audit", "check-proof", s.path("entry-2.proof"), "--key", s.path("pki/checkpoint.vkey"))
	if code != 1 {
		t.Errorf("check-proof of an old proof with the new key only: exit code %d, want 1", code)
	}
}

func TestAuditRotateSigningKeyErrors(t *testing.T) {
	s := newRotationSetup(t)
	tests := []struct {
		name   string
		newKey string
		code   int
		stderr string
	}{
		{"same key", s.path("pki/checkpoint.key"), 2, "is the key in audit.signing_key_file"},
		{"missing key file", s.path("nokey/checkpoint.key"), 2, "gatehouse audit keygen --origin " + auditTestOrigin},
		{"verifier key instead of signing key", s.path("newkey/checkpoint.vkey"), 2, "--new-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := s.rotate(t, tt.newKey)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			if !strings.Contains(stderr, "gatehouse: error: ") {
				t.Errorf("stderr %q, want an error", stderr)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr, tt.stderr)
			}
		})
	}
	t.Run("missing --new-key", func(t *testing.T) {
		code, _, _ := run(t, context.Background(), "audit", "rotate-signing-key", "--config", s.cfgPath)
		if code != 2 {
			t.Errorf("exit code %d, want 2", code)
		}
	})
	t.Run("tampered log", func(t *testing.T) {
		execSQL(t, s.dbPath, "UPDATE audit_entries SET partner = 'forged' WHERE idx = 1")
		defer execSQL(t, s.dbPath, "UPDATE audit_entries SET partner = 'other-ehr' WHERE idx = 1")
		code, _, stderr := s.rotate(t, s.path("newkey/checkpoint.key"))
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		if !strings.Contains(stderr, "was not rotated") {
			t.Errorf("stderr %q, want the rejection explained", stderr)
		}
	})
	t.Run("entries without checkpoint", func(t *testing.T) {
		truncateAuditLog(t, s.dbPath, 5)
		code, _, stderr := s.rotate(t, s.path("newkey/checkpoint.key"))
		if code != 2 {
			t.Errorf("exit code %d, want 2", code)
		}
		if !strings.Contains(stderr, "5 entries are covered by no signed checkpoint") {
			t.Errorf("stderr %q, want the uncovered entries named", stderr)
		}
	})
}

func execSQL(t *testing.T, dbPath, stmt string) {
	t.Helper()
	db, err := storage.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatal(err)
	}
}

// keyLabelOf returns the name+hash label of the verifier key in the .vkey
// file at path, the form the rotation names keys in.
func keyLabelOf(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	name, rest, _ := strings.Cut(strings.TrimSpace(string(data)), "+")
	hash, _, _ := strings.Cut(rest, "+")
	return name + "+" + hash
}

// countStoredCheckpoints returns the number of checkpoints in the
// database at dbPath, handovers included.
func countStoredCheckpoints(t *testing.T, dbPath string) int {
	t.Helper()
	db, err := storage.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM audit_checkpoints`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRotateRejectsBadKeyHistory lists keys in audit.retired_verifier_keys_file
// that cannot form a key history with the key in use and the new key.
// Each rotation must fail with its own error and write nothing: no
// handover in the database and the checkpoint file unchanged.
func TestRotateRejectsBadKeyHistory(t *testing.T) {
	s := newRotationSetup(t)
	ctx := context.Background()
	checkpointFile := s.path("witness/checkpoint.txt")
	if code, _, stderr := run(t, ctx, "audit", "verify", "--config", s.cfgPath, "--no-checkpoint-file", "--write-checkpoint", checkpointFile); code != 0 {
		t.Fatalf("verify --write-checkpoint: exit code %d\n%s", code, stderr)
	}
	if err := os.MkdirAll(s.path("other"), 0o700); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, ctx, "audit", "keygen", "--origin", "other.example/audit", "--out", s.path("other")); code != 0 {
		t.Fatalf("keygen --origin other.example/audit: %s", stderr)
	}
	oldLabel, newLabel := keyLabelOf(t, s.path("pki/checkpoint.vkey")), keyLabelOf(t, s.path("newkey/checkpoint.vkey"))
	otherLabel := keyLabelOf(t, s.path("other/checkpoint.vkey"))

	tests := []struct {
		name    string
		retired string // the .vkey file listed as a retired key
		err     string
	}{
		{"new key used before", "newkey/checkpoint.vkey",
			"the new key " + newLabel + " was used before, so its old checkpoints would count as the new key's"},
		{"key given twice", "pki/checkpoint.vkey",
			"verifier key " + oldLabel + " is given twice"},
		{"keys of different logs", "other/checkpoint.vkey",
			"verifier keys " + otherLabel + " and " + oldLabel + " name different logs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			copyFile(t, s.path(tt.retired), s.path("retired.vkeys"))
			published, err := os.ReadFile(checkpointFile)
			if err != nil {
				t.Fatal(err)
			}
			stored := countStoredCheckpoints(t, s.dbPath)

			code, stdout, stderr := s.rotate(t, s.path("newkey/checkpoint.key"))
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if want := "gatehouse: error: " + tt.err + "\n"; !strings.Contains(stderr, want) {
				t.Errorf("stderr %q, want the line %q", stderr, want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if n := countStoredCheckpoints(t, s.dbPath); n != stored {
				t.Errorf("stored checkpoints %d, want %d: a rejected rotation stores no handover", n, stored)
			}
			after, err := os.ReadFile(checkpointFile)
			if err != nil {
				t.Fatal(err)
			}
			if string(after) != string(published) {
				t.Errorf("checkpoint file changed to %q, want it unchanged", after)
			}
		})
	}
}
