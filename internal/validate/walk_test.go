package validate

import "testing"

// TestMemberIndexMatchesScan checks the member name index of every
// element of some core resources and data types and of PAS 2.2.1
// profiles. For each child's name, each choice type's name and names that
// match no child, the index must give the child and type that comparing
// the name with each child finds.
func TestMemberIndexMatchesScan(t *testing.T) {
	v, err := New(Options{Context: []string{"hl7.fhir.us.davinci-pas#2.2.1"}})
	if err != nil {
		t.Fatal(err)
	}
	var roots []*structure
	for _, typ := range []string{"Bundle", "Claim", "ClaimResponse", "Patient", "Coverage", "Organization", "Practitioner",
		"Observation", "Questionnaire", "QuestionnaireResponse", "Extension", "Timing", "Dosage", "ElementDefinition"} {
		s, err := v.typeStructure(typ)
		if err != nil || s == nil {
			t.Fatalf("core definition of %s: %v", typ, err)
		}
		roots = append(roots, s)
	}

	const pas = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
	for _, name := range []string{"profile-pas-request-bundle", "profile-claim", "profile-beneficiary", "profile-claimresponse"} {
		s, err := v.structureAt(pas+name, nil)
		if err != nil || s == nil {
			t.Fatalf("PAS profile %s: %v", name, err)
		}
		roots = append(roots, s)
	}

	seen := map[*elemDef]bool{}
	checked := 0
	var walk func(c *elemDef)
	walk = func(c *elemDef) {
		if c == nil || seen[c] {
			return
		}
		seen[c] = true
		names := []string{"", "unknown", "resourceType"}
		for _, d := range c.children {
			names = append(names, d.name, d.name+"X", "_"+d.name)
			for _, typ := range d.types {
				if typ.code != "" {
					names = append(names, d.name+choiceSuffix(typ.code), d.name+typ.code)
				}
			}
		}
		for _, name := range names {
			wantIndex, wantType := scanChildren(c, name)
			got, found := c.memberNames()[name]
			if !found {
				got = childMatch{index: -1}
			}
			if got.index != wantIndex || got.typ != wantType {
				t.Errorf("%s: member %q: index has %d %q, scan finds %d %q", c.id, name, got.index, got.typ, wantIndex, wantType)
			}
			checked++
		}
		for _, d := range c.children {
			walk(d)
		}
	}

	for _, s := range roots {
		walk(s.root)
	}
	if checked < 1000 {
		t.Errorf("checked %d member names, want at least 1000", checked)
	}
}

// TestIssuesInDefinitionOrder validates an Observation whose members come
// in reverse definition order, with required elements missing between
// them. The walk must report the errors of missing and present elements
// in definition order, as for the same members in definition order.
func TestIssuesInDefinitionOrder(t *testing.T) {
	v, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	const reversed = `{"resourceType":"Observation","component":[{"valueString":"x"}],` +
		`"subject":{"reference":"Patient/1"},"identifier":[{"unknown":"a"}]}`
	const ordered = `{"resourceType":"Observation","identifier":[{"unknown":"a"}],` +
		`"subject":{"reference":"Patient/1"},"component":[{"valueString":"x"}]}`
	want := []string{"Observation.identifier[0].unknown", "Observation.status", "Observation.code", "Observation.component[0].code"}

	for _, doc := range []string{reversed, ordered} {
		res, err := v.Validate([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, is := range res.Issues {
			if is.Severity == "error" {
				got = append(got, is.Expression...)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%s: errors at %v, want %v (issues %v)", doc, got, want, res.Issues)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: error %d at %s, want %s", doc, i, got[i], want[i])
			}
		}
	}
}

// TestNativeConstraintsNotCompiled checks that compiled core definitions
// keep only the constraints FHIRPath evaluates. ele-1, ext-1, txt-1 and
// txt-2 are checked in Go, and every element carries ele-1, so the walk
// would otherwise load a constraint it skips on every value.
func TestNativeConstraintsNotCompiled(t *testing.T) {
	v, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	compiled := 0
	for _, typ := range []string{"Patient", "Observation", "Extension", "Narrative", "HumanName"} {
		s, err := v.typeStructure(typ)
		if err != nil || s == nil {
			t.Fatalf("core definition of %s: %v", typ, err)
		}
		for _, d := range s.byID {
			for _, c := range d.constraints {
				if nativeConstraints[c.key] {
					t.Errorf("%s: constraint %s is checked in Go but was compiled", d.id, c.key)
				}
				if c.expr == "" {
					t.Errorf("%s: constraint %s has no expression but was compiled", d.id, c.key)
				}
				compiled++
			}
		}
	}
	if compiled == 0 {
		t.Error("no constraint compiled, want the FHIRPath invariants such as pat-1 and obs-6")
	}
}
