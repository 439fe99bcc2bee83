package payer

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/members"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// TestEligibilityCapsCandidateIDs sends an eligibility request whose
// patient carries many guessed member ids. The member is found by id
// alone, so one request must not test more than a few: it is rejected
// without the coverage of the member among them.
func TestEligibilityCapsCandidateIDs(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		addMember(t, ts, members.Member{ID: "MACTIVE0001", Family: "Active", Given: "Ann", BirthDate: "1980-01-01", Gender: "female"}, "2020-01-01", "")

		request := func(n int) []byte {
			var ids []string
			for i := range n - 1 {
				ids = append(ids, fmt.Sprintf(`{"system":"%s","value":"MGUESS%05d"}`, DefaultMemberSystem, i))
			}
			ids = append(ids, `{"system":"`+DefaultMemberSystem+`","value":"MACTIVE0001"}`)
			return []byte(strings.Replace(string(eligibilityRequest("MACTIVE0001", "2026-03-01")),
				`"identifier":[{"system":"`+DefaultMemberSystem+`","value":"MACTIVE0001"}]`, `"identifier":[`+strings.Join(ids, ",")+`]`, 1))
		}

		r := ts.post(t, "/CoverageEligibilityRequest/$submit", fhirJSONType, request(200), PartnerHeader, partnerA)
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("status %d with 200 candidate ids, expected 422: %.300s", r.status, r.body)
		}
		if oo := mustOutcome(t, r.body); oo.Issue[0].Code != "business-rule" {
			t.Errorf("issue code %q, expected business-rule", oo.Issue[0].Code)
		}
		if strings.Contains(string(r.body), "Coverage/") {
			t.Errorf("the refusal carries coverage: %s", r.body)
		}

		// Within the cap, the guessed ids are still other members' ids on
		// the matched member's Patient, which the gateway would link to the
		// partner, so the request is rejected for that, not for the cap.
		r = ts.post(t, "/CoverageEligibilityRequest/$submit", fhirJSONType, request(maxMatchIDs), PartnerHeader, partnerA)
		if r.status != http.StatusUnprocessableEntity {
			t.Errorf("status %d with %d candidate ids, expected 422: %.300s", r.status, maxMatchIDs, r.body)
		}
		if !strings.Contains(string(r.body), "not the matched member's") {
			t.Errorf("the refusal with %d candidate ids does not name the foreign member id: %.300s", maxMatchIDs, r.body)
		}
		if strings.Contains(string(r.body), "Coverage/") {
			t.Errorf("the refusal carries coverage: %s", r.body)
		}
	})
}
