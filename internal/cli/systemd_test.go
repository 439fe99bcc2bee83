package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The shipped systemd unit passes systemd-analyze verify, runs the
// commands and configuration path the runbook names, and keeps its
// exposure rating low. systemd-analyze checks that ExecStart names an
// executable, so the test points it at its own binary.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	data, err := os.ReadFile("../../examples/systemd/gatehouse.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(data)

	for _, want := range []string{
		"ExecStart=/usr/local/bin/gatehouse serve --config /etc/gatehouse/gatehouse.yaml",
		"ReadWritePaths=/var/lib/gatehouse /var/lib/gatehouse-witness",
		"RestartPreventExitStatus=1 2",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", want)
		}
	}

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gatehouse.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/gatehouse", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	out, err := exec.Command(analyze, "security", "--offline=yes", "--threshold=20", path).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security rates the unit above 2.0 or failed: %v\n%s", err, out)
	}
}
