package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWriteNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := WriteNew(path, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
	err = WriteNew(path, []byte("other\n"), 0o600)
	if !errors.Is(err, os.ErrExist) {
		t.Errorf("second WriteNew = %v, want os.ErrExist", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "secret\n" {
		t.Errorf("the existing file was changed to %q", data)
	}
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "crl.pem")
	for _, content := range []string{"first\n", "second\n"} {
		if err := WriteAtomic(path, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		if data, err := os.ReadFile(path); err != nil || string(data) != content {
			t.Errorf("content %q, %v; want %q", data, err, content)
		}
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, %v; want 0640", info.Mode().Perm(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the directory holds %d files, want only %s: a temporary file was left", len(entries), path)
	}
	if err := WriteAtomic(filepath.Join(dir, "missing", "x"), []byte("x"), 0o644); err == nil {
		t.Error("WriteAtomic into a missing directory succeeded")
	}
}

// ReadCapped returns a file up to the limit and refuses one byte more,
// and stops reading an endless device at the limit.
func TestReadCapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	if err := os.WriteFile(path, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := ReadCapped(path, 10)
	if err != nil || string(data) != "0123456789" {
		t.Fatalf("ReadCapped at the limit = %q, %v", data, err)
	}
	if _, err := ReadCapped(path, 9); err == nil || !strings.Contains(err.Error(), path+" is larger than 9 bytes") {
		t.Errorf("ReadCapped over the limit: %v, want the path and the limit", err)
	}
	if _, err := ReadCapped("/dev/zero", 1<<16); err == nil || !strings.Contains(err.Error(), "larger than 65536 bytes") {
		t.Errorf("ReadCapped(/dev/zero): %v, want the limit error", err)
	}
	if _, err := ReadCapped(filepath.Join(t.TempDir(), "missing"), 10); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadCapped of a missing file: %v, want os.ErrNotExist", err)
	}
}

// A FIFO without a writer reads as empty instead of blocking in open(2),
// which a caught SIGTERM could not interrupt. With the guard removed this
// test blocks until go test's -timeout ends it.
func TestReadCappedFIFOWithoutWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint.txt")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := ReadCapped(path, 1<<16)
	if err != nil {
		t.Fatalf("ReadCapped(FIFO) = %v, want no error", err)
	}
	if len(data) != 0 {
		t.Errorf("ReadCapped(FIFO) = %q, want no data", data)
	}
}
