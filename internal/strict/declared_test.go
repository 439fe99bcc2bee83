package strict

import (
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

const requestBundle = pasBase + "profile-pas-request-bundle"

// declare returns the PAS Bundle in file with its top-level profile
// replaced by profile.
func declare(t *testing.T, file, profile string) []byte {
	t.Helper()
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	if !strings.Contains(text, `"meta":{"profile":["`+requestBundle+`"]}`) {
		t.Fatalf("%s does not declare the request Bundle profile", file)
	}
	return []byte(strings.Replace(text, `"`+requestBundle+`"`, `"`+profile+`"`, 1))
}

func TestDeclaredVersionIndex(t *testing.T) {
	c := &Checker{names: []string{"2.0.1", "2.2.1"}}
	tests := []struct {
		name, body string
		want       int
	}{
		{"no meta", `{"resourceType":"Bundle"}`, -1},
		{"no version", `{"meta":{"profile":["` + requestBundle + `"]}}`, -1},
		{"2.0.1", `{"id":"x","meta":{"lastUpdated":"2024-01-01","profile":["` + requestBundle + `|2.0.1"]}}`, 0},
		{"2.2.1", `{"meta":{"profile":["http://example.org/p|1.0","` + requestBundle + `|2.2.1"]}}`, 1},
		{"same version twice", `{"meta":{"profile":["` + requestBundle + `|2.2.1","` + pasBase + `profile-claim|2.2.1"]}}`, 1},
		{"two versions", `{"meta":{"profile":["` + requestBundle + `|2.0.1","` + pasBase + `profile-claim|2.2.1"]}}`, -1},
		{"version not configured", `{"meta":{"profile":["` + requestBundle + `|1.1.0"]}}`, -1},
		{"other package", `{"meta":{"profile":["http://example.org/StructureDefinition/p|2.0.1"]}}`, -1},
		{"entry profile only", `{"entry":[{"resource":{"meta":{"profile":["` + requestBundle + `|2.0.1"]}}}]}`, -1},
		{"profile not an array", `{"meta":{"profile":"` + requestBundle + `|2.0.1"}}`, -1},
		{"cut after the profile", `{"meta":{"profile":["` + requestBundle + `|2.0.1"`, 0},
		{"not an object", `["` + requestBundle + `|2.0.1"]`, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.declaredVersion([]byte(tt.body)); got != tt.want {
				t.Errorf("declaredVersion = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestDeclaredVersionIsTheOnlyOneTried checks that a body declaring PAS
// 2.2.1 is judged by PAS 2.2.1 alone: this Bundle conforms to PAS 2.0.1
// only, and is accepted when it declares no version.
func TestDeclaredVersionIsTheOnlyOneTried(t *testing.T) {
	c, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	file := "../demo/bundles/pas-2.0.1-HomecareAuthorizationDifferentialBundleExample.json"
	oo, err := c.CheckRequest("Claim/$submit", declare(t, file, requestBundle+"|2.2.1"))
	if err != nil {
		t.Fatal(err)
	}
	if oo == nil || !oo.HasErrors() {
		t.Error("a PAS 2.0.1-only Bundle declaring PAS 2.2.1 was accepted")
	}
	oo, err = c.CheckRequest("Claim/$submit", declare(t, file, requestBundle+"|2.0.1"))
	if err != nil || oo != nil {
		t.Errorf("declaring 2.0.1: rejected: %v %v", err, oo)
	}
}

// TestUnconfiguredVersionDeclared checks a body that declares a PAS version
// no validator has: it is rejected by default, naming the profile, because
// nothing checks the declared profile. With WarnUnknownProfiles it is tried
// under every configured version and accepted by the one it conforms to.
func TestUnconfiguredVersionDeclared(t *testing.T) {
	file := "../demo/bundles/pas-2.0.1-HomecareAuthorizationDifferentialBundleExample.json"
	body := declare(t, file, requestBundle+"|9.9.9")

	strictChecker, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	oo, err := strictChecker.CheckRequest("Claim/$submit", body)
	if err != nil {
		t.Fatal(err)
	}
	if oo == nil || !oo.HasErrors() {
		t.Fatal("a Bundle declaring PAS 9.9.9 was accepted")
	}
	if !hasDiagnostic(oo, requestBundle+"|9.9.9 not found") {
		t.Errorf("the OperationOutcome does not name the declared profile: %+v", oo.Issue)
	}

	warning, err := NewWithOptions(Options{WarnUnknownProfiles: true})
	if err != nil {
		t.Fatal(err)
	}
	oo, err = warning.CheckRequest("Claim/$submit", body)
	if err != nil || oo != nil {
		t.Errorf("with WarnUnknownProfiles: rejected: %v %v", err, oo)
	}
}

// TestDeclaredVersionReportsItsIssues checks that a nonconformant body
// declaring PAS 2.0.1 gets the PAS 2.0.1 issues.
func TestDeclaredVersionReportsItsIssues(t *testing.T) {
	c, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	body := declare(t, "../demo/nonconformant/pas-2.0.1-SurgicalRequestBundleExample.json", requestBundle+"|2.0.1")
	oo, err := c.CheckRequest("Claim/$submit", body)
	if err != nil || oo == nil || !oo.HasErrors() {
		t.Fatalf("accepted a Bundle with dangling references: %v", err)
	}
	text := string(oo.Marshal())
	if !strings.Contains(text, "Bundle.entry[6].resource.practitioner") {
		t.Errorf("outcome does not report the dangling reference: %.400s", text)
	}
	if strings.Contains(text, "|2.2.1") {
		t.Errorf("outcome reports PAS 2.2.1 issues: %.400s", text)
	}
}

// hasDiagnostic reports whether an error issue of oo contains text.
func hasDiagnostic(oo *outcome.OperationOutcome, text string) bool {
	for _, is := range oo.Issue {
		if is.Severity == outcome.Error && strings.Contains(is.Diagnostics, text) {
			return true
		}
	}
	return false
}
