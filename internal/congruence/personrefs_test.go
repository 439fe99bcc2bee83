package congruence

import (
	"slices"
	"testing"
)

// Person references outside the patient elements and outside a
// Parameters valueReference: each must resolve to a resource of the
// payload, wherever it sits.
func TestCheckOutboundPersonReferences(t *testing.T) {
	c := mustChecker(t, demoPayer)
	member := `{"system":"urn:example:member","value":"m-1"}`
	subject := `"subject":{"identifier":` + member + `}`
	observation := func(fields string) string {
		return `{"resourceType":"Observation","status":"final","code":{"text":"weight"},` + subject + fields + `}`
	}
	patient := `{"resourceType":"Patient","identifier":[` + member + `]}`
	const rule = "congruence.outbound-patient"
	tests := []struct {
		name string
		body string
		rule string // "" when the body passes
		path string
	}{
		{"focus to another type", observation(`,"focus":[{"reference":"Organization/1"}]`), "", ""},
		{"focus Patient by server id", observation(`,"focus":[{"reference":"Patient/victim"}]`),
			rule, "Observation.focus[0].reference"},
		{"focus in a fake nested resource", observation(`,"focus":[{"resourceType":"Patient","reference":"Patient/victim"}]`),
			rule, "Observation.focus[0].reference"},
		{"reference inside a reference's extension", observation(`,"focus":[{"reference":"Organization/1","extension":[{"url":"x","valueReference":{"reference":"Person/victim"}}]}]`),
			rule, "Observation.focus[0].extension[0].valueReference.reference"},
		{"Patient.link.other", `{"resourceType":"Patient","identifier":[` + member + `],"link":[{"other":{"reference":"Patient/victim"},"type":"seealso"}]}`,
			rule, "Patient.link[0].other.reference"},
		{"contained self reference", observation(`,"focus":[{"reference":"#"}]`), "", ""},
		{"contained Patient", observation(`,"contained":[` + `{"resourceType":"Patient","id":"p1","identifier":[` + member + `]}` + `],"focus":[{"reference":"#p1"}]`), "", ""},
		{"contained sibling", observation(`,"contained":[{"resourceType":"Patient","id":"p1","identifier":[` + member + `]},` +
			`{"resourceType":"Provenance","id":"v1","target":[{"reference":"#p1"}],"recorded":"2026-01-01T00:00:00Z"}]`), "", ""},
		{"contained id missing", observation(`,"focus":[{"reference":"#p1"}]`), rule, "Observation.focus[0].reference"},
		{"Bundle entry resolved", `{"resourceType":"Bundle","type":"collection","entry":[` +
			`{"fullUrl":"https://ehr.example/fhir/Observation/o1","resource":` + observation(`,"focus":[{"reference":"Patient/p1"}]`) + `},` +
			`{"fullUrl":"https://ehr.example/fhir/Patient/p1","resource":` + patient + `}]}`, "", ""},
		{"Bundle entry unresolved", `{"resourceType":"Bundle","type":"collection","entry":[` +
			`{"fullUrl":"https://ehr.example/fhir/Observation/o1","resource":` + observation(`,"focus":[{"reference":"Patient/victim"}]`) + `}]}`,
			rule, "Bundle.entry[0].resource.focus[0].reference"},
		{"Bundle.signature.who", `{"resourceType":"Bundle","type":"collection","entry":[],` +
			`"signature":{"type":[],"when":"2026-01-01T00:00:00Z","who":{"reference":"Patient/victim"}}}`,
			rule, "Bundle.signature.who.reference"},
		{"Parameters resource in a part", `{"resourceType":"Parameters","parameter":[{"name":"p","part":[{"name":"r","resource":` +
			observation(`,"focus":[{"reference":"RelatedPerson/victim"}]`) + `}]}]}`,
			rule, "Parameters.parameter[0].part[0].resource.focus[0].reference"},
		{"Parameters extension", `{"resourceType":"Parameters","parameter":[{"name":"p","valueString":"x",` +
			`"extension":[{"url":"x","valueReference":{"reference":"Patient/victim"}}]}]}`,
			rule, "Parameters.parameter[0].extension[0].valueReference.reference"},
		{"Patient in response.outcome", `{"resourceType":"Bundle","type":"batch-response","entry":[` +
			`{"response":{"status":"200 OK","outcome":{"resourceType":"Patient","link":[{"other":{"reference":"Patient/victim"},"type":"seealso"}],"identifier":[` + member + `]}}}]}`,
			rule, "Bundle.entry[0].response.outcome.link[0].other.reference"},
		{"conditional criteria by server id", observation(`,"focus":[{"reference":"Coverage?beneficiary=victim"}]`),
			rule, "Observation.focus[0].reference"},
		{"conditional to another type", observation(`,"focus":[{"reference":"Coverage?payor:identifier=urn:example:payer|p"}]`), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantMismatch(t, c.CheckOutbound(demoOrg, []byte(tt.body)), tt.rule, tt.path)
		})
	}
}

