package app_test

import (
	"strings"
	"testing"
)

// victimPatient is a Patient that no partner named, identified only by an
// MRN. No member id rule matches it, so only the patient walk rejects it.
const victimPatient = `{"resourceType":"Patient","identifier":[{"system":"urn:example:mrn","value":"mrn-victim"}],` +
	`"name":[{"family":"Victim"}],"birthDate":"1970-01-01"}`

// notificationWithOutcome is patientNotification naming the demo partner's
// own member, with outcome as the entry's response.outcome.
func notificationWithOutcome(outcome string) string {
	own := "Patient?identifier=" + ownMemberID.System + "|" + ownMemberID.Value
	body := patientNotification(own)
	old := `"response":{"status":"200"}`
	if !strings.Contains(body, old) {
		panic("patientNotification no longer has an entry response")
	}
	return strings.Replace(body, old, `"response":{"status":"200","outcome":`+outcome+`}`, 1)
}

// A compromised engine hides another person's Patient in a notification
// entry's response.outcome, whose R4 type is Resource, so strict mode
// accepts any resource there. The patient walk must read it like an entry.
func TestOutboundPatientInEntryOutcomeRejected(t *testing.T) {
	requireMemberIDRejected(t, "$subscription-hook", "/$subscription-hook", notificationWithOutcome(victimPatient))
}

// An OperationOutcome in response.outcome, which is what the element is
// for, still reaches the partner.
func TestOutboundEntryOperationOutcomeForwarded(t *testing.T) {
	outcome := `{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"informational"}]}`
	requireMemberIDForwarded(t, "$subscription-hook", "/$subscription-hook", notificationWithOutcome(outcome))
}

// A compromised engine names the partner's own member by identifier after
// a raw "#" in a ClaimResponse's conditional patient reference. A reader
// that parses the reference as a URL drops the "#" and what follows as a
// fragment, so it selects the patient by the criteria before it alone.
func TestOutboundConditionalPatientFragmentRejected(t *testing.T) {
	own := "identifier=" + ownMemberID.System + "|" + ownMemberID.Value
	cases := map[string]string{
		"by server id":     "Patient?_id=victim#&" + own,
		"by demographics":  "Patient?family=Victim&birthdate=1970-01-01#&" + own,
		"after the own id": "Patient?" + own + "#",
	}
	requirePatientElementRejected(t, cases)
}

// A "#" percent-encoded as %23 is part of a value, not a fragment, so a
// conditional reference to the partner's own member that contains one
// still reaches the partner.
func TestOutboundConditionalPatientEncodedNumberSignForwarded(t *testing.T) {
	ref := "Patient?identifier=" + ownMemberID.System + "|" + ownMemberID.Value + "&family=O%23Brien"
	_, ehr, engine, base := startConditionalOutbound(t)

	requireOutboundForwarded(t, engine, ehr, base+"/ClaimResponse", claimResponsePatientReference(ref))
}
