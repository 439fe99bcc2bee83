package app_test

import (
	"net/http"
	"testing"
)

// A compromised engine names a patient that the partner never named by
// conditional criteria in Observation.focus, an element that is no
// patient element. The MRN passes the member id rules, so only the patient
// rule, which reads these criteria, rejects it.
func TestOutboundFocusConditionalPatientRejected(t *testing.T) {
	cases := map[string]string{
		"unlinked MRN":             "Patient?identifier=" + victimMRN,
		"upper case parameter":     "Patient?IDENTIFIER=" + otherMemberID.System + "|" + otherMemberID.Value,
		"RelatedPerson MRN":        "RelatedPerson?identifier=" + victimMRN,
		"Group criteria":           "Group?identifier=urn:example:group|g1",
		"upper case subscriber":    "Coverage?SUBSCRIBER-ID=" + otherMemberID.Value,
		"payor bare id":            "Coverage?payor=victim",
		"focus bare id":            "Observation?focus=victim",
		"Provenance target":        "Provenance?target=victim",
		"subject Group modifier":   "Observation?subject:Group=g1",
		"own value without system": "Patient?identifier=" + ownMemberID.Value,
		"own subscriber id only":   "Patient?_has:Coverage:beneficiary:subscriber-id=" + ownMemberID.Value,
	}
	for name, ref := range cases {
		t.Run(name, func(t *testing.T) {
			requireMemberIDRejected(t, "Observation.create", "/Observation", observationWithReference(ref))
		})
	}
}

// The partner's own member named the same way still reaches the partner.
func TestOutboundFocusConditionalOwnPatientForwarded(t *testing.T) {
	cases := map[string]string{
		"own member id":   "Patient?identifier=" + ownMemberID.System + "|" + ownMemberID.Value,
		"upper case name": "Patient?IDENTIFIER=" + outboundMemberB.System + "|" + outboundMemberB.Value,
	}
	for name, ref := range cases {
		t.Run(name, func(t *testing.T) {
			requireMemberIDForwarded(t, "Observation.create", "/Observation", observationWithReference(ref))
		})
	}
}

// observationWithExtensionValue is an Observation of member B with an
// extension whose value member is valueMember.
func observationWithExtensionValue(valueMember, value string) string {
	return `{"resourceType":"Observation","status":"final","code":{"text":"weight"},` +
		`"extension":[{"url":"https://payer.example/fhir/StructureDefinition/related","` + valueMember + `":"` + value + `"}],` +
		`"subject":{"identifier":` + identifierJSON(outboundMemberB) + `},"valueString":"80 kg"}`
}

// documentWithAttachment is a DocumentReference of member B whose
// attachment is at url.
func documentWithAttachment(url string) string {
	return `{"resourceType":"DocumentReference","status":"current","subject":{"identifier":` + identifierJSON(outboundMemberB) + `},` +
		`"content":[{"attachment":{"contentType":"application/pdf","url":"` + url + `"}}]}`
}

// A compromised engine names another person by server id in a URL: an
// Attachment.url or an extension's uri, url or canonical value. The
// partner's EHR fetches such a URL from its own server.
func TestOutboundPersonURLRejected(t *testing.T) {
	type attack struct{ interaction, path, body string }
	cases := map[string]attack{
		"Attachment.url absolute": {"DocumentReference.create", "/DocumentReference", documentWithAttachment("https://ehr.example/fhir/Patient/victim")},
		"Attachment.url relative": {"DocumentReference.create", "/DocumentReference", documentWithAttachment("Patient/victim")},
		"valueUri":                {"Observation.create", "/Observation", observationWithExtensionValue("valueUri", "Patient/victim")},
		"valueUrl":                {"Observation.create", "/Observation", observationWithExtensionValue("valueUrl", "https://ehr.example/fhir/Person/victim")},
		"valueCanonical":          {"Observation.create", "/Observation", observationWithExtensionValue("valueCanonical", "https://ehr.example/fhir/RelatedPerson/victim")},
		"valueUri criteria":       {"Observation.create", "/Observation", observationWithExtensionValue("valueUri", "Patient?identifier="+victimMRN)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			requireMemberIDRejected(t, c.interaction, c.path, c.body)
		})
	}
}

