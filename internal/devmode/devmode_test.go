package devmode

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

func ensureNew(t *testing.T, dir string, opts Options) *Layout {
	t.Helper()
	l, created, err := Ensure(dir, opts)
	if err != nil {
		t.Fatalf("Ensure(%s): %v", dir, err)
	}
	if !created {
		t.Fatalf("Ensure(%s) reused a layout, want a new one", dir)
	}
	return l
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func readAll(t *testing.T, l *Layout) map[string][]byte {
	t.Helper()
	contents := map[string][]byte{}
	for _, path := range l.files() {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		contents[path] = data
	}
	return contents
}

func TestEnsureCreatesLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gatehouse-data")
	l := ensureNew(t, dir, Options{})

	if !filepath.IsAbs(l.Dir) || l.Dir != dir {
		t.Errorf("Dir = %q, want absolute %q", l.Dir, dir)
	}
	for _, path := range l.files() {
		if !filepath.IsAbs(path) || !strings.HasPrefix(path, dir+string(filepath.Separator)) {
			t.Errorf("file %q is not an absolute path inside %s", path, dir)
		}
	}
	if len(l.Warnings) != 0 || len(l.Reissued) != 0 {
		t.Errorf("new layout: Warnings=%q Reissued=%q, want none", l.Warnings, l.Reissued)
	}
	if len(l.CAFingerprint) != 64 {
		t.Errorf("CAFingerprint = %q, want 64 hex digits", l.CAFingerprint)
	}
	assertNoPartialDirs(t, filepath.Dir(dir))
}

func TestEnsureFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	l := ensureNew(t, dir, Options{})

	if got := mode(t, l.Dir); got != 0o700 {
		t.Errorf("data directory mode = %04o, want 0700", got)
	}
	for _, sub := range subdirectories {
		if got := mode(t, filepath.Join(l.Dir, filepath.FromSlash(sub))); got != 0o700 {
			t.Errorf("%s mode = %04o, want 0700", sub, got)
		}
	}
	for _, path := range l.privateFiles() {
		if got := mode(t, path); got != 0o600 {
			t.Errorf("%s mode = %04o, want 0600", path, got)
		}
	}
	for _, path := range []string{l.CACertFile, l.ServerCertFile, l.ClientCertFile, l.JWKSFile, l.MarkerFile} {
		if got := mode(t, path); got&^0o644 != 0 {
			t.Errorf("%s mode = %04o, want 0644 or narrower", path, got)
		}
	}
}

func TestEnsureReusesLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first := ensureNew(t, dir, Options{})
	before := readAll(t, first)

	second, created, err := Ensure(dir, Options{})
	if err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	if created {
		t.Error("second Ensure reports created")
	}
	if second.CAFingerprint != first.CAFingerprint {
		t.Errorf("CA fingerprint changed from %s to %s", first.CAFingerprint, second.CAFingerprint)
	}
	if len(second.Reissued) != 0 {
		t.Errorf("second Ensure reissued %q", second.Reissued)
	}
	after := readAll(t, second)
	for path, data := range before {
		if !bytes.Equal(after[path], data) {
			t.Errorf("%s changed on the second start", path)
		}
	}
}

func TestEnsureRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	l := ensureNew(t, DefaultDir, Options{})

	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if l.Dir != filepath.Join(wd, DefaultDir) {
		t.Errorf("Dir = %q, want %q", l.Dir, filepath.Join(wd, DefaultDir))
	}
}

func TestEnsureUsesEmptyDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	l := ensureNew(t, dir, Options{})

	if got := mode(t, l.Dir); got != 0o700 {
		t.Errorf("data directory mode = %04o, want 0700", got)
	}
}

func TestEnsureRefusesForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	notes := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}

	_, _, err := Ensure(dir, Options{})
	if err == nil {
		t.Fatal("Ensure accepted a directory that contains other files")
	}
	for _, want := range []string{dir, "not a Gatehouse data directory", "--data"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("rejected directory now has %d entries, want only notes.txt", len(entries))
	}
}

func TestEnsureRefusesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := Ensure(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("err = %v, want not a directory", err)
	}
}

func TestEnsureRejectsEmptyPath(t *testing.T) {
	if _, _, err := Ensure("", Options{}); err == nil {
		t.Error(`Ensure("") succeeded, want error`)
	}
}

func TestEnsureReportsPartialLayout(t *testing.T) {
	tests := []struct {
		name   string
		remove func(l *Layout) string
	}{
		{"JWK set", func(l *Layout) string { return l.JWKSFile }},
		{"marker", func(l *Layout) string { return l.MarkerFile }},
		{"server key", func(l *Layout) string { return l.ServerKeyFile }},
		{"token key", func(l *Layout) string { return l.TokenKeyFile }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			l := ensureNew(t, dir, Options{})
			missing := tt.remove(l)
			if err := os.Remove(missing); err != nil {
				t.Fatal(err)
			}

			_, _, err := Ensure(dir, Options{})
			if err == nil {
				t.Fatalf("Ensure accepted a layout without %s", missing)
			}
			for _, want := range []string{"incomplete", missing, "delete the directory"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestEnsureReportsInterruptedTree(t *testing.T) {
	// Only a "ca" directory: what a first start that wrote in place would
	// leave if it stopped early.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "ca"), 0o700); err != nil {
		t.Fatal(err)
	}

	_, _, err := Ensure(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "incomplete") || !strings.Contains(err.Error(), markerName) {
		t.Errorf("err = %v, want an incomplete layout naming %s", err, markerName)
	}
}

func TestEnsureWarnsAboutLeftoverTemporaryDirectory(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "data")
	leftover := filepath.Join(parent, partialPrefix(dir)+"123")
	if err := os.Mkdir(leftover, 0o700); err != nil {
		t.Fatal(err)
	}

	l := ensureNew(t, dir, Options{})
	if len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0], leftover) {
		t.Errorf("Warnings = %q, want one naming %s", l.Warnings, leftover)
	}
}

func TestEnsureWarnsAboutOpenPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	l := ensureNew(t, dir, Options{})
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(l.ClientKeyFile, 0o640); err != nil {
		t.Fatal(err)
	}

	again, _, err := Ensure(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Warnings) != 2 {
		t.Fatalf("Warnings = %q, want one for the directory and one for the key", again.Warnings)
	}
	if !strings.Contains(again.Warnings[0], dir) || !strings.Contains(again.Warnings[0], "chmod 0700") {
		t.Errorf("directory warning = %q", again.Warnings[0])
	}
	if !strings.Contains(again.Warnings[1], l.ClientKeyFile) || !strings.Contains(again.Warnings[1], "chmod 0600") {
		t.Errorf("key warning = %q", again.Warnings[1])
	}
}

func TestEnsureReissuesExpiredLeaves(t *testing.T) {
	start := time.Now()
	dir := filepath.Join(t.TempDir(), "data")
	first := ensureNew(t, dir, Options{Now: func() time.Time { return start }})
	before := readAll(t, first)

	later := start.Add(pki.DefaultLeafValidity + time.Hour)
	l, created, err := Ensure(dir, Options{Now: func() time.Time { return later }})
	if err != nil {
		t.Fatalf("Ensure after expiry: %v", err)
	}
	if created {
		t.Error("Ensure after expiry reports created")
	}
	want := []string{l.ServerCertFile, l.ClientCertFile}
	if !slices.Equal(l.Reissued, want) {
		t.Errorf("Reissued = %q, want %q", l.Reissued, want)
	}
	if l.CAFingerprint != first.CAFingerprint {
		t.Error("CA changed on reissue")
	}

	// Keys, the CA and the JWKs stay. Only the two certificates change.
	after := readAll(t, l)
	for path, data := range before {
		changed := !bytes.Equal(after[path], data)
		if changed != slices.Contains(want, path) {
			t.Errorf("%s changed = %v, want %v", path, changed, slices.Contains(want, path))
		}
	}
	assertValidAt(t, l, later)
	assertNoStrayFiles(t, l)

	// The reissued certificates last another year, so the next start keeps them.
	l, _, err = Ensure(dir, Options{Now: func() time.Time { return later.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Reissued) != 0 {
		t.Errorf("start after reissue reissued %q again", l.Reissued)
	}
}

func TestEnsureReissuesWithinLastDay(t *testing.T) {
	start := time.Now()
	dir := filepath.Join(t.TempDir(), "data")
	ensureNew(t, dir, Options{Now: func() time.Time { return start }})

	almost := start.Add(pki.DefaultLeafValidity - 12*time.Hour)
	l, _, err := Ensure(dir, Options{Now: func() time.Time { return almost }})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Reissued) != 2 {
		t.Errorf("Reissued = %q, want server and client with 12h left", l.Reissued)
	}
}

func TestEnsureRefusesExpiringCA(t *testing.T) {
	start := time.Now()
	dir := filepath.Join(t.TempDir(), "data")
	ensureNew(t, dir, Options{Now: func() time.Time { return start }})

	late := start.Add(pki.DefaultRootValidity)
	_, _, err := Ensure(dir, Options{Now: func() time.Time { return late }})
	if err == nil || !strings.Contains(err.Error(), "development CA") || !strings.Contains(err.Error(), "delete "+dir) {
		t.Errorf("err = %v, want CA expiry with a delete hint", err)
	}
}

func assertValidAt(t *testing.T, l *Layout, now time.Time) {
	t.Helper()
	pool, err := l.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path  string
		usage x509.ExtKeyUsage
	}{{l.ServerCertFile, x509.ExtKeyUsageServerAuth}, {l.ClientCertFile, x509.ExtKeyUsageClientAuth}} {
		certs, err := pki.LoadCertificates(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = certs[0].Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{tc.usage}})
		if err != nil {
			t.Errorf("%s does not verify at %s: %v", tc.path, now, err)
		}
	}
}

// assertNoStrayFiles fails if a temporary certificate file was left behind.
func assertNoStrayFiles(t *testing.T, l *Layout) {
	t.Helper()
	for _, path := range []string{l.ServerCertFile + ".new", l.ClientCertFile + ".new"} {
		if _, err := os.Stat(path); err == nil {
			t.Errorf("%s left behind", path)
		}
	}
}

func assertNoPartialDirs(t *testing.T, parent string) {
	t.Helper()
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".partial-") {
			t.Errorf("temporary directory %s left in %s", e.Name(), parent)
		}
	}
}
