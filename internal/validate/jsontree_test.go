package validate

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/fhirjson"
)

// TestParseTreeIntakeErrors checks that the one-pass parser rejects what
// the strict intake rejects, with the intake's own error.
func TestParseTreeIntakeErrors(t *testing.T) {
	lim := Limits{MaxBytes: 200, MaxDepth: 4, MaxStringLength: 10}.withDefaults()
	tests := []struct{ name, doc string }{
		{"too deep", `{"a":{"b":{"c":{"d":{"e":1}}}}}`},
		{"too deep in arrays", `{"a":[[[[1]]]]}`},
		{"long string", `{"a":"01234567890"}`},
		{"long name", `{"01234567890":1}`},
		{"too large", `{"a":"` + strings.Repeat("x", 5) + `","b":[` + strings.Repeat("1,", 100) + `1]}`},
		{"duplicate name", `{"a":1,"a":2}`},
		{"invalid UTF-8", "{\"a\":\"\xff\"}"},
		{"lone surrogate", `{"a":"\ud800"}`},
		{"array at top", `[1]`},
		{"trailing data", `{} {}`},
		{"truncated", `{"a":`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := fhirjson.CheckObject([]byte(tt.doc), intakeLimits(lim))
			if want == nil {
				t.Fatal("the intake accepts the document")
			}
			_, err := parseTree([]byte(tt.doc), lim)
			if err == nil || err.Error() != want.Error() {
				t.Errorf("parseTree error = %v, want %v", err, want)
			}
		})
	}
}

func TestParseTreeAcceptsAtLimits(t *testing.T) {
	lim := Limits{MaxDepth: 4, MaxStringLength: 10}.withDefaults()
	doc := `{"a":{"b":{"c":["0123456789"]}}}`
	if err := fhirjson.CheckObject([]byte(doc), intakeLimits(lim)); err != nil {
		t.Fatalf("intake rejects the document: %v", err)
	}
	root, err := parseTree([]byte(doc), lim)
	if err != nil {
		t.Fatal(err)
	}
	if got := root.prop("a").prop("b").prop("c").items[0].text; got != "0123456789" {
		t.Errorf("innermost value = %q", got)
	}
}

// TestParseTreeLeavesDocument checks that reading a document in place
// does not change it: the gateway forwards the bytes it validated.
func TestParseTreeLeavesDocument(t *testing.T) {
	doc := []byte(`{"resourceType":"Patient","name":[{"family":"O\u0027Brien \"x\"","given":["A","B"]}],"active":true,"multipleBirthInteger":2}`)
	orig := bytes.Clone(doc)
	root, err := parseTree(doc, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(doc, orig) {
		t.Errorf("document changed to %s", doc)
	}
	if got := root.prop("name").items[0].str("family"); got != `O'Brien "x"` {
		t.Errorf("family = %q", got)
	}
}

// TestParseTreeArenaReuse parses, in one arena as a pooled run does,
// documents the intake rejects between valid ones. The reused decoder and
// stacks must carry nothing over: each rejected document gets the
// intake's error, and each valid one after it reads as it does alone,
// with no member taken for a duplicate of the document before.
func TestParseTreeArenaReuse(t *testing.T) {
	lim := Limits{MaxBytes: 200, MaxDepth: 4, MaxStringLength: 10}.withDefaults()
	valid := `{"a":{"b":[1,{"a":"x"}]},"c":"y"}`
	var arena treeArena
	for _, bad := range []string{
		`{"a":{"b":[1,{"a":"x","a":2}]}}`,
		`{"a":{"b":{"c":{"d":{"e":1}}}}}`,
		`{"a":[1,2,{"c":"01234567890"}]}`,
		`{"a":{"b":`,
	} {
		want := fhirjson.CheckObject([]byte(bad), intakeLimits(lim))
		if want == nil {
			t.Fatalf("the intake accepts %s", bad)
		}
		arena.reset()
		if _, err := parseTreeIn([]byte(bad), lim, &arena); err == nil || err.Error() != want.Error() {
			t.Errorf("%s: error = %v, want %v", bad, err, want)
		}
		arena.reset()
		root, err := parseTreeIn([]byte(valid), lim, &arena)
		if err != nil {
			t.Fatalf("valid document after %s: %v", bad, err)
		}
		if got := root.prop("a").prop("b").items[1].str("a"); got != "x" {
			t.Errorf("after %s: a.b[1].a = %q, want %q", bad, got, "x")
		}
		if got := root.str("c"); got != "y" || len(root.props) != 2 {
			t.Errorf("after %s: c = %q with %d members, want %q with 2", bad, got, len(root.props), "y")
		}
	}
}
