package app_test

import "testing"

// victimMRN is the MRN of a patient that no partner named, as a search
// token. The payload identifier rules let it pass, because its system is
// not a member id system, so only the patient check can reject it.
const victimMRN = "urn:example:mrn|mrn-victim"

// requireNotificationFocusRejected posts, for each case, patientNotification
// with the reference as its focus and requires the rejection that
// requireMemberIDRejected checks.
func requireNotificationFocusRejected(t *testing.T, cases map[string]string) {
	t.Helper()
	for name, ref := range cases {
		t.Run(name, func(t *testing.T) {
			requireMemberIDRejected(t, "$subscription-hook", "/$subscription-hook", patientNotification(ref))
		})
	}
}

// requireNotificationFocusForwarded requires, for each case, the
// notification whose focus is the reference to reach the partner.
func requireNotificationFocusForwarded(t *testing.T, cases map[string]string) {
	t.Helper()
	for name, ref := range cases {
		t.Run(name, func(t *testing.T) {
			requireMemberIDForwarded(t, "$subscription-hook", "/$subscription-hook", patientNotification(ref))
		})
	}
}

// A compromised engine names another person's Patient by server id in a
// Parameters valueReference, spelled so that a check matching "Patient"
// between unencoded slashes misses it while a conformant or lenient server
// still resolves it to that Patient.
func TestOutboundParametersPatientReferenceSpellingRejected(t *testing.T) {
	cases := map[string]string{
		"encoded slash":        "Patient%2Fvictim",
		"encoded twice":        "Patient%252Fvictim",
		"encoded type letter":  "%50atient/victim",
		"lower case":           "patient/victim",
		"upper case":           "PATIENT/victim",
		"lower case base URL":  "https://ehr.example/fhir/patient/victim",
		"backslash":            `Patient\\victim`,
		"path parameter":       "Patient;v=1/victim",
		"encoded query":        "Patient%3F_id=victim",
		"fullwidth type":       "Ｐａｔｉｅｎｔ/victim",
		"lower case criteria":  "patient?identifier=" + victimMRN,
		"upper case criteria":  "PATIENT?identifier=" + victimMRN,
		"criteria type absent": "https://ehr.example/fhir/Patient/?identifier=" + victimMRN,
	}
	requireNotificationFocusRejected(t, cases)
}

// Literal references to resources that are not people, the focus a real
// notification carries, still reach the partner.
func TestOutboundParametersOtherReferenceForwarded(t *testing.T) {
	cases := map[string]string{
		"relative":     "ClaimResponse/cr-1",
		"absolute":     "https://payer.example/fhir/Task/t-1",
		"patient-like": "Observation/patient-weight",
	}
	requireNotificationFocusForwarded(t, cases)
}

// A compromised engine names another person's data by conditional
// criteria of a type other than Patient whose reference parameters name
// the Patient by server id. The partner's server resolves the criteria to
// that person's Coverage or claim as it would resolve "Patient/victim".
func TestOutboundParametersCriteriaPatientByIDRejected(t *testing.T) {
	cases := map[string]string{
		"beneficiary typed":      "Coverage?beneficiary=Patient/victim",
		"beneficiary bare id":    "Coverage?beneficiary=victim",
		"beneficiary base URL":   "Coverage?beneficiary=https://ehr.example/fhir/Patient/victim",
		"beneficiary encoded":    "Coverage?beneficiary=Patient%2Fvictim",
		"beneficiary upper case": "Coverage?BENEFICIARY=victim",
		"type modifier":          "Coverage?beneficiary:Patient=victim",
		"patient":                "ExplanationOfBenefit?patient=Patient/victim",
		"subject":                "Observation?subject=victim",
		"subscriber":             "Coverage?subscriber=victim",
		"policy-holder":          "Coverage?policy-holder=Patient/victim",
		"group member":           "Group?member=Patient/victim",
		"other parameter":        "Coverage?payor=Patient/victim",
		"chain to id":            "Coverage?beneficiary._id=victim",
		"chain to name":          "Coverage?beneficiary.family=Victim&beneficiary.birthdate=1970-01-01",
		"reverse chain":          "Coverage?_has:Claim:insurance:patient=Patient/victim",
	}
	requireNotificationFocusRejected(t, cases)
}

// The same criteria in a ClaimResponse's patient element are rejected as
// well, even beside an identifier of the partner's own member.
func TestOutboundPatientElementCriteriaPatientByIDRejected(t *testing.T) {
	own := "identifier=" + ownMemberID.System + "|" + ownMemberID.Value
	cases := map[string]string{
		"patient link":        "Patient?" + own + "&link=Patient/victim",
		"related person":      "RelatedPerson?" + own + "&patient=victim",
		"related person case": "RelatedPerson?" + own + "&Patient=Patient/victim",
	}
	requirePatientElementRejected(t, cases)
}

