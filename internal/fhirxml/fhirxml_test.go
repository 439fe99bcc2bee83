package fhirxml

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
)

// convert converts an XML document, failing the test on an error.
func convert(t *testing.T, doc string) string {
	t.Helper()
	out, err := Convert([]byte(doc), fhirmodel.R4())
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestConvertPrimitivesAndArrays(t *testing.T) {
	got := convert(t, `<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<Patient xmlns="http://hl7.org/fhir">
  <id value="p1"/>
  <active value="true"/>
  <name>
    <given value="Ann"/>
    <given id="g2"><extension url="http://example.org/x"><valueInteger value="3"/></extension></given>
    <given value="Lee"/>
  </name>
  <multipleBirthInteger value="2"/>
</Patient>`)
	want := `{"resourceType":"Patient","id":"p1","active":true,"name":[{"given":["Ann",null,"Lee"],` +
		`"_given":[null,{"id":"g2","extension":[{"url":"http://example.org/x","valueInteger":3}]},null]}],"multipleBirthInteger":2}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestConvertDecimalKeepsItsText(t *testing.T) {
	got := convert(t, `<Observation xmlns="http://hl7.org/fhir"><status value="final"/><code><text value="x"/></code>`+
		`<valueQuantity><value value="1.50"/><unit value="mg"/></valueQuantity></Observation>`)
	if !strings.Contains(got, `"valueQuantity":{"value":1.50,"unit":"mg"}`) {
		t.Errorf("got %s, want the decimal 1.50 with its trailing zero", got)
	}
}

func TestConvertResourcesAndNarrative(t *testing.T) {
	got := convert(t, "<Parameters xmlns=\"http://hl7.org/fhir\">\r\n"+
		`<parameter><name value="p"/><resource><Patient><id value="a"/>`+
		"<text><status value=\"generated\"/><div xmlns=\"http://www.w3.org/1999/xhtml\">A &amp; B\r\n<b>c</b></div></text>"+
		`</Patient></resource></parameter></Parameters>`)
	want := `{"resourceType":"Parameters","parameter":[{"name":"p","resource":{"resourceType":"Patient","id":"a",` +
		`"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">A &amp; B\n<b>c</b></div>"}}}]}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestConvertRejects(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"unknown element", `<Patient xmlns="http://hl7.org/fhir"><colour value="x"/></Patient>`, "Patient has no element colour"},
		{"not a resource", `<HumanName xmlns="http://hl7.org/fhir"/>`, "not a concrete R4 resource type"},
		{"abstract resource", `<Resource xmlns="http://hl7.org/fhir"/>`, "not a concrete R4 resource type"},
		{"url attribute outside an extension", `<Patient xmlns="http://hl7.org/fhir"><photo url="a"/></Patient>`, "only an extension has a url attribute"},
		{"id element in a data type", `<Patient xmlns="http://hl7.org/fhir"><name id="a"><id value="b"/></name></Patient>`, "id is an attribute of name"},
		{"url element in an extension", `<Patient xmlns="http://hl7.org/fhir"><extension url="a"><url value="b"/></extension></Patient>`, "url is an attribute of extension"},
		{"two types of one choice", `<Patient xmlns="http://hl7.org/fhir"><deceasedBoolean value="true"/><deceasedDateTime value="2020"/></Patient>`, "both deceased"},
		{"repeats not together", `<Patient xmlns="http://hl7.org/fhir"><name><given value="a"/><family value="b"/><given value="c"/></name></Patient>`, "given elements are not together"},
		{"XHTML data type", `<Patient xmlns="http://hl7.org/fhir"><name xmlns="http://www.w3.org/1999/xhtml"><family value="b"/></name></Patient>`, "must be a div"},
		{"XHTML resource", `<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="p"/><resource><Patient xmlns="http://www.w3.org/1999/xhtml"/></resource></parameter></Parameters>`, "must be a div"},
		{"div namespace declared on an ancestor", `<Patient xmlns="http://hl7.org/fhir" xmlns:h="http://www.w3.org/1999/xhtml"><text><status value="generated"/><h:div>hi</h:div></text></Patient>`, "declares the XHTML namespace itself"},
		{"DOCTYPE", `<!DOCTYPE Patient [<!ENTITY a "x">]><Patient xmlns="http://hl7.org/fhir"/>`, "DOCTYPE"},
		{"not UTF-8", `<?xml version="1.0" encoding="ISO-8859-1"?><Patient xmlns="http://hl7.org/fhir"/>`, "FHIR XML must be UTF-8"},
		{"JSON", ` {"resourceType":"Patient"}`, "not XML: it starts as JSON does"},
		{"other namespace", `<Patient xmlns="http://example.org"/>`, "not in the FHIR namespace"},
		{"single element repeated", `<Patient xmlns="http://hl7.org/fhir"><active value="true"/><active value="false"/></Patient>`, "repeats"},
		{"boolean text", `<Patient xmlns="http://hl7.org/fhir"><active value="yes"/></Patient>`, "active must be true or false"},
		{"number text", `<Patient xmlns="http://hl7.org/fhir"><multipleBirthInteger value="two"/></Patient>`, "multipleBirthInteger must be a number"},
		{"value on a complex element", `<Patient xmlns="http://hl7.org/fhir"><name value="x"/></Patient>`, "has a value attribute"},
		{"text content", `<Patient xmlns="http://hl7.org/fhir"><gender>male</gender></Patient>`, "text inside element"},
		{"unknown attribute", `<Patient xmlns="http://hl7.org/fhir"><gender value="male" lang="en"/></Patient>`, "unknown attribute lang"},
		{"primitive without value", `<Patient xmlns="http://hl7.org/fhir"><gender/></Patient>`, "neither a value nor an extension"},
		{"two resources in one element", `<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="p"/><resource><Patient/><Patient/></resource></parameter></Parameters>`, "exactly one resource"},
		{"second root", `<Patient xmlns="http://hl7.org/fhir"/><Patient xmlns="http://hl7.org/fhir"/>`, "second root"},
		{"malformed", `<Patient xmlns="http://hl7.org/fhir"><active value="true"></Patient>`, "XML syntax error"},
		{"too deep", `<Patient xmlns="http://hl7.org/fhir">` + strings.Repeat(`<extension url="x">`, MaxDepth+1) +
			strings.Repeat(`</extension>`, MaxDepth+1) + `</Patient>`, "nested deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Convert([]byte(tt.doc), fhirmodel.R4())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// sameContent lists test cases of the FHIR validator test suite whose XML
// and JSON files hold the same resource. The others differ on purpose
// (they test one format's errors), or hold comments that JSON keeps as
// fhir_comments, which this test drops.
var sameContent = []string{
	"bundle-good", "list-contained", "list-empty1", "list-minimal", "list-wrong-code",
	"list-wrong-order", "list-xhtml-attribute", "list-xhtml-correct1", "list-xhtml-correct2",
	"patient-example", "patient-good", "patient-lang1", "patient-lang2", "patient-lang3",
}

// TestConvertMatchesPublishedJSON converts XML test cases of the FHIR
// validator test suite and compares them with the suite's JSON form.
func TestConvertMatchesPublishedJSON(t *testing.T) {
	dir := filepath.Join(corpustest.Unpack(t, "fhir-validator-tests/fhir-test-cases-validator.tgz"), "validator")
	for _, name := range sameContent {
		t.Run(name, func(t *testing.T) {
			doc, err := os.ReadFile(filepath.Join(dir, name+".xml"))
			if err != nil {
				t.Fatal(err)
			}
			published, err := os.ReadFile(filepath.Join(dir, name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Convert(doc, fhirmodel.R4())
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			if err := json.Unmarshal(got, &a); err != nil {
				t.Fatalf("output is not JSON: %v", err)
			}
			if err := json.Unmarshal(published, &b); err != nil {
				t.Fatal(err)
			}
			if b = withoutComments(b); !reflect.DeepEqual(a, b) {
				t.Errorf("converted:\n%s\npublished:\n%s", got, published)
			}
		})
	}
}

// withoutComments drops fhir_comments members, and the "_name" objects
// left empty by that.
func withoutComments(v any) any {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "fhir_comments")
		for k, e := range x {
			x[k] = withoutComments(e)
			if m, ok := x[k].(map[string]any); ok && len(m) == 0 && strings.HasPrefix(k, "_") {
				delete(x, k)
			}
		}
	case []any:
		for i := range x {
			x[i] = withoutComments(x[i])
		}
	}
	return v
}

// FuzzConvert checks that Convert never panics and returns JSON without
// repeated member names, or an error.
func FuzzConvert(f *testing.F) {
	f.Add([]byte(`<Patient xmlns="http://hl7.org/fhir"><id value="a"/><name><given value="b"/></name></Patient>`))
	f.Add([]byte(`<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="p"/><resource><Patient/></resource></parameter></Parameters>`))
	model := fhirmodel.R4()
	f.Fuzz(func(t *testing.T, doc []byte) {
		out, err := Convert(doc, model)
		if err == nil && !jsontext.Value(out).IsValid() {
			t.Fatalf("output is not JSON, or repeats a member name: %s", out)
		}
	})
}

// Errors name elements, never the values they hold, which may be PHI.
func TestConvertErrorsQuoteNoValues(t *testing.T) {
	for _, doc := range []string{
		`<Patient xmlns="http://hl7.org/fhir"><active value="SSN-123-45-6789"/></Patient>`,
		`<Patient xmlns="http://hl7.org/fhir"><multipleBirthInteger value="SSN-123-45-6789"/></Patient>`,
	} {
		_, err := Convert([]byte(doc), fhirmodel.R4())
		if err == nil || strings.Contains(err.Error(), "SSN") {
			t.Errorf("err = %v, want an error that does not quote the value", err)
		}
	}
}
