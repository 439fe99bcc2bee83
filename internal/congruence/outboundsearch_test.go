package congruence

import (
	"slices"
	"testing"
)

func TestCheckOutboundSearchRejected(t *testing.T) {
	c := mustChecker(t, demoPayer)
	tests := []struct{ name, typ, query string }{
		{"patient by server id", "Observation", "patient=Patient/123"},
		{"patient by bare id", "Observation", "patient=123"},
		{"subject typed", "Observation", "subject:Patient=123"},
		{"beneficiary by id chain", "Coverage", "beneficiary._id=1"},
		{"patient by name", "Patient", "name=Smith&birthdate=1970-01-01"},
		{"patient by id", "Patient", "_id=123"},
		{"patient unfiltered", "Patient", ""},
		{"patient only result parameters", "Patient", "_count=10"},
		{"patient identifier without system", "Patient", "identifier=M-1"},
		{"patient identifier without value", "Patient", "identifier=s%7C"},
		{"patient identifier narrowed by email", "Patient", "identifier=s%7Cm&email=a%40example.org"},
		{"patient link identifier", "Patient", "identifier=s%7Cm&link:identifier=s%7Cother"},
		{"patient reverse chain", "Patient", "identifier=s%7Cm&_has:Coverage:beneficiary:subscriber-id=M-1"},
		{"related person by name", "RelatedPerson", "name=Smith"},
		{"person by birth date", "Person", "birthdate=1970-01-01"},
		{"every type", "", "_lastUpdated=gt2024-01-01"},
		{"every type with person _type", "", "_type=Practitioner,Patient&name=Smith"},
		{"identifier modifier", "Patient", "identifier:of-type=s%7CMB%7Cm"},
		{"identifier not", "Observation", "patient:identifier:not=s%7Cm"},
		{"filter", "Observation", "_filter=patient%20eq%20x"},
		{"query", "Observation", "_query=everything"},
		{"bad escape", "Observation", "patient:identifier=%zz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, m := c.CheckOutboundSearch(demoOrg, tt.typ, tt.query, "the search")
			if m == nil {
				t.Fatalf("CheckOutboundSearch(%q, %q) passed, want a mismatch", tt.typ, tt.query)
			}
			if m.Rule != SearchRule {
				t.Errorf("rule = %q, want %s", m.Rule, SearchRule)
			}
		})
	}
}

func TestCheckOutboundSearchNames(t *testing.T) {
	c := mustChecker(t, demoPayer)
	member := Identifier{"s", "m"}
	tests := []struct {
		name, typ, query string
		// patients are the identifiers each named person carries, with
		// "" as system for a value of any system.
		patients [][]Identifier
		others   []Identifier
	}{
		{"practitioner by name", "Practitioner", "name=Jones", nil, nil},
		{"task by status", "Task", "status=requested&_count=10", nil, nil},
		{"every type, other types", "", "_type=Practitioner,Organization&name=Jones", nil, nil},
		{"patient by identifier", "Patient", "identifier=s%7Cm&_count=1", [][]Identifier{{member}}, nil},
		{"every type by identifier", "", "identifier=s%7Cm", [][]Identifier{{member}}, []Identifier{member}},
		{"two identifiers", "Patient", "identifier=s%7Cm,s%7Cm2", [][]Identifier{{member, {"s", "m2"}}}, nil},
		{"observation patient identifier", "Observation", "patient:identifier=s%7Cm&code=1234-5", [][]Identifier{{member}}, nil},
		{"chain through subject", "Observation", "subject.identifier=s%7Cm", [][]Identifier{{member}}, nil},
		{"coverage beneficiary", "Coverage", "beneficiary:identifier=s%7Cm", [][]Identifier{{member}}, nil},
		{"coverage subscriber-id", "Coverage", "subscriber-id=M-1", [][]Identifier{{{"", "M-1"}}}, nil},
		{"coverage own identifier", "Coverage", "identifier=s%7Cm", [][]Identifier{{member}}, []Identifier{member}},
		{"every type, Coverage by identifier", "", "_type=Coverage&identifier=s%7Cm", [][]Identifier{{member}}, []Identifier{member}},
		{"every type, Coverage without system", "", "_type=Coverage&identifier=M-1", [][]Identifier{{{"", "M-1"}}}, nil},
		{"task own identifier", "Task", "identifier=urn:example:task%7C42", nil, []Identifier{{"urn:example:task", "42"}}},
		{"claim provider", "Claim", "provider:identifier=" + NPISystem + "%7C1003000126", nil, []Identifier{{NPISystem, "1003000126"}}},
		{"task owner is the partner", "Task", "owner:identifier=" + NPISystem + "%7C" + demoOrg.Value, nil, nil},
		{"task requester is this payer", "Task", "requester:identifier=" + NPISystem + "%7C" + demoPayer.Value, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names, m := c.CheckOutboundSearch(demoOrg, tt.typ, tt.query, "the search")
			if m != nil {
				t.Fatalf("mismatch %s: %s", m.Rule, m.Reason)
			}
			var got [][]Identifier
			for _, p := range names.Patients {
				if !p.Conditional {
					t.Errorf("%s is not marked Conditional", p.Path)
				}
				ids := slices.Clone(p.Identifiers)
				for _, v := range p.AnySystem {
					ids = append(ids, Identifier{Value: v})
				}
				got = append(got, ids)
			}
			if !slices.EqualFunc(got, tt.patients, slices.Equal) {
				t.Errorf("patients = %v, want %v", got, tt.patients)
			}
			var others []Identifier
			for _, o := range names.Others {
				others = append(others, o.Identifier)
			}
			if !slices.Equal(others, tt.others) {
				t.Errorf("others = %v, want %v", others, tt.others)
			}
		})
	}
}

// A reverse chain names the person whose resource it reaches, so on a type
// that is not a person's its identifier must be linked.
func TestCheckOutboundSearchReverseChainNamesPerson(t *testing.T) {
	c := mustChecker(t, demoPayer)
	names, m := c.CheckOutboundSearch(demoOrg, "Observation", "_has:Coverage:beneficiary:subscriber-id=M-1", "the search")
	if m != nil {
		t.Fatalf("mismatch %s: %s", m.Rule, m.Reason)
	}
	if len(names.Patients) != 1 || !slices.Equal(names.Patients[0].AnySystem, []string{"M-1"}) {
		t.Errorf("patients = %+v, want one with any-system value M-1", names.Patients)
	}
}

// A reason quotes a parameter name only when it is a plain search
// parameter name, because the name is part of the query.
func TestCheckOutboundSearchReasonOmitsOddNames(t *testing.T) {
	c := mustChecker(t, demoPayer)
	_, m := c.CheckOutboundSearch(demoOrg, "Patient", "identifier=s%7Cm&Jane%20Doe=1", "the search")
	if m == nil {
		t.Fatal("a Patient search by an unknown parameter passed")
	}
	if want := "the search parameter 2 is not"; len(m.Reason) < len(want) || m.Reason[:len(want)] != want {
		t.Errorf("reason = %q, want it to start with %q", m.Reason, want)
	}
}
