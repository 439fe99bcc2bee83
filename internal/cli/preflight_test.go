package cli

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// hardenedLocal returns the hardened example with its database and
// checkpoint file moved into the test's directory, so that every file the
// configuration names exists.
func hardenedLocal(t *testing.T) (path, dir string) {
	t.Helper()
	path = hardenedExample(t)
	dir = filepath.Dir(path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.NewReplacer(
		"/var/lib/gatehouse/gatehouse.db", filepath.Join(dir, "gatehouse.db"),
		"/var/lib/gatehouse-witness/checkpoint.txt", filepath.Join(dir, "checkpoint.txt"),
	).Replace(string(data))
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

// listTree returns every path under dir, relative to it.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		paths = append(paths, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// TestServeReportsEveryMissingFile removes five files that a configuration
// names. One run reports each with its key and path, gives one hint, and
// exits 2 without creating the database or any other file.
func TestServeReportsEveryMissingFile(t *testing.T) {
	path, dir := hardenedLocal(t)
	missing := []struct{ key, file string }{
		{"tls.key_file", "pki/server-key.pem"},
		{"token.signing_key_file", "pki/token-signing-key.pem"},
		{"audit.signing_key_file", "pki/checkpoint.key"},
		{"audit.recipients_file", "pki/audit-recipients.txt"},
		{"partners[0].jwks_file", "partners/epic-payer-platform.jwks.json"},
	}
	for _, m := range missing {
		if err := os.Remove(filepath.Join(dir, m.file)); err != nil {
			t.Fatal(err)
		}
	}
	before := listTree(t, dir)

	code, stdout, stderr := run(t, context.Background(), "serve", "--config", path)
	if code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	var errorLines, hintLines []string
	for _, line := range lines {
		switch {
		case strings.HasPrefix(line, "gatehouse: error: "):
			errorLines = append(errorLines, line)
		case strings.HasPrefix(line, "gatehouse: hint: "):
			hintLines = append(hintLines, line)
		default:
			t.Errorf("unexpected line %q", line)
		}
	}
	if len(errorLines) != len(missing) {
		t.Errorf("%d error lines, want %d:\n%s", len(errorLines), len(missing), stderr)
	}
	for _, m := range missing {
		want := "gatehouse: error: " + m.key + " " + filepath.Join(dir, m.file) + ": no such file"
		if !slices.Contains(errorLines, want) {
			t.Errorf("no line %q:\n%s", want, stderr)
		}
	}
	if len(hintLines) != 1 {
		t.Fatalf("%d hint lines, want 1:\n%s", len(hintLines), stderr)
	}
	for _, step := range []string{
		"openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + filepath.Join(dir, "pki/token-signing-key.pem"),
		"gatehouse audit keygen --origin gatehouse.payer.example/audit --out " + filepath.Join(dir, "pki"),
		"gatehouse pki issue",
		"age-keygen -y",
		"each partner sends its public JWK set",
		"or correct its key in " + path,
	} {
		if !strings.Contains(hintLines[0], step) {
			t.Errorf("the hint lacks %q:\n%s", step, hintLines[0])
		}
	}

	if _, err := os.Stat(filepath.Join(dir, "gatehouse.db")); !os.IsNotExist(err) {
		t.Errorf("the database file was created: %v", err)
	}
	if after := listTree(t, dir); !slices.Equal(before, after) {
		t.Errorf("serve changed the directory:\nbefore %q\nafter  %q", before, after)
	}
}

// TestServeReportsFileNotRegular names a directory as a certificate file
// and requires the preflight to say so rather than the loader's read
// error.
func TestServeReportsFileNotRegular(t *testing.T) {
	path, dir := hardenedLocal(t)
	cert := filepath.Join(dir, "pki", "server.pem")
	if err := os.Remove(cert); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(cert, 0o700); err != nil {
		t.Fatal(err)
	}

	code, _, stderr := run(t, context.Background(), "serve", "--config", path)
	if code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if !strings.Contains(stderr, "gatehouse: error: tls.cert_file "+cert+": not a regular file") {
		t.Errorf("the error does not say that tls.cert_file is not a regular file:\n%s", stderr)
	}
	if !strings.Contains(stderr, "gatehouse: hint: fix each file named above") {
		t.Errorf("no hint after the errors:\n%s", stderr)
	}
	if !strings.Contains(stderr, "can read") {
		t.Errorf("the hint does not say to make the file readable:\n%s", stderr)
	}
}

// TestServeInvalidFileKeepsLoaderMessage replaces a key file with text
// that is no key. The preflight passes it, so the loader's precise error
// stays, and the file's text appears nowhere in the output.
func TestServeInvalidFileKeepsLoaderMessage(t *testing.T) {
	path, dir := hardenedLocal(t)
	const secret = "not-a-key-7f3a9c"
	if err := os.WriteFile(filepath.Join(dir, "pki", "checkpoint.key"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	code, _, stderr := run(t, context.Background(), "serve", "--config", path)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(stderr, "gatehouse: error: start: audit.signing_key_file: ") {
		t.Errorf("the loader's error is missing:\n%s", stderr)
	}
	if strings.Contains(stderr, "fix each file named above") {
		t.Errorf("the preflight reported a file that exists:\n%s", stderr)
	}
	if strings.Contains(stderr, secret) {
		t.Errorf("the output contains the file's text:\n%s", stderr)
	}
}

// TestPostureWarnsMissingFiles audits a configuration with a missing key
// file. The audit still runs and reports, and stderr lists the file as a
// warning with the hint.
func TestPostureWarnsMissingFiles(t *testing.T) {
	// The example's database and checkpoint directories, under /var/lib,
	// are missing too; a database under the test's temporary directory
	// would fail GH-LOG-004.
	path := hardenedExample(t)
	dir := filepath.Dir(path)
	key := filepath.Join(dir, "pki", "token-signing-key.pem")
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := run(t, context.Background(), "posture", "--config", path, "--fail-on", "medium")
	if code != 0 {
		t.Errorf("exit code %d, want 0 (the missing key is no posture finding); stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "Result: PASS") {
		t.Errorf("no report on stdout:\n%s", stdout)
	}
	want := "gatehouse: warning: token.signing_key_file " + key + ": no such file; 'gatehouse serve' would not start"
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	if !strings.Contains(stderr, "gatehouse: hint: fix each file named above") {
		t.Errorf("no hint:\n%s", stderr)
	}
}

// TestServeReportsDirectoryProblems puts the database under a regular
// file, where no account can create it, and, when the test runs as
// another account than root, the checkpoint file in a read-only
// directory. One run reports each as "KEY PATH: problem", gives one hint
// with the fix, exits 2 and creates nothing.
func TestServeReportsDirectoryProblems(t *testing.T) {
	path, dir := hardenedLocal(t)
	notDir := filepath.Join(dir, "hardened.yaml")
	database := filepath.Join(notDir, "gatehouse.db")
	checkpointDir := filepath.Join(dir, "witness")
	if err := os.Mkdir(checkpointDir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(checkpointDir, 0o700) })
	checkpoint := filepath.Join(checkpointDir, "checkpoint.txt")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.NewReplacer(
		filepath.Join(dir, "gatehouse.db"), database,
		filepath.Join(dir, "checkpoint.txt"), checkpoint,
	).Replace(string(data))
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	before := listTree(t, dir)

	code, _, stderr := run(t, context.Background(), "serve", "--config", path)
	if code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	want := "gatehouse: error: database.path " + database + ": " + notDir + " is not a directory"
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	if !strings.Contains(stderr, "gatehouse: hint: fix each file named above") || !strings.Contains(stderr, "move "+notDir+" aside") {
		t.Errorf("the hint does not say to name a directory:\n%s", stderr)
	}
	if os.Geteuid() != 0 {
		want := "gatehouse: error: audit.checkpoint_file " + checkpoint + ": directory " + checkpointDir + " is not writable"
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
		if !strings.Contains(stderr, "chmod 0700 "+checkpointDir) {
			t.Errorf("the hint does not say how to make the directory writable:\n%s", stderr)
		}
	} else {
		t.Log("running as root, which writes into any directory: the read-only checkpoint directory is not checked")
	}
	if after := listTree(t, dir); !slices.Equal(before, after) {
		t.Errorf("serve changed the directory:\nbefore %q\nafter  %q", before, after)
	}
}

// TestOperatorCommandsReportEveryFile runs audit verify and payer
// commands with --config on a deployment whose database and files are
// missing. Each run lists every problem at once in the preflight's form,
// and creates no database.
func TestOperatorCommandsReportEveryFile(t *testing.T) {
	path, dir := hardenedLocal(t)
	database := filepath.Join(dir, "gatehouse.db")
	recipients := filepath.Join(dir, "pki", "audit-recipients.txt")
	if err := os.Remove(recipients); err != nil {
		t.Fatal(err)
	}

	// The payer commands create the database, but not its directory.
	payerDatabase := filepath.Join(dir, "missing", "gatehouse.db")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	payerConfig := filepath.Join(dir, "payer.yaml")
	if err := os.WriteFile(payerConfig, []byte(strings.ReplaceAll(string(data), database, payerDatabase)), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{
			name: "audit verify",
			args: []string{"audit", "verify", "--config", path},
			code: 2,
			want: []string{
				"gatehouse: error: database.path " + database + ": no such file",
				"gatehouse: error: no verifier key beside audit.signing_key_file " + filepath.Join(dir, "pki", "checkpoint.key"),
				"gatehouse: hint: fix each file named above",
			},
		},
		{
			name: "payer pended",
			args: []string{"payer", "pended", "--config", payerConfig},
			code: 2,
			want: []string{
				"gatehouse: error: database.path " + payerDatabase + ": directory " + filepath.Dir(payerDatabase) + " does not exist",
				"gatehouse: hint: fix each file named above, or correct its key in " + payerConfig + ": create the directories",
			},
		},
		{
			name: "payer decide",
			args: []string{"payer", "decide", "--config", payerConfig, "claim-1", "1", "approve"},
			code: 2,
			want: []string{
				"gatehouse: error: database.path " + payerDatabase + ": directory " + filepath.Dir(payerDatabase) + " does not exist",
				"gatehouse: error: audit.recipients_file " + recipients + ": no such file",
				"age-keygen -y",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := run(t, context.Background(), tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}

			for _, want := range tt.want {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			for _, line := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
				if !strings.HasPrefix(line, "gatehouse: error: ") && !strings.HasPrefix(line, "gatehouse: hint: ") {
					t.Errorf("unexpected line %q", line)
				}
			}

			for _, p := range []string{database, payerDatabase} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("the database file %s was created: %v", p, err)
				}
			}
		})
	}
}
