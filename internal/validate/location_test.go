package validate

import (
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
)

// The walk renders a value's location only when an issue needs it, from
// the chain of steps to its parent. These cases put issues at depth, in
// nested arrays, choices, contained resources, Bundle entries and the
// "_name" half of primitives, where a wrong step or index would show.
func TestLocationOfIssues(t *testing.T) {
	tests := []struct {
		name, doc, severity, path, message string
	}{
		{"nested arrays", `{"resourceType":"Patient","name":[{"family":"a"},{"given":["x","y",""]}]}`,
			"error", "Patient.name[1].given[2]", "empty strings"},
		{"contained resource", `{"resourceType":"Patient","contained":[{"resourceType":"Practitioner","id":"p","name":[{"given":["a",""]}]}],"generalPractitioner":[{"reference":"#p"}]}`,
			"error", "Patient.contained[0].name[0].given[1]", "empty strings"},
		{"invariant in contained resource", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","contact":[{"name":{"family":"x"}},{"purpose":{"text":"x"}}]}],"managingOrganization":{"reference":"#o"}}`,
			"error", "Patient.contained[0]", "org-1"},
		{"invariant on array item", `{"resourceType":"Patient","contact":[{"name":{"family":"x"}},{"gender":"male"}]}`,
			"error", "Patient.contact[1]", "pat-1"},
		{"choice in Bundle entry", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient"}},{"fullUrl":"urn:uuid:2","resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"component":[{"code":{"text":"a"}},{"code":{"text":"b"},"valueQuantity":{"value":"1"}}]}}]}`,
			"error", "Bundle.entry[1].resource.component[1].value.ofType(Quantity).value", "JSON number"},
		{"extension of a primitive item", `{"resourceType":"Patient","name":[{"given":["a","b"],"_given":[null,{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier","valueCode":""}]}]}]}`,
			"error", "Patient.name[0].given[1].extension[0].value.ofType(Code)", "empty strings"},
		{"unknown member deep down", `{"resourceType":"Patient","contact":[{},{"name":{"family":"x","nick":"y"}}]}`,
			"error", "Patient.contact[1].name.nick", "unknown element"},
		{"missing required child", `{"resourceType":"Patient","link":[{"type":"seealso","other":{"reference":"Patient/1"}},{"type":"seealso"}]}`,
			"error", "Patient.link[1].other", "minimum required"},
	}
	v := shared(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := v.Validate([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !hasIssue(res, tt.severity, tt.path, tt.message) {
				t.Errorf("no %s %q at %s; issues: %+v", tt.severity, tt.message, tt.path, res.Issues)
			}
		})
	}
}

func TestLocationRendersPrefixOnce(t *testing.T) {
	root := &location{text: "Patient", index: -1}
	name := &location{parent: root, name: "name", index: 1}
	value := &location{parent: name, name: "value", ofType: "Quantity", index: -1}

	if got := value.String(); got != "Patient.name[1].value.ofType(Quantity)" {
		t.Errorf("value.String() = %q", got)
	}
	if name.text != "Patient.name[1]" {
		t.Errorf("parent not kept after rendering: %q", name.text)
	}
	if got := value.child("unit"); got != "Patient.name[1].value.ofType(Quantity).unit" {
		t.Errorf("child = %q", got)
	}
}

func TestFPChildrenStart(t *testing.T) {
	// given comes first and _given after family, so finding the nodes of
	// given again wraps around past the cursor.
	root, err := fhirpath.ParseJSON([]byte(`{"resourceType":"Patient","name":[{"use":"official","given":["a","b"],"family":"f","_given":[{"id":"1"},null]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	nodes := root.Child("name")[0].Children()
	kids := fpChildren{nodes: nodes}
	for _, name := range []string{"use", "given", "family", "given", "use", "missing"} {
		want := slices.IndexFunc(nodes, func(n *fhirpath.Node) bool { return n.JSONName() == name })
		if got := kids.start(name); got != want {
			t.Errorf("start(%q) = %d, want %d", name, got, want)
		}
	}
}

// An element and its type, and a base definition and its profiles, carry
// copies of one invariant. Each must be reported once per node, whether
// the resource is walked once or once per profile, and for resources
// contained in it.
func TestInvariantCopiesReportedOnce(t *testing.T) {
	tests := []struct {
		name     string
		doc      string
		profiles []string
		key      string
		path     string
	}{
		{"element and type", `{"resourceType":"Patient","generalPractitioner":[{"reference":"#missing"}]}`, nil,
			"ref-1", "Patient.generalPractitioner[0]"},
		{"two profiles", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1},"dataAbsentReason":{"text":"x"}}`,
			[]string{"http://hl7.org/fhir/StructureDefinition/vitalsigns", "http://hl7.org/fhir/StructureDefinition/bodyweight"},
			"obs-6", "Observation"},
		{"contained, two profiles", `{"resourceType":"Patient","contained":[{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},"valueQuantity":{"value":1},"dataAbsentReason":{"text":"x"}}],"generalPractitioner":[{"reference":"#missing"}],"link":[{"type":"seealso","other":{"reference":"#o"}}]}`,
			[]string{"http://hl7.org/fhir/StructureDefinition/Patient", "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"},
			"obs-6", "Patient.contained[0]"},
		{"element and type, two profiles", `{"resourceType":"Patient","generalPractitioner":[{"reference":"#missing"}]}`,
			[]string{"http://hl7.org/fhir/StructureDefinition/Patient", "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"},
			"ref-1", "Patient.generalPractitioner[0]"},
	}
	v := shared(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := v.Validate([]byte(tt.doc), tt.profiles...)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, is := range res.Issues {
				if strings.HasPrefix(is.Diagnostics, tt.key+":") && slices.Equal(is.Expression, []string{tt.path}) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s at %s reported %d times, want once; issues: %+v", tt.key, tt.path, n, res.Issues)
			}
		})
	}
}

