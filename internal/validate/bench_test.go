package validate

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
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
func BenchmarkR4Examples(b *testing.B) { benchR4Examples(b, 0) }

// BenchmarkR4SmallExamples validates the R4 instance examples of at most
// 2 KB (219 of the 563 that BenchmarkR4Examples validates); ns/op is per
// resource. In a geometric mean per resource a small resource counts as
// much as a large one, and a larger share of its time is the fixed cost
// of a call.
func BenchmarkR4SmallExamples(b *testing.B) { benchR4Examples(b, 2048) }

// benchR4Examples validates, in turn, the R4 instance examples of at most
// maxSize bytes (0 for any size).
func benchR4Examples(b *testing.B, maxSize int) {
	v, err := New(Options{AllowedExtensionDomains: exampleDomains, AllowedModifierDomains: exampleModifierDomains})
	if err != nil {
		b.Fatal(err)
	}
	var bodies [][]byte
	for _, f := range readR4Examples(b) {
		if isConformanceFile(f.name) || strings.HasPrefix(f.name, "Bundle-searchParams") || strings.HasPrefix(f.name, "Bundle-terminologies") {
			continue
		}
		if maxSize > 0 && len(f.body) > maxSize {
			continue
		}
		bodies = append(bodies, f.body)
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

type namedFile struct {
	name string
	body []byte
}

// readR4Examples returns the JSON files of the R4 examples package in the
// order of their names, read from the archive in memory. Unpacking the
// thousands of files to disk costs seconds of system time that vary
// between runs, more than a per-operation CPU measurement can absorb.
func readR4Examples(b *testing.B) []namedFile {
	f, err := os.Open(corpustest.File(b, "fhir-r4-examples/hl7.fhir.r4.examples-4.0.1.tgz"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	var files []namedFile
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		dir, name := path.Split(hdr.Name)
		if hdr.Typeflag != tar.TypeReg || dir != "package/" || !strings.HasSuffix(name, ".json") {
			continue
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, namedFile{name, body})
	}
	slices.SortFunc(files, func(x, y namedFile) int { return strings.Compare(x.name, y.name) })
	return files
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
