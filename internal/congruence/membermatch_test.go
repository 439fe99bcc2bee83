package congruence

import (
	"strings"
	"testing"
)

// memberMatchBody is a $member-match Parameters body with the given
// CoverageToMatch payor and Consent actors, written as JSON fragments.
func memberMatchBody(payor string, actors ...string) string {
	return `{"resourceType":"Parameters","parameter":[
		{"name":"MemberPatient","resource":{"resourceType":"Patient","id":"1"}},
		{"name":"CoverageToMatch","resource":{"resourceType":"Coverage","payor":[` + payor + `]}},
		{"name":"Consent","resource":{"resourceType":"Consent","provision":{"type":"permit","actor":[` + strings.Join(actors, ",") + `]}}}]}`
}

func npiRef(npi string) string {
	return `{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"` + npi + `"}}`
}

func actor(role, ref string) string {
	system := "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
	if role == "IRCP" {
		system = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	}
	return `{"role":{"coding":[{"system":"` + system + `","code":"` + role + `"}]},"reference":` + ref + `}`
}

// wantMismatch fails t unless m is a mismatch of rule at path, or nil
// when rule is empty.
func wantMismatch(t *testing.T, m *Mismatch, rule, path string) {
	t.Helper()
	switch {
	case rule == "" && m != nil:
		t.Fatalf("mismatch %s at %s: %s", m.Rule, m.Path, m.Reason)
	case rule != "" && m == nil:
		t.Fatalf("no mismatch, want %s", rule)
	case rule != "" && (m.Rule != rule || m.Path != path):
		t.Fatalf("mismatch %s at %s (%s), want %s at %s", m.Rule, m.Path, m.Reason, rule, path)
	}
}

func TestCheckMemberMatch(t *testing.T) {
	c := mustChecker(t, demoPayer, pas201Payr)
	source := actor("performer", npiRef(demoPayer.Value))
	recipient := actor("IRCP", npiRef(demoOrg.Value))
	tests := []struct {
		name string
		body string
		rule string // "" when the body passes
		path string
	}{
		{"own Consent", memberMatchBody(npiRef(demoPayer.Value), source, recipient), "", ""},
		{"payer alias and NPI OID", memberMatchBody(npiRef(pas201Payr.Value), source,
			actor("IRCP", `{"identifier":{"system":"urn:oid:2.16.840.1.113883.4.6","value":"8189991234"}}`)), "", ""},
		{"recipient another organisation", memberMatchBody(npiRef(demoPayer.Value), source, actor("IRCP", npiRef("0123456789"))),
			"congruence.consent.recipient", "Parameters.parameter[2].resource.provision.actor[1].reference"},
		{"second recipient another organisation", memberMatchBody(npiRef(demoPayer.Value), source, recipient, actor("IRCP", npiRef("0123456789"))),
			"congruence.consent.recipient", "Parameters.parameter[2].resource.provision.actor[2].reference"},
		{"no recipient", memberMatchBody(npiRef(demoPayer.Value), source),
			"congruence.consent.recipient", "Parameters.parameter[2].resource.provision.actor"},
		{"recipient by literal reference too", memberMatchBody(npiRef(demoPayer.Value), source,
			actor("IRCP", `{"reference":"Organization/x","identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"8189991234"}}`)),
			"congruence.consent.recipient", "Parameters.parameter[2].resource.provision.actor[1].reference"},
		{"source another payer", memberMatchBody(npiRef(demoPayer.Value), actor("performer", npiRef("9876543210")), recipient),
			"congruence.consent.source", "Parameters.parameter[2].resource.provision.actor[0].reference"},
		{"payor another payer", memberMatchBody(npiRef("9876543210"), source, recipient),
			"congruence.payor", "Parameters.parameter[1].resource.payor[0]"},
		{"second payor another payer", memberMatchBody(npiRef(demoPayer.Value)+","+npiRef("9876543210"), source, recipient),
			"congruence.payor", "Parameters.parameter[1].resource.payor[1]"},
		{"no payor", memberMatchBody("", source, recipient), "congruence.payor", "Parameters.parameter[1].resource.payor"},
		{"payor by display only", memberMatchBody(`{"display":"Health Plan"}`, source, recipient),
			"congruence.payor", "Parameters.parameter[1].resource.payor[0]"},
		{"second Consent for another organisation", strings.TrimSuffix(memberMatchBody(npiRef(demoPayer.Value), source, recipient), `]}`) +
			`,{"name":"Consent","resource":{"resourceType":"Consent","provision":{"actor":[` + actor("IRCP", npiRef("0123456789")) + `]}}}]}`,
			"congruence.consent.recipient", "Parameters.parameter[3].resource.provision.actor[0].reference"},
		{"unreadable", `{"resourceType":"Parameters","parameter":{}}`, "congruence.unreadable", "Parameters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := c.CheckMemberMatch(demoIdentity(), []byte(tt.body))
			wantMismatch(t, m, tt.rule, tt.path)
			if m != nil && strings.Contains(m.Reason, "0123456789") {
				t.Errorf("the reason quotes a value: %s", m.Reason)
			}
		})
	}
}

