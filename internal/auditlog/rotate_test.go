package auditlog

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// rotation is a log of 10 entries signed by old, whose checkpoint file
// contains the last checkpoint of old, and a new key for the same origin.
type rotation struct {
	db       *storage.DB
	old, new *testKeys
	file     string
}

func newRotation(t *testing.T, b storagetest.Backend) *rotation {
	t.Helper()
	r := &rotation{old: newTestKeys(t), new: newTestKeys(t)}
	r.new.identity = r.old.identity
	r.db = b.New(t)
	r.file = filepath.Join(t.TempDir(), "checkpoint.txt")
	r.appendWith(t, r.old, 10, nil)
	return r
}

// appendWith opens the log with the signing key of k and the checkpoint
// file as published checkpoint, appends n entries and closes it, which
// signs a checkpoint and writes it to the file.
func (r *rotation) appendWith(t *testing.T, k *testKeys, n int, retired []note.Verifier) {
	t.Helper()
	opts := k.options()
	opts.Sinks = []Sink{&FileSink{Path: r.file}}
	opts.Published, opts.PublishedKey, opts.RetiredKeys = r.published(t), k.verifier, retired
	l, err := Open(context.Background(), r.db, opts)
	if err != nil {
		t.Fatalf("open with key %08x: %v", k.verifier.KeyHash(), err)
	}
	appendN(t, l, n)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// published returns the checkpoint file, or nil before the first.
func (r *rotation) published(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(r.file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (r *rotation) rotateOptions(t *testing.T) RotateOptions {
	return RotateOptions{Old: r.old.signer, OldKey: r.old.verifier, New: r.new.signer, NewKey: r.new.verifier, Published: r.published(t)}
}

func (r *rotation) verify(t *testing.T, logKey note.Verifier, retired ...note.Verifier) *Report {
	t.Helper()
	rep, err := Verify(context.Background(), r.db, VerifyOptions{LogKey: logKey, RetiredKeys: retired, Anchor: r.published(t)})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// insertCheckpoint stores a checkpoint of the current tree signed by
// signers, as someone with write access to the database could.
func (r *rotation) insertCheckpoint(t *testing.T, signers ...note.Signer) {
	t.Helper()
	rd, err := NewReader(context.Background(), r.db)
	if err != nil {
		t.Fatal(err)
	}
	size, err := rd.Size(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tree, err := loadFrontier(dbHashReader{ctx: context.Background(), q: r.db}, size)
	if err != nil {
		t.Fatal(err)
	}
	c := Checkpoint{Origin: testOrigin, Size: size, Hash: tree.root()}
	msg, err := note.Sign(&note.Note{Text: c.Text()}, signers...)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, r.db, sqlInsertCheckpoint, c.Size, msg, time.Now().UnixNano())
}

func problemsMentioning(rep *Report, text string) int {
	n := 0
	for _, p := range rep.Problems {
		if strings.Contains(p.What, text) {
			n++
		}
	}
	return n
}

func TestRotateSigningKeyEndToEnd(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		r := newRotation(t, b)
		cp, err := RotateSigningKey(context.Background(), r.db, r.rotateOptions(t))
		if err != nil {
			t.Fatalf("rotate: %v", err)
		}
		if cp.Size != 10 {
			t.Errorf("handover size = %d, want 10", cp.Size)
		}
		if err := WriteCheckpointFile(r.file, cp); err != nil {
			t.Fatal(err)
		}
		r.appendWith(t, r.new, 7, nil)

		rep := r.verify(t, r.new.verifier, r.old.verifier)
		if !rep.Intact() {
			t.Fatalf("verify with both keys: %v", rep.Problems)
		}
		if len(rep.Handovers) != 1 || rep.Handovers[0].Size != 10 {
			t.Errorf("handovers = %+v, want one at size 10", rep.Handovers)
		}
		if rep.Size != 17 || rep.Latest == nil || rep.Latest.Size != 17 {
			t.Errorf("report size %d, latest %v, want 17 entries covered", rep.Size, rep.Latest)
		}
	})
}

func TestVerifyWithOneKeyAfterRotation(t *testing.T) {
	r := newRotation(t, sqliteBackend)
	cp, err := RotateSigningKey(context.Background(), r.db, r.rotateOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteCheckpointFile(r.file, cp); err != nil {
		t.Fatal(err)
	}
	r.appendWith(t, r.new, 5, nil)

	t.Run("old key only", func(t *testing.T) {
		rep, err := Verify(context.Background(), r.db, VerifyOptions{LogKey: r.old.verifier})
		if err != nil {
			t.Fatal(err)
		}
		// The checkpoint of the new key at size 15 lacks the old key's signature.
		if n := problemsMentioning(rep, "no signature by the verifier key "+keyLabel(r.old.verifier)); n != 1 {
			t.Errorf("problems naming the old key = %d, want 1: %v", n, rep.Problems)
		}
	})
	t.Run("new key only", func(t *testing.T) {
		rep, err := Verify(context.Background(), r.db, VerifyOptions{LogKey: r.new.verifier})
		if err != nil {
			t.Fatal(err)
		}
		// The checkpoint the old key signed on close, at size 10, lacks the
		// new key's signature; the handover has it.
		if n := problemsMentioning(rep, "no signature by the verifier key "+keyLabel(r.new.verifier)); n != 1 {
			t.Errorf("problems naming the new key = %d, want 1: %v", n, rep.Problems)
		}
	})
	t.Run("keys in the wrong order", func(t *testing.T) {
		rep, err := Verify(context.Background(), r.db, VerifyOptions{LogKey: r.old.verifier, RetiredKeys: []note.Verifier{r.new.verifier}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Intact() {
			t.Error("verify with the newer key given first reports the log intact")
		}
	})
}

func TestOpenAcceptsRetiredCheckpointFile(t *testing.T) {
	r := newRotation(t, sqliteBackend)
	// The handover is stored but the file keeps the old key's checkpoint,
	// as after a failed write of the file.
	if _, err := RotateSigningKey(context.Background(), r.db, r.rotateOptions(t)); err != nil {
		t.Fatal(err)
	}

	opts := r.new.options()
	opts.Published, opts.PublishedKey = r.published(t), r.new.verifier
	_, err := Open(context.Background(), r.db, opts)
	if err == nil || !strings.Contains(err.Error(), "audit.retired_verifier_keys_file") {
		t.Fatalf("open without retired keys: err = %v, want a rejection naming audit.retired_verifier_keys_file", err)
	}

	r.appendWith(t, r.new, 3, []note.Verifier{r.old.verifier})
	if rep := r.verify(t, r.new.verifier, r.old.verifier); !rep.Intact() {
		t.Errorf("verify after the restart: %v", rep.Problems)
	}
}

func TestForgedHandoverRejected(t *testing.T) {
	r := newRotation(t, sqliteBackend)
	// Someone holding only the new key stores a "handover" without the
	// old key's signature.
	r.insertCheckpoint(t, r.new.signer)

	opts := r.new.options()
	opts.Published, opts.PublishedKey, opts.RetiredKeys = r.published(t), r.new.verifier, []note.Verifier{r.old.verifier}
	_, err := Open(context.Background(), r.db, opts)
	if !errors.Is(err, ErrNotExtended) {
		t.Errorf("open with a forged handover: err = %v, want ErrNotExtended", err)
	}

	rep := r.verify(t, r.new.verifier, r.old.verifier)
	if n := problemsMentioning(rep, "no handover checkpoint signed by both keys precedes it"); n != 1 {
		t.Errorf("problems about the checkpoint without handover = %d, want 1: %v", n, rep.Problems)
	}
	if n := problemsMentioning(rep, "never took over"); n != 1 {
		t.Errorf("problems about the missing handover = %d, want 1: %v", n, rep.Problems)
	}
}

func TestVerifyRejectsRetiredKeyAfterHandover(t *testing.T) {
	r := newRotation(t, sqliteBackend)
	if _, err := RotateSigningKey(context.Background(), r.db, r.rotateOptions(t)); err != nil {
		t.Fatal(err)
	}
	// A gateway still running with the leaked old key signs on.
	r.insertCheckpoint(t, r.old.signer)

	rep := r.verify(t, r.new.verifier, r.old.verifier)
	if n := problemsMentioning(rep, "signed only by the retired key"); n != 1 {
		t.Errorf("problems about the retired key = %d, want 1: %v", n, rep.Problems)
	}
}

func TestRotateSigningKeyRejections(t *testing.T) {
	r := newRotation(t, sqliteBackend)

	t.Run("same key", func(t *testing.T) {
		opts := r.rotateOptions(t)
		opts.New, opts.NewKey = r.old.signer, r.old.verifier
		if _, err := RotateSigningKey(context.Background(), r.db, opts); !errors.Is(err, ErrSameKey) {
			t.Errorf("err = %v, want ErrSameKey", err)
		}
	})
	t.Run("key of another log", func(t *testing.T) {
		skey, vkey, _ := note.GenerateKey(rand.Reader, "other.example/audit")
		s, _ := note.NewSigner(skey)
		v, _ := note.NewVerifier(vkey)
		opts := r.rotateOptions(t)
		opts.New, opts.NewKey = s, v
		if _, err := RotateSigningKey(context.Background(), r.db, opts); err == nil || !strings.Contains(err.Error(), "other.example/audit") {
			t.Errorf("err = %v, want a rejection naming the other origin", err)
		}
	})
	t.Run("tampered log", func(t *testing.T) {
		mustExec(t, r.db, `UPDATE audit_entries SET partner = 'forged' WHERE idx = 3`)
		defer mustExec(t, r.db, `UPDATE audit_entries SET partner = 'other-ehr' WHERE idx = 3`)
		_, err := RotateSigningKey(context.Background(), r.db, r.rotateOptions(t))
		var notIntact *RotationError
		if !errors.As(err, &notIntact) {
			t.Fatalf("err = %v, want a *RotationError", err)
		}
		if n := countCheckpoints(t, r.db); n != 1 {
			t.Errorf("stored checkpoints = %d, want 1: a rejected rotation stores nothing", n)
		}
	})
}

func countCheckpoints(t *testing.T, db *storage.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM audit_checkpoints`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestHandoverKeepsWitnessCosignatures(t *testing.T) {
	r := newRotation(t, sqliteBackend)
	cp, err := RotateSigningKey(context.Background(), r.db, r.rotateOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	_, wkey, _ := ed25519.GenerateKey(rand.Reader)
	cosigner, witnessVkey := NewCosigner("witness.example", wkey, time.Now)
	witness, err := NewCosignatureVerifier(witnessVkey)
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := note.Sign(&note.Note{Text: cp.Text()}, cosigner)
	if err != nil {
		t.Fatal(err)
	}
	_, sigs, _ := strings.Cut(string(cosigned), "\n\n")
	l, err := Open(context.Background(), r.db, r.new.options())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	if err := l.AddCosignatures(context.Background(), cp.Checkpoint, []byte(sigs)); err != nil {
		t.Fatal(err)
	}

	var stored []byte
	if err := r.db.QueryRow(`SELECT note FROM audit_checkpoints ORDER BY id DESC LIMIT 1`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	_, signers, err := OpenCheckpointByKeys(stored, []note.Verifier{r.old.verifier, r.new.verifier}, witness)
	if err != nil {
		t.Fatalf("open the cosigned handover: %v", err)
	}
	if len(signers) != 2 {
		t.Errorf("log keys that signed the handover = %v, want both", signers)
	}
}

// TestRotationRejectsChangedLog appends an entry between the verification
// and the signing of the handover. The rotation must notice and sign
// nothing, because the new key would vouch for an entry that was never
// verified.
func TestRotationRejectsChangedLog(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		r := newRotation(t, b)
		opts := r.rotateOptions(t)
		opts.afterVerify = func() { r.appendWith(t, r.old, 1, nil) }

		cp, err := RotateSigningKey(context.Background(), r.db, opts)
		const want = "auditlog: the log changed during the rotation (10 entries and a latest checkpoint of size 10 at the verification, 11 and 11 now): stop every gateway that writes to this database and run the rotation again"
		if err == nil || err.Error() != want {
			t.Errorf("err = %v, want %q", err, want)
		}
		if cp != nil {
			t.Errorf("returned handover checkpoint of size %d, want none", cp.Size)
		}
		if n := countCheckpoints(t, r.db); n != 2 {
			t.Errorf("stored checkpoints = %d, want 2: the ones the appends signed, and no handover", n)
		}
		h, err := findHandover(context.Background(), r.db, 0, r.old.verifier, r.new.verifier)
		if err != nil {
			t.Fatal(err)
		}
		if h != nil {
			t.Errorf("handover checkpoint of size %d stored, want none", h.Size)
		}
	})
}
