package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
	"github.com/gatehouse-health/gatehouse/internal/validate"
)

func runValidate(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &env{ctx: context.Background(), stdout: &out, stderr: &errOut}
	code = env.validate(args)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.json", `{"resourceType":"Patient","id":"a","gender":"male"}`)
	bad := writeFile(t, dir, "sub/bad.json", `{"resourceType":"Patient","id":"b","gender":"tall"}`)
	writeFile(t, dir, "sub/lines.ndjson", `{"resourceType":"Patient","id":"c"}`+"\n\n"+`{"resourceType":"Patient","id":"d","foo":1}`+"\n")
	writeFile(t, dir, "sub/notes.txt", "not FHIR")
	truncated := writeFile(t, t.TempDir(), "truncated.json", `{"resourceType":"Patient",`)
	yaml := writeFile(t, t.TempDir(), "gatehouse.yaml", "listen: 127.0.0.1:8443\n")
	archive := writeFile(t, t.TempDir(), "package.tgz", "\x1f\x8b\x08\x00")
	xmlDir := t.TempDir()
	goodXML := writeFile(t, xmlDir, "good.xml", `<Patient xmlns="http://hl7.org/fhir"><id value="x"/><gender value="female"/></Patient>`)
	writeFile(t, xmlDir, "bad.xml", `<Patient xmlns="http://hl7.org/fhir"><id value="y"/><gender value="tall"/></Patient>`)
	writeFile(t, xmlDir, "broken.xml", `<Patient xmlns="http://hl7.org/fhir"><colour value="red"/></Patient>`)

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{"valid file", []string{good}, 0, []string{"good.json: Patient/a: valid"}, ""},
		{"invalid file", []string{bad}, 1, []string{"Patient/b: invalid", "error Patient.gender: code is not in value set"}, ""},
		{"directory", []string{dir}, 1, []string{"good.json: Patient/a: valid", "lines.ndjson:1: Patient/c: valid", "lines.ndjson:3: Patient/d: invalid"},
			"gatehouse: validated 4 resources in 3 files: 2 valid, 2 invalid\n"},
		{"package archive", []string{archive}, 1, []string{"package.tgz: (no resource): invalid",
			"extract it (tar xzf FILE) and pass its package/ directory", "pass it with --package"}, ""},
		{"options after paths", []string{good, "--format", "text"}, 0, []string{"Patient/a: valid"}, ""},
		{"truncated file", []string{truncated}, 1, []string{"truncated.json: (no resource): invalid", "    fatal (file): "}, ""},
		{"YAML file", []string{yaml}, 1, []string{"gatehouse.yaml: (no resource): invalid",
			"    fatal (file): " + yaml + " is not FHIR JSON, NDJSON or XML"}, ""},
		{"XML file", []string{goodXML}, 0, []string{"good.xml: Patient/x: valid"}, ""},
		{"XML directory", []string{xmlDir}, 1, []string{"good.xml: Patient/x: valid", "bad.xml: Patient/y: invalid",
			"error Patient.gender: code is not in value set", "broken.xml: Patient: invalid", "error Patient.colour: line 1: Patient has no element colour"}, ""},
		{"missing path", []string{filepath.Join(dir, "nope.json")}, 2, nil, "no such file"},
		{"no paths", nil, 2, nil, "no file or directory"},
		{"bad format", []string{"--format", "xml", good}, 2, nil, "unknown format"},
		{"unknown option", []string{"--nope", good}, 2, nil, "unknown option"},
		{"bad package", []string{"--package", good, good}, 2, nil, "not a gzip archive"},
		{"unknown profile", []string{"--profile", "http://example.org/none", good}, 2, nil, "profile http://example.org/none not found"},
		{"data type profile", []string{"--profile", "http://hl7.org/fhir/StructureDefinition/HumanName", good}, 2, nil, "HumanName, which is not a resource type"},
		{"known profile", []string{"--profile", "http://hl7.org/fhir/StructureDefinition/Patient", good}, 0, []string{"valid"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runValidate(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr %s", code, tc.code, errOut)
			}
			for _, want := range tc.stdout {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			if tc.stderr != "" && !strings.Contains(errOut, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, errOut)
			}
		})
	}

	// One resource needs no totals.
	if _, _, errOut := runValidate(t, good); errOut != "" {
		t.Errorf("stderr after one valid file = %q, want nothing", errOut)
	}
}

