package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/config"
)

// TestServeUnusableConfigFile passes --config files that cannot be a
// configuration at all. Each is a usage error (exit 2), as a missing file
// is, and the hint names what to pass, not "fix the key named above" when
// the error names no key.
func TestServeUnusableConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cases := map[string]string{
		"directory":     dir,
		"empty":         write("empty.yaml", ""),
		"two documents": write("two.yaml", "listen: 127.0.0.1:8443\n---\nlisten: 127.0.0.1:9443\n"),
		"too large":     write("large.yaml", "# "+strings.Repeat("x", config.MaxFileBytes)+"\n"),
	}
	for name, path := range cases {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := run(t, context.Background(), "serve", "--config", path)
			if code != 2 {
				t.Errorf("exit code %d, want 2; stderr:\n%s", code, stderr)
			}
			if !strings.Contains(stderr, "gatehouse: hint: pass a YAML configuration file of at most 4 MiB") {
				t.Errorf("no hint naming what to pass:\n%s", stderr)
			}
			if strings.Contains(stderr, "key named above") {
				t.Errorf("the hint points at a key the error does not name:\n%s", stderr)
			}
		})
	}
}
