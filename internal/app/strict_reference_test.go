package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// substitutePatient is a Patient that conforms to R4 but not to the PAS
// beneficiary profile (no name, no gender), with another member's id.
var substitutePatient = map[string]any{
	"resourceType": "Patient",
	"id":           "SubscriberExample",
	"identifier":   []any{map[string]any{"system": "http://example.org/MIN", "value": "99999999999"}},
}

// editBundle decodes the shipped PAS Bundle, applies edit to its entries
// and encodes it again.
func editBundle(t *testing.T, edit func(entries []any) []any) []byte {
	t.Helper()
	var bundle map[string]any
	if err := json.Unmarshal(shippedBundle(t), &bundle); err != nil {
		t.Fatal(err)
	}
	bundle["entry"] = edit(bundle["entry"].([]any))
	out, err := json.Marshal(bundle)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func entryResource(e any) map[string]any { return e.(map[string]any)["resource"].(map[string]any) }

// pinParties writes the Claim's provider, insurer and coverage references,
// and the Coverage's payor, as the fullUrls of their entries, which every
// reader resolves alike. The congruence checks then pass, and the
// references to the Patient stay relative.
func pinParties(entries []any) {
	urls := map[string]string{}
	for _, e := range entries {
		r := entryResource(e)
		id, _ := r["id"].(string)
		urls[r["resourceType"].(string)+"/"+id] = e.(map[string]any)["fullUrl"].(string)
	}
	claim := entryResource(entries[0])
	claim["provider"] = map[string]any{"reference": urls["Organization/UMOExample"]}
	claim["insurer"] = map[string]any{"reference": urls["Organization/InsurerExample"]}
	insurance := claim["insurance"].([]any)[0].(map[string]any)
	insurance["coverage"] = map[string]any{"reference": urls["Coverage/InsuranceExample"]}
	for _, e := range entries {
		if r := entryResource(e); r["resourceType"] == "Coverage" {
			r["payor"] = []any{map[string]any{"reference": urls["Organization/InsurerExample"]}}
		}
	}
}

// TestStrictModeRefusesAmbiguousReference sends PAS Bundles in which
// Claim.patient ("Patient/SubscriberExample") can be read as two different
// entries: the conformant Patient, and a substitute that fails the PAS
// beneficiary profile. The payer resolves it to the substitute, so strict
// mode must refuse the Bundle instead of checking the other Patient.
func TestStrictModeRefusesAmbiguousReference(t *testing.T) {
	const substituteURL = "urn:uuid:6e1f0a59-7a3b-4c51-9d1e-6a1b2c3d4e5f"
	cases := map[string]func(entries []any) []any{
		// With an upper-case scheme the fullUrls are not RESTful URLs, so
		// a relative reference names the one entry with that type and id.
		"fullUrl scheme in upper case": func(entries []any) []any {
			for _, e := range entries {
				entry := e.(map[string]any)
				entry["fullUrl"] = strings.Replace(entry["fullUrl"].(string), "http://", "HTTP://", 1)
				if r := entryResource(e); r["resourceType"] == "Patient" {
					delete(r, "id")
				}
			}
			pinParties(entries)
			return append(entries, map[string]any{"fullUrl": substituteURL, "resource": substitutePatient})
		},
		// "Claimx" is no resource type, so the validator took the
		// reference by type and id. The payer appends it to the Claim's
		// base and reads the entry at
		// http://example.org/fhir/Patient/SubscriberExample, whose
		// resource has no id.
		"Claim fullUrl without a resource type": func(entries []any) []any {
			claim := entries[0].(map[string]any)
			claim["fullUrl"] = "http://example.org/fhir/Claimx/ReferralAuthorizationExample"
			pinParties(entries)
			for _, e := range entries {
				entry := e.(map[string]any)
				r := entryResource(e)
				for _, k := range []string{"beneficiary", "subject"} {
					if ref, ok := r[k].(map[string]any); ok && ref["reference"] == "Patient/SubscriberExample" {
						r[k] = map[string]any{"reference": substituteURL}
					}
				}
				if r["resourceType"] == "Patient" {
					substitute := map[string]any{}
					for k, v := range substitutePatient {
						if k != "id" {
							substitute[k] = v
						}
					}
					entry["resource"] = substitute
					entries = append(entries, map[string]any{"fullUrl": substituteURL, "resource": r})
				}
			}
			return entries
		},
	}
	// The congruence stage, which runs before strict mode, finds no
	// Patient entry for either reference, since both leave RESTful
	// resolution. Strict mode's own refusal of such references is tested
	// in internal/validate (TestRules).
	rejectedBy := map[string]struct {
		status     int
		code, rule string
	}{
		"fullUrl scheme in upper case":          {http.StatusForbidden, "forbidden", "congruence.patient"},
		"Claim fullUrl without a resource type": {http.StatusForbidden, "forbidden", "congruence.patient"},
	}
	h := newHarness(t, harnessOptions{strict: true})
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			want := rejectedBy[name]
			before := h.upstream.count.Load()

			resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit",
				http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}, editBundle(t, edit))
			body := readBody(t, resp)

			if resp.StatusCode != want.status {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, want.status, body)
			}
			if outcomeCode(t, body) != want.code {
				t.Errorf("OperationOutcome code is not %s: %.300s", want.code, body)
			}
			if !strings.Contains(string(body), `Bundle.entry[0].resource.patient`) {
				t.Errorf("the OperationOutcome does not locate Claim.patient: %.600s", body)
			}
			if n := h.upstream.count.Load() - before; n != 0 {
				t.Errorf("upstream received %d requests, want 0", n)
			}
			if e := h.entries(resp); len(e) != 1 || e[0].Rule != want.rule {
				t.Errorf("entries = %+v, want one %s refusal", e, want.rule)
			}
		})
	}
}

