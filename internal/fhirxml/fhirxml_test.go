package fhirxml

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
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

// rejects are documents with one problem each. document marks a problem
// of the whole document, which ConvertReport returns as an error too.
var rejects = []struct {
	name, doc, want string
	document        bool
}{
	{"unknown element", `<Patient xmlns="http://hl7.org/fhir"><colour value="x"/></Patient>`, "Patient has no element colour", false},
	{"not a resource", `<HumanName xmlns="http://hl7.org/fhir"/>`, "not a concrete R4 resource type", true},
	{"abstract resource", `<Resource xmlns="http://hl7.org/fhir"/>`, "not a concrete R4 resource type", true},
	{"url attribute outside an extension", `<Patient xmlns="http://hl7.org/fhir"><photo url="a"/></Patient>`, "only an extension has a url attribute", false},
	{"id element in a data type", `<Patient xmlns="http://hl7.org/fhir"><name id="a"><id value="b"/></name></Patient>`, "id is an attribute of name", false},
	{"url element in an extension", `<Patient xmlns="http://hl7.org/fhir"><extension url="a"><url value="b"/></extension></Patient>`, "url is an attribute of extension", false},
	{"two types of one choice", `<Patient xmlns="http://hl7.org/fhir"><deceasedBoolean value="true"/><deceasedDateTime value="2020"/></Patient>`, "both deceased", false},
	{"repeats not together", `<Patient xmlns="http://hl7.org/fhir"><name><given value="a"/><family value="b"/><given value="c"/></name></Patient>`, "given elements are not together", false},
	{"XHTML data type", `<Patient xmlns="http://hl7.org/fhir"><name xmlns="http://www.w3.org/1999/xhtml"><family value="b"/></name></Patient>`, "must be a div", false},
	{"XHTML resource", `<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="p"/><resource><Patient xmlns="http://www.w3.org/1999/xhtml"/></resource></parameter></Parameters>`, "must be a div", false},
	{"XHTML root", `<Patient xmlns="http://www.w3.org/1999/xhtml"/>`, "must be a div", true},
	{"div namespace declared on an ancestor", `<Patient xmlns="http://hl7.org/fhir" xmlns:h="http://www.w3.org/1999/xhtml"><text><status value="generated"/><h:div>hi</h:div></text></Patient>`, "declares the XHTML namespace itself", false},
	{"DOCTYPE", `<!DOCTYPE Patient [<!ENTITY a "x">]><Patient xmlns="http://hl7.org/fhir"/>`, "DOCTYPE", true},
	{"declaration inside a div", `<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><!ENTITY a "x"></div></text></Patient>`, "DOCTYPE", true},
	{"declaration inside a foreign element", `<Patient xmlns="http://hl7.org/fhir"><x:a xmlns:x="urn:x"><!ENTITY a "x"></x:a></Patient>`, "DOCTYPE", true},
	{"not UTF-8", `<?xml version="1.0" encoding="ISO-8859-1"?><Patient xmlns="http://hl7.org/fhir"/>`, "FHIR XML must be UTF-8", true},
	{"JSON", ` {"resourceType":"Patient"}`, "not XML: it starts as JSON does", true},
	{"other namespace", `<Patient xmlns="http://example.org"/>`, "not in the FHIR namespace", true},
	{"element in another namespace", `<Patient xmlns="http://hl7.org/fhir"><x:active xmlns:x="urn:x" value="true"/></Patient>`, "element active is in neither the FHIR nor the XHTML namespace", false},
	{"single element repeated", `<Patient xmlns="http://hl7.org/fhir"><active value="true"/><active value="false"/></Patient>`, "repeats", false},
	{"boolean text", `<Patient xmlns="http://hl7.org/fhir"><active value="yes"/></Patient>`, "active must be true or false", false},
	{"number text", `<Patient xmlns="http://hl7.org/fhir"><multipleBirthInteger value="two"/></Patient>`, "multipleBirthInteger must be a number", false},
	{"value on a complex element", `<Patient xmlns="http://hl7.org/fhir"><name value="x"/></Patient>`, "has a value attribute", false},
	{"text content", `<Patient xmlns="http://hl7.org/fhir"><gender>male</gender></Patient>`, "text inside element", false},
	{"unknown attribute", `<Patient xmlns="http://hl7.org/fhir"><gender value="male" lang="en"/></Patient>`, "unknown attribute lang", false},
	{"url attribute on a primitive", `<Patient xmlns="http://hl7.org/fhir"><gender value="male" url="a"/></Patient>`, "primitive gender has a url attribute", false},
	{"primitive without value", `<Patient xmlns="http://hl7.org/fhir"><gender/></Patient>`, "neither a value nor an extension", false},
	{"empty item of a repeating primitive", `<Patient xmlns="http://hl7.org/fhir"><name><given value="a"/><given/></name></Patient>`, "given has neither a value nor an extension", false},
	{"resource with attributes", `<Patient xmlns="http://hl7.org/fhir" id="a"/>`, "resource Patient has attributes", false},
	{"attribute on a resource container", `<Patient xmlns="http://hl7.org/fhir"><contained id="a"><Basic/></contained></Patient>`, "contained holds a resource, so it has no attributes", false},
	{"two resources in one element", `<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="p"/><resource><Patient/><Patient/></resource></parameter></Parameters>`, "exactly one resource", false},
	{"no resource in a container", `<Patient xmlns="http://hl7.org/fhir"><contained/></Patient>`, "exactly one resource, not 0", false},
	{"data type as a contained resource", `<Patient xmlns="http://hl7.org/fhir"><contained><HumanName/></contained></Patient>`, "HumanName is not a concrete R4 resource type", false},
	{"second root", `<Patient xmlns="http://hl7.org/fhir"/><Patient xmlns="http://hl7.org/fhir"/>`, "second root", true},
	{"text after the root", `<Patient xmlns="http://hl7.org/fhir"/>x`, "text after the root", true},
	{"no root", `<?xml version="1.0"?><!-- none -->`, "no root element", true},
	{"malformed", `<Patient xmlns="http://hl7.org/fhir"><active value="true"></Patient>`, "XML syntax error", true},
	{"too deep", `<Patient xmlns="http://hl7.org/fhir">` + strings.Repeat(`<extension url="x">`, MaxDepth+1) +
		strings.Repeat(`</extension>`, MaxDepth+1) + `</Patient>`, "nested deeper", true},
}

