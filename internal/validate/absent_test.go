package validate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
)

func TestAnalyzeAbsentShapes(t *testing.T) {
	tests := []struct {
		name, expr string
		mode       absentMode
		names      []string
	}{
		{"qty-3 presence", "code.empty() or system.exists()", modePresence, []string{"code", "system"}},
		{"presence with not", "(a.exists() and b.empty()).not() implies c.exists().not()", modePresence, []string{"a", "b", "c"}},
		{"two-step path is not presence", "text.`div`.exists()", modeAbsent, []string{"text", "div"}},
		{"dom-4 absent", "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()", modeAbsent,
			[]string{"contained", "meta", "versionId", "contained", "meta", "lastUpdated"}},
		{"dom-3 chain", "contained.where((('#'+id in %resource.descendants().reference) or descendants().where(reference = '#').exists()).not()).trace('unmatched', id).empty()", modeChain, []string{"contained"}},
		{"corrected dom-3 chain", "contained.where(((id.exists() and ('#'+id in %resource.descendants().reference)) or descendants().where(reference = '#').exists()).not()).trace('unmatched', id).empty()", modeChain, []string{"contained"}},
		{"chain needs an end", "contained.where(%resource.exists())", modeNone, nil},
		{"chain from the type is not a chain", "Patient.where(%resource.exists()).empty()", modeNone, nil},
		{"operator after chain", "contained.where(x).empty() or %resource.exists()", modeNone, nil},
		{"chain from a literal", "true.where(%resource.active).empty()", modeNone, nil},
		{"environment", "reference.startsWith('#').not() or (reference.substring(1) in %rootResource.contained.id)", modeNone, nil},
		{"focus functions", "hasValue() or (children().count() > id.count())", modeNone, nil},
		{"this", "$this.code.exists()", modeNone, nil},
		{"clock", "date <= today()", modeNone, nil},
		{"string literal names nothing", "system = 'http://x.org/code.exists()'", modeAbsent, []string{"system"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := analyzeAbsent(tt.expr)
			if got.mode != tt.mode {
				t.Fatalf("mode = %d, want %d", got.mode, tt.mode)
			}
			if tt.mode != modeNone && !slices.Equal(got.names, tt.names) {
				t.Errorf("names = %q, want %q", got.names, tt.names)
			}
		})
	}
}

// TestAnalyzeAbsentTooManyNames checks that an expression naming more
// names than a cache key has bits is never cached, because the 65th name
// would otherwise be present without changing the key.
func TestAnalyzeAbsentTooManyNames(t *testing.T) {
	names := make([]string, maxPlanNames+1)
	for i := range names {
		names[i] = fmt.Sprintf("n%d.empty()", i)
	}
	expr := strings.Join(names, " and ")
	if got := analyzeAbsent(expr); got.mode != modeNone {
		t.Fatalf("mode = %d with %d names, want modeNone", got.mode, len(got.names))
	}
	fits := strings.Join(names[:maxPlanNames], " and ")
	if got := analyzeAbsent(fits); got.mode == modeNone {
		t.Fatalf("mode = modeNone with %d names, want a cached shape", maxPlanNames)
	}
}

// TestShortcutsAgree validates examples with and without the shortcuts
// (cached invariant results, native invariant checks, the pre-screen of
// alternative profiles) and requires the same issues, so a shortcut that
// changes an outcome fails here.
func TestShortcutsAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("validates several hundred examples twice")
	}
	var r4Files []string
	r4 := filepath.Join(corpustest.Unpack(t, "fhir-r4-examples/hl7.fhir.r4.examples-4.0.1.tgz"), "package")
	all, _ := filepath.Glob(filepath.Join(r4, "*.json"))
	for _, f := range all {
		if !isConformanceFile(filepath.Base(f)) {
			r4Files = append(r4Files, f)
		}
	}
	if len(r4Files) < 500 {
		t.Fatalf("only %d R4 examples found", len(r4Files))
	}
	pas, _ := filepath.Glob(filepath.Join("..", "demo", "bundles", "pas-*.json"))
	if len(pas) == 0 {
		t.Fatal("no PAS Bundles found")
	}
	const request = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-pas-request-bundle"
	runs := []struct {
		name    string
		opts    Options
		files   []string
		profile []string
	}{
		{"r4", Options{AllowedExtensionDomains: exampleDomains, AllowedModifierDomains: exampleModifierDomains}, r4Files, nil},
		{"pas-2.0.1", Options{Context: []string{"hl7.fhir.us.davinci-pas#2.0.1"}}, pas, []string{request}},
		{"pas-2.2.1", Options{Context: []string{"hl7.fhir.us.davinci-pas#2.2.1"}}, pas, []string{request}},
	}
	for _, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			fast, err := New(run.opts)
			if err != nil {
				t.Fatal(err)
			}
			slow, err := New(run.opts)
			if err != nil {
				t.Fatal(err)
			}
			slow.noShortcuts = true
			for _, f := range run.files {
				body, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				compareShortcuts(t, fast, slow, filepath.Base(f), body, run.profile)
				// Renaming created breaks every Claim profile, so the
				// choice between them falls back to the fewest errors.
				if broken := bytes.Replace(body, []byte(`"created"`), []byte(`"createdAt"`), 1); !bytes.Equal(broken, body) {
					compareShortcuts(t, fast, slow, filepath.Base(f)+" without created", broken, run.profile)
				}
			}
		})
	}
}