// evaluationCounts validates body and returns how many invariant
// evaluations firstEvaluation let through on the single-pass path, and
// how many entries the run's evaluated map then contains.
func evaluationCounts(t *testing.T, v *Validator, body []byte, errorsOnly bool, profiles ...string) (singlePass, mapped int) {
	t.Helper()
	r := documentRun(t, v, body, errorsOnly, profiles...)
	defer r.release()
	return r.singlePassEvaluations, len(r.evaluated)
}

// A resource validated against one definition is walked once, so the
// copies of an invariant on a node are de-duplicated with the node's own
// list, and the run's evaluated map stays empty. Two definitions walk the
// nodes twice, so the second walk finds what the first evaluated only in
// the map.
func TestSinglePassEvaluations(t *testing.T) {
	pasBundle := readPASDemoBundle(t)
	pas, _ := pasValidators(t, "2.2.1")
	patient := []byte(`{"resourceType":"Patient","generalPractitioner":[{"reference":"#missing"}]}`)
	twoProfiles := []string{"http://hl7.org/fhir/StructureDefinition/Patient", "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"}
	tests := []struct {
		name       string
		v          *Validator
		body       []byte
		errorsOnly bool
		profiles   []string
		singlePass bool
	}{
		{"Patient", shared(t), patient, false, nil, true},
		{"Patient, Check", shared(t), patient, true, nil, true},
		{"PAS request Bundle", pas, pasBundle, false, []string{pasRequestBundle}, true},
		{"PAS request Bundle, Check", pas, pasBundle, true, []string{pasRequestBundle}, true},
		{"Patient, two profiles", shared(t), patient, false, twoProfiles, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			singlePass, mapped := evaluationCounts(t, tt.v, tt.body, tt.errorsOnly, tt.profiles...)
			if tt.singlePass {
				if singlePass == 0 {
					t.Errorf("no invariant evaluated on the single-pass path")
				}
				if mapped != 0 {
					t.Errorf("evaluated map contains %d entries, want none for a resource walked once", mapped)
				}
				return
			}
			if singlePass != 0 {
				t.Errorf("%d invariants evaluated on the single-pass path, want none for a resource walked twice", singlePass)
			}
			if mapped == 0 {
				t.Errorf("evaluated map is empty, want an entry per evaluated invariant and node")
			}
		})
	}
}