// The identity rules come first: a Consent naming the partner does not
// make up for a token issued to another client.
func TestCheckMemberMatchIdentityFirst(t *testing.T) {
	c := mustChecker(t, demoPayer)
	id := demoIdentity()
	id.TokenClientID = "other"
	body := memberMatchBody(npiRef(demoPayer.Value), actor("performer", npiRef(demoPayer.Value)), actor("IRCP", npiRef(demoOrg.Value)))
	if m := c.CheckMemberMatch(id, []byte(body)); m == nil || m.Rule != "congruence.client" {
		t.Fatalf("got %+v, want congruence.client", m)
	}
}

// The HRex Consent profile allows a bidirectional Consent, which also
// lists the target payer as a recipient and the requesting organisation
// as a source. Neither names a third party, so both pass.
func TestCheckMemberMatchBidirectionalConsent(t *testing.T) {
	c := mustChecker(t, demoPayer)
	body := memberMatchBody(npiRef(demoPayer.Value),
		actor("performer", npiRef(demoPayer.Value)), actor("performer", npiRef(demoOrg.Value)),
		actor("IRCP", npiRef(demoOrg.Value)), actor("IRCP", npiRef(demoPayer.Value)))
	if m := c.CheckMemberMatch(demoIdentity(), []byte(body)); m != nil {
		t.Fatalf("mismatch %s at %s: %s", m.Rule, m.Path, m.Reason)
	}
}

// Each Consent must name this payer as a source and the partner as a
// recipient, whichever other of the two it also lists.
func TestCheckMemberMatchConsentParties(t *testing.T) {
	c := mustChecker(t, demoPayer)
	payor := npiRef(demoPayer.Value)
	source := actor("performer", npiRef(demoPayer.Value))
	recipient := actor("IRCP", npiRef(demoOrg.Value))
	tests := []struct {
		name string
		body string
		rule string
		path string
	}{
		{"no source", memberMatchBody(payor, recipient),
			"congruence.consent.source", "Parameters.parameter[2].resource.provision.actor"},
		{"partner as the only source", memberMatchBody(payor, actor("performer", npiRef(demoOrg.Value)), recipient),
			"congruence.consent.source", "Parameters.parameter[2].resource.provision.actor"},
		{"payer as the only recipient", memberMatchBody(payor, source, actor("IRCP", npiRef(demoPayer.Value))),
			"congruence.consent.recipient", "Parameters.parameter[2].resource.provision.actor"},
		{"third party as a source", memberMatchBody(payor, source, actor("performer", npiRef("0123456789")), recipient),
			"congruence.consent.source", "Parameters.parameter[2].resource.provision.actor[1].reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantMismatch(t, c.CheckMemberMatch(demoIdentity(), []byte(tt.body)), tt.rule, tt.path)
		})
	}
}

// An upstream may read an actor as a recipient or source although its
// role is not exactly one of the profile's two codings. Examples are a code
// in another case, a system spelled otherwise, a role given as text only,
// or no role. Such an actor would escape the checks, and so would one in a
// nested provision, which the profile does not allow. Each is rejected.
func TestCheckMemberMatchUncheckedActors(t *testing.T) {
	c := mustChecker(t, demoPayer)
	payor := npiRef(demoPayer.Value)
	source := actor("performer", npiRef(demoPayer.Value))
	recipient := actor("IRCP", npiRef(demoOrg.Value))
	other := npiRef("0123456789")
	withRole := func(role string) string { return `{"role":` + role + `,"reference":` + other + `}` }
	tests := []struct {
		name  string
		extra string
	}{
		{"code in lower case", withRole(`{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"ircp"}]}`)},
		{"system as an OID", withRole(`{"coding":[{"system":"urn:oid:2.16.840.1.113883.5.90","code":"IRCP"}]}`)},
		{"system with a trailing slash", withRole(`{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType/","code":"IRCP"}]}`)},
		{"role as text only", withRole(`{"text":"IRCP"}`)},
		{"no role", `{"reference":` + other + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := c.CheckMemberMatch(demoIdentity(), []byte(memberMatchBody(payor, source, recipient, tt.extra)))
			if m == nil {
				t.Fatal("no mismatch, want congruence.consent.actor")
			}
			if m.Rule != "congruence.consent.actor" || m.Path != "Parameters.parameter[2].resource.provision.actor[2].role" {
				t.Fatalf("mismatch %s at %s, want congruence.consent.actor at Parameters.parameter[2].resource.provision.actor[2].role", m.Rule, m.Path)
			}
		})
	}
	t.Run("nested provision", func(t *testing.T) {
		body := strings.Replace(memberMatchBody(payor, source, recipient), `"type":"permit",`,
			`"type":"permit","provision":[{"type":"permit","actor":[`+actor("IRCP", other)+`]}],`, 1)
		m := c.CheckMemberMatch(demoIdentity(), []byte(body))
		if m == nil || m.Rule != "congruence.consent.provision" {
			t.Fatalf("got %+v, want congruence.consent.provision", m)
		}
	})
}
