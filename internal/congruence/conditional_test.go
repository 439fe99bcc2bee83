package congruence

import (
	"slices"
	"testing"
)

func TestConditionalIdentifiers(t *testing.T) {
	tests := []struct {
		name, typ, query string
		want             []CriteriaIdentifier
	}{
		{"own identifier", "Patient", "identifier=s|v",
			[]CriteriaIdentifier{{Identifier{"s", "v"}, true, false}}},
		{"any system and escapes", "Patient", `identifier=a\|b|v\,1,v2&birthdate=1970-01-01`,
			[]CriteriaIdentifier{{Identifier{"a|b", "v,1"}, true, false}, {Identifier{"", "v2"}, true, true}}},
		{"Coverage identifier", "Coverage", "identifier=s|c1",
			[]CriteriaIdentifier{{Identifier{"s", "c1"}, true, true}}},
		{"HRex subscriber-id", "Coverage", "subscriber-id=M-1",
			[]CriteriaIdentifier{{Identifier{"", "M-1"}, false, true}}},
		{"subscriber-id with system", "Coverage", "subscriber-id=s%7CM-1",
			[]CriteriaIdentifier{{Identifier{"s", "M-1"}, false, true}}},
		{"reference with identifier modifier", "Coverage", "beneficiary:identifier=s|m",
			[]CriteriaIdentifier{{Identifier{"s", "m"}, false, false}}},
		{"chain", "ExplanationOfBenefit", "patient.identifier=s|m&coverage.subscriber-id=M-2",
			[]CriteriaIdentifier{{Identifier{"s", "m"}, false, false}, {Identifier{"", "M-2"}, false, true}}},
		{"typed chain", "Observation", "subject:Patient.identifier=s|m",
			[]CriteriaIdentifier{{Identifier{"s", "m"}, false, false}}},
		{"reverse chain", "Patient", "_has:Coverage:beneficiary:subscriber-id=M-3",
			[]CriteriaIdentifier{{Identifier{"", "M-3"}, false, true}}},
		{"nested reverse chain", "Patient", "_has:Coverage:beneficiary:_has:Claim:insurance:identifier=s|c",
			[]CriteriaIdentifier{{Identifier{"s", "c"}, false, false}}},
		{"percent-coded name", "Coverage", "subscriber%2Did=M-4",
			[]CriteriaIdentifier{{Identifier{"", "M-4"}, false, true}}},
		{"other parameters", "Patient", "family=Other&general-practitioner=Practitioner/1", nil},
		{"percent-coded number sign", "Patient", "identifier=s|v%23",
			[]CriteriaIdentifier{{Identifier{"s", "v#"}, true, false}}},
		{"upper case identifier", "Patient", "IDENTIFIER=s|v",
			[]CriteriaIdentifier{{Identifier{"s", "v"}, true, false}}},
		{"mixed case subscriber-id", "Coverage", "Subscriber-ID=M-5",
			[]CriteriaIdentifier{{Identifier{"", "M-5"}, false, true}}},
		{"upper case modifier", "Coverage", "beneficiary:IDENTIFIER=s|m",
			[]CriteriaIdentifier{{Identifier{"s", "m"}, false, false}}},
		{"upper case reverse chain", "Patient", "_HAS:Coverage:beneficiary:subscriber-id=M-6",
			[]CriteriaIdentifier{{Identifier{"", "M-6"}, false, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConditionalIdentifiers(tt.typ, tt.query)
			if err != nil {
				t.Fatalf("ConditionalIdentifiers(%q) failed: %v", tt.query, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ConditionalIdentifiers(%q) = %+v, want %+v", tt.query, got, tt.want)
			}
		})
	}
}

// Criteria whose member identifiers the gateway cannot determine are an
// error, so that the caller rejects them.
func TestConditionalIdentifiersUnreadable(t *testing.T) {
	for _, query := range []string{
		"identifier=%zz",
		"identifier:of-type=s|MB|v",
		"identifier:not=s|v",
		"identifier=a|b|c",
		"subscriber-id:text=M",
		"beneficiary.identifier:text=M",
		"beneficiary:identifier:text=M",
		"_has:Coverage:beneficiary:subscriber-id:not=M",
		"_has:Coverage=M",
		"_filter=identifier eq M",
		"_FILTER=identifier eq M",
		"IDENTIFIER:not=s|v",
		"_query=by-member&member=M",
		"%zz=v",
		"_id=victim#&identifier=s|v",
		"identifier=s|v#",
	} {
		if got, err := ConditionalIdentifiers("Patient", query); err == nil {
			t.Errorf("ConditionalIdentifiers(%q) = %+v, want an error", query, got)
		}
	}
}