func TestValidateCommandJSON(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.json", `{"resourceType":"Patient","id":"b","gender":"tall"}`)
	code, out, _ := runValidate(t, "--format", "json", bad)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	var rep validateReport
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &rep); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	if rep.File != bad || rep.ResourceType != "Patient" || rep.ID != "b" || rep.Valid || len(rep.Issues) == 0 {
		t.Errorf("report = %+v", rep)
	}
}

// An XML file is larger than its JSON form, to which the validator's size
// limit applies, so validate reads XML up to the converter's own limit.
func TestValidateXMLLargerThanJSONLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<Bundle xmlns="http://hl7.org/fhir"><id value="large"/><type value="collection"/>`)
	for i := range 40000 {
		fmt.Fprintf(&b, `<entry><fullUrl value="urn:uuid:%08d-0000-4000-8000-000000000000"/><resource><Basic><id value="b%d"/><code><text value="%s"/></code></Basic></resource></entry>`,
			i, i, strings.Repeat("x", 110))
	}
	b.WriteString(`</Bundle>`)
	if b.Len() <= int(validate.DefaultLimits.MaxBytes) {
		t.Fatalf("document of %d bytes, want more than the JSON limit %d", b.Len(), validate.DefaultLimits.MaxBytes)
	}
	path := writeFile(t, t.TempDir(), "large.xml", b.String())

	code, out, errOut := runValidate(t, path)
	if code != 0 || !strings.Contains(out, "large.xml: Bundle/large: valid") {
		t.Errorf("exit %d, stdout %.300s, stderr %s; want the Bundle valid", code, out, errOut)
	}
}

// Information issues, such as a LOINC code that cannot be verified
// offline, are counted in text output and printed only with --notes.
func TestValidateNotes(t *testing.T) {
	obs := writeFile(t, t.TempDir(), "obs.json", `{"resourceType":"Observation","id":"o","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]}}`)
	const note = "information Observation.code.coding[0].code: LOINC codes cannot be verified offline"
	code, out, errOut := runValidate(t, obs)
	if code != 0 || !strings.Contains(out, "1 notes") || strings.Contains(out, note) {
		t.Errorf("without --notes: exit %d, stdout:\n%s\nstderr: %s", code, out, errOut)
	}
	code, out, errOut = runValidate(t, "--notes", obs)
	if code != 0 || !strings.Contains(out, note) {
		t.Errorf("with --notes: exit %d, stdout lacks %q:\n%s\nstderr: %s", code, note, out, errOut)
	}
}

// threeProblemsXML has three element-level problems, on lines 3, 4 and 8,
// and an invalid code on line 10 that only the validator finds.
const threeProblemsXML = `<Patient xmlns="http://hl7.org/fhir">
  <id value="p1"/>
  <active value="yes"/>
  <colour value="red"/>
  <name>
    <given value="Ann"/>
    <family value="Lee"/>
    <given value="Bo"/>
  </name>
  <gender value="tall"/>
</Patient>`

// The converter's problems and the validator's issues of one XML file
// form one result, each problem once and located.
func TestValidateXMLReportsEveryProblem(t *testing.T) {
	path := writeFile(t, t.TempDir(), "three.xml", threeProblemsXML)
	wantIssues := []outcome.Issue{
		{Severity: outcome.Error, Code: outcome.CodeValue, Diagnostics: "line 3: active must be true or false", Expression: []string{"Patient.active"}},
		{Severity: outcome.Error, Code: outcome.CodeStructure, Diagnostics: "line 4: Patient has no element colour", Expression: []string{"Patient.colour"}},
		{Severity: outcome.Error, Code: outcome.CodeStructure, Diagnostics: "line 8: the given elements are not together", Expression: []string{"Patient.name[0].given[1]"}},
	}

	code, out, errOut := runValidate(t, path)
	if code != 1 {
		t.Errorf("exit code %d, want 1; stderr %s", code, errOut)
	}
	wantLines := []string{
		"three.xml: Patient/p1: invalid (4 errors, ",
		"    error Patient.gender: code is not in value set",
	}
	for _, is := range wantIssues {
		wantLines = append(wantLines, fmt.Sprintf("    error %s: %s\n", is.Expression[0], is.Diagnostics))
	}
	for _, want := range wantLines {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = runValidate(t, "--format", "json", path)
	if code != 1 {
		t.Errorf("exit code %d with --format json, want 1; stderr %s", code, errOut)
	}
	var rep validateReport
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &rep); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	if rep.ResourceType != "Patient" || rep.ID != "p1" || rep.Valid {
		t.Errorf("report = %+v, want Patient/p1 invalid", rep)
	}
	for _, want := range wantIssues {
		n := 0
		for _, is := range rep.Issues {
			if reflect.DeepEqual(is, want) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("issue %+v occurs %d times, want once", want, n)
		}
	}
	errorCount := 0
	for _, is := range rep.Issues {
		if is.Severity == outcome.Error || is.Severity == outcome.Fatal {
			errorCount++
		}
	}
	if errorCount != 4 {
		t.Errorf("%d errors, want the 3 problems and the invalid gender: %+v", errorCount, rep.Issues)
	}
}