// An attachment URL that names no person still reaches the partner.
func TestOutboundAttachmentURLForwarded(t *testing.T) {
	requireMemberIDForwarded(t, "DocumentReference.create", "/DocumentReference", documentWithAttachment("https://ehr.example/fhir/Binary/b1"))
}

// A compromised engine names a Group, every member of which the partner
// would read, in a notification's Parameters.
func TestOutboundParametersGroupRejected(t *testing.T) {
	requireNotificationFocusRejected(t, map[string]string{
		"literal":        "Group/g1",
		"lower case URL": "https://ehr.example/fhir/group/g1",
		"criteria":       "Group?identifier=urn:example:group|g1",
		"member by id":   "Group?member=victim",
	})
}

// startOutboundWithCut starts an outbound gateway allowing
// interactions, with member B linked to the demo partner, and engages an
// outbound cut of mode.
func startOutboundWithCut(t *testing.T, mode string, interactions ...string) (*harness, *fakeEHR, *http.Client, string) {
	t.Helper()
	h, ehr, engine, base := startMemberIDOutbound(t, interactions...)
	h.engage(`{"mode":"` + mode + `","direction":"outbound","reason":"contain the engine"}`)
	return h, ehr, engine, base
}

// A compromised engine keeps sending the payer's data to the partner
// under an outbound read-only or writes-off cut, in the body of a POST
// _search or a $validate. Both modes refuse every outbound request that
// carries content.
func TestKillSwitchOutboundContentRefused(t *testing.T) {
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	fhirJSON := http.Header{"Content-Type": {"application/fhir+json"}}
	patient := `{"resourceType":"Patient","identifier":[` + identifierJSON(outboundMemberB) + `]}`
	cases := []struct {
		name, mode, interaction, path string
		header                        http.Header
		body                          string
	}{
		{"read-only POST _search", "read-only", "Patient.search", "/Patient/_search", form, "identifier=" + outboundMemberB.System + "%7C" + outboundMemberB.Value},
		{"writes-off POST _search", "writes-off", "Patient.search", "/Patient/_search", form, "identifier=" + outboundMemberB.System + "%7C" + outboundMemberB.Value},
		{"writes-off $validate", "writes-off", "Patient/$validate", "/Patient/$validate", fhirJSON, patient},
		{"read-only $validate", "read-only", "Patient/$validate", "/Patient/$validate", fhirJSON, patient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, ehr, engine, base := startOutboundWithCut(t, tc.mode, tc.interaction)

			resp, got := sendOutbound(t, engine, http.MethodPost, base+tc.path, tc.header, tc.body)

			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("status = %d, want 503: %s", resp.StatusCode, got)
			}
			if code := outcomeCode(t, got); code != "transient" {
				t.Errorf("OperationOutcome code = %q, want transient", code)
			}
			if n := ehr.calls.Load(); n != 0 {
				t.Errorf("the partner received %d requests, want 0", n)
			}
			entries := h.entries(resp)
			if len(entries) != 1 || len(entries[0].Rule) < len("killswitch.cut-") || entries[0].Rule[:len("killswitch.cut-")] != "killswitch.cut-" {
				t.Errorf("recorded entries = %+v, want one under rule killswitch.cut-<id>", entries)
			}
		})
	}
}

// A GET search, a lookup without a body, still passes an outbound
// read-only cut.
func TestKillSwitchOutboundGetSearchForwarded(t *testing.T) {
	_, ehr, engine, base := startOutboundWithCut(t, "read-only", "Patient.search")

	resp, got := sendOutbound(t, engine, http.MethodGet, base+"/Patient?identifier="+outboundMemberB.System+"%7C"+outboundMemberB.Value, nil, "")

	if resp.StatusCode == http.StatusServiceUnavailable {
		t.Errorf("status = 503, want the search forwarded: %s", got)
	}
	if n := ehr.calls.Load(); n != 1 {
		t.Errorf("the partner received %d requests, want 1", n)
	}
}
