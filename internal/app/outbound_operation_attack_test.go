package app_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
)

// operationInteractions are the outbound interactions the operation tests
// allow, so that only congruence decides.
var operationInteractions = []string{
	"Patient/$everything", "Patient/[id]/$everything", "Patient/$export", "$export",
	"Patient/$member-match", "Patient/$match", "Patient/[id]/$meta", "Group/[id]/$export", "Group/[id]/$everything", "batch-transaction",
}

// A compromised engine names a member in the URL of an operation, where
// no search rule reads it, or runs an operation that returns every patient
// of the partner. The gateway rejects it with 403 congruence.outbound-search
// and the partner receives nothing.
func TestOutboundOperationURLRejected(t *testing.T) {
	other := searchToken(outboundMemberA)
	cases := []outboundSearchCase{
		{"type everything", "GET", "/Patient/$everything", nil, ""},
		{"type everything with count", "GET", "/Patient/$everything?_count=10", nil, ""},
		{"type export", "GET", "/Patient/$export?_type=Observation", nil, ""},
		{"system export", "GET", "/$export", nil, ""},
		{"group export", "GET", "/Group/g1/$export", nil, ""},
		{"group everything", "GET", "/Group/g1/$everything", nil, ""},
		{"batch entry group export", "POST", "", jsonHeader, batchSearching("Group/g1/$export")},
		{"member-match by GET", "GET", "/Patient/$member-match?memberId=" + other, nil, ""},
		{"match by GET", "GET", "/Patient/$match?identifier=" + other, nil, ""},
		{"instance everything identifier", "GET", "/Patient/123/$everything?identifier=" + other, nil, ""},
		{"instance everything modifier", "GET", "/Patient/123/$everything?start:missing=true", nil, ""},
		{"instance meta with parameter", "GET", "/Patient/123/$meta?patient=" + other, nil, ""},
		{"post with URL parameter", "POST", "/Patient/$member-match?memberId=" + other, jsonHeader, `{"resourceType":"Parameters"}`},
		{"batch entry type everything", "POST", "", jsonHeader, batchSearching("Patient/$everything")},
		{"batch entry match", "POST", "", jsonHeader, batchSearching("Patient/$match?identifier=" + other)},
	}
	requireOutboundSearchRejected(t, operationInteractions, cases)
}

// An instance operation names its resource by the partner's own server
// id, as a read does, so $everything on one patient still reaches the
// partner, with the parameters that name no one.
func TestOutboundInstanceOperationForwarded(t *testing.T) {
	cases := []outboundSearchCase{
		{"instance everything", "GET", "/Patient/123/$everything", nil, ""},
		{"instance everything dates", "GET", "/Patient/123/$everything?start=2024-01-01&end=2024-12-31&_since=2024-06-01T00:00:00Z&_count=5&_type=Observation", nil, ""},
		{"instance meta", "GET", "/Patient/123/$meta", nil, ""},
		{"batch entry instance everything", "POST", "", jsonHeader, batchSearching("Patient/123/$everything?start=2024-01-01")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, ehr, engine, base := startMemberIDOutbound(t, operationInteractions...)

			resp, got := sendOutbound(t, engine, c.method, base+c.path, c.header, c.body)

			if n := ehr.calls.Load(); n != 1 {
				t.Fatalf("the partner received %d requests, want 1 (status %d: %s)", n, resp.StatusCode, got)
			}
		})
	}
}

// repeatedTaskSearch returns a batch Bundle whose n entries run the same
// Task search for 16 identifiers. The identifiers name no person and are
// linked to no partner, so each costs one link read and passes. The body
// check reads the 16 distinct identifiers once, but the search check reads
// them again for each entry.
func repeatedTaskSearch(n int) string {
	values := make([]string, 16)
	for i := range values {
		values[i] = "urn:example:task|" + strconv.Itoa(i)
	}
	entry := `{"request":{"method":"GET","url":"Task?identifier=` + url.QueryEscape(strings.Join(values, ",")) + `"}}`
	entries := make([]string, n)
	for i := range entries {
		entries[i] = entry
	}
	return `{"resourceType":"Bundle","type":"batch","entry":[` + strings.Join(entries, ",") + `]}`
}

// The link-read cap covers the whole request: a batch that repeats a
// search, each under the cap, is rejected once the reads of all its
// searches exceed 1,024, and the partner receives nothing. Fewer repeats
// still pass.
func TestOutboundSearchLinkReadCapPerRequest(t *testing.T) {
	t.Run("60 searches under the cap", func(t *testing.T) {
		_, ehr, engine, base := startMemberIDOutbound(t, "Task.search", "batch-transaction")

		resp, got := sendOutbound(t, engine, "POST", base, jsonHeader, repeatedTaskSearch(60))

		if n := ehr.calls.Load(); n != 1 {
			t.Fatalf("the partner received %d requests, want 1 (status %d: %s)", n, resp.StatusCode, got)
		}
	})
	t.Run("70 searches over the cap", func(t *testing.T) {
		h, ehr, engine, base := startMemberIDOutbound(t, "Task.search", "batch-transaction")

		resp, got := sendOutbound(t, engine, "POST", base, jsonHeader, repeatedTaskSearch(70))

		requireOutboundRefusal(t, h, ehr, 0, resp, got, outboundRefusal{http.StatusForbidden, "forbidden", congruence.SearchRule})
	})
}

// Identifier values in search criteria are compared with the links
// exactly, because FHIR R4 token search is case-sensitive unless the
// context says otherwise. A server may still match Identifier.value, a
// string, in any letter case, so a letter-case variant of a member's
// value is not linked to the destination and is rejected, even for the
// destination's own member.
func TestOutboundSearchIdentifierCaseVariantRejected(t *testing.T) {
	upper := func(id congruence.Identifier) congruence.Identifier {
		return congruence.Identifier{System: id.System, Value: strings.ToUpper(id.Value)}
	}
	lower := func(id congruence.Identifier) congruence.Identifier {
		return congruence.Identifier{System: id.System, Value: strings.ToLower(id.Value)}
	}
	cases := []outboundSearchCase{
		{"other partner's member", "GET", "/Patient?identifier=" + searchToken(upper(outboundMemberA)), nil, ""},
		{"own member", "GET", "/Patient?identifier=" + searchToken(upper(outboundMemberB)), nil, ""},
		{"own member id", "GET", "/Patient?identifier=" + searchToken(lower(ownMemberID)), nil, ""},
		{"other member id in task", "GET", "/Task?identifier=" + searchToken(lower(otherMemberID)), nil, ""},
	}
	requireOutboundSearchRejected(t, searchInteractions, cases)
}
