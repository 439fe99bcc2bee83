package netguard

import (
	"net/netip"
	"testing"
	"time"
)

func TestRefusalLogRateLimited(t *testing.T) {
	logs := &logRecorder{}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	g := mustGuard(t, Options{
		Allow:    MustParseAllowlist("192.0.2.0/24"),
		Partners: map[string]*Allowlist{"acme-ehr": MustParseAllowlist("192.0.2.0/28")},
		Logger:   logs.logger(),
		Now:      func() time.Time { return now },
	})
	refuse := func(source string) {
		if err := g.checkGlobal(netip.MustParseAddr(source), netip.Addr{}); err != nil {
			g.deny(err)
		}
	}

	refuse("203.0.113.1")
	refuse("203.0.113.2")
	refuse("203.0.113.3")
	// Another rule has its own budget, so a scan cannot hide it.
	g.CheckPartner("acme-ehr", netip.MustParseAddr("192.0.2.200"))
	now = now.Add(1500 * time.Millisecond)
	refuse("203.0.113.4")

	lines := logs.attrs()
	if len(lines) != 3 {
		t.Fatalf("logged %d lines, want 3: %v", len(lines), lines)
	}
	if lines[0]["source"] != "203.0.113.1" || lines[0]["suppressed"] != "0" {
		t.Errorf("first line = %v", lines[0])
	}
	if lines[1]["rule"] != RulePartner || lines[1]["partner"] != "acme-ehr" {
		t.Errorf("second line = %v, want the partner refusal", lines[1])
	}
	if lines[2]["source"] != "203.0.113.4" || lines[2]["suppressed"] != "2" {
		t.Errorf("third line = %v, want source 203.0.113.4 with 2 suppressed", lines[2])
	}
	if st := g.Stats(); st.RefusedGlobal != 4 {
		t.Errorf("RefusedGlobal = %d, want 4: suppressed lines must still be counted", st.RefusedGlobal)
	}
}
