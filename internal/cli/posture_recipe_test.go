package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/token"
)

// recipeCommands returns the commands that the header of
// examples/posture/hardened.yaml gives for creating its files: the
// comment lines indented by three spaces, but for the audit itself.
func recipeCommands(t *testing.T, yaml string) []string {
	t.Helper()
	var cmds []string
	for line := range strings.Lines(yaml) {
		if !strings.HasPrefix(line, "#") {
			break
		}
		if cmd, ok := strings.CutPrefix(line, "#   "); ok && !strings.HasPrefix(cmd, "gatehouse posture ") {
			cmds = append(cmds, strings.TrimSpace(cmd))
		}
	}
	if len(cmds) < 10 {
		t.Fatalf("found %d recipe commands in the header of hardened.yaml, want the whole recipe", len(cmds))
	}
	return cmds
}

// shellWords splits a command line on spaces, keeping double-quoted
// words whole; the recipe uses nothing more.
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	quoted, inWord := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// The recipe in hardened.yaml's header, run as written, creates files
// that pass the posture audit at medium with no low TLS finding. The
// gatehouse commands run in process; the others through bash. The
// age-keygen lines are replaced by a fixed recipient only where the age
// tool is not installed. The partner's JWK set, which the partner sends,
// is written in Go.
func TestHardenedRecipe(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	_, ageErr := exec.LookPath("age-keygen")
	haveAge := ageErr == nil
	data, err := os.ReadFile("../../examples/posture/hardened.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("hardened.yaml", data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range recipeCommands(t, string(data)) {
		switch {
		case strings.HasPrefix(cmd, "age-keygen ") && !haveAge:
			if err := os.WriteFile("pki/audit-recipients.txt", []byte("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(cmd, "gatehouse "):
			if code, _, stderr := run(t, context.Background(), shellWords(cmd)[1:]...); code != 0 {
				t.Fatalf("%s: exit code %d\n%s", cmd, code, stderr)
			}
		default:
			if out, err := exec.Command("bash", "-c", cmd).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", cmd, err, out)
			}
		}
	}
	jwk, err := token.GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk.Public()}})
	if err := os.MkdirAll("partners", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("partners", "epic-payer-platform.jwks.json"), set, 0o600); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := run(t, context.Background(), "posture", "--config", "hardened.yaml", "--fail-on", "medium")
	if code != 0 || !strings.Contains(stdout, "Result: PASS at threshold medium.") {
		t.Fatalf("posture of the recipe's files: exit code %d\n%s%s", code, stdout, stderr)
	}
	// Each CA is named for its role.
	if !strings.Contains(stdout, `CA "Example Health Plan Administrators Root CA"`) || !strings.Contains(stdout, `CA "Example Health Plan Partner Root CA"`) {
		t.Errorf("posture does not list the administrators' and partners' CAs by their names:\n%s", stdout)
	}
	// The header promises one low finding and names it.
	if !strings.Contains(stdout, "1 not passed (0 high, 0 medium, 1 low)") {
		t.Errorf("posture of the recipe's files lists other findings than the header's one:\n%s", stdout)
	}
}
