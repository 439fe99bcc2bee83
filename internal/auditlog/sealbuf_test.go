package auditlog

import (
	"context"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// emptySealedBuffers empties the kept buffers for one test.
func emptySealedBuffers(t *testing.T) {
	t.Helper()
	sealedBuffers.Lock()
	sealedBuffers.free = nil
	sealedBuffers.Unlock()
	t.Cleanup(func() {
		sealedBuffers.Lock()
		sealedBuffers.free = nil
		sealedBuffers.Unlock()
	})
}

// keptSealedBuffers counts the kept buffers.
func keptSealedBuffers() int {
	sealedBuffers.Lock()
	defer sealedBuffers.Unlock()
	return len(sealedBuffers.free)
}

func TestSealedBufferReused(t *testing.T) {
	emptySealedBuffers(t)
	released := sealedBuffer(4000)[:4000]
	tooLarge := make([]byte, maxSealedBuffer+1)
	row := &Row{RequestCiphertext: released, ResponseCiphertext: tooLarge}
	tooSmall := &Row{RequestCiphertext: make([]byte, minSealedBuffer-1)}
	releaseSealed([]*Row{row, tooSmall})
	if row.RequestCiphertext != nil || row.ResponseCiphertext != nil {
		t.Error("the row still refers to its released ciphertexts")
	}
	if n := keptSealedBuffers(); n != 1 {
		t.Fatalf("%d buffers kept, want 1: buffers outside minSealedBuffer and maxSealedBuffer are not kept", n)
	}
	if b := sealedBuffer(5000); cap(b) != 5000 {
		t.Errorf("a body of 5000 bytes got a buffer of capacity %d, want a new one of 5000", cap(b))
	}
	b := sealedBuffer(3000)
	if len(b) != 0 {
		t.Errorf("reused buffer has length %d, want 0", len(b))
	}
	if &b[:1][0] != &released[0] {
		t.Error("sealedBuffer made a new buffer instead of reusing the released one")
	}
	if n := keptSealedBuffers(); n != 0 {
		t.Errorf("%d buffers kept after reuse, want 0", n)
	}
}

// The writer keeps the ciphertext buffers once the entry's row is
// inserted. The log still verifies, so every stored ciphertext matches
// its entry's digest: no buffer was reused before its insert.
func TestAppendKeepsSealedBuffers(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		emptySealedBuffers(t)
		l, db, keys := newTestLogOn(t, b, nil)
		for i := range 3 {
			if _, err := l.AppendEntry(context.Background(), testEntry(i, 4000)); err != nil {
				t.Fatal(err)
			}
		}
		// The request bodies share one buffer, and the responses are too
		// small to keep.
		if n := keptSealedBuffers(); n != 1 {
			t.Errorf("%d sealed buffers kept after three appends, want 1", n)
		}
		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Intact() || rep.Size != 3 {
			t.Errorf("report = %+v, want intact with 3 entries", rep)
		}
	})
}
