package validate

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
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
		{"chain needs an end", "contained.where(%resource.exists())", modeNone, nil},
		{"chain from the type is not a chain", "Patient.where(%resource.exists()).empty()", modeNone, nil},
		{"operator after chain", "contained.where(x).empty() or %resource.exists()", modeNone, nil},
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

// TestInvariantShortcutsAgree validates examples with and without the
// cached invariant results and requires the same issues, so a shortcut
// that changes an outcome fails here.
func TestInvariantShortcutsAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("validates several hundred examples twice")
	}
	fast, err := New(Options{AllowedExtensionDomains: exampleDomains})
	if err != nil {
		t.Fatal(err)
	}
	slow, err := New(Options{AllowedExtensionDomains: exampleDomains})
	if err != nil {
		t.Fatal(err)
	}
	slow.noShortcuts = true
	var files []string
	r4 := filepath.Join(corpustest.Unpack(t, "fhir-r4-examples/hl7.fhir.r4.examples-4.0.1.tgz"), "package")
	all, _ := filepath.Glob(filepath.Join(r4, "*.json"))
	for _, f := range all {
		if !isConformanceFile(filepath.Base(f)) {
			files = append(files, f)
		}
	}
	pas, _ := filepath.Glob(filepath.Join("..", "demo", "bundles", "*.json"))
	files = append(files, pas...)
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Validate twice with the fast validator, so the second run uses
		// the results cached by the first.
		fast.Validate(body)
		got, err1 := fast.Validate(body)
		want, err2 := slow.Validate(body)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v, %v", filepath.Base(f), err1, err2)
		}
		if !reflect.DeepEqual(got.Issues, want.Issues) {
			t.Errorf("%s: issues differ with shortcuts:\n got %v\nwant %v", filepath.Base(f), got.Issues, want.Issues)
		}
	}
	if len(files) < 500 {
		t.Fatalf("only %d examples found", len(files))
	}
}
