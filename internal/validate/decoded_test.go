package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
)

// TestParseDecodedMatchesParseJSON checks that the FHIRPath tree built
// from the validator's tree is the tree fhirpath.ParseJSON builds from
// the same bytes, node for node, and that a document ParseJSON refuses
// gets ParseJSON's own error.
func TestParseDecodedMatchesParseJSON(t *testing.T) {
	docs := map[string]string{
		"primitive halves":      `{"resourceType":"Patient","name":[{"given":["a",null,"c"],"_given":[null,{"id":"x"},{"extension":[{"url":"http://e","valueString":"v"}]}]}],"_gender":{"id":"g"}}`,
		"extension first":       `{"resourceType":"Patient","_birthDate":{"id":"b"},"birthDate":"2020-02-30"}`,
		"numbers keep text":     `{"resourceType":"Observation","status":"final","code":{"text":"t"},"valueQuantity":{"value":1.50,"unit":"mg"},"component":[{"code":{"text":"c"},"valueInteger":3}]}`,
		"wrong scalar kinds":    `{"resourceType":"Patient","active":"true","birthDate":19700101,"multipleBirthInteger":1.5,"gender":false}`,
		"unknown members":       `{"resourceType":"Patient","foo":[1,2.5,"x",true,null,{"bar":[3]}],"_baz":{"id":"q"}}`,
		"nested resources":      `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","contained":[{"resourceType":"Organization","name":"o"}]}},{"resource":null}]}`,
		"no resourceType":       `{"id":"x","active":true}`,
		"resourceType inside":   `{"resourceType":"Patient","name":[{"resourceType":"x","family":"f"}]}`,
		"unknown resourceType":  `{"resourceType":"Nope"}`,
		"data type as resource": `{"resourceType":"HumanName"}`,
		"resourceType a number": `{"resourceType":1}`,
		"entry not an object":   `{"resourceType":"Bundle","type":"collection","entry":[{"resource":"x"}]}`,
		"complex a scalar":      `{"resourceType":"Patient","name":["x"]}`,
		"primitive an object":   `{"resourceType":"Patient","gender":{"x":1}}`,
		"extra a scalar":        `{"resourceType":"Patient","_gender":"x"}`,
		"two choice types":      `{"resourceType":"Observation","status":"final","code":{"text":"t"},"valueString":"a","valueBoolean":true}`,
		"lone beside halves":    `{"resourceType":"Patient","gender":"male","birthDate":"2000","_birthDate":{"id":"b"}}`,
		"lone nulls":            `{"resourceType":"Patient","gender":null,"name":[{"given":["a",null]}]}`,
		"lone an object":        `{"resourceType":"Patient","name":[{"family":{"x":1}}]}`,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) { compareDecoded(t, []byte(doc), false) })
	}
	// ParseJSON accepts these oddly; ParseDecoded leaves them to it.
	reparsed := map[string]string{
		"empty resourceType": `{"resourceType":"","id":"x"}`,
		"nested arrays":      `{"resourceType":"Patient","foo":[[1]]}`,
	}
	for name, doc := range reparsed {
		t.Run(name, func(t *testing.T) { compareDecoded(t, []byte(doc), true) })
	}
	for _, dir := range []string{
		filepath.Join(corpustest.Unpack(t, "fhir-r4-examples/hl7.fhir.r4.examples-4.0.1.tgz"), "package"),
		filepath.Join(corpustest.Unpack(t, "davinci-pas/hl7.fhir.us.davinci-pas-2.0.1.tgz"), "package", "example"),
	} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(files) == 0 {
			t.Fatalf("no examples in %s", dir)
		}
		for _, f := range files {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			t.Run(filepath.Base(f), func(t *testing.T) { compareDecoded(t, body, false) })
		}
	}
}

// compareDecoded compares the two trees of body. When reparsed is true,
// ParseDecoded may parse body although ParseJSON accepts it.
func compareDecoded(t *testing.T, body []byte, reparsed bool) {
	t.Helper()
	tree, err := parseTree(body, DefaultLimits)
	if err != nil {
		t.Skipf("not a document the validator reads: %v", err)
	}
	want, wantErr := fhirpath.ParseJSON(body)
	// Without a fault ParseDecoded must not read body: given none, a
	// fallback to parsing would fail.
	source := body
	if wantErr == nil && !reparsed {
		source = nil
	}
	got, gotErr := fhirpath.ParseDecoded(tree, source)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("error %v, want %v", gotErr, wantErr)
	}
	if wantErr != nil {
		return
	}
	if diff := nodeDiff(got, want, "root"); diff != "" {
		t.Error(diff)
	}
	compareInArenas(t, body, source, want)
}

// Arenas reused by compareInArenas across the documents of a test, as a
// pooled run reuses them across validations, so that data left over from
// an earlier document would show.
var (
	testTreeArena treeArena
	testFPArena   fhirpath.DecodedArena
)

