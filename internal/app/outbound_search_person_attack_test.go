package app_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
)

// searchInteractions are the outbound interactions the search tests allow,
// so that only congruence decides.
var searchInteractions = []string{
	"capabilities", "Patient.search", "Observation.search", "Coverage.search", "Task.search",
	"Practitioner.search", "Task.create", "Patient.delete", "batch-transaction", "search-system",
}

// searchToken returns id as a FHIR search token "SYSTEM|VALUE", percent-encoded
// for a query.
func searchToken(id congruence.Identifier) string {
	return url.QueryEscape(id.System + "|" + id.Value)
}

// outboundSearchCase is one request of the engine to the demo partner,
// relative to the outbound FHIR base.
type outboundSearchCase struct {
	name, method, path string
	header             http.Header
	body               string
}

// requireOutboundSearchRejected sends each case in its own subtest, to a
// fresh gateway that allows interactions, and requires the congruence
// search rule to reject it before the partner receives any request.
func requireOutboundSearchRejected(t *testing.T, interactions []string, cases []outboundSearchCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, ehr, engine, base := startMemberIDOutbound(t, interactions...)

			resp, got := sendOutbound(t, engine, c.method, base+c.path, c.header, c.body)

			requireOutboundRefusal(t, h, ehr, 0, resp, got, outboundRefusal{http.StatusForbidden, "forbidden", congruence.SearchRule})
		})
	}
}

var jsonHeader = http.Header{"Content-Type": {"application/fhir+json"}}

// batchSearching is a batch Bundle whose one entry searches url.
func batchSearching(url string) string {
	return `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"` + url + `"}}]}`
}

// taskFromPayer is a Task whose requester is the development payer, which
// outbound congruence requires of a Task.
const taskFromPayer = `{"resourceType":"Task","status":"requested","intent":"order",` +
	`"requester":{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}}}`

// A compromised engine searches the demo partner for members it never
// named: another partner's member A, a member no partner named, or anyone
// by server id, demographics or criteria the gateway cannot read. Each
// search would tell the partner who the member is. The gateway rejects it
// with 403 congruence.outbound-search, and the partner receives nothing.
func TestOutboundSearchOtherMemberRejected(t *testing.T) {
	unsent := congruence.Identifier{System: outboundMemberB.System, Value: "member-unsent"}
	cases := []outboundSearchCase{
		{"patient by other member", "GET", "/Patient?identifier=" + searchToken(outboundMemberA), nil, ""},
		{"patient by other member id", "GET", "/Patient?identifier=" + searchToken(otherMemberID), nil, ""},
		{"patient by unsent member", "GET", "/Patient?identifier=" + searchToken(unsent), nil, ""},
		{"patient own and other", "GET", "/Patient?identifier=" + searchToken(outboundMemberB) + "," + searchToken(outboundMemberA), nil, ""},
		{"patient by demographics", "GET", "/Patient?family=Other&birthdate=1970-01-01", nil, ""},
		{"patient own narrowed by email", "GET", "/Patient?identifier=" + searchToken(outboundMemberB) + "&email=other%40example.org", nil, ""},
		{"patient unfiltered", "GET", "/Patient", nil, ""},
		{"patient without system", "GET", "/Patient?identifier=" + otherMemberID.Value, nil, ""},
		{"observation by server id", "GET", "/Observation?patient=Patient/123", nil, ""},
		{"observation by bare id", "GET", "/Observation?patient=123", nil, ""},
		{"observation by typed subject", "GET", "/Observation?subject:Patient=123", nil, ""},
		{"observation identifier modifier", "GET", "/Observation?patient:identifier=" + searchToken(outboundMemberA), nil, ""},
		{"coverage subscriber-id", "GET", "/Coverage?subscriber-id=" + otherMemberID.Value, nil, ""},
		{"coverage beneficiary", "GET", "/Coverage?beneficiary:identifier=" + searchToken(outboundMemberA), nil, ""},
		{"coverage own identifier", "GET", "/Coverage?identifier=" + searchToken(otherMemberID), nil, ""},
		{"every type coverage unsent", "GET", "?_type=Coverage&identifier=" + unsent.Value, nil, ""},
		{"every type coverage other system", "GET", "?_type=Coverage&identifier=" + url.QueryEscape("urn:example:coverage|c-1"), nil, ""},
		{"identifier of-type", "GET", "/Patient?identifier:of-type=" + url.QueryEscape("urn:x|MB|"+outboundMemberA.Value), nil, ""},
		{"task by other member", "GET", "/Task?identifier=" + searchToken(outboundMemberA), nil, ""},
		{"task by other member id without system", "GET", "/Task?identifier=" + otherMemberID.Value, nil, ""},
		{"task by unsent member id", "GET", "/Task?identifier=" + searchToken(congruence.Identifier{System: otherMemberID.System, Value: "M-UNSENT"}), nil, ""},
		{"post search form", "POST", "/Patient/_search", formHeader, "identifier=" + searchToken(outboundMemberA)},
		{"batch entry", "POST", "", jsonHeader, batchSearching("Patient?identifier=" + searchToken(outboundMemberA))},
		{"batch entry by server id", "POST", "", jsonHeader, batchSearching("Observation?patient=Patient/123")},
		{"conditional delete", "DELETE", "/Patient?identifier=" + searchToken(outboundMemberA), nil, ""},
		{"if-none-exist", "POST", "/Task", http.Header{"Content-Type": {"application/fhir+json"},
			"If-None-Exist": {"patient:identifier=" + searchToken(outboundMemberA)}}, taskFromPayer},
	}
	requireOutboundSearchRejected(t, searchInteractions, cases)
}

