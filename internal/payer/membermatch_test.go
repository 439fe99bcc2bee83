package payer

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/members"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// TestMemberMatchCapsCandidateIDs sends a family name, a birth date and a
// long list of guessed member ids. Matching by id checks only the family
// name and birth date, so one request must not test more than a few ids:
// the request is rejected without naming the member among them.
func TestMemberMatchCapsCandidateIDs(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		addMember(t, ts, members.Member{ID: "MPERSON0001", Family: "Person", Given: "Patricia", BirthDate: "1974-12-25", Gender: "female"}, "2011-05-23", "")

		guesses := func(n int) func(p map[string]any) {
			return func(p map[string]any) {
				pat := parameterResource(p, "MemberPatient")
				var ids []any
				for i := range n - 1 {
					ids = append(ids, map[string]any{"system": DefaultMemberSystem, "value": fmt.Sprintf("MGUESS%05d", i)})
				}
				ids = append(ids, map[string]any{"system": DefaultMemberSystem, "value": "MPERSON0001"})
				pat["identifier"] = ids
				pat["name"] = []any{map[string]any{"family": "Person", "given": []any{"Unknown"}}}
				delete(pat, "gender")
			}
		}

		r := ts.post(t, "/Patient/$member-match", fhirJSONType, memberMatchInput(t, guesses(200)), PartnerHeader, partnerA)
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("status %d with 200 candidate ids, expected 422: %.300s", r.status, r.body)
		}
		if oo := mustOutcome(t, r.body); oo.Issue[0].Code != "business-rule" {
			t.Errorf("issue code %q, expected business-rule", oo.Issue[0].Code)
		}
		if strings.Contains(string(r.body), "MPERSON0001") {
			t.Errorf("the refusal names the member: %s", r.body)
		}

		r = ts.post(t, "/Patient/$member-match", fhirJSONType, memberMatchInput(t, guesses(maxMatchIDs)), PartnerHeader, partnerA)
		if r.status != http.StatusOK || !strings.Contains(string(r.body), "MPERSON0001") {
			t.Errorf("status %d with %d candidate ids, expected the match: %.300s", r.status, maxMatchIDs, r.body)
		}
	})
}
