package auditlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadRecipientsWrongKey reads a recipients file that contains the
// checkpoint verifier key instead of an age public key, a mix-up of two
// key files that sit side by side. The error names the file and says what
// a line must contain.
func TestLoadRecipientsWrongKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "recipients.txt")
	line := "gatehouse.payer.example/audit+1a2b3c4d+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n"
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadRecipients(path)
	if err == nil {
		t.Fatal("the verifier key was accepted as a recipient")
	}
	for _, want := range []string{path, "error at line 1", "age public key (age1...)", "age-keygen"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}
