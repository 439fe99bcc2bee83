package cli

import (
	"context"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionCommand(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, stderr := run(t, context.Background(), args...)
		if code != 0 || stderr != "" {
			t.Errorf("%v: code %d, stderr %q", args, code, stderr)
		}
		if !strings.HasPrefix(stdout, "gatehouse ") || !strings.Contains(stdout, runtime.Version()) {
			t.Errorf("%v: output %q lacks the name or the Go version", args, stdout)
		}
	}
}

func TestFormatVersionRevision(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/gatehouse-health/gatehouse", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "44ee013"}, {Key: "vcs.time", Value: "2026-12-05T00:41:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	want := "gatehouse v1.4.0, revision 44ee013 (2026-12-05T00:41:00Z, modified), go1.26.8"
	if got := formatVersion(info); got != want {
		t.Errorf("formatVersion = %q, want %q", got, want)
	}
	info.Settings = nil
	if got := formatVersion(info); !strings.Contains(got, "no VCS revision recorded") {
		t.Errorf("formatVersion without VCS = %q", got)
	}
}
