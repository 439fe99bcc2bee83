// Package safefile writes the files whose loss or partial content would
// hurt: keys, certificates, the CA's index and CRL, and checkpoints.
// WriteNew never replaces a file. WriteAtomic replaces one so that a
// reader, or the disk after a crash, has the old content or the new, never
// a mix. ReadCapped reads such files with a size limit.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// OpenRead opens path for reading without blocking in open(2). A plain
// open of a FIFO waits for a writer, and because the CLI and the gateway
// catch SIGTERM, a FIFO planted at a key or checkpoint path would hang
// them until SIGKILL. Opened non-blocking, a FIFO with no writer reads as
// empty. Regular files and devices read as with os.Open, and Go's poller
// still waits for a pipe that has a writer, such as a shell's <(...).
func OpenRead(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

// ReadCapped reads path and fails once it exceeds limit bytes. Unlike a
// check of the size os.Stat reports, this also bounds devices and pipes,
// such as /dev/zero, which would otherwise exhaust memory. It opens path
// with OpenRead, so a FIFO without a writer returns no data instead of
// blocking. Every error names path.
func ReadCapped(path string, limit int64) ([]byte, error) {
	f, err := OpenRead(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// A failed read returns an *os.PathError, which names path.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// WriteNew creates path exclusively with perm, so that a private file is
// never readable by others even briefly, writes data and syncs it. It
// fails if path exists, and removes the file it created on failure.
func WriteNew(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteAtomic replaces path with data through a temporary file in the same
// directory: created with perm before any data is written, synced, renamed
// over path, and the directory synced so that the rename survives a
// crash.
func WriteAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	cherr := f.Chmod(perm)
	var werr, serr error
	if cherr == nil {
		_, werr = f.Write(data)
		serr = f.Sync()
	}
	cerr := f.Close()
	if err := errors.Join(cherr, werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
