package validate

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

func TestFormatMessageMatchesSprintf(t *testing.T) {
	cases := []struct {
		format string
		args   []any
	}{
		{"no verbs", nil},
		{"100%% sure", nil},
		{"100%% of %s", []any{"them"}},
		{"%s: %s (from %s)", []any{"dom-6", "A resource should have narrative", "http://hl7.org/fhir/StructureDefinition/Basic|4.0.1"}},
		{"minimum required = %d, but only %d found (from %s)", []any{1, 0, "url"}},
		{"negative %d and 100%% of %s", []any{-42, ""}},
		{"%q repeats", []any{"name"}},
		{"%s and %v", []any{"a", "b"}},
		{"not evaluated: %v", []any{errors.New("boom")}},
		{"%s is %d", []any{7, "x"}},
		{"%d items", []any{int64(3)}},
		{"missing %s and %s", []any{"one"}},
		{"extra %s", []any{"one", "two"}},
		{"trailing %", []any{"x"}},
		{"%5d wide", []any{3}},
		{"%s", []any{"\xff not UTF-8"}},
	}
	for _, c := range cases {
		// A message without arguments is its format, as add always had it.
		want := c.format
		if len(c.args) > 0 {
			want = fmt.Sprintf(c.format, c.args...)
		}
		if got := formatMessage(c.format, c.args); got != want {
			t.Errorf("formatMessage(%q, %v) = %q, want %q", c.format, c.args, got, want)
		}
	}
}

func TestFormatMessageSkipsSprintf(t *testing.T) {
	calls := 0
	saved := sprintf
	sprintf = func(format string, args ...any) string {
		calls++
		return fmt.Sprintf(format, args...)
	}
	defer func() { sprintf = saved }()

	formatMessage("%s: %s (from %s)", []any{"dom-6", "text", "url"})
	formatMessage("minimum required = %d, but only %d found (from %s)", []any{1, 0, "url"})
	if calls != 0 {
		t.Errorf("Sprintf called %d times for %%s and %%d verbs, want 0", calls)
	}

	formatMessage("%q repeats", []any{"name"})
	if calls != 1 {
		t.Errorf("Sprintf called %d times for a %%q verb, want 1", calls)
	}
}

func TestStructureLabelCached(t *testing.T) {
	v, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.typeStructure("Patient")
	if err != nil || s == nil {
		t.Fatalf("typeStructure(Patient) = %v, %v", s, err)
	}
	const want = "http://hl7.org/fhir/StructureDefinition/Patient|4.0.1"
	if got := s.label(); got != want {
		t.Errorf("label() = %q, want %q", got, want)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = s.label() }); allocs != 0 {
		t.Errorf("label() allocates %v times, want 0", allocs)
	}
}

func TestClonePairCopies(t *testing.T) {
	doc := []byte(`{"resourceType":"Patient","id":"p1"}`)
	src := string(doc)
	rt, id := src[17:24], src[32:34]
	cases := []struct{ a, b string }{{rt, id}, {rt, ""}, {"", id}, {"", ""}}
	for _, c := range cases {
		gotA, gotB := clonePair(c.a, c.b)
		if gotA != c.a || gotB != c.b {
			t.Errorf("clonePair(%q, %q) = %q, %q", c.a, c.b, gotA, gotB)
		}
		if sharesMemory(gotA, src) || sharesMemory(gotB, src) {
			t.Errorf("clonePair(%q, %q) returned a string inside the document", c.a, c.b)
		}
	}
}

// sharesMemory reports whether s points into doc.
func sharesMemory(s, doc string) bool {
	if s == "" || doc == "" {
		return false
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	start := uintptr(unsafe.Pointer(unsafe.StringData(doc)))
	return p >= start && p < start+uintptr(len(doc))
}

// A Patient without narrative gets one issue, dom-6. Its allocations are
// the result, its strings, the document's copy and the issue: the issue
// list, its message and its location.
func TestInvariantIssueAllocations(t *testing.T) {
	v, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"resourceType":"Patient","id":"p1","active":true}`)
	res, err := v.Validate(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Issues) != 1 || !strings.HasPrefix(res.Issues[0].Diagnostics, "dom-6: ") {
		t.Fatalf("issues = %+v, want dom-6 alone", res.Issues)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := v.Validate(body); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 6 {
		t.Errorf("Validate allocates %v times, want at most 6", allocs)
	}
}
