package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// unknownProfile is a profile no shipped package defines. A Claim that
// declares it claims a conformance the gateway cannot check.
const unknownProfile = "http://acme.test/StructureDefinition/approved-claim"

// claimWithUnknownProfile returns the shipped PAS Bundle with
// unknownProfile added to the Claim's meta.profile.
func claimWithUnknownProfile(t *testing.T) []byte {
	t.Helper()
	const old = `"meta":{"profile":["http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-claim"]}`
	bundle := string(shippedBundle(t))
	if strings.Count(bundle, old) != 1 {
		t.Fatal("the shipped bundle no longer has the one Claim meta.profile the test extends")
	}
	return []byte(strings.Replace(bundle, old,
		`"meta":{"profile":["http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-claim","`+unknownProfile+`"]}`, 1))
}

// A resource that declares a profile Gatehouse has not loaded would pass
// unchecked against it, while the payer may trust the declaration. Strict
// mode rejects it by default and names the profile.
func TestStrictModeRejectsUnknownProfile(t *testing.T) {
	h := newHarness(t, harnessOptions{strict: true})

	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
		http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}, claimWithUnknownProfile(t))
	body := readBody(t, resp)

	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422: %.300s", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), unknownProfile+" not found") {
		t.Errorf("the OperationOutcome does not name the unknown profile: %.600s", body)
	}
	if !strings.Contains(string(body), `"error"`) {
		t.Errorf("the OperationOutcome has no error: %.600s", body)
	}
	if n := h.upstream.count.Load(); n != 0 {
		t.Errorf("upstream received %d requests, want 0", n)
	}
	entries := h.entries(resp)
	if len(entries) != 1 {
		t.Fatalf("recorded %d entries, want 1: %+v", len(entries), entries)
	}
	if entries[0].Rule != "strict.request" {
		t.Errorf("recorded rule = %q, want strict.request", entries[0].Rule)
	}
}

// With strict.unknown_profiles: warn the same body is forwarded.
func TestStrictModeUnknownProfileWarn(t *testing.T) {
	h := newHarness(t, harnessOptions{strict: true, edit: func(cfg *config.File, _ *devmode.Layout) {
		cfg.Strict.UnknownProfiles = "warn"
	}})

	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
		http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}, claimWithUnknownProfile(t))
	body := readBody(t, resp)

	if n := h.upstream.count.Load(); n != 1 {
		t.Errorf("upstream received %d requests, want 1 (status %d: %.300s)", n, resp.StatusCode, body)
	}
}

// A partner's strict_unknown_profiles replaces strict.unknown_profiles for
// that partner alone. With warn under a global reject the body is
// forwarded, and only the forwarding is checked because the test
// upstream's reply does not conform. With reject under a global warn the
// body is rejected with 422 and never reaches the upstream.
func TestStrictUnknownProfilesPerPartner(t *testing.T) {
	tests := []struct {
		name, global, partner string
		// wantStatus is the status to check, 0 for none.
		wantStatus    int
		wantForwarded int64
	}{
		{"partner warn under global reject", "reject", "warn", 0, 1},
		{"partner reject under global warn", "warn", "reject", http.StatusUnprocessableEntity, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{strict: true, edit: func(cfg *config.File, _ *devmode.Layout) {
				cfg.Strict.UnknownProfiles = tt.global
				cfg.Partners[0].StrictUnknownProfiles = tt.partner
			}})

			resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
				http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}, claimWithUnknownProfile(t))
			body := readBody(t, resp)

			if tt.wantStatus != 0 && resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d: %.300s", resp.StatusCode, tt.wantStatus, body)
			}
			if n := h.upstream.count.Load(); n != tt.wantForwarded {
				t.Errorf("upstream received %d requests, want %d", n, tt.wantForwarded)
			}
			if tt.wantStatus == http.StatusUnprocessableEntity && !strings.Contains(string(body), unknownProfile+" not found") {
				t.Errorf("the OperationOutcome does not name the unknown profile: %.600s", body)
			}
		})
	}
}
