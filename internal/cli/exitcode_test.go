package cli

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMissingInputExitsTwo names a data directory, CA directory or file
// that does not exist to every command that reads one. Each must exit 2,
// as a usage error does, with an error that names the path, because the
// command did nothing.
func TestMissingInputExitsTwo(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none")
	file := filepath.Join(missing, "x.pem")
	partnerFiles := []string{"--partner", "acme-ehr", "--cert", file, "--key", file, "--ca", file, "--assertion-key", file}
	tests := []struct {
		name string
		args []string
	}{
		{"token data", []string{"token", "--data", missing}},
		{"token partner files", append([]string{"token", "--url", "https://127.0.0.1:8443"}, partnerFiles...)},
		{"killswitch data", []string{"killswitch", "status", "--data", missing}},
		{"killswitch files", []string{"killswitch", "status", "--admin", "https://127.0.0.1:9443", "--cert", file, "--key", file, "--ca", file}},
		{"load data", []string{"load", "--data", missing, "--duration", "1s"}},
		{"load partner files", append([]string{"load", "--target", "https://127.0.0.1:8443"}, partnerFiles...)},
		{"load synthea", []string{"load", "--synthea", file, "--write-bundles", filepath.Join(t.TempDir(), "out")}},
		{"load bundles", []string{"load", "--bundles", missing, "--write-bundles", filepath.Join(t.TempDir(), "out")}},
		{"payer pended data", []string{"payer", "pended", "--data", missing}},
		{"payer pended config", []string{"payer", "pended", "--config", file}},
		{"payer decide data", []string{"payer", "decide", "--data", missing, "claim-1", "1", "approve"}},
		{"pki list", []string{"pki", "list", "--dir", missing}},
		{"pki issue", []string{"pki", "issue", "admin", "--dir", missing, "--name", "ops"}},
		{"dfd data", []string{"dfd", "--data", missing}},
		{"posture data", []string{"posture", "--data", missing}},
		{"audit verify data", []string{"audit", "verify", "--data", missing}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, context.Background(), tt.args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2\nstderr %q", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, "gatehouse: error: ") {
				t.Errorf("stderr %q has no gatehouse: error: line", stderr)
			}
			if !strings.Contains(stderr, missing) {
				t.Errorf("stderr %q does not name %s", stderr, missing)
			}
		})
	}
}

// TestScopeOptionSyntax checks --scope of token, load and posture --live
// before any file or network is touched: a value that is not scope tokens
// is a usage error naming the option.
func TestScopeOptionSyntax(t *testing.T) {
	commands := map[string][]string{
		"token":   {"token"},
		"load":    {"load"},
		"posture": {"posture", "--live", "https://127.0.0.1:1"},
	}
	for name, cmd := range commands {
		for _, value := range []string{"", "  ", `system/Claim.rs "quoted"`, "system/Claim.rs\x7f"} {
			t.Run(name+" "+value, func(t *testing.T) {
				args := append(slices.Clone(cmd), "--data", t.TempDir(), "--scope", value)
				code, _, stderr := run(t, context.Background(), args...)
				if code != 2 {
					t.Errorf("exit code %d, want 2\nstderr %q", code, stderr)
				}
				if !strings.Contains(stderr, "gatehouse: error: invalid value") {
					t.Errorf("stderr %q has no invalid value error", stderr)
				}
				if !strings.Contains(stderr, "for --scope") {
					t.Errorf("stderr %q does not name --scope", stderr)
				}
			})
		}
	}
}

// TestScopeListRepeats checks that repeated and space-separated --scope
// values add up, without duplicates, and that the first replaces the
// default.
func TestScopeListRepeats(t *testing.T) {
	fs := (&env{}).flags("test")
	s := scopeFlag(fs, "system/Default.rs")
	if err := fs.Parse([]string{"--scope", "system/Claim.rs  system/Claim.$submit", "--scope", "system/Claim.rs", "--scope", "system/ClaimResponse.rs"}); err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "system/Claim.rs system/Claim.$submit system/ClaimResponse.rs"; got != want {
		t.Errorf("scope %q, want %q", got, want)
	}

	fs = (&env{}).flags("test")
	s = scopeFlag(fs, "system/Default.rs system/Other.rs")
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "system/Default.rs system/Other.rs"; got != want {
		t.Errorf("default scope %q, want %q", got, want)
	}
}

// TestScopeFlagHelpDefault requires the help of --scope to state its
// default once.
func TestScopeFlagHelpDefault(t *testing.T) {
	fs := (&env{}).flags("test")
	scopeFlag(fs, "system/Default.rs system/Other.rs")
	var help strings.Builder
	fs.SetOutput(&help)
	fs.PrintDefaults()

	if n := strings.Count(help.String(), "(default"); n != 1 {
		t.Errorf("help names a default %d times, want once:\n%s", n, help.String())
	}
	if !strings.Contains(help.String(), "system/Default.rs system/Other.rs") {
		t.Errorf("help does not name the default scopes:\n%s", help.String())
	}
}