// A conditional reference to a person type outside a patient element
// names a patient by its identifier parameters, which the caller checks
// against the links, as it checks a patient element.
func TestCheckOutboundFocusConditionalNamesPatient(t *testing.T) {
	c := mustChecker(t, demoPayer)
	body := `{"resourceType":"Observation","status":"final","code":{"text":"weight"},` +
		`"subject":{"identifier":{"system":"urn:example:member","value":"m-1"}},` +
		`"focus":[{"reference":"Patient?identifier=urn:example:mrn|mrn-victim"}]}`

	got, m := c.CheckOutboundPatients(demoOrg, []byte(body))

	wantMismatch(t, m, "", "")
	want := NamedPatient{Path: "Observation.focus[0].reference", Identifiers: []Identifier{{System: "urn:example:mrn", Value: "mrn-victim"}}, Conditional: true}
	if !slices.ContainsFunc(got, func(p NamedPatient) bool {
		return p.Path == want.Path && slices.Equal(p.Identifiers, want.Identifiers) && p.Conditional
	}) {
		t.Errorf("patients = %+v, want one %+v", got, want)
	}
}

// URLs, Group references and conditional references outside the patient
// elements follow the patient element rule.
func TestCheckOutboundURLAndGroupReferences(t *testing.T) {
	c := mustChecker(t, demoPayer)
	member := `{"system":"urn:example:member","value":"m-1"}`
	observation := func(fields string) string {
		return `{"resourceType":"Observation","status":"final","code":{"text":"weight"},"subject":{"identifier":` + member + `}` + fields + `}`
	}
	document := func(url string) string {
		return `{"resourceType":"DocumentReference","status":"current","subject":{"identifier":` + member + `},` +
			`"content":[{"attachment":{"contentType":"application/pdf","url":"` + url + `"}}]}`
	}
	parameters := func(ref string) string {
		return `{"resourceType":"Parameters","parameter":[{"name":"focus","valueReference":{"reference":"` + ref + `"}}]}`
	}
	const rule = "congruence.outbound-patient"
	tests := []struct {
		name string
		body string
		rule string // "" when the body passes
		path string
	}{
		{"Attachment.url Patient", document("https://ehr.example/fhir/Patient/victim"), rule, "DocumentReference.content[0].attachment.url"},
		{"Attachment.url relative", document("Patient/victim"), rule, "DocumentReference.content[0].attachment.url"},
		{"Attachment.url Group", document("Group/g1"), rule, "DocumentReference.content[0].attachment.url"},
		{"Attachment.url query by id", document("https://ehr.example/download?patient=victim"), rule, "DocumentReference.content[0].attachment.url"},
		{"Attachment.url Binary", document("https://ehr.example/fhir/Binary/b1"), "", ""},
		{"Attachment.url download", document("https://ehr.example/download?doc=5"), "", ""},
		{"extension valueUri", observation(`,"extension":[{"url":"https://payer.example/x","valueUri":"Patient/victim"}]`), rule, "Observation.extension[0].valueUri"},
		{"extension valueUrl", observation(`,"extension":[{"url":"https://payer.example/x","valueUrl":"https://ehr.example/fhir/RelatedPerson/victim"}]`), rule, "Observation.extension[0].valueUrl"},
		{"extension valueCanonical", observation(`,"extension":[{"url":"https://payer.example/x","valueCanonical":"https://ehr.example/fhir/Person/victim"}]`), rule, "Observation.extension[0].valueCanonical"},
		{"sub-extension url patient", observation(`,"extension":[{"url":"https://payer.example/x","extension":[{"url":"patient","valueString":"x"}]}]`), "", ""},
		{"focus Group", observation(`,"focus":[{"reference":"Group/g1"}]`), rule, "Observation.focus[0].reference"},
		{"focus Group criteria", observation(`,"focus":[{"reference":"Group?identifier=urn:example|g1"}]`), rule, "Observation.focus[0].reference"},
		{"focus lower case criteria", observation(`,"focus":[{"reference":"patient?identifier=urn:example:mrn|1"}]`), rule, "Observation.focus[0].reference"},
		{"focus criteria by name", observation(`,"focus":[{"reference":"Patient?family=Victim"}]`), rule, "Observation.focus[0].reference"},
		{"focus criteria on focus by id", observation(`,"focus":[{"reference":"Observation?focus=victim"}]`), rule, "Observation.focus[0].reference"},
		{"Parameters Group", parameters("Group/g1"), rule, "Parameters.parameter[0].valueReference"},
		{"Parameters Group URL", parameters("https://ehr.example/fhir/group/g1"), rule, "Parameters.parameter[0].valueReference"},
		{"Parameters Group criteria", parameters("Group?identifier=urn:example|g1"), rule, "Parameters.parameter[0].valueReference"},
		{"Parameters criteria with Group modifier", parameters("Observation?subject:Group=g1"), rule, "Parameters.parameter[0].valueReference"},
		{"Parameters criteria payor bare id", parameters("Coverage?payor=victim"), rule, "Parameters.parameter[0].valueReference"},
		{"transaction request url", `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000001",` +
			`"resource":{"resourceType":"Patient","id":"p1","identifier":[` + member + `]},"request":{"method":"PUT","url":"Patient/p1"}}]}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantMismatch(t, c.CheckOutbound(demoOrg, []byte(tt.body)), tt.rule, tt.path)
		})
	}
}
