package members

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// MaxFileBytes caps one Bundle file of a load. The Synthea bundles are
// under 1 MiB each.
const MaxFileBytes = 64 << 20

// Skip reasons of a load summary.
const (
	SkipNotBundle     = "not a FHIR Bundle"
	SkipInvalidJSON   = "invalid JSON, such as a file cut short"
	SkipTooLarge      = "file larger than 64 MiB"
	SkipNoPatient     = "no Patient in the Bundle"
	SkipManyPatients  = "more than one Patient in the Bundle"
	SkipNoIdentifier  = "Patient without identifier"
	SkipNoBirthDate   = "Patient without birth date or family name"
	SkipNoCoverage    = "no Coverage with a period start, and no ExplanationOfBenefit to derive one from"
	SkipAlreadyLoaded = "member already loaded"
	SkipProvidersOnly = "providers only, no member (such as the Synthea hospital file)"
)

// ErrNotBundle is returned by LoadPath for a single file that is not a
// FHIR Bundle. In a directory or an archive such a file is skipped.
var ErrNotBundle = errors.New("not a FHIR Bundle")

// ErrInvalidJSON is returned by LoadPath for a single file that is not
// well-formed JSON. In a directory or an archive such a file is skipped.
var ErrInvalidJSON = errors.New("invalid JSON, such as a file cut short")

// ErrNoFiles is returned by LoadPath for a directory or an archive without
// a .json file.
var ErrNoFiles = errors.New("no .json Bundle files")

// Summary is the result of a load. Every file read is either a member
// loaded or a skip, so Files equals Members plus the sum of Skipped.
type Summary struct {
	Files     int
	Members   int
	Coverages int
	// Resources counts the resources read, by type.
	Resources map[string]int
	// Skipped counts files and members not loaded, by reason.
	Skipped map[string]int
}

// Progress is reported after each file.
type Progress struct {
	Files   int
	Members int
	Skipped int
}

// LoadOptions adjusts a load.
type LoadOptions struct {
	// Progress, when set, is called after each file.
	Progress func(Progress)
}

// LoadPath loads members and coverage from path: a .tgz or .tar.gz
// archive of Bundle files, a directory of .json Bundle files (read in
// name order, not recursively) or one .json file. It streams: one file at
// a time, one entry at a time. A file that cannot be used is skipped with
// its reason; an I/O or database error stops the load and is returned
// with the summary so far.
func (s *Store) LoadPath(ctx context.Context, path string, opts LoadOptions) (*Summary, error) {
	sum := &Summary{Resources: map[string]int{}, Skipped: map[string]int{}}
	info, err := os.Stat(path)
	if err != nil {
		return sum, fmt.Errorf("members: load: %w", err)
	}
	switch {
	case info.IsDir():
		err = s.loadDir(ctx, path, sum, opts)
	case strings.HasSuffix(path, ".tgz") || strings.HasSuffix(path, ".tar.gz"):
		err = s.loadArchive(ctx, path, sum, opts)
	default:
		err = s.loadFile(ctx, path, sum, opts)
		if err == nil && sum.Skipped[SkipNotBundle] > 0 {
			return sum, fmt.Errorf("members: load: %s: %w", path, ErrNotBundle)
		}
		if err == nil && sum.Skipped[SkipInvalidJSON] > 0 {
			return sum, fmt.Errorf("members: load: %s: %w", path, ErrInvalidJSON)
		}
		return sum, err
	}
	if err == nil && sum.Files == 0 {
		err = fmt.Errorf("members: load: %s contains %w", path, ErrNoFiles)
	}
	return sum, err
}

func (s *Store) loadDir(ctx context.Context, dir string, sum *Summary, opts LoadOptions) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("members: load: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		if err := s.loadFile(ctx, filepath.Join(dir, e.Name()), sum, opts); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) loadFile(ctx context.Context, path string, sum *Summary, opts LoadOptions) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("members: load: %w", err)
	}
	defer f.Close()
	return s.loadOne(ctx, f, sum, opts)
}

func (s *Store) loadArchive(ctx context.Context, path string, sum *Summary, opts LoadOptions) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("members: load: %w", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("members: load: not a gzip archive: %w", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("members: load: read archive: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg || !strings.HasSuffix(hdr.Name, ".json") || isHidden(hdr.Name) {
			continue
		}
		if err := s.loadOne(ctx, tr, sum, opts); err != nil {
			return err
		}
	}
}

// isHidden reports whether an archive member is an editor or macOS
// metadata file such as "._name.json".
func isHidden(name string) bool {
	return strings.HasPrefix(filepath.Base(name), ".")
}

// loadOne loads one Bundle file and reports progress.
func (s *Store) loadOne(ctx context.Context, r io.Reader, sum *Summary, opts LoadOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sum.Files++
	lr := &io.LimitedReader{R: r, N: MaxFileBytes + 1}
	b, err := readBundle(lr, sum.Resources)
	switch {
	case lr.N <= 0:
		sum.Skipped[SkipTooLarge]++
	case errors.Is(err, errNotBundle):
		sum.Skipped[SkipNotBundle]++
	case errors.Is(err, errInvalidJSON):
		sum.Skipped[SkipInvalidJSON]++
	case err != nil:
		return err
	default:
		if err := s.storeBundle(ctx, b, sum); err != nil {
			return err
		}
	}
	if opts.Progress != nil {
		opts.Progress(Progress{Files: sum.Files, Members: sum.Members, Skipped: skippedTotal(sum)})
	}
	return nil
}

// storeBundle derives the member and coverage of one patient Bundle.
func (s *Store) storeBundle(ctx context.Context, b *bundleData, sum *Summary) error {
	switch {
	case len(b.patients) == 0:
		if b.hasOnlyOrganizations() {
			sum.Skipped[SkipProvidersOnly]++
			return nil
		}
		sum.Skipped[SkipNoPatient]++
		return nil
	case len(b.patients) > 1:
		sum.Skipped[SkipManyPatients]++
		return nil
	}
	m, covs, reason := derive(b)
	if reason != "" {
		sum.Skipped[reason]++
		return nil
	}
	err := s.Add(ctx, m, covs)
	if errors.Is(err, ErrExists) {
		sum.Skipped[SkipAlreadyLoaded]++
		return nil
	}
	if err != nil {
		return err
	}
	sum.Members++
	sum.Coverages += len(covs)
	return nil
}

func skippedTotal(sum *Summary) int {
	n := 0
	for _, v := range sum.Skipped {
		n += v
	}
	return n
}
