package loadgen

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/safefile"
)

// WriteBundles writes each request of reqs to dir as one PAS request
// Bundle, creating dir when it does not exist. The files are named
// NNNN-SOURCE.json in the order of reqs, where SOURCE is the Template's
// Name made safe by sourceFileName. Each Bundle gets its own
// Bundle.identifier and Claim identifier, so that no two files name the
// same submission.
//
// Files are created with mode 0600, because a request names a patient.
// An existing file is never overwritten: WriteBundles stops with an error
// wrapping fs.ErrExist and returns the count written before it.
func WriteBundles(dir string, reqs []*Template) (int, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("loadgen: %w", err)
	}
	runID := randomRunID()
	width := max(4, len(strconv.Itoa(len(reqs))))
	var buf []byte
	for i, t := range reqs {
		n := strconv.Itoa(i + 1)
		name := fmt.Sprintf("%0*d-%s.json", width, i+1, sourceFileName(t.Name))
		id := "gatehouse-load-" + runID + "-" + n
		buf = t.Fill(buf[:0], id, id)
		if err := writeNewFile(filepath.Join(dir, name), buf); err != nil {
			return i, err
		}
	}
	return len(reqs), nil
}

// writeNewFile writes data to path, which must not exist yet, and removes
// a partly written file on failure.
func writeNewFile(path string, data []byte) error {
	err := safefile.WriteNew(path, data, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("loadgen: %s already exists: %w", path, fs.ErrExist)
	}
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	return nil
}

// sourceFileName drops the ".json" of a source file from a Template name
// and replaces each character that is not an ASCII letter, digit, '.', '_'
// or '-' with '-', so that "Ann_Roe_1.json#claim3" becomes
// "Ann_Roe_1-claim3", one portable file name component.
func sourceFileName(name string) string {
	name = strings.TrimSuffix(strings.Replace(name, ".json#", "#", 1), ".json")
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '-'
	}, name)
}