// Criteria that name the partner's own member by identifier, or a party
// that is no person by server id, still reach the partner.
func TestOutboundParametersCriteriaOwnMemberForwarded(t *testing.T) {
	cases := map[string]string{
		"beneficiary identifier": "Coverage?beneficiary:identifier=" + outboundMemberB.System + "|" + outboundMemberB.Value,
		"policy holder employer": "Coverage?policy-holder=Organization/employer&subscriber-id=" + ownMemberID.Value,
		"chain to identifier":    "ExplanationOfBenefit?patient.identifier=" + outboundMemberB.System + "|" + outboundMemberB.Value,
	}
	requireNotificationFocusForwarded(t, cases)
}

// A compromised engine names, in a Parameters valueReference, a Person or
// a RelatedPerson by an identifier that the partner has not named. A
// Person links a person's Patient records and carries the same MRNs and
// member ids, so its criteria are checked like a Patient's. The MRN of a
// patient that no partner named passes the payload identifier rules but
// is rejected here.
func TestOutboundParametersPersonCriteriaRejected(t *testing.T) {
	cases := map[string]string{
		"Person unlinked MRN":        "Person?identifier=" + victimMRN,
		"RelatedPerson unlinked MRN": "RelatedPerson?identifier=" + victimMRN,
		"Person without system":      "Person?identifier=" + ownMemberID.Value,
		"Person by name":             "Person?family=Victim&birthdate=1970-01-01",
		"Person literal":             "Person/victim",
		"RelatedPerson literal":      "RelatedPerson/victim",
	}
	requireNotificationFocusRejected(t, cases)
}

// A Person or RelatedPerson named by the partner's own member id still
// reaches the partner.
func TestOutboundParametersPersonCriteriaOwnForwarded(t *testing.T) {
	cases := map[string]string{
		"Person":        "Person?identifier=" + ownMemberID.System + "|" + ownMemberID.Value,
		"RelatedPerson": "RelatedPerson?identifier=" + outboundMemberB.System + "|" + outboundMemberB.Value,
	}
	requireNotificationFocusForwarded(t, cases)
}

// observationWithExtensionReference is an Observation of member B whose
// extension's valueReference is ref.
func observationWithExtensionReference(ref string) string {
	return `{"resourceType":"Observation","status":"final","code":{"text":"weight"},` +
		`"extension":[{"url":"https://payer.example/fhir/StructureDefinition/related","valueReference":{"reference":"` + ref + `"}}],` +
		`"subject":{"identifier":` + identifierJSON(outboundMemberB) + `},"valueString":"80 kg"}`
}

// provenanceWithTarget is a Provenance, a resource without a patient
// element, whose target is ref.
func provenanceWithTarget(ref string) string {
	return `{"resourceType":"Provenance","target":[{"reference":"` + ref + `"}],"recorded":"2026-01-01T00:00:00Z",` +
		`"agent":[{"who":{"identifier":{"system":"urn:example:payer","value":"engine"}}}]}`
}

// A compromised engine names another person by server id in a Reference
// outside every patient element and outside a Parameters. The partner's
// server resolves it as it would in ClaimResponse.patient, so it follows
// the same rule and must resolve to a resource of the payload.
func TestOutboundPersonReferenceOutsidePatientElementRejected(t *testing.T) {
	type attack struct{ interaction, path, body string }
	cases := map[string]attack{
		"focus Patient":            {"Observation.create", "/Observation", observationWithReference("Patient/victim")},
		"focus RelatedPerson":      {"Observation.create", "/Observation", observationWithReference("RelatedPerson/victim")},
		"focus Person":             {"Observation.create", "/Observation", observationWithReference("Person/victim")},
		"focus lower case":         {"Observation.create", "/Observation", observationWithReference("patient/victim")},
		"focus encoded slash":      {"Observation.create", "/Observation", observationWithReference("Patient%2Fvictim")},
		"focus base URL":           {"Observation.create", "/Observation", observationWithReference("https://ehr.example/fhir/Patient/victim")},
		"focus unresolved #id":     {"Observation.create", "/Observation", observationWithReference("#victim")},
		"focus criteria by id":     {"Observation.create", "/Observation", observationWithReference("Coverage?beneficiary=victim")},
		"extension valueReference": {"Observation.create", "/Observation", observationWithExtensionReference("Patient/victim")},
		"Provenance target":        {"Provenance.create", "/Provenance", provenanceWithTarget("Patient/victim")},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			requireMemberIDRejected(t, c.interaction, c.path, c.body)
		})
	}
}

// A person reference outside a patient element that resolves to a
// contained Patient of the partner's own member, which the gateway checks
// itself, still reaches the partner, and so does a Provenance whose
// target is no person.
func TestOutboundPersonReferenceResolvedForwarded(t *testing.T) {
	contained := `{"resourceType":"Observation","status":"final","code":{"text":"weight"},` +
		`"contained":[{"resourceType":"Patient","id":"p1","identifier":[` + identifierJSON(outboundMemberB) + `]}],` +
		`"focus":[{"reference":"#p1"}],` +
		`"subject":{"reference":"#p1"},"valueString":"80 kg"}`
	requireMemberIDForwarded(t, "Observation.create", "/Observation", contained)
	requireMemberIDForwarded(t, "Provenance.create", "/Provenance", provenanceWithTarget("ClaimResponse/cr-1"))
}
