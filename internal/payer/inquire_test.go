package payer

import (
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/gatehouse-health/gatehouse/internal/pas"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

var inquiryIdentifier = pas.Identifier{System: "http://example.org/SUBMITTER_TRANSACTION_IDENTIFIER", Value: "INQ-1"}

// inquiryFor builds the inquiry a submitter sends about body.
func inquiryFor(t *testing.T, body []byte) []byte {
	t.Helper()
	inq, err := pas.BuildInquiry(mustParseRequest(t, body), pas.InquiryParams{
		ClaimID:          "00000000-0000-4000-8000-0000000000aa",
		BundleIdentifier: inquiryIdentifier,
		Created:          time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	return inq
}

func (ts *testService) inquire(t *testing.T, body []byte, header ...string) reply {
	t.Helper()
	return ts.post(t, "/Claim/$inquire", fhirJSONType, body, header...)
}

func TestInquireAfterSubmit(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		body := demoBundle(t, homecare221)
		submitted := mustResponse(t, ts.submit(t, body))

		r := ts.inquire(t, inquiryFor(t, body))
		answer := mustResponse(t, r)
		if answer.PreAuthRef != submitted.PreAuthRef {
			t.Errorf("preAuthRef %q, expected %q", answer.PreAuthRef, submitted.PreAuthRef)
		}
		if !slices.Equal(actions(answer), actions(submitted)) {
			t.Errorf("decisions %v, expected %v", actions(answer), actions(submitted))
		}
		if answer.ClaimResponse.ID != submitted.ClaimResponse.ID {
			t.Errorf("ClaimResponse %q, expected the stored %q", answer.ClaimResponse.ID, submitted.ClaimResponse.ID)
		}
		if !strings.Contains(string(r.body), pas.ProfileInquiryResponseBundle) {
			t.Errorf("answer does not declare the inquiry response Bundle profile")
		}
		if !strings.Contains(string(answer.BundleIdentifier), "INQ-1") {
			t.Errorf("Bundle.identifier %s, expected the inquiry's", answer.BundleIdentifier)
		}
	})
}

func TestInquireWithIGExample(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		// The IG's own inquiry names identifier 111099 and the same patient and
		// provider as the 2.2.1 Homecare request.
		ts := newTestService(t, b, Options{})
		submitted := mustResponse(t, ts.submit(t, demoBundle(t, homecare221)))

		dir := corpustest.Unpack(t, "davinci-pas/hl7.fhir.us.davinci-pas-2.2.1.tgz")
		inq := readFile(t, filepath.Join(dir, "package", "example", "Bundle-PASClaimInquiryBundleExample.json"))
		answer := mustResponse(t, ts.inquire(t, inq))
		if answer.PreAuthRef != submitted.PreAuthRef {
			t.Errorf("preAuthRef %q, expected %q", answer.PreAuthRef, submitted.PreAuthRef)
		}
	})
}

func TestInquireReturnsCurrentDecision(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		original := demoBundle(t, homecare221)
		mustResponse(t, ts.submit(t, original))
		update := mustResponse(t, ts.submit(t, demoBundle(t, update221)))

		// Asking about the original identifier finds the update's decision.
		answer := mustResponse(t, ts.inquire(t, inquiryFor(t, original)))
		if answer.ClaimResponse.ID != update.ClaimResponse.ID {
			t.Errorf("ClaimResponse %q, expected the update's %q", answer.ClaimResponse.ID, update.ClaimResponse.ID)
		}
		if got := actions(answer); !slices.Equal(got, actions(update)) {
			t.Errorf("decisions %v, expected the update's %v", got, actions(update))
		}
	})
}

func TestInquireNotFound(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		cases := []struct {
			name    string
			inquiry func(t *testing.T, inq []byte) []byte
			header  []string
		}{
			{"unknown identifier", func(t *testing.T, inq []byte) []byte {
				return rewrite(t, inq, func(b map[string]any) {
					claim := resourceAt(b, "Claim")
					claim["identifier"] = []any{map[string]any{"system": "urn:trnorg:9012345678", "value": "999999"}}
				})
			}, nil},
			{"another patient", func(t *testing.T, inq []byte) []byte {
				return rewrite(t, inq, func(b map[string]any) {
					resourceAt(b, "Patient")["identifier"] = []any{map[string]any{"system": "http://example.org/MIN", "value": "99999999999"}}
				})
			}, nil},
			{"another provider", func(t *testing.T, inq []byte) []byte {
				return rewrite(t, inq, func(b map[string]any) {
					resourceByID(b, "UMOExample")["identifier"] = []any{map[string]any{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1111111112"}}
				})
			}, nil},
			{"another partner", func(_ *testing.T, inq []byte) []byte { return inq }, []string{PartnerHeader, "other-partner"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ts := newTestService(t, b, Options{})
				body := demoBundle(t, referral221)
				mustResponse(t, ts.submit(t, body))

				r := ts.inquire(t, tc.inquiry(t, inquiryFor(t, body)), tc.header...)
				if r.status != http.StatusNotFound {
					t.Fatalf("status %d, expected 404: %s", r.status, r.body)
				}
				oo := mustOutcome(t, r.body)
				if oo.Issue[0].Code != "not-found" {
					t.Errorf("issue code %q, expected not-found", oo.Issue[0].Code)
				}
				if oo.Issue[0].Diagnostics != "no prior authorization matches the inquiry" {
					t.Errorf("diagnostics %q, expected only that nothing matched", oo.Issue[0].Diagnostics)
				}
			})
		}
	})
}

func TestInquireRejectsSubmitBundle(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		r := ts.inquire(t, demoBundle(t, referral221))
		if r.status != http.StatusBadRequest {
			t.Fatalf("status %d, expected 400: %s", r.status, r.body)
		}
		if oo := mustOutcome(t, r.body); !slices.Equal(oo.Issue[0].Expression, []string{"Bundle.meta.profile"}) {
			t.Errorf("expression %v, expected Bundle.meta.profile", oo.Issue[0].Expression)
		}
	})
}
