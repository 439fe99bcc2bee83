//go:build linux

package app_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/app"
)

// watchOpens starts counting the opens of the file at path with inotify.
// It watches closes too, because inotify merges identical events that
// follow each other unread, and an open followed by an open would count
// as one.
func watchOpens(t *testing.T, path string) (opens func() int) {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if _, err := syscall.InotifyAddWatch(fd, path, syscall.IN_OPEN|syscall.IN_CLOSE_NOWRITE|syscall.IN_CLOSE_WRITE); err != nil {
		t.Fatal(err)
	}
	n := 0
	return func() int {
		buf := make([]byte, 64<<10)
		for {
			m, err := syscall.Read(fd, buf)
			if errors.Is(err, syscall.EAGAIN) {
				return n
			}
			if err != nil {
				t.Fatal(err)
			}
			for off := 0; off+syscall.SizeofInotifyEvent <= m; {
				ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
				if ev.Mask&syscall.IN_OPEN != 0 {
					n++
				}
				off += syscall.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}
}

// TestStartReadsAuditKeysOnce checks that start-up reads the checkpoint
// signing key and the retired verifier keys once each, although the
// exchange log and the console's verification both use them, so that
// both use the same keys.
func TestStartReadsAuditKeysOnce(t *testing.T) {
	dir := t.TempDir()
	cfg, _, _, err := app.DevConfig(filepath.Join(dir, "data"), "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, retiredKey, err := note.GenerateKey(rand.Reader, cfg.Audit.Origin)
	if err != nil {
		t.Fatal(err)
	}
	retiredFile := filepath.Join(dir, "retired.vkeys")
	if err := os.WriteFile(retiredFile, []byte(retiredKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Audit.RetiredVerifierKeysFile = retiredFile
	signingOpens := watchOpens(t, cfg.Resolve(cfg.Audit.SigningKeyFile))
	retiredOpens := watchOpens(t, retiredFile)

	rt, err := app.Start(context.Background(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })

	if n := signingOpens(); n != 1 {
		t.Errorf("audit.signing_key_file was opened %d times, want 1", n)
	}
	if n := retiredOpens(); n != 1 {
		t.Errorf("audit.retired_verifier_keys_file was opened %d times, want 1", n)
	}
}
