package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/members"
)

// The patient and Claim identifiers of pas-2.0.1-HomecareAuthorizationBundleExample.json.
var (
	examplePatient = congruence.Identifier{System: "http://example.org/MIN", Value: "12345678901"}
	exampleClaim   = congruence.Identifier{System: "http://example.org/PATIENT_EVENT_TRACE_NUMBER", Value: "111099"}
)

// exampleSubmission returns the shipped PAS request whose patient is
// SMITH JOE, male, with its birth date replaced by birthDate, or removed
// when birthDate is "".
func exampleSubmission(t *testing.T, birthDate string) []byte {
	t.Helper()
	in, err := os.ReadFile("../demo/bundles/pas-2.0.1-HomecareAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	const shipped = `,"birthDate":"1965-04-12"`
	if !strings.Contains(string(in), shipped) {
		t.Fatal("the example Patient no longer has the birth date this test replaces")
	}
	replacement := ""
	if birthDate != "" {
		replacement = `,"birthDate":"` + birthDate + `"`
	}
	return []byte(strings.Replace(string(in), shipped, replacement, 1))
}

// firstClaimResponse decodes the first entry of a PAS response Bundle.
type claimResponseSummary struct {
	Outcome    string
	PreAuthRef string
	ErrorCodes []string
}

func firstClaimResponse(t *testing.T, body []byte) claimResponseSummary {
	t.Helper()
	var b struct {
		Entry []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
				Outcome      string `json:"outcome"`
				PreAuthRef   string `json:"preAuthRef"`
				Error        []struct {
					Code struct {
						Coding []struct{ System, Code string } `json:"coding"`
					} `json:"code"`
				} `json:"error"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil || len(b.Entry) == 0 || b.Entry[0].Resource.ResourceType != "ClaimResponse" {
		t.Fatalf("body is not a PAS response Bundle: %s", body)
	}
	cr := b.Entry[0].Resource
	out := claimResponseSummary{Outcome: cr.Outcome, PreAuthRef: cr.PreAuthRef}
	for _, e := range cr.Error {
		for _, c := range e.Code.Coding {
			out.ErrorCodes = append(out.ErrorCodes, c.System+"#"+c.Code)
		}
	}
	return out
}

// requireLinked checks whether the demo partner's patient and claim links
// for the example submission are as want.
func requireLinked(t *testing.T, h *harness, want bool) {
	t.Helper()
	ctx := context.Background()
	patients, err := h.rt.PatientLinks().Lookup(ctx, devmode.PartnerID, []congruence.Identifier{examplePatient})
	if err != nil {
		t.Fatal(err)
	}
	if patients[0].Partner != want {
		t.Errorf("patient linked to the partner = %v, want %v", patients[0].Partner, want)
	}
	claims, err := h.rt.PatientLinks().LookupClaims(ctx, devmode.PartnerID, []congruence.Identifier{exampleClaim})
	if err != nil {
		t.Fatal(err)
	}
	if claims[0].Partner != want {
		t.Errorf("claim linked to the partner = %v, want %v", claims[0].Partner, want)
	}
}

// A partner that has a person's identifiers submits a prior
// authorization for them, to link them and open the outbound patient
// check for that person. The built-in payer contains members, and the
// patient is not one of them, so it must respond 200 with a ClaimResponse
// whose outcome is error and whose error is X12 AAA 75, and the gateway
// must link neither the patient nor the Claim identifier.
func TestSubmitNonMemberNotLinked(t *testing.T) {
	other := members.Member{ID: "MOTHER0001", Family: "Other", Given: "Otto", BirthDate: "1970-01-01", Gender: "male"}
	h, client, header := startEligibility(t, []enrolledMember{
		{other, members.Coverage{ID: other.ID + "-1", Plan: "private", Payor: "private", Start: "2020-01-01"}},
	})

	for _, tt := range []struct{ name, birthDate string }{{"no birth date", ""}, {"unknown demographics", "1980-02-03"}} {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.send(client.HTTPClient(), "POST", "/fhir/Claim/$submit", header, exampleSubmission(t, tt.birthDate))
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", resp.StatusCode, body)
			}
			cr := firstClaimResponse(t, body)
			if cr.Outcome != "error" {
				t.Errorf("ClaimResponse.outcome = %q, want error", cr.Outcome)
			}
			if len(cr.ErrorCodes) != 1 || cr.ErrorCodes[0] != "https://codesystem.x12.org/005010/901#75" {
				t.Errorf("ClaimResponse.error codes = %v, want X12 901 code 75", cr.ErrorCodes)
			}
			if cr.PreAuthRef != "" {
				t.Errorf("ClaimResponse.preAuthRef = %q, want none for a rejection", cr.PreAuthRef)
			}
			entries := h.entries(resp)
			if len(entries) == 0 || entries[len(entries)-1].Status != http.StatusOK {
				t.Errorf("recorded entries %+v, want the payer's 200 last", entries)
			}
			requireLinked(t, h, false)
		})
	}
}

// A gateway whose built-in payer has no member loaded, as in a deployment
// that never ran 'gatehouse payer load', must reject every patient,
// including the shipped example's, and link nothing. An empty member
// table does not mean that everyone is a member.
func TestSubmitNoMembersNotLinked(t *testing.T) {
	h := newHarness(t, harnessOptions{builtinUpstream: true, noMembers: true})
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}

	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, exampleSubmission(t, "1965-04-12"))
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", resp.StatusCode, body)
	}
	cr := firstClaimResponse(t, body)
	if cr.Outcome != "error" {
		t.Errorf("ClaimResponse.outcome = %q, want error", cr.Outcome)
	}
	if len(cr.ErrorCodes) != 1 || cr.ErrorCodes[0] != "https://codesystem.x12.org/005010/901#75" {
		t.Errorf("ClaimResponse.error codes = %v, want X12 901 code 75", cr.ErrorCodes)
	}
	if cr.PreAuthRef != "" {
		t.Errorf("ClaimResponse.preAuthRef = %q, want none for a rejection", cr.PreAuthRef)
	}
	requireLinked(t, h, false)
	if !strings.Contains(h.logs.String(), "the built-in payer has no members") {
		t.Error("start-up did not warn that the payer has no members")
	}
}

// The same submission for a patient who is a member, matched by the
// demographics of the Patient entry, is adjudicated and linked, so the
// rejection above comes from the membership check.
func TestSubmitMemberLinked(t *testing.T) {
	smith := members.Member{ID: "MSMITH0001", Family: "Smith", Given: "Joe", BirthDate: "1970-01-01", Gender: "male"}
	h, client, header := startEligibility(t, []enrolledMember{
		{smith, members.Coverage{ID: smith.ID + "-1", Plan: "private", Payor: "private", Start: "2020-01-01"}},
	})

	resp := h.send(client.HTTPClient(), "POST", "/fhir/Claim/$submit", header, exampleSubmission(t, smith.BirthDate))
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", resp.StatusCode, body)
	}
	if cr := firstClaimResponse(t, body); cr.Outcome == "error" || cr.PreAuthRef == "" {
		t.Errorf("ClaimResponse outcome %q, preAuthRef %q, want an adjudication", cr.Outcome, cr.PreAuthRef)
	}
	requireLinked(t, h, true)
}

// An accepted submission whose claim link cannot be written links its
// patient neither: the gateway writes both in one transaction, so a
// failure cannot leave a patient linked without its claim. The response
// is recorded already and is still released.
func TestSubmitLinksBothOrNeither(t *testing.T) {
	smith := members.Member{ID: "MSMITH0001", Family: "Smith", Given: "Joe", BirthDate: "1970-01-01", Gender: "male"}
	h, client, header := startEligibility(t, []enrolledMember{
		{smith, members.Coverage{ID: smith.ID + "-1", Plan: "private", Payor: "private", Start: "2020-01-01"}},
	})
	_, err := h.rt.DB.ExecContext(context.Background(), `CREATE TRIGGER test_refuse_claim BEFORE INSERT ON partner_claims
WHEN NEW.system = '`+exampleClaim.System+`' BEGIN SELECT RAISE(ABORT, 'test: insert refused'); END`)
	if err != nil {
		t.Fatal(err)
	}

	resp := h.send(client.HTTPClient(), "POST", "/fhir/Claim/$submit", header, exampleSubmission(t, smith.BirthDate))
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", resp.StatusCode, body)
	}
	requireLinked(t, h, false)
}

// A third-party payer engine responds to a Claim/$submit with 200 and a
// ClaimResponse whose outcome is error. The gateway must link nothing,
// whatever payer sends the rejection.
func TestSubmitErrorOutcomeFromUpstreamNotLinked(t *testing.T) {
	engine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write([]byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"ClaimResponse","status":"active","outcome":"error",` +
			`"error":[{"code":{"coding":[{"system":"https://codesystem.x12.org/005010/901","code":"75"}]}}]}}]}`))
	}))
	t.Cleanup(engine.Close)
	h := newHarness(t, harnessOptions{upstreamURL: engine.URL})

	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, exampleSubmission(t, ""))
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want the engine's 200: %s", resp.StatusCode, body)
	}
	requireLinked(t, h, false)
}
