package fhirmodel

import "testing"

func TestR4Lookups(t *testing.T) {
	m := R4()

	patient := m.Type("Patient")
	if patient == nil {
		t.Fatal("Patient not found")
	}
	if patient.Kind != KindResource || !patient.IsA("DomainResource") || !patient.IsA("Resource") {
		t.Errorf("Patient: kind %v, want a resource derived from DomainResource", patient.Kind)
	}
	if e := patient.Element("name"); e == nil || e.Types[0] != "HumanName" || !e.Repeats() {
		t.Errorf("Patient.name = %+v, want repeating HumanName", e)
	}
	if e := patient.Element("id"); e == nil || e.Types[0] != "id" {
		t.Errorf("Patient.id = %+v, want type id", e)
	}
	if e := patient.Element("contact"); e == nil || e.Types[0] != "Patient.contact" {
		t.Errorf("Patient.contact = %+v, want backbone type Patient.contact", e)
	}
}

func TestR4ChoiceElement(t *testing.T) {
	obs := R4().Type("Observation")
	e, typ, ok := obs.ChoiceElement("valueQuantity")
	if !ok || e.Name != "value" || typ != "Quantity" {
		t.Errorf("valueQuantity = %v %q %v, want value Quantity", e, typ, ok)
	}
	if _, _, ok := obs.ChoiceElement("valueFoo"); ok {
		t.Error("valueFoo resolved, want no match")
	}
}

func TestR4Primitives(t *testing.T) {
	m := R4()
	for name, want := range map[string]string{
		"positiveInt": "Integer", "code": "String", "instant": "DateTime",
		"decimal": "Decimal", "boolean": "Boolean", "time": "Time", "xhtml": "String",
	} {
		typ := m.Type(name)
		if typ == nil || typ.Kind != KindPrimitive || typ.System != want {
			t.Errorf("%s = %+v, want primitive with system type %s", name, typ, want)
		}
	}
	if !m.Type("code").IsA("string") || m.Type("code").IsA("id") {
		t.Error("code should derive from string and not from id")
	}
	if !m.Type("Age").IsA("Quantity") {
		t.Error("Age should derive from Quantity")
	}
}

func TestR4ContentReference(t *testing.T) {
	item := R4().Type("Questionnaire.item")
	if item == nil || item.Kind != KindBackbone || item.Base != "BackboneElement" {
		t.Fatalf("Questionnaire.item = %+v", item)
	}
	if e := item.Element("item"); e == nil || e.Types[0] != "Questionnaire.item" {
		t.Errorf("Questionnaire.item.item = %+v, want a reference to Questionnaire.item", e)
	}
}

func TestR4Member(t *testing.T) {
	obs := R4().Type("Observation")
	tests := []struct {
		jsonName, name, typ string
		ok                  bool
	}{
		{"status", "status", "code", true},
		{"valueQuantity", "value", "Quantity", true},
		{"component", "component", "Observation.component", true},
		{"value", "", "", false}, // a choice element appears only as its variants
		{"valueFoo", "", "", false},
	}
	for _, tc := range tests {
		name, typ, ok := obs.Member(tc.jsonName)
		if ok != tc.ok || name != tc.name {
			t.Errorf("Member(%q) = %q, %v; want %q, %v", tc.jsonName, name, ok, tc.name, tc.ok)
		}
		if tc.ok && (typ == nil || typ.Name != tc.typ) {
			t.Errorf("Member(%q) type = %+v, want %s", tc.jsonName, typ, tc.typ)
		}
	}
}

// TestMemberAgreesWithElementLookups checks Member against Element,
// ChoiceElement and Model.Type for every element and choice variant of
// every R4 type.
func TestMemberAgreesWithElementLookups(t *testing.T) {
	m := R4()
	checked := 0
	for _, typeName := range m.Names() {
		typ := m.Type(typeName)
		var names []string
		for _, e := range typ.Elements {
			names = append(names, e.Name)
			if e.Choice {
				for _, variant := range e.Types {
					names = append(names, e.Name+upperFirst(variant))
				}
			}
		}
		for _, jsonName := range names {
			wantName, wantType, wantOK := "", (*Type)(nil), false
			if e := typ.Element(jsonName); e != nil && !e.Choice {
				wantName, wantType, wantOK = jsonName, m.Type(e.Types[0]), true
			} else if e, variant, ok := typ.ChoiceElement(jsonName); ok {
				wantName, wantType, wantOK = e.Name, m.Type(variant), true
			}
			name, got, ok := typ.Member(jsonName)
			if name != wantName || got != wantType || ok != wantOK {
				t.Fatalf("%s.Member(%q) = %q, %v, %v; want %q, %v, %v", typeName, jsonName, name, got, ok, wantName, wantType, wantOK)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no elements checked")
	}
}

// TestMemberIndex checks that MemberIndex numbers every JSON name Member
// resolves, with the same element and type, and that MemberName returns
// the name back.
func TestMemberIndex(t *testing.T) {
	m := R4()
	for _, typeName := range []string{"Patient", "Observation", "Extension", "Patient.contact", "string"} {
		typ := m.Type(typeName)
		if typ == nil {
			t.Fatalf("type %s not found", typeName)
		}
		seen := make([]bool, typ.MemberCount())
		for jsonName, want := range typ.members {
			name, memberType, index := typ.MemberIndex(jsonName)
			if name != want.name || memberType != want.typ {
				t.Errorf("%s.%s: MemberIndex gives %q %v, Member %q %v", typeName, jsonName, name, memberType, want.name, want.typ)
			}
			if index < 0 || index >= len(seen) {
				t.Errorf("%s.%s: index %d outside 0 to %d", typeName, jsonName, index, len(seen)-1)
				continue
			}
			if seen[index] {
				t.Errorf("%s.%s: index %d given twice", typeName, jsonName, index)
			}
			seen[index] = true
			if got := typ.MemberName(index); got != jsonName {
				t.Errorf("%s: MemberName(%d) is %q, want %q", typeName, index, got, jsonName)
			}
		}
		if _, _, index := typ.MemberIndex("noSuchMember"); index != -1 {
			t.Errorf("%s: unknown member has index %d, want -1", typeName, index)
		}
	}
	if n := m.Type("Observation").MemberCount(); n < 20 {
		t.Errorf("Observation has %d member names, want at least 20", n)
	}
}
