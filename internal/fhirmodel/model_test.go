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
