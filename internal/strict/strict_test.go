package strict

import (
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

func TestCheckRequestAcceptsEitherPASVersion(t *testing.T) {
	c, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{
		"../demo/bundles/pas-2.0.1-HomecareAuthorizationDifferentialBundleExample.json", // conforms to 2.0.1 only
		"../demo/bundles/pas-2.2.1-HomecareAuthorizationUpdateBundleExample.json",       // conforms to 2.2.1 only
	} {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		oo, err := c.CheckRequest("Claim/$submit", body)
		if err != nil || oo != nil {
			t.Errorf("%s: rejected: %v %v", f, err, oo)
		}
	}
}

func TestCheckRequestReportsClosestVersion(t *testing.T) {
	c, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile("../demo/nonconformant/pas-2.0.1-SurgicalRequestBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	oo, err := c.CheckRequest("Claim/$submit", body)
	if err != nil || oo == nil || !oo.HasErrors() {
		t.Fatalf("accepted a bundle with dangling references: %v", err)
	}
	text := string(oo.Marshal())
	if !strings.Contains(text, "Bundle.entry[6].resource.practitioner") || strings.Contains(text, "|2.2.1") {
		t.Errorf("outcome does not report the PAS 2.0.1 issues: %.400s", text)
	}
	// The verdict comes from an errors-only check; the sender still gets
	// the warnings and notes of a full validation.
	others := 0
	for _, is := range oo.Issue {
		if is.Severity == outcome.Warning || is.Severity == outcome.Information {
			others++
		}
	}
	if others == 0 {
		t.Errorf("the outcome of a refused body holds errors only: %.400s", text)
	}
}

func TestOnlyConfiguredVersions(t *testing.T) {
	c, err := New([]string{"2.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := os.ReadFile("../demo/bundles/pas-2.0.1-HomecareAuthorizationDifferentialBundleExample.json")
	if oo, _ := c.CheckRequest("Claim/$submit", body); oo == nil {
		t.Error("a PAS 2.0.1-only bundle passed with only PAS 2.2.1 configured")
	}
}

// TestUndeclaredInteractionTriesEveryVersion checks a body outside the PAS
// operations, such as a notification Bundle, whose entries declare
// unversioned PAS profiles that only PAS 2.0.1 accepts: its insurer NPI
// has 6 digits, which PAS 2.2.1 rejects.
func TestUndeclaredInteractionTriesEveryVersion(t *testing.T) {
	c, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile("../demo/bundles/pas-2.0.1-HomecareAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	if oo, err := c.CheckRequest("$subscription-hook", body); err != nil || oo != nil {
		t.Errorf("rejected a body that conforms under PAS 2.0.1: %v %+v", err, oo)
	}
	only221, err := New([]string{"2.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if oo, err := only221.CheckRequest("$subscription-hook", body); err != nil || oo == nil {
		t.Errorf("PAS 2.2.1 alone accepted the 6-digit insurer NPI: %v", err)
	}
}
