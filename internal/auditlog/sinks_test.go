package auditlog

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

func signedForTest(t *testing.T, keys *testKeys, size int64) *SignedCheckpoint {
	t.Helper()
	c := Checkpoint{Origin: testOrigin, Size: size}
	c.Hash[0] = byte(size)
	msg, err := SignCheckpoint(c, keys.signer)
	if err != nil {
		t.Fatal(err)
	}
	return &SignedCheckpoint{Checkpoint: c, Note: msg}
}

// A checkpoint published late, by a second process appending to the log,
// does not replace a newer one in the file.
func TestFileSinkKeepsNewerCheckpoint(t *testing.T) {
	keys := newTestKeys(t)
	path := filepath.Join(t.TempDir(), "checkpoint.txt")
	sink := &FileSink{Path: path}
	for _, size := range []int64{120, 130, 125} {
		if err := sink.Publish(context.Background(), signedForTest(t, keys, size), nil); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := signedForTest(t, keys, 130).Note; string(got) != string(want) {
		t.Errorf("file holds\n%s\nwant the checkpoint of size 130", got)
	}
}

// A symbolic link at the path keeps pointing at its target, which
// receives the checkpoints, dangling at first or not.
func TestFileSinkFollowsLink(t *testing.T) {
	keys := newTestKeys(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere", "cp.txt")
	if err := os.Mkdir(filepath.Dir(target), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "checkpoint.txt")
	if err := os.Symlink(filepath.Join("elsewhere", "cp.txt"), link); err != nil {
		t.Fatal(err)
	}
	sink := &FileSink{Path: link}
	for _, size := range []int64{4, 8} {
		if err := sink.Publish(context.Background(), signedForTest(t, keys, size), nil); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v, %v", fi, err)
	}
	got, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if want := signedForTest(t, keys, 8).Note; string(got) != string(want) {
		t.Errorf("target holds\n%s\nwant the checkpoint of size 8", got)
	}
}

// gatedSink records the sizes it is given, and holds its first Publish
// until release is closed.
type gatedSink struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	sizes   []int64
}

func (s *gatedSink) Name() string { return "gated" }

func (s *gatedSink) Publish(_ context.Context, cp *SignedCheckpoint, _ Prover) error {
	first := false
	s.once.Do(func() { first = true })
	if first {
		close(s.started)
		<-s.release
	}
	s.mu.Lock()
	s.sizes = append(s.sizes, cp.Size)
	s.mu.Unlock()
	return nil
}

// The checkpoint publishEvidence signs when committed entries vanish must
// reach the sinks even when a smaller checkpoint, committed before the
// entries vanished, finishes its sync later and is offered after it.
func TestEvidenceNotReplacedBySmallerCheckpoint(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		sink := &gatedSink{started: make(chan struct{}), release: make(chan struct{})}
		l, db, _ := newTestLogOn(t, b, func(o *Options) {
			o.CheckpointEvery = 2
			o.CheckpointInterval = time.Hour
			o.Sinks = []Sink{sink}
		})
		syncing := make(chan struct{})
		resume := make(chan struct{})
		var syncs atomic.Int64
		real := l.syncCommits
		// Set before the first append, whose queue send orders it before
		// the writer's reads. The first four syncs cover entry 0, entry 1
		// before its checkpoint is stored, that checkpoint of 2, and entry
		// 3 before its checkpoint is stored. The fifth, of the checkpoint
		// of 4, waits for resume.
		l.syncCommits = func() error {
			if syncs.Add(1) == 5 {
				close(syncing)
				<-resume
			}
			return real()
		}

		appendN(t, l, 2) // the checkpoint of 2 entries, which the sink holds
		<-sink.started
		for i := range 3 { // the checkpoint of 4 entries, waiting for its sync, and entry 4
			if _, err := l.AppendCommitted(ctx, testEntry(10+i, 64)); err != nil {
				t.Fatal(err)
			}
		}
		<-syncing
		mustExec(t, db, "DELETE FROM audit_entries WHERE idx >= 4")
		mustExec(t, db, "DELETE FROM audit_hashes WHERE id >= $1", tlog.StoredHashIndex(0, 4))
		if _, err := l.AppendCommitted(ctx, testEntry(20, 64)); err == nil {
			t.Fatal("append after deleting the uncovered entry succeeded")
		}
		close(resume)
		// The writer exits after syncLoop has offered the checkpoint of 4
		// entries. Close then waits for the sink, which still holds the
		// checkpoint of 2.
		closed := make(chan error, 1)
		go func() { closed <- l.Close(ctx) }()
		<-l.done
		close(sink.release)
		if err := <-closed; err != nil {
			t.Fatal(err)
		}

		sink.mu.Lock()
		defer sink.mu.Unlock()
		if last := sink.sizes[len(sink.sizes)-1]; last != 5 {
			t.Errorf("sink received sizes %v, want the evidence of 5 entries last", sink.sizes)
		}
	})
}

// TestSlogSinkOneShortLine publishes a checkpoint to SlogSink and requires
// one log line with the size, the start of the root hash and the file,
// without the note text or its signature.
func TestSlogSinkOneShortLine(t *testing.T) {
	keys := newTestKeys(t)
	cp := signedForTest(t, keys, 42)
	var out bytes.Buffer
	sink := &SlogSink{Logger: slog.New(slog.NewTextHandler(&out, nil)), File: "/var/lib/gatehouse-witness/checkpoint.txt"}
	if err := sink.Publish(context.Background(), cp, nil); err != nil {
		t.Fatal(err)
	}
	line := out.String()
	if strings.Count(line, "\n") != 1 {
		t.Errorf("want one log line, got %q", line)
	}
	for _, want := range []string{
		`msg="audit checkpoint signed"`, "size=42",
		"root_hash_prefix=" + cp.Hash.String()[:12] + " ",
		"checkpoint_file=/var/lib/gatehouse-witness/checkpoint.txt",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %q: %s", want, line)
		}
	}
	if strings.Contains(line, `\n`) || strings.Contains(line, cp.Hash.String()) {
		t.Errorf("log line carries the note text or the whole root hash: %s", line)
	}
	sig := strings.TrimSpace(string(cp.Note[strings.LastIndex(string(cp.Note), " ")+1:]))
	if strings.Contains(line, sig) {
		t.Errorf("log line carries the signature: %s", line)
	}
}
