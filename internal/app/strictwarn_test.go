package app_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// TestStartWarnsRelaxedStrict starts a gateway with every way of relaxing
// strict mode and requires one warning per setting, naming the key and the
// partner but not the skipped interactions.
func TestStartWarnsRelaxedStrict(t *testing.T) {
	h := newHarness(t, harnessOptions{strict: true, edit: func(cfg *config.File, _ *devmode.Layout) {
		off := false
		cfg.Strict.Mode = "off"
		cfg.Strict.Skip = []string{"Claim/$inquire"}
		cfg.Strict.UnknownProfiles = "warn"
		cfg.Partners[0].Strict = &off
		cfg.Partners[0].StrictSkip = []string{"Claim/$submit"}
		cfg.Partners[0].StrictUnknownProfiles = "warn"
	}})
	var warnings []string
	for _, line := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "strict") {
			warnings = append(warnings, line)
		}
	}
	partner := "partner=" + app.DevPartner
	for _, want := range []struct{ key, partner string }{
		{"key=strict.mode", ""},
		{"key=strict.skip", ""},
		{"key=strict.unknown_profiles", ""},
		{"key=partners[0].strict ", partner},
		{"key=partners[0].strict_skip", partner},
		{"key=partners[0].strict_unknown_profiles", partner},
	} {
		var found []string
		for _, w := range warnings {
			if strings.Contains(w+" ", want.key) {
				found = append(found, w)
			}
		}
		if len(found) != 1 {
			t.Errorf("%d warnings with %s, want 1: %q", len(found), want.key, warnings)
			continue
		}
		if want.partner != "" && !strings.Contains(found[0], want.partner) {
			t.Errorf("warning %q does not name the partner", found[0])
		}
	}
	for _, w := range warnings {
		if strings.Contains(w, "$submit") || strings.Contains(w, "$inquire") {
			t.Errorf("warning %q lists a skipped interaction", w)
		}
	}
}
