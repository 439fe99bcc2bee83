package validate

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
	"github.com/gatehouse-health/gatehouse/internal/fhirxml"
)

const hrexProfiles = "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition/"

func hrexValidator(t *testing.T) *Validator {
	t.Helper()
	v, err := New(Options{Context: []string{"hl7.fhir.us.davinci-hrex#1.0.0"}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestHRexMemberMatchOutChecksIdentifier checks that the output profile
// requires valueIdentifier with type MB and a value. Its differential
// names the element "valueIdentifier" under the path value[x], which the
// snapshot generator must place on the choice element.
func TestHRexMemberMatchOutChecksIdentifier(t *testing.T) {
	v := hrexValidator(t)
	bodies := map[string]string{
		"valueString": `{"resourceType":"Parameters","parameter":[{"name":"MemberIdentifier","valueString":"55678"}]}`,
		"no type":     `{"resourceType":"Parameters","parameter":[{"name":"MemberIdentifier","valueIdentifier":{"value":"55678"}}]}`,
		"no value": `{"resourceType":"Parameters","parameter":[{"name":"MemberIdentifier","valueIdentifier":` +
			`{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MB"}]}}}]}`,
	}
	for name, body := range bodies {
		res, err := v.Validate([]byte(body), hrexProfiles+"hrex-parameters-member-match-out")
		if err != nil {
			t.Fatal(err)
		}
		if res.Valid() {
			t.Errorf("%s: valid against hrex-parameters-member-match-out", name)
		}
	}
}

// TestHRexNewSliceMinIsZero checks that a slice the differential adds
// without a min is optional, as in snapshots HL7's tools generate (13 such
// slices in the shipped US Core, PAS, PDex and CARIN snapshots). With the
// sliced element's min, the guide's own minimal Practitioner would fail.
func TestHRexNewSliceMinIsZero(t *testing.T) {
	v := hrexValidator(t)
	dir := corpustest.File(t, "davinci-hrex/examples")
	doc, err := os.ReadFile(filepath.Join(dir, "practitioner-min.xml"))
	if err != nil {
		t.Fatal(err)
	}
	practitioner, err := fhirxml.Convert(doc, fhirmodel.R4())
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Validate(practitioner, hrexProfiles+"hrex-practitioner")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid() {
		t.Errorf("practitioner-min against hrex-practitioner: %s", firstErrors(res, 3))
	}

	consent := `{"resourceType":"Consent","status":"active",` +
		`"scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},` +
		`"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],` +
		`"patient":{"reference":"Patient/1"},"performer":[{"reference":"Patient/1"}],` +
		`"sourceReference":{"reference":"DocumentReference/c"},` +
		`"policy":[{"uri":"http://hl7.org/fhir/us/davinci-hrex/StructureDefinition-hrex-consent.html#regular"}],` +
		`"provision":{"type":"permit","period":{"start":"2022-01-01","end":"2022-01-31"},"actor":[` +
		`{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/provenance-participant-type","code":"performer"}]},"reference":{"display":"Old"}},` +
		`{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"display":"New"}}],` +
		`"action":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentaction","code":"disclose"}]}]}}`
	res, err = v.Validate([]byte(consent), hrexProfiles+"hrex-consent")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid() {
		t.Errorf("Consent without the optional disclosure category slice: %s", firstErrors(res, 3))
	}
}

// TestHRexDefinitionsGenerateCleanly validates each HRex
// StructureDefinition as a resource, which reports every problem of its
// generated snapshot as an error: an element the generator could not place
// would otherwise drop out of the profile without a word.
func TestHRexDefinitionsGenerateCleanly(t *testing.T) {
	v := hrexValidator(t)
	dir := corpustest.File(t, "davinci-hrex/resources")
	files, err := filepath.Glob(filepath.Join(dir, "*tructure*efinition-*.xml"))
	if err != nil || len(files) < 10 {
		t.Fatalf("%d StructureDefinitions in %s (%v), want the guide's", len(files), dir, err)
	}
	for _, f := range files {
		doc, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sd, err := fhirxml.Convert(doc, fhirmodel.R4())
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.Validate(sd)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Valid() {
			t.Errorf("%s: %s", filepath.Base(f), firstErrors(res, 3))
		}
	}
}

// TestHRexXMLExamplesValidate converts the XML examples of HRex, as
// gatehouse validate does, and validates them in the guide's context.
func TestHRexXMLExamplesValidate(t *testing.T) {
	v := hrexValidator(t)
	known := readReasons(t, "testdata/known-invalid-examples.txt")
	files, err := filepath.Glob(filepath.Join(corpustest.File(t, "davinci-hrex/examples"), "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no XML examples (%v)", err)
	}
	for _, f := range files {
		doc, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		body, err := fhirxml.Convert(doc, fhirmodel.R4())
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		res, err := v.Validate(body)
		if err != nil {
			t.Fatal(err)
		}
		_, listed := known["hrex-1.0.0/"+filepath.Base(f)]
		switch {
		case !res.Valid() && !listed:
			t.Errorf("%s: invalid: %s", filepath.Base(f), firstErrors(res, 3))
		case res.Valid() && listed:
			t.Errorf("%s: listed as invalid in testdata/known-invalid-examples.txt but validates; remove it", filepath.Base(f))
		}
	}
}
