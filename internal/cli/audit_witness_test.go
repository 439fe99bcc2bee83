package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// cosignLatest adds a cosignature by a new witness key to the latest
// checkpoint of the log in dir, as the gateway stores a witness's, and
// returns the witness's verifier key.
func cosignLatest(t *testing.T, dir string) string {
	t.Helper()
	ctx := context.Background()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, vkey := auditlog.NewCosigner("witness.test/cli", priv, time.Now)

	db, err := storage.Open(ctx, filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys := auditlog.DevKeyPaths(dir)
	logSigner, err := auditlog.LoadSigner(keys.SigningKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	recipients, err := auditlog.LoadRecipients(keys.RecipientsFile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := auditlog.Open(ctx, db, auditlog.Options{Origin: auditTestOrigin, Signer: logSigner, Recipients: recipients})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	latest, err := l.LatestCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := note.Sign(&note.Note{Text: latest.Text()}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AddCosignatures(ctx, latest.Checkpoint, signed[len(latest.Text())+1:]); err != nil {
		t.Fatal(err)
	}
	return vkey
}

func TestAuditVerifyWitness(t *testing.T) {
	dir := auditDataDir(t, 10)
	vkey := cosignLatest(t, dir)

	code, stdout, stderr := run(t, context.Background(), "audit", "verify", "--data", dir, "--witness", vkey)
	if code != 0 {
		t.Fatalf("verify with the cosigning witness: code %d, stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "witness witness.test/cli cosigned 1 checkpoint, up to 10 entries") {
		t.Errorf("stdout lacks the witness's coverage: %q", stdout)
	}

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, other := auditlog.NewCosigner("witness.test/absent", priv, time.Now)
	code, _, stderr = run(t, context.Background(), "audit", "verify", "--data", dir, "--witness", vkey, "--witness", other)
	if code != 1 {
		t.Errorf("verify with a witness that cosigned nothing: code %d, want 1", code)
	}
	if !strings.Contains(stderr, "witness witness.test/absent cosigned no checkpoint of this log") {
		t.Errorf("stderr lacks the uncovered witness: %q", stderr)
	}

	code, _, stderr = run(t, context.Background(), "audit", "verify", "--data", dir, "--witness", "not-a-key")
	if code != 2 || !strings.Contains(stderr, "--witness[0]") {
		t.Errorf("verify with an invalid witness key: code %d, stderr %q; want 2 naming --witness[0]", code, stderr)
	}
}
