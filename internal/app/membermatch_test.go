package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/ehrclient"
	"github.com/gatehouse-health/gatehouse/internal/members"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

const memberMatchScope = "system/Patient.$member-match"

// memberMatchHarness starts the gateway with the built-in payer service
// and strict mode, lets the demo partner call $member-match, and loads
// three members: Patricia Person of the HRex example, and two members who
// share every demographic. It returns the harness, a client granted the
// operation and the headers of an authorized FHIR JSON request.
func memberMatchHarness(t *testing.T) (*harness, *ehrclient.Client, http.Header) {
	t.Helper()
	op := payerOperation{interaction: "Patient/$member-match", scope: memberMatchScope, role: "member"}
	check := func(cfg *config.File) {
		if p := cfg.Partners[0]; cfg.PayerID.Value != devPayerNPI || p.Organization.Value != devmode.PartnerNPI {
			t.Fatalf("payer %v, partner %v: memberMatchRequest names other parties", cfg.PayerID, p.Organization)
		}
	}
	var enrolled []enrolledMember
	for _, m := range []members.Member{
		{ID: "MPERSON0001", Family: "Person", Given: "Patricia", BirthDate: "1974-12-25", Gender: "female"},
		{ID: "MTWIN000001", Family: "Twin", Given: "Alex", BirthDate: "1990-05-01", Gender: "male"},
		{ID: "MTWIN000002", Family: "Twin", Given: "Alex", BirthDate: "1990-05-01", Gender: "male"},
	} {
		c := members.Coverage{ID: m.ID + "-1", Plan: "private", Payor: "private", Start: "2011-05-23"}
		enrolled = append(enrolled, enrolledMember{m, c})
	}
	return startPayerOperation(t, op, check, enrolled)
}

// devPayerNPI is the payer_id of the development configuration.
const devPayerNPI = "1234567893"

