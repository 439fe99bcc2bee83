package auditlog

import (
	"context"
	"os"
	"path/filepath"
	"testing"
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
