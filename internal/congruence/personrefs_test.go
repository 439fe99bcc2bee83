package congruence

import "testing"

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
