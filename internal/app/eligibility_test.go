package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/ehrclient"
	"github.com/gatehouse-health/gatehouse/internal/members"
	"github.com/gatehouse-health/gatehouse/internal/payer"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

const eligibilityScope = "system/CoverageEligibilityRequest.$submit"

// Eligibility through the gateway, over mutual TLS to the built-in payer
// service, with strict mode on both ways: active and lapsed coverage, the
// patient contained in the request or in a Bundle beside it.
func TestEligibilityThroughGateway(t *testing.T) {
	h, client, header := startEligibility(t, []enrolledMember{
		{members.Member{ID: "MACTIVE0001", Family: "Active", Given: "Ann", BirthDate: "1980-01-01", Gender: "female"},
			members.Coverage{ID: "MACTIVE0001-1", Plan: "private", Payor: "private", Start: "2020-01-01"}},
		{members.Member{ID: "MLAPSED0001", Family: "Lapsed", Given: "Len", BirthDate: "1970-01-01", Gender: "male"},
			members.Coverage{ID: "MLAPSED0001-1", Plan: "private", Payor: "private", Start: "2015-01-01", End: "2019-12-31"}},
	})
	ctx := context.Background()
	// The payer matches the member id with the family name and birth date.
	demographics := map[string]string{
		"MACTIVE0001": `"name":[{"family":"Active","given":["Ann"]}],"birthDate":"1980-01-01"`,
		"MLAPSED0001": `"name":[{"family":"Lapsed","given":["Len"]}],"birthDate":"1970-01-01"`,
	}
	patient := func(id string) string {
		return `{"resourceType":"Patient","id":"p","identifier":[{"system":"` + payer.DefaultMemberSystem + `","value":"` + id + `"}],` + demographics[id] + `}`
	}
	contained := func(id string) string {
		return `{"resourceType":"CoverageEligibilityRequest","id":"req-1","status":"active","purpose":["validation"],
 "contained":[` + patient(id) + `],"patient":{"reference":"#p"},"servicedDate":"2026-03-01","created":"2026-03-01T09:00:00Z",
 "insurer":{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}}}`
	}
	inBundle := func(id string) string {
		return `{"resourceType":"Bundle","type":"collection","entry":[
 {"fullUrl":"urn:uuid:6f1c0d38-3f59-4b43-a3a5-0c1f3e6f0a01","resource":{"resourceType":"CoverageEligibilityRequest","status":"active","purpose":["validation"],
  "patient":{"reference":"urn:uuid:6f1c0d38-3f59-4b43-a3a5-0c1f3e6f0a02"},"servicedDate":"2026-03-01","created":"2026-03-01T09:00:00Z",
  "insurer":{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}}}},
 {"fullUrl":"urn:uuid:6f1c0d38-3f59-4b43-a3a5-0c1f3e6f0a02","resource":` + patient(id) + `}]}`
	}
	tests := []struct {
		name    string
		body    string
		inforce bool
	}{
		{"active coverage, contained patient", contained("MACTIVE0001"), true},
		{"lapsed coverage, contained patient", contained("MLAPSED0001"), false},
		{"active coverage, patient in a Bundle", inBundle("MACTIVE0001"), true},
		{"lapsed coverage, patient in a Bundle", inBundle("MLAPSED0001"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.send(client.HTTPClient(), "POST", "/fhir/CoverageEligibilityRequest/$submit", header, []byte(tt.body))
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var r struct {
				ResourceType string `json:"resourceType"`
				Insurance    []struct {
					Inforce bool `json:"inforce"`
				} `json:"insurance"`
			}
			if err := json.Unmarshal(body, &r); err != nil || r.ResourceType != "CoverageEligibilityResponse" {
				t.Fatalf("not a CoverageEligibilityResponse: %s", body)
			}
			if len(r.Insurance) != 1 || r.Insurance[0].Inforce != tt.inforce {
				t.Errorf("insurance %+v, want one with inforce %v", r.Insurance, tt.inforce)
			}
			if strings.Contains(tt.body, `"#p"`) && !strings.Contains(string(body), `"contained"`) {
				t.Errorf("the response refers to a contained patient it does not contain: %s", body)
			}
		})
	}

	// A partner's request on behalf of another provider, or about another
	// payer's coverage, is rejected before the payer receives the request.
	rejected := []struct {
		name, body, want string
	}{
		{"another provider", strings.Replace(contained("MACTIVE0001"), `"insurer"`,
			`"provider":{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"9999999991"}},"insurer"`, 1),
			"CoverageEligibilityRequest.provider"},
		{"another insurer", strings.Replace(contained("MACTIVE0001"), `"1234567893"`, `"9876543210"`, 1),
			"CoverageEligibilityRequest.insurer"},
	}
	for _, tt := range rejected {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.send(client.HTTPClient(), "POST", "/fhir/CoverageEligibilityRequest/$submit", header, []byte(tt.body))
			body := string(readBody(t, resp))
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if !strings.Contains(body, `"code":"forbidden"`) {
				t.Errorf("OperationOutcome %s does not have code forbidden", body)
			}
			if !strings.Contains(body, tt.want) {
				t.Errorf("OperationOutcome %s does not name %s", body, tt.want)
			}
			entries, err := h.store.List(ctx, record.Filter{ExchangeID: resp.Header.Get("X-Request-Id")})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].Phase != record.PhaseRefusal {
				t.Errorf("%d entries, want the refusal alone: the request reached the payer", len(entries))
			}
		})
	}

	// Only patients the payer accepted are linked to the partner for the
	// outbound patient check: a guessed member id gets 422 and no link.
	demographics["MGUESSED001"] = `"name":[{"family":"Guessed","given":["Gil"]}],"birthDate":"1990-01-01"`
	resp := h.send(client.HTTPClient(), "POST", "/fhir/CoverageEligibilityRequest/$submit", header, []byte(contained("MGUESSED001")))
	if body := readBody(t, resp); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("guessed member: status %d, want 422: %s", resp.StatusCode, body)
	}
	links := linkPatients(t, h, "unused-partner")
	for _, tt := range []struct {
		member string
		want   bool
	}{{"MACTIVE0001", true}, {"MGUESSED001", false}} {
		member := []congruence.Identifier{{System: payer.DefaultMemberSystem, Value: tt.member}}
		if known := linkedTo(t, links, devmode.PartnerID, member); known != tt.want {
			t.Errorf("member %s linked to the partner = %v, want %v", tt.member, known, tt.want)
		}
	}
}

// startEligibility starts a gateway in front of the built-in payer that
// lets the partner send CoverageEligibilityRequest/$submit, adds enrolled
// to the payer's members, and returns the harness, the partner's client
// and the headers of an authorized FHIR JSON request.
func startEligibility(t *testing.T, enrolled []enrolledMember) (*harness, *ehrclient.Client, http.Header) {
	t.Helper()
	op := payerOperation{interaction: "CoverageEligibilityRequest/$submit", scope: eligibilityScope, role: "coverage"}
	return startPayerOperation(t, op, nil, enrolled)
}