// TestStrictModeRefusesUndefinedModifier sends a PAS Bundle whose Claim
// carries a modifier extension under HL7's namespace that no loaded
// package defines. A modifier can change the meaning of the Claim, and a
// receiver must reject one it does not understand, so strict mode refuses
// it even in the domain where plain extensions only get a warning.
func TestStrictModeRefusesUndefinedModifier(t *testing.T) {
	h := newHarness(t, harnessOptions{strict: true})
	body := editBundle(t, func(entries []any) []any {
		entryResource(entries[0])["modifierExtension"] = []any{map[string]any{
			"url":          "http://hl7.org/fhir/StructureDefinition/claim-void",
			"valueBoolean": true,
		}}
		return entries
	})

	got := submitRejectedByStrictMode(t, h, body)

	if !strings.Contains(string(got), `"Bundle.entry[0].resource.modifierExtension[0]"`) {
		t.Errorf("the OperationOutcome does not locate the modifier extension: %.600s", got)
	}
}

// TestStrictModeRejectsRelativeFullURL moves the Practitioner of a PAS
// Bundle to the relative fullUrl "Practitioner/ReferralPractitionerExample"
// and puts a Practitioner with another NPI under the Bundle's base. A
// reader that matches PractitionerRole.practitioner as written takes the
// first, one that follows R4 takes the second. R4 defines fullUrl as an
// absolute URL, so strict mode rejects the Bundle before the upstream.
func TestStrictModeRejectsRelativeFullURL(t *testing.T) {
	h := newHarness(t, harnessOptions{strict: true})
	body := editBundle(t, func(entries []any) []any {
		for _, e := range entries {
			entry := e.(map[string]any)
			if entryResource(e)["resourceType"] != "Practitioner" {
				continue
			}
			base := entry["fullUrl"].(string)
			entry["fullUrl"] = "Practitioner/ReferralPractitionerExample"
			return append(entries, map[string]any{"fullUrl": base, "resource": map[string]any{
				"resourceType": "Practitioner",
				"id":           "ReferralPractitionerExample",
				"identifier":   []any{map[string]any{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1003000126"}},
				"name":         []any{map[string]any{"family": "OTHER"}},
			}})
		}
		t.Fatal("the shipped bundle has no Practitioner entry")
		return nil
	})

	got := submitRejectedByStrictMode(t, h, body)

	if !strings.Contains(string(got), `"Bundle.entry[7].fullUrl"`) {
		t.Errorf("the OperationOutcome does not locate the relative fullUrl: %.900s", got)
	}
	if !strings.Contains(string(got), "fullUrl must be an absolute URL") {
		t.Errorf("the OperationOutcome does not report the relative fullUrl: %.900s", got)
	}
}

// TestStrictModeRejectsUnreferencedContained puts a contained Patient
// without an id, carrying another member's identifier, in the Claim of a
// PAS Bundle. Nothing can refer to it, so R4 (dom-3) does not allow it,
// and a payer that scans contained resources would read another member.
func TestStrictModeRejectsUnreferencedContained(t *testing.T) {
	h := newHarness(t, harnessOptions{strict: true})
	body := editBundle(t, func(entries []any) []any {
		entryResource(entries[0])["contained"] = []any{map[string]any{
			"resourceType": "Patient",
			"identifier":   []any{map[string]any{"system": "http://example.org/MIN", "value": "99999999999"}},
		}}
		return entries
	})

	got := submitRejectedByStrictMode(t, h, body)

	if !strings.Contains(string(got), `"code":"invariant","diagnostics":"dom-3: `) {
		t.Errorf("the OperationOutcome does not report dom-3: %.900s", got)
	}
	if !strings.Contains(string(got), `"expression":["Bundle.entry[0].resource"]`) {
		t.Errorf("the OperationOutcome does not locate the Claim: %.900s", got)
	}
}
