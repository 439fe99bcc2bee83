package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// exampleDomains are the extension domains the specification's own
// examples use without defining the extensions, which the reference
// validator accepts in its examples mode.
var exampleDomains = []string{"http://hl7.org/fhir/", "http://example.org/", "http://nema.org/"}

// exampleModifierDomains is the domain of the modifier extensions the R4
// examples use without defining them (Basic-referral).
var exampleModifierDomains = []string{"http://example.org/"}

// conformanceTypes are the resource types of definitions; the examples
// package repeats the core package's, which are not instance examples.
var conformanceTypes = []string{
	"StructureDefinition-", "ValueSet-", "CodeSystem-", "SearchParameter-", "ConceptMap-",
	"OperationDefinition-", "CapabilityStatement-", "CompartmentDefinition-", "NamingSystem-",
	"StructureMap-", "ImplementationGuide-hl7", "package.json",
}

// igExamples are the example folders of the shipped implementation
// guides, with the package each must be validated in the context of.
var igExamples = []struct{ archive, context, prefix string }{
	{"davinci-pas/hl7.fhir.us.davinci-pas-2.0.1.tgz", "hl7.fhir.us.davinci-pas#2.0.1", "pas-2.0.1"},
	{"davinci-pas/hl7.fhir.us.davinci-pas-2.2.1.tgz", "hl7.fhir.us.davinci-pas#2.2.1", "pas-2.2.1"},
	{"us-core/hl7.fhir.us.core-3.1.1.tgz", "hl7.fhir.us.core#3.1.1", "us-core-3.1.1"},
	{"us-core/hl7.fhir.us.core-6.1.0.tgz", "hl7.fhir.us.core#6.1.0", "us-core-6.1.0"},
	{"carin-bb/hl7.fhir.us.carin-bb-2.0.0.tgz", "hl7.fhir.us.carin-bb#2.0.0", "carin-bb-2.0.0"},
	{"davinci-pdex/hl7.fhir.us.davinci-pdex-2.0.0.tgz", "hl7.fhir.us.davinci-pdex#2.0.0", "pdex-2.0.0"},
	{"davinci-crd/hl7.fhir.us.davinci-crd-2.0.1.tgz", "hl7.fhir.us.davinci-crd#2.0.1", "crd-2.0.1"},
}

// TestR4ExamplesValidate validates every instance example of the R4
// examples package. The examples are published as valid; those the
// specification gets wrong are listed with the reason in
// testdata/known-invalid-examples.txt, and must stay invalid.
func TestR4ExamplesValidate(t *testing.T) {
	v, err := New(Options{AllowedExtensionDomains: exampleDomains, AllowedModifierDomains: exampleModifierDomains})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(corpustest.Unpack(t, "fhir-r4-examples/hl7.fhir.r4.examples-4.0.1.tgz"), "package")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var instances []string
	for _, f := range files {
		if !isConformanceFile(filepath.Base(f)) {
			instances = append(instances, f)
		}
	}
	checkExamples(t, v, "r4", instances)
}

// TestIGExamplesValidate validates the examples of every shipped
// implementation guide in the context of its own package version.
func TestIGExamplesValidate(t *testing.T) {
	for _, ig := range igExamples {
		t.Run(ig.prefix, func(t *testing.T) {
			v, err := New(Options{Context: []string{ig.context}, AllowedExtensionDomains: exampleDomains})
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(corpustest.Unpack(t, ig.archive), "package", "example")
			files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
			checkExamples(t, v, ig.prefix, files)
		})
	}
}

func isConformanceFile(name string) bool {
	if strings.HasPrefix(name, ".") {
		return true
	}
	for _, p := range conformanceTypes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// checkExamples validates files and compares the verdicts with the list of
// known invalid examples.
func checkExamples(t *testing.T, v *Validator, prefix string, files []string) {
	known := readReasons(t, "testdata/known-invalid-examples.txt")
	checked := 0
	for _, f := range files {
		name := prefix + "/" + filepath.Base(f)
		if strings.HasPrefix(filepath.Base(f), ".") {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.Validate(raw)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		checkMatchesValidate(t, name, v, raw, nil, res)
		checked++
		_, listed := known[name]
		switch {
		case !res.Valid() && !listed:
			t.Errorf("%s: invalid: %s", name, firstErrors(res, 3))
		case res.Valid() && listed:
			t.Errorf("%s: listed as invalid in testdata/known-invalid-examples.txt but validates; remove it", name)
		}
	}
	if checked == 0 {
		t.Fatal("no examples found")
	}
	t.Logf("%s: %d examples checked", prefix, checked)
}

func firstErrors(res *Result, n int) string {
	var out []string
	for _, is := range res.Issues {
		if is.Severity == outcome.Error || is.Severity == outcome.Fatal {
			out = append(out, fmt.Sprintf("%v %s", is.Expression, is.Diagnostics))
			if len(out) == n {
				break
			}
		}
	}
	return strings.Join(out, "; ")
}

// hrexExamples maps the JSON examples of Da Vinci HRex 1.0.0 to the
// profile each illustrates. HRex ships as a package built from the XML of
// its source, with differentials only, so these check the generated
// snapshots too.
var hrexExamples = map[string]string{
	"coverage-full.json":                       "hrex-coverage",
	"coverage-min.json":                        "hrex-coverage",
	"organization-payer-full.json":             "hrex-organization",
	"organization-payer-min.json":              "hrex-organization",
	"parameters-member-match-in.json":          "hrex-parameters-member-match-in",
	"parameters-member-match-in-provider.json": "hrex-parameters-member-match-in",
	"parameters-member-match-out.json":         "hrex-parameters-member-match-out",
}

// TestHRexExamplesValidate validates the HRex examples against their
// profiles, and checks that a member-match request without the Consent
// the profile requires is rejected.
func TestHRexExamplesValidate(t *testing.T) {
	v, err := New(Options{Context: []string{"hl7.fhir.us.davinci-hrex#1.0.0"}, AllowedExtensionDomains: exampleDomains})
	if err != nil {
		t.Fatal(err)
	}
	known := readReasons(t, "testdata/known-invalid-examples.txt")
	dir := corpustest.File(t, "davinci-hrex/examples")
	const base = "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition/"
	for file, profile := range hrexExamples {
		raw, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.Validate(raw, base+profile)
		if err != nil {
			t.Fatal(err)
		}
		_, listed := known["hrex-1.0.0/"+file]
		switch {
		case !res.Valid() && !listed:
			t.Errorf("%s against %s: invalid: %s", file, profile, firstErrors(res, 3))
		case res.Valid() && listed:
			t.Errorf("%s: listed as invalid in testdata/known-invalid-examples.txt but validates; remove it", file)
		}
	}

	raw, err := os.ReadFile(filepath.Join(dir, "parameters-member-match-in.json"))
	if err != nil {
		t.Fatal(err)
	}
	withoutConsent := strings.Replace(string(raw), `"name": "Consent"`, `"name": "Agreement"`, 1)
	if withoutConsent == string(raw) {
		t.Fatal("the example has no Consent parameter")
	}
	res, err := v.Validate([]byte(withoutConsent), base+"hrex-parameters-member-match-in")
	if err != nil {
		t.Fatal(err)
	}
	if res.Valid() || !strings.Contains(firstErrors(res, 3), "Consent") {
		t.Errorf("member match without Consent: %s, want an error naming the Consent slice", firstErrors(res, 3))
	}
}
