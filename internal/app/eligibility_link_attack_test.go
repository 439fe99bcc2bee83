package app_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/members"
	"github.com/gatehouse-health/gatehouse/internal/payer"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

// A hostile partner that has its own member's id and demographics puts
// another member's id on the same Patient of an eligibility request. The
// payer matches its own member, so the request would be accepted and the
// gateway would link the other member's id to the partner, opening the
// outbound patient check for that member. The payer must reject it with
// 422 business-rule, and the other member must stay unlinked.
func TestEligibilityForeignMemberIDNotLinked(t *testing.T) {
	own := members.Member{ID: "MOWN000001", Family: "Own", Given: "Olga", BirthDate: "1980-01-01", Gender: "female"}
	other := members.Member{ID: "MOTHER0001", Family: "Other", Given: "Otto", BirthDate: "1970-01-01", Gender: "male"}
	h, client, header := startEligibility(t, []enrolledMember{
		{own, members.Coverage{ID: own.ID + "-1", Plan: "private", Payor: "private", Start: "2020-01-01"}},
		{other, members.Coverage{ID: other.ID + "-1", Plan: "private", Payor: "private", Start: "2020-01-01"}},
	})
	ctx := context.Background()
	member := func(value string) string {
		return `{"system":"` + payer.DefaultMemberSystem + `","value":"` + value + `"}`
	}
	request := func(identifiers string) []byte {
		return []byte(`{"resourceType":"CoverageEligibilityRequest","id":"req-1","status":"active","purpose":["validation"],
 "contained":[{"resourceType":"Patient","id":"p","identifier":[` + identifiers + `],
  "name":[{"family":"Own","given":["Olga"]}],"gender":"female","birthDate":"1980-01-01"}],
 "patient":{"reference":"#p"},"servicedDate":"2026-03-01","created":"2026-03-01T09:00:00Z",
 "insurer":{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}}}`)
	}
	attacks := []struct{ name, identifiers string }{
		{"beside the own member id", member("MOWN000001") + `,` + member("MOTHER0001")},
		{"alone, matched by demographics", member("MOTHER0001")},
		{"in a variant of the member system", member("MOWN000001") + `,{"system":"URN:gatehouse:payer:member-id","value":"MOTHER0001"}`},
	}
	for _, tt := range attacks {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.send(client.HTTPClient(), "POST", "/fhir/CoverageEligibilityRequest/$submit", header, request(tt.identifiers))
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %s", resp.StatusCode, body)
			}
			if code := outcomeCode(t, body); code != "business-rule" {
				t.Errorf("OperationOutcome code = %q, want business-rule", code)
			}
			entries, err := h.store.List(ctx, record.Filter{ExchangeID: resp.Header.Get("X-Request-Id")})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) == 0 {
				t.Fatal("the exchange has no recorded entries")
			}
			if last := entries[len(entries)-1]; last.Status != http.StatusUnprocessableEntity {
				t.Errorf("last recorded entry has status %d, want the payer's 422", last.Status)
			}
		})
	}

	links := linkPatients(t, h, "unused-partner")
	otherIDs := []congruence.Identifier{
		{System: payer.DefaultMemberSystem, Value: other.ID},
		{System: "URN:gatehouse:payer:member-id", Value: other.ID},
	}
	got, err := links.Lookup(ctx, devmode.PartnerID, otherIDs)
	if err != nil {
		t.Fatal(err)
	}
	for i, link := range got {
		if link.Partner {
			t.Errorf("%s|%s is linked to the partner", otherIDs[i].System, otherIDs[i].Value)
		}
	}

	// The partner's own member alone is still accepted and linked.
	resp := h.send(client.HTTPClient(), "POST", "/fhir/CoverageEligibilityRequest/$submit", header, request(member("MOWN000001")))
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("own member: status %d, want 200: %s", resp.StatusCode, body)
	}
	got, err = links.Lookup(ctx, devmode.PartnerID, []congruence.Identifier{{System: payer.DefaultMemberSystem, Value: "MOWN000001"}})
	if err != nil {
		t.Fatal(err)
	}
	if !got[0].Partner {
		t.Error("the partner's own member is not linked after an accepted request")
	}
}