// memberMatchRequest returns the HRex example input, changed by edit. The
// example's Consent ended in January 2022, so its period is moved to run
// from a year before today to a year after. The example's payer is made
// this gateway's payer, and its recipient the demo partner.
func memberMatchRequest(t *testing.T, edit func(params []any) []any) []byte {
	t.Helper()
	raw, err := os.ReadFile(corpustest.File(t, "davinci-hrex/examples/parameters-member-match-in.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC()
	consentProvision(p["parameter"].([]any))["period"] = map[string]any{
		"start": today.AddDate(-1, 0, 0).Format(time.DateOnly), "end": today.AddDate(1, 0, 0).Format(time.DateOnly)}
	for _, actor := range consentProvision(p["parameter"].([]any))["actor"].([]any) {
		npi := devPayerNPI
		if actorRole(actor) == "IRCP" {
			npi = devmode.PartnerNPI
		}
		actor.(map[string]any)["reference"] = npiReference(npi)
	}
	coverageToMatch(p["parameter"].([]any))["payor"] = []any{npiReference(devPayerNPI)}
	p["parameter"] = edit(p["parameter"].([]any))
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// memberPatient returns the MemberPatient resource of params.
func memberPatient(params []any) map[string]any {
	for _, x := range params {
		if p := x.(map[string]any); p["name"] == "MemberPatient" {
			return p["resource"].(map[string]any)
		}
	}
	return nil
}

// coverageToMatch returns the CoverageToMatch resource of params.
func coverageToMatch(params []any) map[string]any {
	for _, x := range params {
		if p := x.(map[string]any); p["name"] == "CoverageToMatch" {
			return p["resource"].(map[string]any)
		}
	}
	return nil
}

// actorRole returns the first role code of a Consent actor.
func actorRole(actor any) string {
	coding := actor.(map[string]any)["role"].(map[string]any)["coding"].([]any)
	return coding[0].(map[string]any)["code"].(string)
}

// npiReference is a Reference that names an organisation by its NPI.
func npiReference(npi string) map[string]any {
	return map[string]any{"identifier": map[string]any{"system": "http://hl7.org/fhir/sid/us-npi", "value": npi}}
}

// consentProvision returns the provision of the Consent of params.
func consentProvision(params []any) map[string]any {
	for _, x := range params {
		if p := x.(map[string]any); p["name"] == "Consent" {
			return p["resource"].(map[string]any)["provision"].(map[string]any)
		}
	}
	return nil
}

// Member match through the gateway, over mutual TLS to the built-in payer
// service: a true match, no match and an ambiguous match, each checked by
// strict mode against the HRex profiles both ways, and a request that
// breaks the input profile, which is never forwarded to the payer. A
// Consent that conforms but has ended or names another patient reaches the
// payer, which rejects it without naming the member.
func TestMemberMatchThroughGateway(t *testing.T) {
	h, client, header := memberMatchHarness(t)
	asTwin := func(params []any) []any {
		p := memberPatient(params)
		p["name"] = []any{map[string]any{"family": "Twin", "given": []any{"Alex"}}}
		p["birthDate"], p["gender"] = "1990-05-01", "male"
		return params
	}
	withoutConsent := func(params []any) []any {
		var rest []any
		for _, x := range params {
			if x.(map[string]any)["name"] != "Consent" {
				rest = append(rest, x)
			}
		}
		return rest
	}
	tests := []struct {
		name      string
		edit      func([]any) []any
		status    int
		want      string // in the body
		forwarded bool
	}{
		{"true match", func(p []any) []any { return p }, http.StatusOK, `"value":"MPERSON0001"`, true},
		{"no match", func(p []any) []any { memberPatient(p)["birthDate"] = "1974-12-24"; return p }, http.StatusUnprocessableEntity, `"resourceType":"OperationOutcome"`, true},
		{"ambiguous match", asTwin, http.StatusUnprocessableEntity, `"resourceType":"OperationOutcome"`, true},
		{"no Consent", withoutConsent, http.StatusUnprocessableEntity, "slice Consent", false},
		{"Consent that has ended", func(p []any) []any {
			consentProvision(p)["period"] = map[string]any{"start": "2022-01-01", "end": "2022-01-31"}
			return p
		}, http.StatusUnprocessableEntity, `"code":"business-rule"`, true},
		{"Consent of another patient", func(p []any) []any {
			for _, x := range p {
				if x.(map[string]any)["name"] == "Consent" {
					x.(map[string]any)["resource"].(map[string]any)["patient"] = map[string]any{"reference": "Patient/2"}
				}
			}
			return p
		}, http.StatusUnprocessableEntity, `"code":"business-rule"`, true},
		// A partner reusing a Consent given to another organisation, or
		// matching a member of another payer, is rejected before the payer
		// receives the request.
		{"Consent given to another organisation", func(p []any) []any {
			for _, actor := range consentProvision(p)["actor"].([]any) {
				if actorRole(actor) == "IRCP" {
					actor.(map[string]any)["reference"] = npiReference("0123456789")
				}
			}
			return p
		}, http.StatusForbidden, "does not name the partner's registered organisation", false},
		{"Consent recipient by literal reference", func(p []any) []any {
			for _, actor := range consentProvision(p)["actor"].([]any) {
				if actorRole(actor) == "IRCP" {
					actor.(map[string]any)["reference"].(map[string]any)["reference"] = "Organization/other"
				}
			}
			return p
		}, http.StatusForbidden, "without a literal reference", false},
		{"Consent disclosed by another payer", func(p []any) []any {
			for _, actor := range consentProvision(p)["actor"].([]any) {
				if actorRole(actor) == "performer" {
					actor.(map[string]any)["reference"] = npiReference("9876543210")
				}
			}
			return p
		}, http.StatusForbidden, "does not name this payer", false},
		{"coverage of another payer", func(p []any) []any {
			coverageToMatch(p)["payor"] = []any{npiReference("9876543210")}
			return p
		}, http.StatusForbidden, "payor[0] does not name this payer", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.send(client.HTTPClient(), "POST", "/fhir/Patient/$member-match", header, memberMatchRequest(t, tt.edit))
			body := string(readBody(t, resp))
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("status %d, body %s; want %d with %s", resp.StatusCode, body, tt.status, tt.want)
			}
			if tt.status != http.StatusOK && strings.Contains(body, "MPERSON") {
				t.Errorf("a refusal names the member: %s", body)
			}
			if strings.Contains(body, "MTWIN") {
				t.Errorf("the answer names a member of the ambiguous match: %s", body)
			}
			entries, err := h.store.List(context.Background(), record.Filter{ExchangeID: resp.Header.Get("X-Request-Id")})
			if err != nil {
				t.Fatal(err)
			}
			forwarded := len(entries) > 0 && entries[0].Phase == record.PhaseRequest
			if forwarded != tt.forwarded {
				t.Errorf("entries %d, first phase %v: forwarded %v, want %v", len(entries), entries[0].Phase, forwarded, tt.forwarded)
			}
		})
	}
}
