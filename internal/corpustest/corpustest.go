// Package corpustest gives tests access to the shared public test corpus
// (FHIR packages, Da Vinci examples, Inferno fixtures, test suites) that sits
// beside the repository as ../shared/corpus. Archives are unpacked into a
// per-test temporary directory so no test writes into the corpus.
//
// GATEHOUSE_CORPUS overrides the location. A missing corpus fails the test:
// the suites that depend on it are part of what CI checks.
package corpustest

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Root returns the corpus directory.
func Root(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("GATEHOUSE_CORPUS"); dir != "" {
		return dir
	}
	mod, err := moduleRoot()
	if err != nil {
		t.Fatalf("corpustest: %v", err)
	}
	dir := filepath.Join(mod, "..", "shared", "corpus")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("corpustest: corpus not found at %s (set GATEHOUSE_CORPUS): %v", dir, err)
	}
	return dir
}

// File returns the path of rel inside the corpus, failing the test if it is
// missing.
func File(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Root(t), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("corpustest: %v", err)
	}
	return p
}

// Unpack extracts the .tgz archive at rel (relative to the corpus root) into
// a temporary directory and returns that directory. Entries whose names would
// escape the directory fail the test.
func Unpack(t testing.TB, rel string) string {
	t.Helper()
	dst := t.TempDir()
	if err := untar(File(t, rel), dst); err != nil {
		t.Fatalf("corpustest: unpack %s: %v", rel, err)
	}
	return dst
}

func untar(archive, dst string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(filepath.FromSlash(hdr.Name))
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
			return fmt.Errorf("entry %q escapes the archive", hdr.Name)
		}
		target := filepath.Join(dst, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.Create(target)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, io.LimitReader(tr, 256<<20)); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		}
	}
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}
