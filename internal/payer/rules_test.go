package payer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/pas"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

const (
	hcpcs = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
	x12   = "https://codesystem.x12.org/005010/1365"
)

func TestDecide(t *testing.T) {
	rules, err := ParseRules([]byte(`
default: pend
systems:
  sys-a:
    default: approve
    codes:
      X1: deny
  sys-b:
    codes:
      Y1: contact
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		codings []pas.Coding
		want    pas.ReviewAction
	}{
		{"code rule", []pas.Coding{{System: "sys-a", Code: "X1"}}, pas.NotCertified},
		{"system default", []pas.Coding{{System: "sys-a", Code: "X2"}}, pas.CertifiedInTotal},
		{"code match is case-sensitive", []pas.Coding{{System: "sys-a", Code: "x1"}}, pas.CertifiedInTotal},
		{"system without default falls back", []pas.Coding{{System: "sys-b", Code: "Y2"}}, pas.Pended},
		{"unknown system", []pas.Coding{{System: "sys-c", Code: "X1"}}, pas.Pended},
		{"no codings", nil, pas.Pended},
		{"code rule on a later coding wins over a system default", []pas.Coding{{System: "sys-a", Code: "X2"}, {System: "sys-b", Code: "Y1"}}, pas.ContactPayer},
		{"first system default in coding order", []pas.Coding{{System: "sys-c", Code: "Z"}, {System: "sys-a", Code: "X2"}}, pas.CertifiedInTotal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := rules.Decide(tc.codings); got != tc.want {
				t.Errorf("Decide = %q, expected %q", got, tc.want)
			}
		})
	}
}

func TestDefaultRules(t *testing.T) {
	rules := DefaultRules()
	cases := []struct {
		system, code string
		want         pas.ReviewAction
	}{
		{hcpcs, "G0154", pas.CertifiedInTotal},
		{hcpcs, "99212", pas.CertifiedInTotal},
		{hcpcs, "B4184", pas.Pended},
		{hcpcs, "B4185", pas.NotCertified},
		{hcpcs, "33510", pas.Pended},
		{x12, "3", pas.CertifiedInTotal},
		{"http://example.org/unknown", "1", pas.Pended},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			if got := rules.Decide([]pas.Coding{{System: tc.system, Code: tc.code}}); got != tc.want {
				t.Errorf("Decide(%s) = %q, expected %q", tc.code, got, tc.want)
			}
		})
	}
}

func TestParseRulesErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want string // substring of the error
	}{
		{"empty file", "", "the file is empty"},
		{"missing default", "systems: {}\n", "default: missing"},
		{"unknown top-level key", "default: pend\nsystem: {}\n", "field system not found"},
		{"unknown system key", "default: pend\nsystems:\n  s:\n    code: {}\n", "field code not found"},
		{"duplicate code", "default: pend\nsystems:\n  s:\n    codes:\n      A: deny\n      A: pend\n", `"A" already defined`},
		{"unknown global decision", "default: maybe\n", `default: unknown decision "maybe"`},
		{"unknown system default", "default: pend\nsystems:\n  s:\n    default: yes\n", `systems."s".default: unknown decision "yes"`},
		{"unknown code decision", "default: pend\nsystems:\n  http://x:\n    codes:\n      B1: dny\n", `systems."http://x".codes."B1": unknown decision "dny"`},
		{"empty code", "default: pend\nsystems:\n  s:\n    codes:\n      \"\": deny\n", `systems."s".codes: a code is empty`},
		{"empty system", "default: pend\nsystems:\n  \"\":\n    default: deny\n", "a code system URL is empty"},
		{"two documents", "default: pend\n---\ndefault: deny\n", "more than one YAML document"},
		{"wrong type", "default: [pend]\n", "cannot unmarshal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRules([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("ParseRules accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestParseRulesNumericCode(t *testing.T) {
	// An unquoted numeric code is still matched as text.
	rules, err := ParseRules([]byte("default: approve\nsystems:\n  s:\n    codes:\n      33510: pend\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := rules.Decide([]pas.Coding{{System: "s", Code: "33510"}}); got != pas.Pended {
		t.Errorf("Decide = %q, expected A4", got)
	}
}

func TestLoadRules(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(good, []byte("default: deny\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rules, err := LoadRules(good)
	if err != nil {
		t.Fatal(err)
	}
	if got := rules.Decide(nil); got != pas.NotCertified {
		t.Errorf("Decide = %q, expected A3", got)
	}

	if _, err := LoadRules(filepath.Join(dir, "absent.yaml")); err == nil {
		t.Errorf("LoadRules accepted a missing file")
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("default: deny\n#"+strings.Repeat("x", maxRuleFileBytes)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRules(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("LoadRules(big) = %v, expected a size error", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("default: nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRules(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("LoadRules(bad) = %v, expected an error naming the file", err)
	}
}

func TestRulesApplyToSubmissions(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		rules, err := ParseRules([]byte("default: deny\n"))
		if err != nil {
			t.Fatal(err)
		}
		ts := newTestService(t, b, Options{Rules: rules})
		resp := mustResponse(t, ts.submit(t, demoBundle(t, referral221)))
		if got := actions(resp); len(got) != 1 || got[0] != pas.NotCertified {
			t.Errorf("decisions %v, expected the custom table's deny", got)
		}
	})
}
