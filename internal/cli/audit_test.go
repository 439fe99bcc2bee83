package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

const auditTestOrigin = "dev.gatehouse.test/audit"

// auditDataDir creates a development data directory whose audit log contains
// n entries, all covered by checkpoints.
func auditDataDir(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	keys, err := auditlog.EnsureDevKeys(dir, auditTestOrigin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := auditlog.LoadSigner(keys.SigningKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	recipients, err := auditlog.LoadRecipients(keys.RecipientsFile)
	if err != nil {
		t.Fatal(err)
	}
	// The development gateway writes every checkpoint to this file.
	writeAuditLog(t, filepath.Join(dir, "gatehouse.db"), signer, recipients, n, &auditlog.FileSink{Path: keys.CheckpointFile})
	return dir
}

// writeAuditLog appends n entries to a new log in the database at url and
// closes it, which publishes the last checkpoint to sinks.
func writeAuditLog(t *testing.T, url string, signer note.Signer, recipients []age.Recipient, n int, sinks ...auditlog.Sink) {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err := auditlog.Open(ctx, db, auditlog.Options{Origin: auditTestOrigin, Signer: signer, Recipients: recipients, CheckpointEvery: 4, Sinks: sinks})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		e := &record.Entry{
			ExchangeID: fmt.Sprintf("ex-%d", i), Phase: record.PhaseRequest, Direction: "inbound",
			Partner: []string{"demo-ehr", "other-ehr"}[i%2], Source: "127.0.0.1:5000",
			Method: "POST", Target: "/fhir/Claim/$submit?member=123", Interaction: "Claim/$submit",
			Decision: record.Allow, Status: 200, TokenID: "jti-1", Received: time.Now(),
			RequestBody: []byte(fmt.Sprintf(`{"resourceType":"Bundle","id":"b%d"}`, i)),
		}
		if i == 3 {
			e.Decision, e.Status, e.Phase, e.Reason = record.Deny, 403, record.PhaseRefusal, "scope not granted"
		}
		if _, err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAuditCommandsOnPostgres reads a log kept in PostgreSQL through
// --database URL.
func TestAuditCommandsOnPostgres(t *testing.T) {
	storagetest.SkipWithoutPostgres(t)
	dir := t.TempDir()
	keys, err := auditlog.EnsureDevKeys(dir, auditTestOrigin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := auditlog.LoadSigner(keys.SigningKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	recipients, err := auditlog.LoadRecipients(keys.RecipientsFile)
	if err != nil {
		t.Fatal(err)
	}
	url := storagetest.Backend{Dialect: storage.PostgreSQL}.NewURL(t)
	writeAuditLog(t, url, signer, recipients, 6)

	code, stdout, stderr := run(t, context.Background(), "audit", "verify", "--database", url, "--key", keys.VerifierFile)
	if code != 0 || !strings.Contains(stdout, "intact: 6 entries") {
		t.Errorf("verify: code %d stdout %q stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, context.Background(), "audit", "show", "--database", url, "--identity", keys.IdentityFile)
	if code != 0 || !strings.Contains(stdout, `"id":"b5"`) {
		t.Errorf("show: code %d stdout %q stderr %q", code, stdout, stderr)
	}
}

func TestAuditVerifyIntactAndTampered(t *testing.T) {
	dir := auditDataDir(t, 10)
	saved := filepath.Join(t.TempDir(), "last.cp")
	code, stdout, stderr := run(t, context.Background(), "audit", "verify", "--data", dir, "--write-checkpoint", saved)
	if code != 0 || !strings.Contains(stdout, "intact: 10 entries") {
		t.Fatalf("verify: code %d stdout %q stderr %q", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "checkpoint of size 10 written to "+saved) {
		t.Errorf("stdout = %q, want the written checkpoint named", stdout)
	}

	code, stdout, _ = run(t, context.Background(), "audit", "verify", "--data", dir, "--from-checkpoint", saved)
	if code != 0 || !strings.Contains(stdout, "intact") {
		t.Errorf("incremental verify: code %d stdout %q", code, stdout)
	}

	db, err := storage.Open(context.Background(), filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE audit_entries SET partner = 'mallory' WHERE idx = 6"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, _, stderr = run(t, context.Background(), "audit", "verify", "--data", dir)
	if code != 1 || !strings.Contains(stderr, "entry 6: column partner") {
		t.Errorf("tampered verify: code %d stderr %q", code, stderr)
	}
}

func TestAuditVerifyErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"audit", "verify", "--data", "/nonexistent/data"}, "gatehouse: error:"},
		{[]string{"audit", "verify", "--database", "/nonexistent/x.db"}, "--key is required with --database"},
		{[]string{"audit", "bogus"}, `unknown audit subcommand "bogus"`},
		{[]string{"audit", "show", "--decision", "maybe"}, `invalid --decision "maybe"`},
		{[]string{"audit", "export", "--format", "xml"}, `gatehouse: error: invalid --format "xml": use ndjson, auditevent or cef`},
		{[]string{"audit", "export", "--format", "cef", "--identity", "id.txt"}, "--identity is for --format ndjson only"},
		{[]string{"audit", "prove", "minus-one"}, `invalid entry index "minus-one"`},
		{[]string{"audit", "prove"}, "missing INDEX"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[1:], " "), func(t *testing.T) {
			code, _, stderr := run(t, context.Background(), tt.args...)
			if code != 2 {
				t.Errorf("exit code = %d, want 2", code)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.want)
			}
		})
	}
}

// TestAuditVerifyMissingCheckpoint runs the documented incremental
// verify before any checkpoint was saved. The error names the option, and
// the hint describes how to save the first one.
func TestAuditVerifyMissingCheckpoint(t *testing.T) {
	dir := auditDataDir(t, 2)
	saved := filepath.Join(t.TempDir(), "last.cp")
	code, _, stderr := run(t, context.Background(), "audit", "verify", "--data", dir, "--from-checkpoint", saved, "--write-checkpoint", saved)
	if code != 2 {
		t.Errorf("exit code = %d, want 2", code)
	}
	if !strings.Contains(stderr, "gatehouse: error: --from-checkpoint: open "+saved) {
		t.Errorf("the error does not name --from-checkpoint and the file:\n%s", stderr)
	}
	if !strings.Contains(stderr, "gatehouse: hint: on the first run, leave out --from-checkpoint") {
		t.Errorf("no hint for the first run:\n%s", stderr)
	}
}

func TestAuditShowDecrypts(t *testing.T) {
	dir := auditDataDir(t, 6)
	identity := auditlog.DevKeyPaths(dir).IdentityFile
	code, stdout, stderr := run(t, context.Background(), "audit", "show", "--data", dir, "--partner", "other-ehr", "--decision", "deny", "--identity", identity)
	if code != 0 {
		t.Fatalf("code %d stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "#3 ") || strings.Contains(stdout, "#1 ") || !strings.Contains(stdout, `"id":"b3"`) {
		t.Errorf("show output = %q, want entry 3 alone with its body", stdout)
	}

	code, stdout, _ = run(t, context.Background(), "audit", "show", "--data", dir, "--limit", "2")
	if code != 0 || strings.Contains(stdout, "resourceType") || strings.Count(stdout, "\n#") != 1 {
		t.Errorf("show without identity = %q, want 2 entries and no bodies", stdout)
	}
}

func TestAuditExportFormats(t *testing.T) {
	dir := auditDataDir(t, 4)
	tests := []struct {
		format string
		check  func(line string) error
	}{
		{"ndjson", func(line string) error {
			var x auditlog.ExportedEntry
			if err := json.Unmarshal([]byte(line), &x); err != nil {
				return err
			}
			if x.LeafHash == "" {
				return fmt.Errorf("entry %+v has no leaf hash", x)
			}
			if x.Target != "/fhir/Claim/$submit" {
				return fmt.Errorf("target %q, want the path /fhir/Claim/$submit", x.Target)
			}
			if x.QueryWithheld != auditlog.QueryNotDecrypted {
				return fmt.Errorf("query_withheld %q, want %q", x.QueryWithheld, auditlog.QueryNotDecrypted)
			}
			if strings.Contains(line, "member=123") {
				return fmt.Errorf("NDJSON without --identity holds the query string: %s", line)
			}
			return nil
		}},
		{"auditevent", func(line string) error {
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				return err
			}
			if ev["resourceType"] != "AuditEvent" || strings.Contains(line, "member=123") {
				return fmt.Errorf("unexpected AuditEvent %s", line)
			}
			return nil
		}},
		{"cef", func(line string) error {
			if !strings.HasPrefix(line, "CEF:0|Gatehouse Health|Gatehouse|") || strings.Contains(line, "member=123") {
				return fmt.Errorf("unexpected CEF line %s", line)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			code, stdout, stderr := run(t, context.Background(), "audit", "export", "--data", dir, "--format", tt.format)
			if code != 0 {
				t.Fatalf("code %d stderr %q", code, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			if len(lines) != 4 {
				t.Fatalf("%d lines, want 4", len(lines))
			}
			for _, line := range lines {
				if err := tt.check(line); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestAuditProveAndCheckProof(t *testing.T) {
	dir := auditDataDir(t, 9)
	code, proof, stderr := run(t, context.Background(), "audit", "prove", "5", "--data", dir)
	if code != 0 {
		t.Fatalf("prove: code %d stderr %q", code, stderr)
	}
	path := filepath.Join(t.TempDir(), "entry-5.tlog-proof")
	if err := os.WriteFile(path, []byte(proof), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := auditlog.ParseProof([]byte(proof))
	if err != nil {
		t.Fatal(err)
	}
	vkey := auditlog.DevKeyPaths(dir).VerifierFile

	code, stdout, stderr := run(t, context.Background(), "audit", "check-proof", path, "--key", vkey, "--leaf", p.LeafHash.String())
	if code != 0 || !strings.Contains(stdout, "valid: entry 5") {
		t.Errorf("check-proof: code %d stdout %q stderr %q", code, stdout, stderr)
	}

	code, _, stderr = run(t, context.Background(), "audit", "check-proof", path, "--key", vkey, "--leaf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	if code != 1 || !strings.Contains(stderr, "not AAAA") {
		t.Errorf("check-proof with another leaf: code %d stderr %q", code, stderr)
	}

	damaged := strings.Replace(proof, "index 5", "index 4", 1)
	if err := os.WriteFile(path, []byte(damaged), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, context.Background(), "audit", "check-proof", path, "--key", vkey)
	if code != 1 || !strings.Contains(stderr, "invalid proof") {
		t.Errorf("check-proof of a damaged proof: code %d stderr %q", code, stderr)
	}

	code, _, stderr = run(t, context.Background(), "audit", "prove", "9", "--data", dir)
	if code != 1 || !strings.Contains(stderr, "no entry 9: the audit log has 9 entries, indexes 0 to 8") {
		t.Errorf("prove beyond the log: code %d stderr %q", code, stderr)
	}
}

// check-proof explains to a third party why a proof fails: a --leaf that is not
// a leaf hash, and a verifier key that did not sign the checkpoint.
func TestAuditCheckProofMessages(t *testing.T) {
	dir := auditDataDir(t, 5)
	code, proof, stderr := run(t, context.Background(), "audit", "prove", "2", "--data", dir)
	if code != 0 {
		t.Fatalf("prove: code %d stderr %q", code, stderr)
	}
	path := filepath.Join(t.TempDir(), "entry-2.tlog-proof")
	if err := os.WriteFile(path, []byte(proof), 0o600); err != nil {
		t.Fatal(err)
	}
	vkey := auditlog.DevKeyPaths(dir).VerifierFile

	// A hex SHA-256 of a body is not the entry's leaf hash.
	hexDigest := strings.Repeat("ab", 32)
	code, _, stderr = run(t, context.Background(), "audit", "check-proof", path, "--key", vkey, "--leaf", hexDigest)
	if code != 2 {
		t.Errorf("hex --leaf: code %d, want 2", code)
	}
	if !strings.Contains(stderr, "invalid --leaf") || !strings.Contains(stderr, "hint: copy it from the X-Gatehouse-Leaf-Hash header") {
		t.Errorf("hex --leaf: stderr %q, want the expected form and where to find it", stderr)
	}

	other := t.TempDir()
	if code, _, stderr := run(t, context.Background(), "audit", "keygen", "--origin", auditTestOrigin, "--out", other); code != 0 {
		t.Fatalf("keygen: code %d stderr %q", code, stderr)
	}
	code, _, stderr = run(t, context.Background(), "audit", "check-proof", path, "--key", filepath.Join(other, "checkpoint.vkey"))
	if code != 1 {
		t.Errorf("another deployment's key: code %d, want 1", code)
	}
	if !strings.Contains(stderr, "has no signature by the verifier key "+auditTestOrigin+"+") {
		t.Errorf("another deployment's key: stderr %q, want the key named", stderr)
	}
	if !strings.Contains(stderr, "hint: the proof does not show that entry 2 is in the log") {
		t.Errorf("another deployment's key: stderr %q, want a hint", stderr)
	}
}

// Bodies encrypted to recipients the --identity does not hold, as after a
// rotation of audit.recipients_file, are not reported as tampering.
func TestAuditShowOtherRecipients(t *testing.T) {
	dir := auditDataDir(t, 2)
	identity, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "identity.txt")
	if err := os.WriteFile(path, []byte(identity.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := run(t, context.Background(), "audit", "show", "--data", dir, "--identity", path)
	if code != 1 {
		t.Errorf("code %d, want 1", code)
	}
	if strings.Count(stdout, "bodies: unreadable") != 2 {
		t.Errorf("stdout %q, want both entries marked unreadable", stdout)
	}
	if !strings.Contains(stderr, "the bodies of 2 listed entries are encrypted to recipients that no identity in "+path+" matches") {
		t.Errorf("stderr %q, want the identity named", stderr)
	}
	if strings.Contains(stderr, "audit verify") {
		t.Errorf("stderr %q sends the auditor to look for tampering", stderr)
	}
}

// verify names the recording time of the newest shredded entry, and with
// --retention reports an entry shredded sooner than that period.
func TestAuditVerifyShredded(t *testing.T) {
	// Entries recorded 40 days ago, so that shredding them 30 hours later
	// lies in the past.
	recordedAt := time.Now().Add(-40 * 24 * time.Hour)
	var entries []*record.Entry
	for i := range 6 {
		entries = append(entries, &record.Entry{ExchangeID: fmt.Sprintf("ex-%d", i), Phase: record.PhaseRequest, Direction: "inbound",
			Partner: "demo-ehr", Method: "POST", Target: "/fhir/Claim/$submit", Decision: record.Allow,
			RequestBody: []byte(fmt.Sprintf(`{"resourceType":"Bundle","id":"b%d"}`, i))})
	}
	dir := devLogDir(t, func() time.Time { return recordedAt }, entries)
	db, err := storage.Open(context.Background(), filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	var recorded int64
	if err := db.QueryRow("SELECT recorded_ns FROM audit_entries WHERE idx = 2").Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE audit_entries SET wrapped_key = NULL, request_ct = NULL, shredded_ns = recorded_ns + $1 WHERE idx <= 2", int64(30*time.Hour)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	code, stdout, stderr := run(t, context.Background(), "audit", "verify", "--data", dir)
	newest := time.Unix(0, recorded).UTC().Format(time.RFC3339)
	if code != 0 || !strings.Contains(stdout, "retention destroyed the bodies of 3 entries") ||
		!strings.Contains(stdout, "the newest of them was recorded at "+newest) {
		t.Errorf("verify: code %d stdout %q stderr %q, want 3 shredded, the newest recorded at %s", code, stdout, stderr, newest)
	}

	code, _, stderr = run(t, context.Background(), "audit", "verify", "--data", dir, "--retention", "720h")
	if code != 1 || !strings.Contains(stderr, "entry 0: shredded at") || !strings.Contains(stderr, "less than 720h0m0s after it was recorded") {
		t.Errorf("verify --retention 720h: code %d stderr %q, want entry 0 shredded too early", code, stderr)
	}

	code, _, stderr = run(t, context.Background(), "audit", "verify", "--data", dir, "--retention", "1h")
	if code != 2 || !strings.Contains(stderr, "invalid --retention 1h0m0s") || !strings.Contains(stderr, "2160h") {
		t.Errorf("verify --retention 1h: code %d stderr %q, want a usage error", code, stderr)
	}
}

// An incremental verify must not replace the saved checkpoint with an
// older one when the newer stored checkpoints were deleted.
func TestAuditVerifyKeepsNewerSavedCheckpoint(t *testing.T) {
	dir := auditDataDir(t, 10)
	saved := filepath.Join(t.TempDir(), "last.cp")
	code, _, stderr := run(t, context.Background(), "audit", "verify", "--data", dir, "--write-checkpoint", saved)
	if code != 0 {
		t.Fatalf("verify: code %d stderr %q", code, stderr)
	}
	before, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}

	db, err := storage.Open(context.Background(), filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("DELETE FROM audit_checkpoints WHERE size > 4"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	code, _, stderr = run(t, context.Background(), "audit", "verify", "--data", dir, "--from-checkpoint", saved, "--write-checkpoint", saved)
	if code != 1 {
		t.Errorf("verify after deleting checkpoints: code %d, want 1", code)
	}
	if !strings.Contains(stderr, "checkpoints were deleted") {
		t.Errorf("verify after deleting checkpoints: stderr %q, want the deleted checkpoints named", stderr)
	}
	after, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Errorf("the saved checkpoint was replaced:\n%s\nwas:\n%s", after, before)
	}
}

// Input files of verify and check-proof are read up to a bound, and read
// errors are reported as such rather than as a malformed file.
func TestAuditInputFilesBounded(t *testing.T) {
	dir := auditDataDir(t, 2)
	vkey := auditlog.DevKeyPaths(dir).VerifierFile
	huge := filepath.Join(t.TempDir(), "huge")
	if err := os.WriteFile(huge, make([]byte, maxProofFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	// A FIFO without a writer must not block verify in open(2).
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"trusted checkpoint is a FIFO", []string{"audit", "verify", "--data", dir, "--from-checkpoint", fifo},
			"gatehouse: error: trusted checkpoint: "},
		{"huge trusted checkpoint", []string{"audit", "verify", "--data", dir, "--from-checkpoint", huge},
			fmt.Sprintf("gatehouse: error: --from-checkpoint: %s is larger than %d bytes", huge, auditlog.MaxCheckpointBytes)},
		{"huge proof", []string{"audit", "check-proof", huge, "--key", vkey},
			fmt.Sprintf("gatehouse: error: %s is larger than %d bytes", huge, maxProofFile)},
		{"proof is a directory", []string{"audit", "check-proof", dir, "--key", vkey},
			"gatehouse: error: read " + dir + ": "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := run(t, context.Background(), tt.args...)
			if code != 2 {
				t.Errorf("exit code = %d, want 2", code)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.want)
			}
		})
	}
}

// A log whose checkpoints were all deleted verifies only against hashes an
// insider can recompute, and verify warns about it.
func TestAuditVerifyWarnsWithoutCheckpoints(t *testing.T) {
	dir := auditDataDir(t, 5)
	code, _, stderr := run(t, context.Background(), "audit", "verify", "--data", dir)
	if code != 0 || strings.Contains(stderr, "warning") {
		t.Fatalf("verify with checkpoints: code %d stderr %q, want exit 0 without a warning", code, stderr)
	}

	db, err := storage.Open(context.Background(), filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("DELETE FROM audit_checkpoints"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// The checkpoint file would show the deletion, which this test is not
	// about.
	code, _, stderr = run(t, context.Background(), "audit", "verify", "--data", dir, "--no-checkpoint-file")
	if code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	if !strings.Contains(stderr, "gatehouse: warning: no signed checkpoint covers any of the 5 entries") {
		t.Errorf("stderr = %q, want a warning that no checkpoint covers the entries", stderr)
	}
	if !strings.Contains(stderr, "gatehouse: hint: pass --from-checkpoint") {
		t.Errorf("stderr = %q, want a hint to pass --from-checkpoint", stderr)
	}

	saved := filepath.Join(t.TempDir(), "last.cp")
	code, _, stderr = run(t, context.Background(), "audit", "verify", "--data", dir, "--no-checkpoint-file", "--write-checkpoint", saved)
	if code != 0 {
		t.Errorf("verify --write-checkpoint without checkpoints: exit code %d, want 0", code)
	}
	if !strings.Contains(stderr, "gatehouse: warning: --write-checkpoint: "+saved+" not written") {
		t.Errorf("stderr = %q, want a warning that the file was not written", stderr)
	}
	if _, err := os.Stat(saved); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat %s: %v, want no file", saved, err)
	}
}

func TestAuditShowNegativeLimit(t *testing.T) {
	dir := auditDataDir(t, 2)
	code, stdout, stderr := run(t, context.Background(), "audit", "show", "--data", dir, "--limit", "-5")
	if code != 2 {
		t.Errorf("exit code = %d, want 2", code)
	}
	if !strings.Contains(stderr, "gatehouse: error: invalid --limit -5") {
		t.Errorf("stderr = %q, want the invalid limit named", stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want no entries listed", stdout)
	}
}

// Counts read in the singular when they are one.
func TestAuditVerifySingular(t *testing.T) {
	dir := auditDataDir(t, 4)
	code, stdout, stderr := run(t, context.Background(), "audit", "verify", "--data", dir)
	if code != 0 {
		t.Errorf("verify: code %d stderr %q, want 0", code, stderr)
	}
	if !strings.Contains(stdout, "intact: 4 entries, 1 signed checkpoint\n") {
		t.Errorf("verify: stdout %q, want one signed checkpoint in the singular", stdout)
	}
}

// Run outside a development data directory, verify prints how to point it
// at a log, not only that a key file is missing.
func TestAuditVerifyWithoutDataHint(t *testing.T) {
	t.Chdir(t.TempDir())
	code, _, stderr := run(t, context.Background(), "audit", "verify")
	if code != 2 {
		t.Errorf("verify without --data: code %d, want 2", code)
	}
	for _, option := range []string{"--config FILE", "--data DIR", "--database FILE|URL"} {
		if !strings.Contains(stderr, option) {
			t.Errorf("verify without --data: stderr %q, want a hint naming %s", stderr, option)
		}
	}
	if !strings.Contains(stderr, "gatehouse: hint: no development data in ./gatehouse-data: pass ") {
		t.Errorf("verify without --data: stderr %q, want the hint to say no development data was found", stderr)
	}
}

// With --config, the audit commands read the log in the configuration's
// database and take the verifier key that 'audit keygen' wrote beside the
// signing key.
func TestAuditVerifyWithConfig(t *testing.T) {
	// The hardened example, with its log named for these tests, its
	// database in a temporary directory and a key pair from keygen.
	cfgPath, signer, identity, dbPath := keyedHardenedExample(t)
	dir := filepath.Dir(cfgPath)
	writeAuditLog(t, dbPath, signer, []age.Recipient{identity.Recipient()}, 6)
	yaml, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.NewReplacer("origin: gatehouse.payer.example/audit", "origin: "+auditTestOrigin,
		"path: /var/lib/gatehouse/gatehouse.db", "path: db/gatehouse.db",
		"checkpoint_file: /var/lib/gatehouse-witness/checkpoint.txt", "checkpoint_file: witness/checkpoint.txt").Replace(string(yaml))
	if edited == string(yaml) || !strings.Contains(edited, "checkpoint_file: witness/checkpoint.txt") {
		t.Fatal("the hardened example no longer names the origin, database path and checkpoint file this test replaces")
	}
	if err := os.WriteFile(cfgPath, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}

	// writeAuditLog publishes to no checkpoint file, as if the file
	// had been deleted.
	checkpointFile := filepath.Join(dir, "witness", "checkpoint.txt")
	code, _, stderr := run(t, context.Background(), "audit", "verify", "--config", cfgPath)
	if code != 1 {
		t.Errorf("verify --config without the checkpoint file: exit code %d, want 1\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "audit.checkpoint_file "+checkpointFile+" is missing, but the log has signed checkpoints up to size 6") {
		t.Errorf("verify --config without the checkpoint file: stderr %q, want the missing file named", stderr)
	}

	if err := os.MkdirAll(filepath.Dir(checkpointFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, context.Background(), "audit", "verify", "--config", cfgPath, "--no-checkpoint-file", "--write-checkpoint", checkpointFile); code != 0 {
		t.Fatalf("verify --config --write-checkpoint: exit code %d\n%s", code, stderr)
	}
	code, stdout, stderr := run(t, context.Background(), "audit", "verify", "--config", cfgPath)
	if code != 0 {
		t.Errorf("verify --config: exit code %d, want 0\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "intact: 6 entries") {
		t.Errorf("verify --config: stdout %q, want 6 intact entries", stdout)
	}
	// The configured witness is not reachable from this test, so it
	// cosigned nothing: a warning with --config, not a failure.
	if !strings.Contains(stderr, "witness witness.audit-partner.example of audit.witnesses cosigned no checkpoint") {
		t.Errorf("verify --config: stderr %q, want a warning about the configured witness", stderr)
	}

	truncateAuditLog(t, dbPath, 3)
	code, stdout, stderr = run(t, context.Background(), "audit", "verify", "--config", cfgPath)
	if code != 1 {
		t.Errorf("verify --config of a truncated log: exit code %d, want 1\n%s", code, stderr)
	}
	if !strings.Contains(stdout, checkpointFile) {
		t.Errorf("verify --config of a truncated log: stdout %q, want audit.checkpoint_file %s named", stdout, checkpointFile)
	}
	if !strings.Contains(stderr, "entries were truncated") {
		t.Errorf("verify --config of a truncated log: stderr %q, want the truncation reported", stderr)
	}

	code, stdout, stderr = run(t, context.Background(), "audit", "show", "--config", cfgPath, "--limit", "2")
	if code != 0 {
		t.Errorf("show --config: exit code %d, want 0\n%s", code, stderr)
	}
	if strings.Count(stdout, "\n") < 2 {
		t.Errorf("show --config --limit 2: stdout %q, want at least 2 lines", stdout)
	}

	code, _, stderr = run(t, context.Background(), "audit", "verify", "--config", cfgPath, "--data", dir)
	if code != 2 {
		t.Errorf("verify --config --data: exit code %d, want 2", code)
	}
	if !strings.Contains(stderr, "mutually exclusive") {
		t.Errorf("verify --config --data: stderr %q, want a usage error", stderr)
	}

	if err := os.Remove(filepath.Join(dir, "pki", "checkpoint.vkey")); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, context.Background(), "audit", "verify", "--config", cfgPath)
	if code != 2 {
		t.Errorf("verify --config without checkpoint.vkey: exit code %d, want 2", code)
	}
	if !strings.Contains(stderr, "no verifier key beside audit.signing_key_file") {
		t.Errorf("verify --config without checkpoint.vkey: stderr %q, want the missing verifier key named", stderr)
	}
}

// truncateAuditLog deletes the entries from index size on, their stored
// hashes and every checkpoint, as an insider who hides a tail would.
func truncateAuditLog(t *testing.T, dbPath string, size int64) {
	t.Helper()
	db, err := storage.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{
		fmt.Sprintf("DELETE FROM audit_entries WHERE idx >= %d", size),
		fmt.Sprintf("DELETE FROM audit_hashes WHERE id >= %d", tlog.StoredHashCount(size)),
		"DELETE FROM audit_checkpoints",
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
}

// Without --from-checkpoint, verify checks the log against the gateway's
// checkpoint file, so a tail deleted with its checkpoints is caught.
func TestAuditVerifyUsesCheckpointFile(t *testing.T) {
	dir := auditDataDir(t, 10)
	file := auditlog.DevKeyPaths(dir).CheckpointFile
	code, _, stderr := run(t, context.Background(), "audit", "verify", "--data", dir, "--write-checkpoint", file)
	if code != 0 {
		t.Fatalf("verify writing the checkpoint file: code %d stderr %q", code, stderr)
	}

	code, stdout, stderr := run(t, context.Background(), "audit", "verify", "--data", dir)
	if code != 0 {
		t.Errorf("verify of the intact log: code %d stderr %q, want 0", code, stderr)
	}
	if !strings.Contains(stdout, "checking that the log extends the checkpoint in "+file) {
		t.Errorf("stdout = %q, want the checkpoint file named", stdout)
	}
	if !strings.Contains(stdout, "intact: 10 entries") {
		t.Errorf("stdout = %q, want the log intact with 10 entries", stdout)
	}

	truncateAuditLog(t, filepath.Join(dir, "gatehouse.db"), 6)
	code, stdout, stderr = run(t, context.Background(), "audit", "verify", "--data", dir)
	if code != 1 {
		t.Errorf("verify of the truncated log: code %d, want 1\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "the log has 6 entries but the checkpoint file covers 10: entries were truncated") {
		t.Errorf("stderr = %q, want the truncation against the checkpoint file", stderr)
	}

	code, stdout, stderr = run(t, context.Background(), "audit", "verify", "--data", dir, "--no-checkpoint-file")
	if code != 0 {
		t.Errorf("verify --no-checkpoint-file: code %d stderr %q, want 0", code, stderr)
	}
	if strings.Contains(stdout, "checking that the log extends") {
		t.Errorf("verify --no-checkpoint-file read the checkpoint file: %q", stdout)
	}
}

// --from-checkpoint does not replace the checkpoint file: the log must
// extend both, because a tail appended after the trusted checkpoint and
// deleted with its checkpoints shows only against the file.
func TestAuditVerifyFromCheckpointAndFile(t *testing.T) {
	dir := auditDataDir(t, 8)
	file := auditlog.DevKeyPaths(dir).CheckpointFile
	saved := filepath.Join(t.TempDir(), "last.cp")
	if code, _, stderr := run(t, context.Background(), "audit", "verify", "--data", dir, "--write-checkpoint", saved); code != 0 {
		t.Fatalf("verify --write-checkpoint: code %d stderr %q", code, stderr)
	}
	code, stdout, stderr := run(t, context.Background(), "audit", "verify", "--data", dir, "--from-checkpoint", saved)
	if code != 0 {
		t.Errorf("verify --from-checkpoint: code %d stderr %q, want 0", code, stderr)
	}
	if !strings.Contains(stdout, "checking that the log extends the checkpoint in "+file) {
		t.Errorf("verify --from-checkpoint: stdout %q, want the checkpoint file read too", stdout)
	}

	// An earlier trusted checkpoint, then the tail after it deleted.
	db, err := storage.Open(context.Background(), filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	var earlier []byte
	if err := db.QueryRow("SELECT note FROM audit_checkpoints WHERE size = 4").Scan(&earlier); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.WriteFile(saved, earlier, 0o600); err != nil {
		t.Fatal(err)
	}
	truncateAuditLog(t, filepath.Join(dir, "gatehouse.db"), 6)
	if err := restoreCheckpoint(filepath.Join(dir, "gatehouse.db"), earlier); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, context.Background(), "audit", "verify", "--data", dir, "--from-checkpoint", saved, "--no-checkpoint-file")
	if code != 0 {
		t.Fatalf("verify --from-checkpoint --no-checkpoint-file: code %d stderr %q; this test expects the trusted checkpoint alone to miss the truncation", code, stderr)
	}
	code, _, stderr = run(t, context.Background(), "audit", "verify", "--data", dir, "--from-checkpoint", saved)
	if code != 1 {
		t.Errorf("verify --from-checkpoint of a truncated log: code %d, want 1\nstderr %q", code, stderr)
	}
	if !strings.Contains(stderr, "the log has 6 entries but the checkpoint file covers 8: entries were truncated") {
		t.Errorf("verify --from-checkpoint of a truncated log: stderr %q, want the truncation against the checkpoint file", stderr)
	}

	if err := os.WriteFile(file, []byte("not a checkpoint\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, context.Background(), "audit", "verify", "--data", dir, "--from-checkpoint", saved)
	if code != 2 {
		t.Errorf("verify with an invalid checkpoint file: code %d, want 2", code)
	}
	if !strings.Contains(stderr, "checkpoint file") {
		t.Errorf("verify with an invalid checkpoint file: stderr %q, want the checkpoint file named", stderr)
	}
}

// restoreCheckpoint stores the signed checkpoint note again, as an
// insider who truncated the log keeps the checkpoints below the cut.
func restoreCheckpoint(dbPath string, note []byte) error {
	db, err := storage.Open(context.Background(), dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec("INSERT INTO audit_checkpoints (size, note, created_ns) VALUES ($1, $2, 0)", 4, note)
	return err
}

// A missing or emptied checkpoint file fails verify when the log has
// entries, because deleting it together with a tail of entries and their
// checkpoints would otherwise pass. An empty log needs no file.
func TestAuditVerifyMissingCheckpointFile(t *testing.T) {
	empty := auditDataDir(t, 0)
	if err := os.Remove(auditlog.DevKeyPaths(empty).CheckpointFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, context.Background(), "audit", "verify", "--data", empty); code != 0 {
		t.Errorf("verify of an empty log without the file: code %d stderr %q, want 0", code, stderr)
	}

	tests := []struct {
		name        string
		empty       bool // empty the file instead of deleting it
		checkpoints bool // keep the stored checkpoints
		want        string
	}{
		{"deleted", false, true, "is missing, but the log has signed checkpoints up to size 6"},
		{"emptied", true, true, "is empty, but the log has signed checkpoints up to size 6"},
		{"deleted, checkpoints too", false, false, "is missing and no signed checkpoint covers any of the 6 entries"},
		{"emptied, checkpoints too", true, false, "is empty and no signed checkpoint covers any of the 6 entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := auditDataDir(t, 6)
			file := auditlog.DevKeyPaths(dir).CheckpointFile
			if tt.empty {
				if err := os.WriteFile(file, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
			if !tt.checkpoints {
				truncateAuditLog(t, filepath.Join(dir, "gatehouse.db"), 6)
			}

			code, stdout, stderr := run(t, context.Background(), "audit", "verify", "--data", dir)
			if code != 1 {
				t.Errorf("exit code %d, want 1\nstdout %q", code, stdout)
			}
			if !strings.Contains(stderr, "gatehouse: error: audit.checkpoint_file "+file+" "+tt.want) {
				t.Errorf("stderr %q, want the file named with %q", stderr, tt.want)
			}
			if strings.Contains(stderr, "malformed") {
				t.Errorf("stderr %q calls the file malformed", stderr)
			}
			if strings.Contains(stdout, "intact") {
				t.Errorf("stdout %q reports the log intact", stdout)
			}

			code, _, stderr = run(t, context.Background(), "audit", "verify", "--data", dir, "--no-checkpoint-file")
			if code != 0 {
				t.Errorf("verify --no-checkpoint-file: code %d stderr %q, want 0", code, stderr)
			}
		})
	}
}

// keyedHardenedExample returns the hardened example configured for these
// tests with a fresh checkpoint key pair from keygen, its signer, an age
// identity and the path of the database, whose directory exists.
func keyedHardenedExample(t *testing.T) (cfgPath string, signer note.Signer, identity *age.X25519Identity, dbPath string) {
	t.Helper()
	cfgPath = hardenedExample(t)
	dir := filepath.Dir(cfgPath)
	if err := os.Remove(filepath.Join(dir, "pki", "checkpoint.key")); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, context.Background(), "audit", "keygen", "--origin", auditTestOrigin, "--out", filepath.Join(dir, "pki")); code != 0 {
		t.Fatalf("keygen: %s", stderr)
	}
	var err error
	signer, err = auditlog.LoadSigner(filepath.Join(dir, "pki", "checkpoint.key"))
	if err != nil {
		t.Fatal(err)
	}
	identity, err = age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dbPath = filepath.Join(dir, "db", "gatehouse.db")
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o700); err != nil {
		t.Fatal(err)
	}
	return cfgPath, signer, identity, dbPath
}

// prove of a row whose signed encoding is another entry's, as after an
// insider swapped two rows, points to verify and does not claim that the
// index lies beyond the log.
func TestAuditProveMovedEntry(t *testing.T) {
	dir := auditDataDir(t, 9)
	db, err := storage.Open(context.Background(), filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"UPDATE audit_entries SET idx = 100 WHERE idx = 3",
		"UPDATE audit_entries SET idx = 3 WHERE idx = 5",
		"UPDATE audit_entries SET idx = 5 WHERE idx = 100",
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	code, stdout, stderr := run(t, context.Background(), "audit", "prove", "5", "--data", dir)
	if code != 1 {
		t.Errorf("prove of a moved entry: exit code %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("prove of a moved entry printed a proof: %q", stdout)
	}
	if !strings.Contains(stderr, "no entry 5: the row at index 5 is missing or holds another entry's encoding, although the audit log has 9 entries") {
		t.Errorf("stderr = %q, want the moved row named", stderr)
	}
	if !strings.Contains(stderr, "gatehouse: hint: run 'gatehouse audit verify'") {
		t.Errorf("stderr = %q, want the hint to run verify", stderr)
	}
}