// compareShortcuts validates one document with both validators; the fast
// one validates it twice, so that the second run uses the results cached
// by the first.
func compareShortcuts(t *testing.T, fast, slow *Validator, name string, body []byte, profiles []string) {
	t.Helper()
	if _, err := fast.Validate(body, profiles...); err != nil {
		t.Fatal(err)
	}
	got, err1 := fast.Validate(body, profiles...)
	want, err2 := slow.Validate(body, profiles...)
	if err1 != nil || err2 != nil {
		t.Fatalf("%s: %v, %v", name, err1, err2)
	}
	if !reflect.DeepEqual(got.Issues, want.Issues) {
		t.Errorf("%s: issues differ with shortcuts:\n got %v\nwant %v", name, got.Issues, want.Issues)
	}
}

// TestCachedInvariantAlternatingKeys validates Quantities that alternate
// between failing and satisfying qty-3 ("code.empty() or
// system.exists()"), so each lookup of the constraint's cached outcome
// has another key than the one before it.
func TestCachedInvariantAlternatingKeys(t *testing.T) {
	v, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	const withoutSystem = `{"resourceType":"Observation","status":"final","code":{"text":"weight"},` +
		`"valueQuantity":{"value":70,"code":"kg"}}`
	const withSystem = `{"resourceType":"Observation","status":"final","code":{"text":"weight"},` +
		`"valueQuantity":{"value":70,"code":"kg","system":"http://unitsofmeasure.org"}}`
	for round := range 3 {
		for _, doc := range []struct {
			body     string
			wantQty3 bool
		}{{withoutSystem, true}, {withSystem, false}} {
			res, err := v.Validate([]byte(doc.body))
			if err != nil {
				t.Fatal(err)
			}
			got := hasIssue(res, "error", "Observation.value.ofType(Quantity)", "qty-3")
			if got != doc.wantQty3 {
				t.Errorf("round %d, %s: qty-3 reported %v, want %v (issues %v)", round, doc.body, got, doc.wantQty3, res.Issues)
			}
		}
	}
}

// TestRef1ShortcutWithoutReference checks that ref-1's Go shortcut accepts
// a Reference with no reference child without FHIRPath. FHIRPath evaluates
// ref-1 to empty there, which counts as satisfied.
func TestRef1ShortcutWithoutReference(t *testing.T) {
	const ref1 = "reference.startsWith('#').not() or (reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))"
	satisfied := satisfiedShortcuts[ref1]
	if satisfied == nil {
		t.Fatal("ref-1 has no shortcut")
	}
	for _, tc := range []struct {
		json string
		want bool
	}{
		{`{"display":"Dr Adam Careful"}`, true},
		{`{"identifier":{"value":"12345"}}`, true},
		{`{"reference":"Practitioner/1"}`, true},
		{`{"reference":"#p1"}`, false},
		{`{"_reference":{"extension":[{"url":"http://x","valueString":"y"}]}}`, false},
	} {
		fp, err := fhirpath.ParseJSON([]byte(tc.json))
		if err != nil {
			t.Fatal(err)
		}
		if got := satisfied(fp); got != tc.want {
			t.Errorf("%s: shortcut = %v, want %v", tc.json, got, tc.want)
		}
	}
}

// TestAbsentKeyMemberBits checks that the present bits absentKeyFor reads
// from member indexes equal those found by comparing names, on every
// complex node of the PAS request Bundle. The plans name both the element
// name of a choice type ("value") and a JSON name ("valueQuantity").
func TestAbsentKeyMemberBits(t *testing.T) {
	_, root := decodedPASBundle(t)
	plans := []string{
		"code.empty() or system.exists()",
		"value.exists() or valueQuantity.empty() or extension.exists()",
		"identifier.exists() or name.exists() or resource.exists() or status.exists()",
	}
	indexed, withBits := 0, 0
	for _, src := range plans {
		c := &constraint{key: "test", expr: src}
		plan := c.absentPlan()
		if plan.mode != modePresence {
			t.Fatalf("%q: mode %d, want presence", src, plan.mode)
		}
		var walk func(n *fhirpath.Node)
		walk = func(n *fhirpath.Node) {
			if n.Type() != nil && n.Value() == nil {
				var want uint64
				for _, child := range n.Children() {
					want |= presentBits(plan, child.Name(), child.JSONName())
					if child.MemberIndex() >= 0 {
						indexed++
					}
				}
				key, ok := absentKeyFor(plan, c, n)
				if !ok {
					t.Errorf("%q on %s: not cacheable", src, n.Type().Name)
				} else if key.present != want {
					t.Errorf("%q on %s: present bits %b, want %b", src, n.Type().Name, key.present, want)
				}
				if want != 0 {
					withBits++
				}
			}
			for _, child := range n.Children() {
				walk(child)
			}
		}
		walk(root)
	}
	if indexed < 600 {
		t.Errorf("%d children with a member index, want at least 600", indexed)
	}
	if withBits < 50 {
		t.Errorf("%d nodes with a name present, want at least 50", withBits)
	}
}
