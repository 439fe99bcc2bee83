package validate

import (
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// codingIssues runs codingInSystem on one Coding, inside a profile check
// when inCheck is set, and returns the issues it records.
func codingIssues(t *testing.T, coding string, inCheck bool) []outcome.Issue {
	t.Helper()
	n, err := parseTree([]byte(coding), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	r := newRun(shared(t))
	if inCheck {
		r.conformanceChecks = 1
	}
	r.codingInSystem(n, r.rootLocation("Claim.item[0].productOrService"), 0)
	return r.issues
}

// TestCodingNotesOnlyOutsideProfileChecks requires the "not verified"
// notes of codingInSystem outside a profile check and none inside one,
// which drops them anyway. Errors are recorded in both.
func TestCodingNotesOnlyOutsideProfileChecks(t *testing.T) {
	cases := []struct {
		name, coding string
		severity     outcome.Severity
		member       string // the member of the Coding the issue is at
		message      string
	}{
		{"external system", `{"system":"http://www.ama-assn.org/go/cpt","code":"99213"}`, outcome.Information, "code", "CPT codes cannot be verified offline; the syntax is valid"},
		{"unknown system", `{"system":"http://example.org/cs","code":"a"}`, outcome.Information, "code", "code system http://example.org/cs is not in the loaded packages; the code was not verified"},
		{"invalid external code", `{"system":"http://www.ama-assn.org/go/cpt","code":"9921"}`, outcome.Error, "code", "code is not a valid CPT code"},
		{"code not in system", `{"system":"http://hl7.org/fhir/administrative-gender","code":"x"}`, outcome.Error, "code", "code is not defined in code system http://hl7.org/fhir/administrative-gender"},
		{"value set as system", `{"system":"http://hl7.org/fhir/ValueSet/administrative-gender","code":"male"}`, outcome.Error, "system", "Coding.system names value set http://hl7.org/fhir/ValueSet/administrative-gender, but it must name a code system"},
		{"relative system", `{"system":"cs","code":"a"}`, outcome.Error, "system", "Coding.system must be an absolute URI, not a relative reference"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			outside := codingIssues(t, tc.coding, false)
			if len(outside) != 1 || outside[0].Severity != tc.severity || outside[0].Diagnostics != tc.message {
				t.Fatalf("outside a profile check: issues %+v, want one %s %q", outside, tc.severity, tc.message)
			}
			at := "Claim.item[0].productOrService.coding[0]." + tc.member
			if len(outside[0].Expression) != 1 || outside[0].Expression[0] != at {
				t.Errorf("issue at %v, want %s", outside[0].Expression, at)
			}
			inside := codingIssues(t, tc.coding, true)
			wantInside := 0
			if tc.severity == outcome.Error {
				wantInside = 1
			}
			if len(inside) != wantInside {
				t.Errorf("inside a profile check: %d issues %+v, want %d", len(inside), inside, wantInside)
			}
		})
	}
}

// TestCodingPath checks the locations codingInSystem reports against the
// element paths the walk builds for a Coding and for a CodeableConcept's
// coding.
func TestCodingPath(t *testing.T) {
	if got, want := codingPath("Claim.type", -1, "code"), "Claim.type.code"; got != want {
		t.Errorf("Coding: got %q, want %q", got, want)
	}
	if got, want := codingPath("Claim.type", 12, "system"), indexed("Claim.type.coding", 12)+".system"; got != want {
		t.Errorf("CodeableConcept coding: got %q, want %q", got, want)
	}
}

// TestBindingExpansionCache checks that the per-binding cache returns
// what expand returns, for a loaded value set and for one not loaded,
// and that the second lookup comes from the cache.
func TestBindingExpansionCache(t *testing.T) {
	v, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		valueSet string
		loaded   bool
	}{
		{"loaded", "http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1", true},
		{"not loaded", "http://example.org/ValueSet/none", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &binding{strength: "required", valueSet: tc.valueSet}
			got := v.bindingExpansion(b, v.core)
			if want := v.expand(tc.valueSet, v.core); got != want {
				t.Fatalf("bindingExpansion = %p, expand = %p", got, want)
			}
			if (got != nil) != tc.loaded {
				t.Fatalf("expansion %v, want loaded %v", got, tc.loaded)
			}
			if _, ok := v.bindingSets.Load(bindingKey{b, v.core}); !ok {
				t.Fatal("the expansion was not cached")
			}
			if again := v.bindingExpansion(b, v.core); again != got {
				t.Errorf("second lookup = %p, want %p", again, got)
			}
		})
	}
}

// TestBindingExpansionPerPackage checks that a binding expanded from one
// package and then from another gets each package's own expansion: the
// per-binding fast path must not return the expansion of another package.
func TestBindingExpansionPerPackage(t *testing.T) {
	v, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	const valueSet = "http://hl7.org/fhir/us/davinci-pas/ValueSet/PASSupportingInfoType"
	older := v.set.Package("hl7.fhir.us.davinci-pas", "2.0.1")
	newer := v.set.Package("hl7.fhir.us.davinci-pas", "2.2.1")
	if older == nil || newer == nil {
		t.Fatal("the PAS 2.0.1 and 2.2.1 packages are not loaded")
	}
	wantOlder, wantNewer := v.expand(valueSet, older), v.expand(valueSet, newer)
	if wantOlder == nil || wantNewer == nil || wantOlder == wantNewer {
		t.Fatalf("expansions %p and %p, want two different loaded ones", wantOlder, wantNewer)
	}

	b := &binding{strength: "required", valueSet: valueSet}
	if got := v.bindingExpansion(b, older); got != wantOlder {
		t.Errorf("from PAS 2.0.1 = %p, want %p", got, wantOlder)
	}
	if got := v.bindingExpansion(b, newer); got != wantNewer {
		t.Errorf("from PAS 2.2.1 after 2.0.1 = %p, want %p", got, wantNewer)
	}
	if got := v.bindingExpansion(b, older); got != wantOlder {
		t.Errorf("from PAS 2.0.1 again = %p, want %p", got, wantOlder)
	}
}

// TestExpansionSealedForBareCodes checks that cached expansions list
// their code maps for codes without a system, and that a bare code is
// found in every system of the value set through that list.
func TestExpansionSealedForBareCodes(t *testing.T) {
	v, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	valueSets := []string{
		"http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1",
		"http://hl7.org/fhir/ValueSet/security-labels",
		"http://hl7.org/fhir/ValueSet/observation-status",
	}
	for _, url := range valueSets {
		t.Run(url, func(t *testing.T) {
			x := v.expand(url, v.core)
			if x == nil {
				t.Fatal("value set not loaded")
			}
			if len(x.codeSets) != len(x.codes) {
				t.Fatalf("sealed with %d code maps, want %d", len(x.codeSets), len(x.codes))
			}
			t.Logf("%d systems", len(x.codes))
			for system, codes := range x.codes {
				for code := range codes {
					if in, known := x.contains("", code); !in || !known {
						t.Errorf("contains(%q) of system %s = %v, %v; want true, true", code, system, in, known)
					}
				}
			}
			if in, _ := x.contains("", "no-such-code-anywhere"); in {
				t.Error("an unknown bare code was found")
			}
		})
	}
}