// A problem of the whole document still ends the file's check with one
// fatal issue.
func TestValidateXMLDocumentProblem(t *testing.T) {
	path := writeFile(t, t.TempDir(), "doctype.xml", `<!DOCTYPE Patient [<!ENTITY a "x">]>`+"\n"+threeProblemsXML)

	code, out, _ := runValidate(t, path)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, want := range []string{"doctype.xml: (no resource): invalid (1 errors, 0 warnings, 0 notes)", "    fatal (file): fhirxml: the document has a DOCTYPE"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}

	_, out, _ = runValidate(t, "--format", "json", path)
	var rep validateReport
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &rep); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	if len(rep.Issues) != 1 || rep.Issues[0].Severity != outcome.Fatal || rep.Valid {
		t.Errorf("report = %+v, want one fatal issue", rep)
	}
}

// A required element that the converter reports and leaves out is one
// issue, not also a missing element in the validator's issues.
func TestValidateXMLLeftOutReportedOnce(t *testing.T) {
	atStatus := xmlIssuesAt(t, `<Observation xmlns="http://hl7.org/fhir">
  <status>final</status>
  <code><text value="weight"/></code>
</Observation>`, "Observation.status")
	if len(atStatus) != 1 || atStatus[0].Diagnostics != "line 2: text inside element status; FHIR puts values in value attributes" {
		t.Errorf("issues at Observation.status = %+v, want only the converter's", atStatus)
	}
}

// A repeating primitive item that the converter leaves out becomes a null
// placeholder, so that later items keep their indexes. The validator's
// issue about that null repeats the converter's problem, so it is dropped.
func TestValidateXMLLeftOutItemReportedOnce(t *testing.T) {
	atItem := xmlIssuesAt(t, `<Patient xmlns="http://hl7.org/fhir">
  <id value="p1"/>
  <name><given value="Ann"/><given/><given value="Bo"/></name>
</Patient>`, "Patient.name[0].given[1]")
	if len(atItem) != 1 || !strings.HasPrefix(atItem[0].Diagnostics, "line 3: ") {
		t.Errorf("issues at Patient.name[0].given[1] = %+v, want only the converter's", atItem)
	}
}

// xmlIssuesAt validates the XML document doc, which must be invalid, and
// returns the issues located at path.
func xmlIssuesAt(t *testing.T, doc, path string) []outcome.Issue {
	t.Helper()
	code, out, _ := runValidate(t, "--format", "json", writeFile(t, t.TempDir(), "doc.xml", doc))
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	var rep validateReport
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &rep); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	var at []outcome.Issue
	for _, is := range rep.Issues {
		if slices.Contains(is.Expression, path) {
			at = append(at, is)
		}
	}
	return at
}

// TestValidateDirectoryWithoutFiles validates a directory that contains no
// FHIR file, as an export step that wrote nothing leaves it. Exit 0 would
// let a CI job pass without validating anything.
func TestValidateDirectoryWithoutFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("no FHIR here"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, context.Background(), "validate", dir)
	if code != 2 {
		t.Errorf("exit code %d, want 2; stdout:\n%s", code, stdout)
	}
	if !strings.Contains(stderr, "gatehouse: error: "+dir+" contains no .json, .ndjson or .xml file") {
		t.Errorf("the error does not name the empty directory:\n%s", stderr)
	}
}