// The criteria that the gateway cannot read, or that reach another type,
// were already rejected by the outbound search rules, before congruence
// reads them. These cases pin that they stay rejected.
func TestOutboundSearchUnreadableCriteriaRejected(t *testing.T) {
	cases := []struct {
		outboundSearchCase
		rule string
	}{
		{outboundSearchCase{"chain", "GET", "/Observation?patient.identifier=" + searchToken(outboundMemberA), nil, ""}, "policy.feature.chain"},
		{outboundSearchCase{"reverse chain", "GET", "/Observation?_has:Coverage:beneficiary:subscriber-id=" + otherMemberID.Value, nil, ""}, "policy.feature.has"},
		{outboundSearchCase{"filter", "GET", "/Observation?_filter=patient%20eq%20x", nil, ""}, "policy.search.param"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, ehr, engine, base := startMemberIDOutbound(t, searchInteractions...)

			resp, got := sendOutbound(t, engine, c.method, base+c.path, c.header, c.body)

			requireOutboundRefusal(t, h, ehr, 0, resp, got, outboundRefusal{http.StatusForbidden, "forbidden", c.rule})
		})
	}
}

// The demo partner's own member B can still be searched, by each form the
// gateway reads, and searches that name no person reach the partner too.
func TestOutboundSearchOwnMemberForwarded(t *testing.T) {
	cases := []outboundSearchCase{
		{"patient by member", "GET", "/Patient?identifier=" + searchToken(outboundMemberB) + "&_count=1", nil, ""},
		{"patient by member id", "GET", "/Patient?identifier=" + searchToken(ownMemberID), nil, ""},
		{"observation by patient identifier", "GET", "/Observation?patient:identifier=" + searchToken(outboundMemberB) + "&code=29463-7", nil, ""},
		{"coverage subscriber-id", "GET", "/Coverage?subscriber-id=" + ownMemberID.Value, nil, ""},
		{"post search form", "POST", "/Patient/_search", formHeader, "identifier=" + searchToken(outboundMemberB)},
		{"batch entry", "POST", "", jsonHeader, batchSearching("Patient?identifier=" + searchToken(outboundMemberB))},
		{"practitioner by name", "GET", "/Practitioner?name=Jones", nil, ""},
		{"observation by code", "GET", "/Observation?code=29463-7", nil, ""},
		{"task by own identifier", "GET", "/Task?identifier=" + url.QueryEscape("urn:example:task|42"), nil, ""},
		{"capabilities", "GET", "/metadata", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, ehr, engine, base := startMemberIDOutbound(t, searchInteractions...)

			resp, got := sendOutbound(t, engine, c.method, base+c.path, c.header, c.body)

			if n := ehr.calls.Load(); n != 1 {
				t.Fatalf("the partner received %d requests, want 1 (status %d: %s)", n, resp.StatusCode, got)
			}
		})
	}
}
