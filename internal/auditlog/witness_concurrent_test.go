package auditlog

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Each witness sink publishes from its own goroutine, so cosignatures of
// one checkpoint can arrive at once. Every one of them must be stored:
// a lost line would make a witnessed checkpoint look unwitnessed.
func TestConcurrentCosignaturesAllKept(t *testing.T) {
	keys := newTestKeys(t)
	opts := keys.options()
	opts.CheckpointEvery = 1
	l, err := Open(context.Background(), openTestDB(t, t.TempDir()+"/audit.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	appendN(t, l, 3)
	latest, err := l.LatestCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	const witnesses = 16
	verifiers := make([]note.Verifier, witnesses)
	sigs := make([]string, witnesses)
	for i := range witnesses {
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		cosigner, vkey := NewCosigner(fmt.Sprintf("w%d.example", i), key, time.Now)
		v, err := NewCosignatureVerifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := note.Sign(&note.Note{Text: latest.Text()}, cosigner)
		if err != nil {
			t.Fatal(err)
		}
		_, sigs[i], _ = strings.Cut(string(signed), "\n\n")
		verifiers[i] = v
	}
	var wg sync.WaitGroup
	for i := range witnesses {
		wg.Go(func() {
			if err := l.AddCosignatures(context.Background(), latest.Checkpoint, []byte(sigs[i])); err != nil {
				t.Errorf("witness %d: %v", i, err)
			}
		})
	}
	wg.Wait()

	stored, err := l.LatestCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range verifiers {
		if _, _, err := OpenCheckpoint(stored.Note, keys.verifier, v); err != nil {
			t.Errorf("cosignature of witness %d lost: %v", i, err)
		}
	}
}