func TestConvertRejects(t *testing.T) {
	for _, tt := range rejects {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Convert([]byte(tt.doc), fhirmodel.R4())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// ConvertReport returns a problem of the whole document as an error, and
// one of an element as a problem beside the JSON form of the rest.
func TestConvertReportRejects(t *testing.T) {
	for _, tt := range rejects {
		t.Run(tt.name, func(t *testing.T) {
			out, problems, err := ConvertReport([]byte(tt.doc), fhirmodel.R4())
			if tt.document {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("err = %v, want one mentioning %q", err, tt.want)
				}
				if out != nil || len(problems) != 0 {
					t.Errorf("got output %s and problems %v beside the error", out, problems)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want a problem mentioning %q", err, tt.want)
			}
			if len(problems) != 1 || !strings.Contains(problems[0].Message, tt.want) {
				for _, p := range problems {
					t.Logf("problem %s", describe(p))
				}
				t.Errorf("%d problems, want one mentioning %q", len(problems), tt.want)
			}
			if !jsontext.Value(out).IsValid() {
				t.Errorf("output is not JSON, or repeats a member name: %s", out)
			}
		})
	}
}

// problemsDoc has one valid part and one problem of each kind that
// ConvertReport goes on after, on lines of their own.
const problemsDoc = `<Patient xmlns="http://hl7.org/fhir" xmlns:x="urn:x">
  <id value="p1"/>
  <active value="yes"/>
  <colour value="red"/>
  <name>
    <given value="Ann"/>
    <given/>
    <family value="Lee"/>
    <given value="Bo" lang="en"/>
  </name>
  <name value="x"/>
  <name><text value="Ann Lee"/>stray</name>
  <gender value="female"/>
  <gender value="male"/>
  <deceasedBoolean value="false"/>
  <deceasedDateTime value="2020"/>
  <x:foo/>
  <multipleBirthInteger value="two"/>
  <photo url="a"/>
  <contained><Basic><code><text value="b1"/></code></Basic><Basic/></contained>
  <contained/>
  <contained><HumanName/></contained>
  <communication><language><text value="en"/></language><preferred value="true"><id value="i"/></preferred></communication>
</Patient>`

func TestConvertReportProblems(t *testing.T) {
	out, problems, err := ConvertReport([]byte(problemsDoc), fhirmodel.R4())
	if err != nil {
		t.Fatal(err)
	}
	want := []Problem{
		{Line: 3, Expression: "Patient.active", Element: "Patient.active", Code: outcome.CodeValue, Message: "active must be true or false", LeftOut: true},
		{Line: 4, Expression: "Patient.colour", Element: "Patient.colour", Code: outcome.CodeStructure, Message: "Patient has no element colour", LeftOut: true},
		{Line: 7, Expression: "Patient.name[0].given[1]", Element: "Patient.name[0].given", Code: outcome.CodeStructure, Message: "given has neither a value nor an extension", LeftOut: true},
		{Line: 9, Expression: "Patient.name[0].given[2]", Element: "Patient.name[0].given", Code: outcome.CodeStructure, Message: "the given elements are not together"},
		{Line: 9, Expression: "Patient.name[0].given[2]", Element: "Patient.name[0].given", Code: outcome.CodeStructure, Message: "element given has an unknown attribute lang"},
		{Line: 11, Expression: "Patient.name[1]", Element: "Patient.name", Code: outcome.CodeStructure, Message: "name of type HumanName has a value attribute", LeftOut: true},
		{Line: 12, Expression: "Patient.name[2]", Element: "Patient.name", Code: outcome.CodeStructure, Message: "text inside element name; FHIR puts values in value attributes"},
		{Line: 14, Expression: "Patient.gender", Element: "Patient.gender", Code: outcome.CodeStructure, Message: "Patient.gender repeats, which its definition does not allow", LeftOut: true},
		{Line: 16, Expression: "Patient.deceased.ofType(DateTime)", Element: "Patient.deceased", Code: outcome.CodeStructure, Message: "deceasedBoolean and deceasedDateTime are both deceased of Patient, which takes one", LeftOut: true},
		{Line: 17, Expression: "Patient.foo", Element: "Patient.foo", Code: outcome.CodeStructure, Message: "element foo is in neither the FHIR nor the XHTML namespace", LeftOut: true},
		{Line: 18, Expression: "Patient.multipleBirth.ofType(Integer)", Element: "Patient.multipleBirth", Code: outcome.CodeValue, Message: "multipleBirthInteger must be a number", LeftOut: true},
		{Line: 19, Expression: "Patient.photo[0]", Element: "Patient.photo", Code: outcome.CodeStructure, Message: "only an extension has a url attribute, not photo", LeftOut: true},
		{Line: 20, Expression: "Patient.contained[0]", Element: "Patient.contained", Code: outcome.CodeStructure, Message: "contained must hold exactly one resource, not 2"},
		{Line: 21, Expression: "Patient.contained[1]", Element: "Patient.contained", Code: outcome.CodeStructure, Message: "contained must hold exactly one resource, not 0", LeftOut: true},
		{Line: 22, Expression: "Patient.contained[2]", Element: "Patient.contained", Code: outcome.CodeStructure, Message: "HumanName is not a concrete R4 resource type", LeftOut: true},
		{Line: 23, Expression: "Patient.communication[0].preferred.id", Element: "Patient.communication[0].preferred.id", Code: outcome.CodeStructure, Message: "id is an attribute of preferred in XML, not an element", LeftOut: true},
	}
	for i := range max(len(want), len(problems)) {
		switch {
		case i >= len(problems):
			t.Errorf("missing problem %s", describe(want[i]))
		case i >= len(want):
			t.Errorf("unexpected problem %s", describe(problems[i]))
		case problems[i] != want[i]:
			t.Errorf("problem %d = %s\nwant       %s", i, describe(problems[i]), describe(want[i]))
		}
	}

	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	// The valid parts are converted, and each faulty element keeps what is
	// valid in it.
	wantJSON := map[string]any{
		"resourceType": "Patient",
		"id":           "p1",
		"name": []any{
			map[string]any{"given": []any{"Ann", nil, "Bo"}, "family": "Lee"},
			map[string]any{"text": "Ann Lee"},
		},
		"gender":          "female",
		"deceasedBoolean": false,
		"contained": []any{
			map[string]any{"resourceType": "Basic", "code": map[string]any{"text": "b1"}},
		},
		"communication": []any{map[string]any{"language": map[string]any{"text": "en"}, "preferred": true}},
	}
	if !reflect.DeepEqual(got, wantJSON) {
		t.Errorf("converted:\n%s\nwant the equivalent of:\n%v", out, wantJSON)
	}
}

func TestConvertReportTooLarge(t *testing.T) {
	doc := []byte(`<Patient xmlns="http://hl7.org/fhir">` + strings.Repeat(" ", MaxBytes) + `</Patient>`)
	out, problems, err := ConvertReport(doc, fhirmodel.R4())
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("err = %v, want one about the size limit", err)
	}
	if out != nil || len(problems) != 0 {
		t.Errorf("got output %.100s and problems %v beside the error", out, problems)
	}
}

// describe formats every field of p, which %v does not, because Problem
// is an error.
func describe(p Problem) string {
	return fmt.Sprintf("{line %d, %s, element %s, %s, %q, left out %t}", p.Line, p.Expression, p.Element, p.Code, p.Message, p.LeftOut)
}

// A document with more problems than MaxProblems ends the conversion with
// an error, and the problems up to the limit are returned.
func TestConvertReportTooManyProblems(t *testing.T) {
	doc := `<Patient xmlns="http://hl7.org/fhir">` + strings.Repeat(`<colour/>`, MaxProblems+1) + `</Patient>`
	out, problems, err := ConvertReport([]byte(doc), fhirmodel.R4())
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("err = %v, want one about too many problems", err)
	}
	if len(problems) != MaxProblems {
		t.Errorf("%d problems, want %d", len(problems), MaxProblems)
	}
	if out != nil {
		t.Errorf("output %.100s, want none", out)
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
			lenient, problems, err := ConvertReport(doc, fhirmodel.R4())
			if err != nil || len(problems) != 0 || !bytes.Equal(lenient, got) {
				t.Errorf("ConvertReport returned problems %v, error %v, or other JSON than Convert", problems, err)
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

// FuzzConvert checks that Convert and ConvertReport never panic and
// return JSON without repeated member names, or an error. ConvertReport
// must agree with Convert: the same JSON without problems where Convert
// succeeds, and a problem or an error where it fails.
func FuzzConvert(f *testing.F) {
	f.Add([]byte(`<Patient xmlns="http://hl7.org/fhir"><id value="a"/><name><given value="b"/></name></Patient>`))
	f.Add([]byte(`<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="p"/><resource><Patient/></resource></parameter></Parameters>`))
	f.Add([]byte(problemsDoc))
	model := fhirmodel.R4()
	f.Fuzz(func(t *testing.T, doc []byte) {
		out, err := Convert(doc, model)
		if err == nil && !jsontext.Value(out).IsValid() {
			t.Fatalf("output is not JSON, or repeats a member name: %s", out)
		}
		lenient, problems, lenientErr := ConvertReport(doc, model)
		if lenientErr == nil && !jsontext.Value(lenient).IsValid() {
			t.Fatalf("lenient output is not JSON, or repeats a member name: %s", lenient)
		}
		switch {
		case err == nil && (lenientErr != nil || len(problems) > 0):
			t.Fatalf("Convert succeeded, but ConvertReport returned problems %v and error %v", problems, lenientErr)
		case err == nil && !bytes.Equal(out, lenient):
			t.Fatalf("Convert returned\n%s\nand ConvertReport\n%s", out, lenient)
		case err != nil && lenientErr == nil && len(problems) == 0:
			t.Fatalf("Convert failed with %v, but ConvertReport found no problem", err)
		}
		for _, p := range problems {
			if p.Line < 1 || p.Expression == "" || p.Message == "" || p.Code == "" {
				t.Fatalf("incomplete problem %s", describe(p))
			}
		}
	})
}

// Errors and problems name elements, never the values they hold, which
// may be PHI.
func TestConvertErrorsQuoteNoValues(t *testing.T) {
	const phi = "SSN-123-45-6789"
	docs := []string{
		`<Patient xmlns="http://hl7.org/fhir"><active value="SSN-123-45-6789"/></Patient>`,
		`<Patient xmlns="http://hl7.org/fhir"><multipleBirthInteger value="SSN-123-45-6789"/></Patient>`,
	}
	for _, doc := range docs {
		_, err := Convert([]byte(doc), fhirmodel.R4())
		if err == nil || strings.Contains(err.Error(), phi) {
			t.Errorf("err = %v, want an error that does not quote the value", err)
		}
	}

	// The problems of problemsDoc, with the value in every attribute and
	// in the text.
	doc := strings.ReplaceAll(problemsDoc, `value="`, `value="SSN-123-45-6789 `)
	doc = strings.ReplaceAll(doc, `url="a"`, `url="SSN-123-45-6789"`)
	doc = strings.ReplaceAll(doc, `lang="en"`, `lang="SSN-123-45-6789"`)
	doc = strings.ReplaceAll(doc, "stray", phi)
	_, problems, err := ConvertReport([]byte(doc), fhirmodel.R4())
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) < 16 {
		t.Errorf("%d problems, want at least the 16 of problemsDoc", len(problems))
	}
	for _, p := range problems {
		if strings.Contains(p.Message, phi) || strings.Contains(p.Expression, phi) || strings.Contains(p.Error(), phi) {
			t.Errorf("problem %s quotes a value", describe(p))
		}
	}
}
