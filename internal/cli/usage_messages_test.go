package cli

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMissingSubcommandHint runs every command group without a subcommand
// and checks for a hint that names each subcommand and how to get its help.
func TestMissingSubcommandHint(t *testing.T) {
	var walk func(words []string, g *commandGroup)
	walk = func(words []string, g *commandGroup) {
		for _, name := range g.names() {
			sub := g.commands[name].group
			if sub == nil {
				continue
			}
			path := append(append([]string{}, words...), name)
			t.Run(strings.Join(path, " "), func(t *testing.T) {
				code, stdout, stderr := run(t, context.Background(), path...)
				if code != 2 {
					t.Errorf("exit code = %d, want 2", code)
				}
				if stdout != "" {
					t.Errorf("stdout = %q, want nothing", stdout)
				}
				hint := hintLine(stderr)
				if hint == "" {
					t.Fatalf("no hint line in:\n%s", stderr)
				}
				for _, subName := range sub.names() {
					if !regexp.MustCompile(`\b` + regexp.QuoteMeta(subName) + `\b`).MatchString(hint) {
						t.Errorf("hint %q does not name the subcommand %s", hint, subName)
					}
				}
				if want := "'gatehouse " + strings.Join(path, " ") + " SUBCOMMAND -h'"; !strings.Contains(hint, want) {
					t.Errorf("hint %q does not contain %s", hint, want)
				}
			})
			walk(path, sub)
		}
	}
	walk(nil, topLevel)
}

// hintLine returns the first "gatehouse: hint:" line of stderr, or "".
func hintLine(stderr string) string {
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "gatehouse: hint: ") {
			return line
		}
	}
	return ""
}

// TestErrorsNameOptionNotPackage passes bad values and checks that the
// error names the option and carries no Go package prefix.
func TestErrorsNameOptionNotPackage(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	tests := []struct {
		name string
		args []string
		err  string
	}{
		{"pki list missing dir", []string{"pki", "list", "--dir", none}, "--dir " + none + " is not a CA directory: it has no ca.json"},
		{"pki revoke missing dir", []string{"pki", "revoke", "--dir", none, "12"}, "--dir " + none + " is not a CA directory"},
		{"load negative duration", []string{"load", "--duration", "-1s"}, "invalid --duration -1s: use more than 0 and at most 10m0s"},
		{"load zero concurrency", []string{"load", "--concurrency", "0"}, "invalid --concurrency 0: use 1 to 256"},
		{"load missing bundles", []string{"load", "--bundles", none}, "--bundles: bundles directory " + none + " does not exist"},
		{"load missing synthea", []string{"load", "--synthea", none}, "--synthea: open " + none + ": no such file or directory"},
		{"token keygen bad alg", []string{"token", "keygen", "--name", "x", "--alg", "bogus", "--out", t.TempDir()}, `invalid --alg "bogus": use ES256, ES384, RS384 or PS384`},
		{"validate missing package", []string{"validate", "--package", none, none}, "--package " + none + ": open " + none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := run(t, context.Background(), tt.args...)
			if code != 2 {
				t.Errorf("exit code = %d, want 2; stderr %q", code, stderr)
			}
			if !strings.Contains(stderr, "gatehouse: error: "+tt.err) {
				t.Errorf("stderr = %q, want error %q", stderr, tt.err)
			}
			if m := packagePrefix.FindString(strings.TrimPrefix(stderr, "gatehouse: error: ")); m != "" {
				t.Errorf("stderr = %q carries the package prefix %q", stderr, m)
			}
			if strings.Contains(stderr, "token: ") {
				t.Errorf("stderr = %q carries the package prefix token:", stderr)
			}
		})
	}
}

// TestErrorTextKeepsConfigKeys checks that removing package prefixes
// keeps a configuration key that has the name of a package.
func TestErrorTextKeepsConfigKeys(t *testing.T) {
	err := errorString("config: gatehouse.yaml: payer: loadgen: x")
	if got, want := errorText(err), "gatehouse.yaml: payer: x"; got != want {
		t.Errorf("errorText = %q, want %q", got, want)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// TestHelpWithoutOptions checks that a command without options prints no
// empty Options section.
func TestHelpWithoutOptions(t *testing.T) {
	code, stdout, stderr := run(t, context.Background(), "version", "-h")
	if code != 0 {
		t.Errorf("exit code = %d, want 0; stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "gatehouse version") {
		t.Errorf("stdout = %q, want the usage line", stdout)
	}
	if strings.Contains(stdout, "Options:") {
		t.Errorf("stdout = %q has an Options section with nothing in it", stdout)
	}
}

// TestScopeRepeatSynopsis checks that the top-level usage and each
// command's help agree on whether --scope may be repeated.
func TestScopeRepeatSynopsis(t *testing.T) {
	for _, cmd := range []string{"token", "load", "posture"} {
		t.Run(cmd, func(t *testing.T) {
			_, help, _ := run(t, context.Background(), cmd, "-h")
			helpLine := strings.SplitN(help, "\n", 3)[1]
			var topLine string
			for _, line := range strings.Split(usage, "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "gatehouse "+cmd+" [") {
					topLine = line
				}
			}
			if topLine == "" {
				t.Fatalf("the top-level usage has no line for %s", cmd)
			}
			repeatedInHelp := strings.Contains(helpLine, "[--scope SCOPES]...")
			repeatedAtTop := strings.Contains(topLine, "[--scope SCOPES]...")
			if repeatedInHelp != repeatedAtTop {
				t.Errorf("--scope repeat differs:\n  help: %s\n  top:  %s", helpLine, topLine)
			}
		})
	}
}

// TestKillswitchRemoteAdminNeedsFiles checks that --admin without the
// administrator's files names the remote URL, not the data directory.
func TestKillswitchRemoteAdminNeedsFiles(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	code, stdout, stderr := run(t, context.Background(), "killswitch", "engage", "--data", none, "--mode", "full", "--reason", "x", "--admin", "https://127.0.0.1:1")
	if code != 2 {
		t.Errorf("exit code = %d, want 2", code)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	if want := "gatehouse: error: missing --cert, --key and --ca: a remote admin URL (--admin https://127.0.0.1:1) needs"; !strings.Contains(stderr, want) {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
	if strings.Contains(stderr, "development data directory") {
		t.Errorf("stderr = %q blames the data directory", stderr)
	}
}

// TestAuditSinceHintExample checks that the hint for a bad --since gives
// example values that --since accepts.
func TestAuditSinceHintExample(t *testing.T) {
	code, _, stderr := run(t, context.Background(), "audit", "show", "--data", t.TempDir(), "--since", "yesterday")
	if code != 2 {
		t.Errorf("exit code = %d, want 2", code)
	}
	hint := hintLine(stderr)
	examples := regexp.MustCompile(`--since (\S+)`).FindAllStringSubmatch(hint, -1)
	if len(examples) == 0 {
		t.Fatalf("hint %q gives no --since example", hint)
	}
	hasTime := false
	for _, m := range examples {
		value := strings.TrimSuffix(m[1], ",")
		if _, err := parseSince(value, time.Now()); err != nil {
			t.Errorf("the hint's example %q is rejected: %v", value, err)
		}
		if _, err := time.Parse(time.RFC3339, value); err == nil {
			hasTime = true
		}
	}
	if !hasTime {
		t.Errorf("hint %q gives no RFC 3339 example", hint)
	}
}