// compareInArenas builds both trees of body in reused arenas and compares
// the FHIRPath tree with want.
func compareInArenas(t *testing.T, body, source []byte, want *fhirpath.Node) {
	t.Helper()
	testTreeArena.reset()
	testFPArena.Reset()
	tree, err := parseTreeIn(body, DefaultLimits, &testTreeArena)
	if err != nil {
		t.Fatalf("tree in an arena: %v", err)
	}
	got, err := fhirpath.ParseDecodedIn(tree, source, &testFPArena)
	if err != nil {
		t.Fatalf("FHIRPath tree in an arena: %v", err)
	}
	if diff := nodeDiff(got, want, "root"); diff != "" {
		t.Errorf("in arenas: %s", diff)
	}
}

// nodeDiff returns the first difference between two FHIRPath trees.
// StringValue is read before Value, while got may still keep its value as
// JSON text, and must agree with want's value.
func nodeDiff(got, want *fhirpath.Node, at string) string {
	gotString, gotIsString := got.StringValue()
	wantString, wantIsString := want.Value().(fhirpath.String)
	switch {
	case gotString != string(wantString) || gotIsString != wantIsString:
		return fmt.Sprintf("%s: StringValue %q, %v; want %q, %v", at, gotString, gotIsString, wantString, wantIsString)
	case got.Name() != want.Name() || got.JSONName() != want.JSONName():
		return fmt.Sprintf("%s: name %q/%q, want %q/%q", at, got.Name(), got.JSONName(), want.Name(), want.JSONName())
	case got.Type() != want.Type():
		return fmt.Sprintf("%s: type %v, want %v", at, got.Type(), want.Type())
	case !reflect.DeepEqual(got.Value(), want.Value()):
		return fmt.Sprintf("%s: value %#v, want %#v", at, got.Value(), want.Value())
	case len(got.Children()) != len(want.Children()):
		return fmt.Sprintf("%s: %d children, want %d", at, len(got.Children()), len(want.Children()))
	}
	gn, wn := fmt.Sprint(got.TypeName()), fmt.Sprint(want.TypeName())
	if gn != wn {
		return fmt.Sprintf("%s: type name %s, want %s", at, gn, wn)
	}
	for i, c := range got.Children() {
		if c.Parent() != got {
			return fmt.Sprintf("%s.%s: parent is not the node above", at, c.Name())
		}
		if diff := nodeDiff(c, want.Children()[i], at+"."+c.Name()); diff != "" {
			return diff
		}
	}
	return ""
}

// FuzzParseDecoded checks that ParseDecoded and ParseJSON agree on any
// document the validator reads: the same tree, or the same error.
func FuzzParseDecoded(f *testing.F) {
	for _, doc := range []string{
		`{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"id":"x"}]}],"_gender":{"id":"g"}}`,
		`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Observation","valueQuantity":{"value":1.50}}}]}`,
		`{"resourceType":"Patient","foo":[1,"x",{"bar":[3]}],"active":"true"}`,
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tree, err := parseTree(body, DefaultLimits)
		if err != nil {
			return
		}
		want, wantErr := fhirpath.ParseJSON(body)
		got, gotErr := fhirpath.ParseDecoded(tree, body)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("error %v, want %v", gotErr, wantErr)
		}
		if wantErr == nil {
			if diff := nodeDiff(got, want, "root"); diff != "" {
				t.Fatal(diff)
			}
			compareInArenas(t, body, body, want)
		}
	})
}

// TestParseDecodedArrayAllocs checks that a FHIRPath tree built in a
// reused arena from a document with repeating complex and primitive
// members takes its children and primitive groups from the arena.
// Children room sized by the member count grew onto the heap at each array.
func TestParseDecodedArrayAllocs(t *testing.T) {
	body := []byte(`{"resourceType":"Patient","identifier":[{"value":"a"},{"value":"b"},{"value":"c"}],"name":[{"given":["a","b","c"],"_given":[null,{"id":"x"},null]},{"family":"f","given":["d","e"]}],"telecom":[{"system":"phone","value":"1"},{"system":"email","value":"e"}]}`)
	var treeArena treeArena
	tree, err := parseTreeIn(body, DefaultLimits, &treeArena)
	if err != nil {
		t.Fatal(err)
	}
	var arena fhirpath.DecodedArena
	build := func() {
		arena.Reset()
		if _, err := fhirpath.ParseDecodedIn(tree, nil, &arena); err != nil {
			t.Fatal(err)
		}
	}
	build() // the first build fills the arena's chunks
	if n := testing.AllocsPerRun(100, build); n != 0 {
		t.Errorf("ParseDecodedIn allocated %v times per build in a reused arena, want 0", n)
	}
}

// BenchmarkParseDecodedSmall builds, in a reused arena, the FHIRPath trees
// of the R4 instance examples of at most 2 KB; ns/op is per resource.
func BenchmarkParseDecodedSmall(b *testing.B) {
	var trees []*jnode
	for _, f := range readR4Examples(b) {
		if isConformanceFile(f.name) || len(f.body) > 2048 {
			continue
		}
		// Each tree keeps its own arena, because a reset would free it.
		tree, err := parseTreeIn(f.body, DefaultLimits, &treeArena{})
		if err != nil {
			continue
		}
		trees = append(trees, tree)
	}
	var arena fhirpath.DecodedArena
	b.ResetTimer()
	for i := range b.N {
		arena.Reset()
		if _, err := fhirpath.ParseDecodedIn(trees[i%len(trees)], nil, &arena); err != nil {
			b.Fatal(err)
		}
	}
}
