package congruence

import (
	"slices"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

var (
	memberA = Identifier{System: "urn:oid:2.16.840.1.113883.3.9999", Value: "member-a"}
	memberB = Identifier{System: "urn:oid:2.16.840.1.113883.3.9999", Value: "member-b"}
)

func memberRef(id Identifier) string {
	return `{"identifier":{"system":"` + id.System + `","value":"` + id.Value + `"}}`
}

func patientResource(id string, ids ...Identifier) string {
	s := `{"resourceType":"Patient","id":"` + id + `","identifier":[`
	for i, m := range ids {
		if i > 0 {
			s += ","
		}
		s += `{"system":"` + m.System + `","value":"` + m.Value + `"}`
	}
	return s + `]}`
}

func TestCheckOutboundPatients(t *testing.T) {
	c := mustChecker(t, demoPayer)
	payer := `,"insurer":` + npiRef(demoPayer.Value)
	const crURN, patURN = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
	tests := []struct {
		name string
		body string
		want []NamedPatient
		rule string
		path string
	}{
		{"ClaimResponse by identifier", claimResponse(payer + `,"patient":` + memberRef(memberA)),
			[]NamedPatient{{"ClaimResponse.patient", []Identifier{memberA}, nil, false}}, "", ""},
		{"ClaimResponse without patient", claimResponse(payer), nil, "", ""},
		{"ClaimResponse on the partner's server", claimResponse(payer + `,"patient":{"reference":"Patient/123"}`),
			nil, patientRule, "ClaimResponse.patient"},
		{"identifier without value", claimResponse(payer + `,"patient":{"identifier":{"system":"urn:s"}}`),
			nil, patientRule, "ClaimResponse.patient"},
		{"contained Patient", claimResponse(payer + `,"patient":{"reference":"#p"},"contained":[` + patientResource("p", memberA) + `]`),
			[]NamedPatient{{"ClaimResponse.patient", []Identifier{memberA}, nil, false}, {"ClaimResponse.contained[0]", []Identifier{memberA}, nil, false}}, "", ""},
		{"contained non-Patient", claimResponse(payer + `,"patient":{"reference":"#p"},"contained":[{"resourceType":"Organization","id":"p"}]`),
			nil, patientRule, "ClaimResponse.patient"},
		{"notification resolved in the Bundle", notification(
			entry(crURN, claimResponse(payer+`,"patient":{"reference":"urn:uuid:`+patURN+`"}`)),
			entry(patURN, patientResource("p", memberA, memberB))),
			[]NamedPatient{{"Bundle.entry[1].resource.patient", []Identifier{memberA, memberB}, nil, false}, {"Bundle.entry[2].resource", []Identifier{memberA, memberB}, nil, false}}, "", ""},
		{"reference and another identifier", notification(
			entry(crURN, claimResponse(payer+`,"patient":{"reference":"urn:uuid:`+patURN+`","identifier":{"system":"`+memberB.System+`","value":"`+memberB.Value+`"}}`)),
			entry(patURN, patientResource("p", memberA))),
			nil, patientRule, "Bundle.entry[1].resource.patient.identifier"},
		{"Bundle Patient without identifier", notification(
			entry(crURN, claimResponse(payer+`,"patient":{"reference":"urn:uuid:`+patURN+`"}`)),
			entry(patURN, patientResource("p"))),
			nil, patientRule, "Bundle.entry[1].resource.patient"},
		{"Task for a member", `{"resourceType":"Task","status":"requested","intent":"order","requester":` + npiRef(demoPayer.Value) + `,"for":` + memberRef(memberB) + `}`,
			[]NamedPatient{{"Task.for", []Identifier{memberB}, nil, false}}, "", ""},
		{"Coverage beneficiary", `{"resourceType":"Coverage","status":"active","payor":[` + npiRef(demoPayer.Value) + `],"beneficiary":{"reference":"Patient/1"}}`,
			nil, patientRule, "Coverage.beneficiary"},
		{"Patient alone", patientResource("p", memberA),
			[]NamedPatient{{"Patient", []Identifier{memberA}, nil, false}}, "", ""},
		{"Patient without identifier", patientResource("p"), nil, patientRule, "Patient"},
		{"unreferenced Patient entry", notification(
			entry(crURN, claimResponse(payer+`,"patient":`+memberRef(memberB))),
			entry(patURN, patientResource("p", memberA))),
			[]NamedPatient{{"Bundle.entry[1].resource.patient", []Identifier{memberB}, nil, false}, {"Bundle.entry[2].resource", []Identifier{memberA}, nil, false}}, "", ""},
		{"Patient in Parameters", `{"resourceType":"Parameters","parameter":[{"name":"p","resource":` + patientResource("p", memberA) + `}]}`,
			[]NamedPatient{{"Parameters.parameter[0].resource", []Identifier{memberA}, nil, false}}, "", ""},
		{"ExplanationOfBenefit patient", `{"resourceType":"ExplanationOfBenefit","patient":` + memberRef(memberA) + `}`,
			[]NamedPatient{{"ExplanationOfBenefit.patient", []Identifier{memberA}, nil, false}}, "", ""},
		{"Observation subject", `{"resourceType":"Observation","subject":` + memberRef(memberA) + `}`,
			[]NamedPatient{{"Observation.subject", []Identifier{memberA}, nil, false}}, "", ""},
		{"Communication subject on the partner's server", `{"resourceType":"Communication","subject":{"reference":"Group/1"}}`,
			nil, patientRule, "Communication.subject"},
		{"Group member by identifier", `{"resourceType":"Group","type":"person","actual":true,"member":[{"entity":` + memberRef(memberA) + `},{"entity":` + memberRef(memberB) + `}]}`,
			[]NamedPatient{{"Group.member[0].entity", []Identifier{memberA}, nil, false}, {"Group.member[1].entity", []Identifier{memberB}, nil, false}}, "", ""},
		{"Group member on the partner's server", `{"resourceType":"Group","type":"person","actual":true,"member":[{"entity":{"reference":"Patient/1"}}]}`,
			nil, patientRule, "Group.member[0].entity"},
		{"Group member without entity", `{"resourceType":"Group","type":"person","actual":true,"member":[{}]}`,
			nil, patientRule, "Group.member[0].entity"},
		{"Coverage subscriber by identifier", `{"resourceType":"Coverage","status":"active","payor":[` + npiRef(demoPayer.Value) + `],"subscriber":` + memberRef(memberA) + `}`,
			[]NamedPatient{{"Coverage.subscriber", []Identifier{memberA}, nil, false}}, "", ""},
		{"Coverage subscriber on the partner's server", `{"resourceType":"Coverage","status":"active","payor":[` + npiRef(demoPayer.Value) + `],"subscriber":{"reference":"RelatedPerson/1"}}`,
			nil, patientRule, "Coverage.subscriber"},
		{"Coverage policyHolder by identifier", `{"resourceType":"Coverage","status":"active","payor":[` + npiRef(demoPayer.Value) + `],"policyHolder":` + memberRef(memberB) + `}`,
			[]NamedPatient{{"Coverage.policyHolder", []Identifier{memberB}, nil, false}}, "", ""},
		{"Coverage policyHolder typed Organization", `{"resourceType":"Coverage","status":"active","payor":[` + npiRef(demoPayer.Value) + `],"policyHolder":{"type":"Organization","identifier":{"system":"` + memberA.System + `","value":"` + memberA.Value + `"}}}`,
			[]NamedPatient{{"Coverage.policyHolder", []Identifier{memberA}, nil, false}}, "", ""},
		{"Coverage policyHolder contained Organization", `{"resourceType":"Coverage","status":"active","payor":[` + npiRef(demoPayer.Value) + `],"policyHolder":{"reference":"#employer"},"contained":[{"resourceType":"Organization","id":"employer","name":"Employer"}]}`,
			nil, "", ""},
		{"Parameters valueIdentifier", `{"resourceType":"Parameters","parameter":[{"name":"MemberIdentifier","valueIdentifier":{"system":"` + memberA.System + `","value":"` + memberA.Value + `"}}]}`,
			[]NamedPatient{{"Parameters.parameter[0].valueIdentifier", []Identifier{memberA}, nil, false}}, "", ""},
		{"Parameters valueIdentifier without system", `{"resourceType":"Parameters","parameter":[{"name":"m","part":[{"name":"id","valueIdentifier":{"value":"member-a"}}]}]}`,
			nil, patientRule, "Parameters.parameter[0].part[0].valueIdentifier"},
		{"Parameters valueReference by identifier", `{"resourceType":"Parameters","parameter":[{"name":"m","valueReference":` + memberRef(memberB) + `}]}`,
			[]NamedPatient{{"Parameters.parameter[0].valueReference", []Identifier{memberB}, nil, false}}, "", ""},
		{"Parameters valueReference to a Patient", `{"resourceType":"Parameters","parameter":[{"name":"m","valueReference":{"reference":"https://ehr.example/fhir/Patient/1"}}]}`,
			nil, patientRule, "Parameters.parameter[0].valueReference"},
		{"notification context reference to a Patient entry", `{"resourceType":"Bundle","type":"history","entry":[` +
			`{"fullUrl":"urn:uuid:00000000-0000-4000-8000-0000000000f0","resource":{"resourceType":"Parameters","parameter":[{"name":"additional-context","valueReference":{"reference":"https://payer.example/fhir/Patient/1"}}]}},` +
			`{"fullUrl":"https://payer.example/fhir/Patient/1","resource":` + patientResource("1", memberA) + `}]}`,
			[]NamedPatient{{"Bundle.entry[1].resource", []Identifier{memberA}, nil, false}}, "", ""},
		{"Patient with an identifier without system", `{"resourceType":"Patient","identifier":[` + identifierJSONOf(memberA) + `,{"value":"M-1"}]}`,
			[]NamedPatient{{"Patient", []Identifier{memberA}, []string{"M-1"}, false}}, "", ""},
		{"Parameters conditional valueReference", `{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient?identifier=` + memberA.System + `|` + memberA.Value + `"}}]}`,
			[]NamedPatient{{"Parameters.parameter[0].valueReference", []Identifier{memberA}, nil, true}}, "", ""},
		{"Parameters conditional valueReference without system", `{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient?identifier=` + memberA.System + `|` + memberA.Value + `,M-2"}}]}`,
			nil, patientRule, "Parameters.parameter[0].valueReference"},
		{"Parameters conditional valueReference by name", `{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"https://ehr.example/fhir/Patient?name=Other"}}]}`,
			nil, patientRule, "Parameters.parameter[0].valueReference"},
		{"Parameters conditional valueReference with modifier", `{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient?identifier:of-type=s|MB|v"}}]}`,
			nil, patientRule, "Parameters.parameter[0].valueReference"},
		{"ClaimResponse conditional patient", claimResponse(payer + `,"patient":{"reference":"Patient?identifier=` + memberA.System + `|` + memberA.Value + `,` + memberB.System + `|` + memberB.Value + `&birthdate=1970-01-01"}`),
			[]NamedPatient{{"ClaimResponse.patient", []Identifier{memberA, memberB}, nil, true}}, "", ""},
		{"ClaimResponse conditional patient with its identifier", claimResponse(payer + `,"patient":{"reference":"https://ehr.example/fhir/Patient?identifier=` + memberA.System + `%7C` + memberA.Value + `","identifier":` + identifierJSONOf(memberA) + `}`),
			[]NamedPatient{{"ClaimResponse.patient", []Identifier{memberA}, nil, true}}, "", ""},
		{"ClaimResponse conditional patient with another identifier", claimResponse(payer + `,"patient":{"reference":"Patient?identifier=` + memberA.System + `|` + memberA.Value + `","identifier":` + identifierJSONOf(memberB) + `}`),
			nil, patientRule, "ClaimResponse.patient.identifier"},
		{"ClaimResponse conditional patient without system", claimResponse(payer + `,"patient":{"reference":"Patient?identifier=` + memberA.Value + `"}`),
			nil, patientRule, "ClaimResponse.patient"},
		{"ClaimResponse conditional patient by name", claimResponse(payer + `,"patient":{"reference":"Patient?family=Other&birthdate=1970-01-01"}`),
			nil, patientRule, "ClaimResponse.patient"},
		{"ClaimResponse conditional patient by reverse chain only", claimResponse(payer + `,"patient":{"reference":"Patient?_has:Coverage:beneficiary:subscriber-id=` + memberA.Value + `"}`),
			nil, patientRule, "ClaimResponse.patient"},
		{"ClaimResponse conditional patient with modifier", claimResponse(payer + `,"patient":{"reference":"Patient?identifier:of-type=s|MB|v"}`),
			nil, patientRule, "ClaimResponse.patient"},
		{"ClaimResponse conditional Group", claimResponse(payer + `,"patient":{"reference":"Group?identifier=` + memberA.System + `|` + memberA.Value + `"}`),
			nil, patientRule, "ClaimResponse.patient"},
		{"Coverage conditional subscriber", `{"resourceType":"Coverage","status":"active","payor":[` + npiRef(demoPayer.Value) + `],"subscriber":{"reference":"RelatedPerson?identifier=` + memberB.System + `|` + memberB.Value + `"}}`,
			[]NamedPatient{{"Coverage.subscriber", []Identifier{memberB}, nil, true}}, "", ""},
		{"Parameters valueReference to a ClaimResponse", `{"resourceType":"Parameters","parameter":[{"name":"focus","valueReference":{"reference":"https://payer.example/fhir/ClaimResponse/1"}}]}`,
			nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, m := c.CheckOutboundPatients(demoOrg, []byte(tt.body))
			wantMismatch(t, m, tt.rule, tt.path)
			if !slices.EqualFunc(got, tt.want, func(a, b NamedPatient) bool {
				return a.Path == b.Path && slices.Equal(a.Identifiers, b.Identifiers) && slices.Equal(a.AnySystem, b.AnySystem) && a.Conditional == b.Conditional
			}) {
				t.Errorf("patients = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCheckOutboundPatchPatient(t *testing.T) {
	body := `{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"replace"},{"name":"path","valueString":"ClaimResponse.patient"}]}]}`
	if m := CheckOutboundPatch("ClaimResponse", []byte(body)); m == nil || m.Rule != "congruence.outbound-patch" {
		t.Fatalf("mismatch = %+v, want congruence.outbound-patch", m)
	}
}

// A patch of a Patient is refused whatever it touches, because the
// gateway cannot tell whose Patient it changes.
func TestCheckOutboundPatchOfPatient(t *testing.T) {
	body := `{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"replace"},{"name":"path","valueString":"Patient.birthDate"}]}]}`
	if m := CheckOutboundPatch("Patient", []byte(body)); m == nil || m.Rule != "congruence.outbound-patch" {
		t.Fatalf("mismatch = %+v, want congruence.outbound-patch", m)
	}
}

func TestClaimPatients(t *testing.T) {
	const claimURN, patURN = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
	body := `{"resourceType":"Bundle","type":"collection","entry":[` +
		entry(claimURN, `{"resourceType":"Claim","id":"c","patient":{"reference":"urn:uuid:`+patURN+`"}}`) + `,` +
		entry(patURN, patientResource("p", memberA, Identifier{System: "urn:s"})) + `,` +
		entry("00000000-0000-4000-8000-000000000003", patientResource("q", memberB)) + `]}`
	b, err := fhirreq.ParseBundle([]byte(body))
	if err != nil {
		t.Fatal(err)
	}

	got := ClaimPatients(b)
	if !slices.Equal(got, []Identifier{memberA}) {
		t.Errorf("ClaimPatients = %+v, want member A only", got)
	}
}

func TestEligibilityPatients(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []Identifier
	}{
		{"identifier", `{"resourceType":"CoverageEligibilityRequest","patient":` + memberRef(memberA) + `}`, []Identifier{memberA}},
		{"contained", `{"resourceType":"CoverageEligibilityRequest","patient":{"reference":"#p"},"contained":[` + patientResource("p", memberB) + `]}`, []Identifier{memberB}},
		{"server reference", `{"resourceType":"CoverageEligibilityRequest","patient":{"reference":"Patient/1"}}`, nil},
		{"Bundle entry", `{"resourceType":"Bundle","type":"collection","entry":[` +
			entry("00000000-0000-4000-8000-000000000001", `{"resourceType":"CoverageEligibilityRequest","patient":{"reference":"urn:uuid:00000000-0000-4000-8000-000000000002"}}`) + `,` +
			entry("00000000-0000-4000-8000-000000000002", patientResource("p", memberA)) + `]}`, []Identifier{memberA}},
		// The payer processes only the first request, so a second one naming
		// a guessed member id must not link that member.
		{"second request in a Bundle", `{"resourceType":"Bundle","type":"collection","entry":[` +
			entry("00000000-0000-4000-8000-000000000001", `{"resourceType":"CoverageEligibilityRequest","patient":`+memberRef(memberA)+`}`) + `,` +
			entry("00000000-0000-4000-8000-000000000002", `{"resourceType":"CoverageEligibilityRequest","patient":`+memberRef(memberB)+`}`) + `]}`,
			[]Identifier{memberA}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EligibilityPatients([]byte(tt.body)); !slices.Equal(got, tt.want) {
				t.Errorf("EligibilityPatients = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMatchedMember(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []Identifier
	}{
		{"member identifier", `{"resourceType":"Parameters","parameter":[{"name":"MemberIdentifier","valueIdentifier":` +
			`{"type":{"coding":[{"code":"MB"}]},"system":"` + memberA.System + `","value":"` + memberA.Value + `"}}]}`, []Identifier{memberA}},
		{"other parameter", `{"resourceType":"Parameters","parameter":[{"name":"Other","valueIdentifier":{"system":"urn:s","value":"v"}}]}`, nil},
		{"OperationOutcome", `{"resourceType":"OperationOutcome","issue":[]}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MatchedMember([]byte(tt.body)); !slices.Equal(got, tt.want) {
				t.Errorf("MatchedMember = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// identifierJSONOf returns id as the JSON of a FHIR Identifier.
func identifierJSONOf(id Identifier) string {
	return `{"system":"` + id.System + `","value":"` + id.Value + `"}`
}
