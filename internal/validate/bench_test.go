package validate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

// BenchmarkPASRequestBundle validates a Da Vinci PAS 2.0.1 $submit request
// Bundle (Claim, Patient, Coverage, organizations, practitioners).
func BenchmarkPASRequestBundle(b *testing.B) {
	v, err := New(Options{Context: []string{"hl7.fhir.us.davinci-pas#2.0.1"}})
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(corpustest.Unpack(b, "davinci-pas/hl7.fhir.us.davinci-pas-2.0.1.tgz"), "package", "example")
	body, err := os.ReadFile(filepath.Join(dir, "Bundle-MedicalServicesAuthorizationBundleExample.json"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := v.Validate(body); err != nil { // compile definitions outside the timing
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Validate(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPASRequestProfile validates a PAS 2.2.1 request Bundle against
// the PAS request Bundle profile: each entry is checked against its
// slice's profile, and each referenced resource against the reference's
// target profile. BenchmarkPASRequestCheck does the same with Check, as
// the gateway's strict check of a Claim/$submit does.
func BenchmarkPASRequestProfile(b *testing.B) { benchPASRequest(b, false) }

func BenchmarkPASRequestCheck(b *testing.B) { benchPASRequest(b, true) }

func benchPASRequest(b *testing.B, errorsOnly bool) {
	v, err := New(Options{Context: []string{"hl7.fhir.us.davinci-pas#2.2.1"}})
	if err != nil {
		b.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join("..", "demo", "bundles", "pas-2.2.1-ReferralAuthorizationBundleExample.json"))
	if err != nil {
		b.Fatal(err)
	}
	const profile = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-pas-request-bundle"
	validate := v.Validate
	if errorsOnly {
		validate = v.Check
	}
	if _, err := validate(body, profile); err != nil { // compile definitions outside the timing
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := validate(body, profile); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkR4Examples validates the R4 instance examples; ns/op is per
// resource.
func BenchmarkR4Examples(b *testing.B) {
	v, err := New(Options{AllowedExtensionDomains: exampleDomains, AllowedModifierDomains: exampleModifierDomains})
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(corpustest.Unpack(b, "fhir-r4-examples/hl7.fhir.r4.examples-4.0.1.tgz"), "package")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var bodies [][]byte
	for _, f := range files {
		base := filepath.Base(f)
		if isConformanceFile(base) || strings.HasPrefix(base, "Bundle-searchParams") || strings.HasPrefix(base, "Bundle-terminologies") {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, raw)
	}
	for _, body := range bodies { // compile definitions outside the timing
		if _, err := v.Validate(body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := v.Validate(bodies[i%len(bodies)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkNew measures start-up: decoding the embedded packages is done
// once per process, so this is the cost of indexing them for a validator.
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkR4LargeExamples validates the four largest R4 instance
// examples: two 2.7 MB ImplementationGuides and the types and search
// parameter Bundles. They take most of the time of bench/validator/run.sh.
// ns/op is for all four.
func BenchmarkR4LargeExamples(b *testing.B) {
	v, err := New(Options{AllowedExtensionDomains: exampleDomains, AllowedModifierDomains: exampleModifierDomains})
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(corpustest.Unpack(b, "fhir-r4-examples/hl7.fhir.r4.examples-4.0.1.tgz"), "package")
	var bodies [][]byte
	for _, name := range []string{"ImplementationGuide-fhir.json", "ig-r4.json", "Bundle-types.json", "Bundle-searchParams.json"} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Validate(raw); err != nil { // compile definitions outside the timing
			b.Fatal(err)
		}
		bodies = append(bodies, raw)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, body := range bodies {
			if _, err := v.Validate(body); err != nil {
				b.Fatal(err)
			}
		}
	}
}
