package validate

import (
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
)

// TestModelMatchesMatchName checks the matches by member index of core
// definitions and their backbone elements: for every JSON name of the
// model type, the slice must give the child and type that matchChild
// finds by name.
func TestModelMatchesMatchName(t *testing.T) {
	v, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	model := fhirmodel.R4()
	checked := 0
	var walk func(c *elemDef)
	walk = func(c *elemDef) {
		typ := model.Type(c.path)
		if typ != nil && len(c.children) > 0 {
			m := c.modelMatches(typ)
			if m == nil {
				t.Fatalf("%s: no matches for model type %s", c.id, typ.Name)
			}
			for i := range typ.MemberCount() {
				name := typ.MemberName(i)
				wantIndex, wantType := matchChild(c, name)
				gotIndex, gotType := m.match(c, jprop{name: name, member: int32(i) + 1}, name)
				if gotIndex != wantIndex || gotType != wantType {
					t.Errorf("%s: member %q: slice has %d %q, matchChild finds %d %q", c.id, name, gotIndex, gotType, wantIndex, wantType)
				}
				checked++
			}
		}
		for _, d := range c.children {
			walk(d)
		}
	}
	for _, name := range []string{"Patient", "Observation", "Claim", "Bundle", "Questionnaire", "Extension", "Timing", "HumanName"} {
		s, err := v.typeStructure(name)
		if err != nil || s == nil {
			t.Fatalf("core definition of %s: %v", name, err)
		}
		walk(s.root)
	}
	if checked < 500 {
		t.Errorf("checked %d member names, want at least 500", checked)
	}
}

// TestModelMatchesOtherType checks that a definition's matches serve only
// the model type they were made for.
func TestModelMatchesOtherType(t *testing.T) {
	v, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.typeStructure("Patient")
	if err != nil || s == nil {
		t.Fatalf("core definition of Patient: %v", err)
	}
	model := fhirmodel.R4()
	if m := s.root.modelMatches(model.Type("Patient")); m == nil {
		t.Fatal("no matches for Patient")
	}
	if m := s.root.modelMatches(model.Type("Person")); m != nil {
		t.Error("Patient's definition gave matches for Person")
	}
	if m := s.root.modelMatches(nil); m != nil {
		t.Error("a nil model type gave matches")
	}
}

// TestRecordedMembersName checks what the FHIRPath tree builder records
// in the validator's tree for the PAS request Bundle: each recorded index
// must name the member it is recorded for, and the objects of the Bundle,
// its entries' resources and their nested data types must be recorded.
func TestRecordedMembersName(t *testing.T) {
	tree, _ := decodedPASBundle(t)

	recorded, objects := 0, 0
	var walk func(n *jnode)
	walk = func(n *jnode) {
		if n.kind == kindObject {
			objects++
		}
		for _, p := range n.props {
			if p.member == 0 {
				if p.name != "resourceType" {
					t.Errorf("member %q is not recorded", p.name)
				}
			} else {
				recorded++
				name := strings.TrimPrefix(p.name, "_")
				if got := n.modelType.MemberName(int(p.member - 1)); got != name {
					t.Errorf("member %q of %s is recorded as %q", p.name, n.modelType.Name, got)
				}
			}
			walk(p.val)
		}
		for _, item := range n.items {
			walk(item)
		}
	}
	walk(tree)
	if objects < 50 || recorded < 200 {
		t.Errorf("%d objects with %d recorded members, want at least 50 and 200", objects, recorded)
	}
}

// TestRecordMemberOtherType checks that recording a member under a new
// type clears the indexes recorded under the type before.
func TestRecordMemberOtherType(t *testing.T) {
	model := fhirmodel.R4()
	patient, person := model.Type("Patient"), model.Type("Person")
	n := &jnode{kind: kindObject, props: []jprop{{name: "gender"}, {name: "active"}}}
	_, _, gender := patient.MemberIndex("gender")
	n.RecordMember(0, patient, gender)
	_, _, active := person.MemberIndex("active")
	n.RecordMember(1, person, active)

	if n.modelType != person {
		t.Errorf("model type is %v, want Person", n.modelType.Name)
	}
	if n.props[0].member != 0 {
		t.Errorf("gender keeps index %d recorded under Patient", n.props[0].member)
	}
	if n.props[1].member != int32(active)+1 {
		t.Errorf("active has index %d, want %d", n.props[1].member, active+1)
	}
}

// TestValidateUsesModelMatches checks that validating a Patient reads its
// members through the matches by member index of Patient's definition.
func TestValidateUsesModelMatches(t *testing.T) {
	v, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"resourceType":"Patient","active":true,"gender":"female","name":[{"family":"Chalmers"}]}`)
	if _, err := v.Validate(body); err != nil {
		t.Fatal(err)
	}
	s, err := v.typeStructure("Patient")
	if err != nil || s == nil {
		t.Fatalf("core definition of Patient: %v", err)
	}
	m := s.root.modelIndex.Load()
	if m == nil {
		t.Fatal("Patient's definition has no matches after Validate")
	}
	if m.typ != fhirmodel.R4().Type("Patient") {
		t.Errorf("matches are for %s, want Patient", m.typ.Name)
	}
}

// BenchmarkMemberMatch times matching the members of a Patient to the
// children of its definition, by name (matchChild) and by the index the
// FHIRPath tree builder records (modelMatches).
func BenchmarkMemberMatch(b *testing.B) {
	v, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	s, err := v.typeStructure("Patient")
	if err != nil || s == nil {
		b.Fatalf("core definition of Patient: %v", err)
	}
	typ := fhirmodel.R4().Type("Patient")
	var props []jprop
	for _, name := range []string{"id", "meta", "text", "identifier", "active", "name", "telecom", "gender", "birthDate", "address"} {
		_, _, index := typ.MemberIndex(name)
		props = append(props, jprop{name: name, member: int32(index) + 1})
	}
	b.Run("name", func(b *testing.B) {
		for b.Loop() {
			for _, p := range props {
				matchChild(s.root, p.name)
			}
		}
	})
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			m := s.root.modelMatches(typ)
			for _, p := range props {
				m.match(s.root, p, p.name)
			}
		}
	})
}

// decodedPASBundle parses the shipped PAS request Bundle into the
// validator's tree and builds the FHIRPath tree from it, which records
// member indexes in the validator's tree.
func decodedPASBundle(t *testing.T) (*jnode, *fhirpath.Node) {
	t.Helper()
	body, err := os.ReadFile("../demo/bundles/pas-2.2.1-ReferralAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	tree, err := parseTree(body, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	root, err := fhirpath.ParseDecoded(tree, body)
	if err != nil {
		t.Fatal(err)
	}
	return tree, root
}
