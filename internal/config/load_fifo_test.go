package config

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
)

// A FIFO without a writer at the --config path must not block Load, because
// the CLI and the gateway catch SIGTERM and would then hang until SIGKILL.
func TestLoadFIFOWithoutWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	var fileErr *FileError
	if !errors.As(err, &fileErr) {
		t.Fatalf("err = %v, want a *FileError for an empty file", err)
	}
}
