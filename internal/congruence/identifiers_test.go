package congruence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/pas"
)

// A provider Organization that carries another organisation's NPI next to
// the partner's own names two providers. The built-in payer keys the
// authorization on the first identifier (pas.Party.Key), so accepting the
// entry because one identifier matches lets a partner file a request that
// the payer records under another provider.
func TestProviderWithAnotherNPIFirst(t *testing.T) {
	c := mustChecker(t, demoPayer)
	twoNPIs := strings.Replace(provOrg,
		`"identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"8189991234"}]`,
		`"identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"1003000126"},{"system":"http://hl7.org/fhir/sid/us-npi","value":"8189991234"}]`, 1)
	if twoNPIs == provOrg {
		t.Fatal("test fixture: provOrg no longer has the expected identifier text")
	}

	m := c.CheckClaimBundle(demoIdentity(), parse(t, bundleOf(claimOrg, twoNPIs, payerOrg, coverage)))

	if m == nil {
		t.Fatal("provider with another organisation's NPI first was accepted")
	}
	if m.Rule != "congruence.provider" {
		t.Errorf("rule = %q, want congruence.provider", m.Rule)
	}
	if m.Path != "Bundle.entry[0].resource.provider" {
		t.Errorf("path = %q, want Bundle.entry[0].resource.provider", m.Path)
	}
}

// The rule binds every party the payer keys on, not only the provider
// Organization: a second identifier in the registered system, or another
// payer identifier before this payer's, is refused too.
func TestKeyedIdentifiers(t *testing.T) {
	c := mustChecker(t, demoPayer)
	const npi = `{"system":"http://hl7.org/fhir/sid/us-npi","value":"`
	tests := []struct {
		name, body, rule, path string
	}{
		{"provider with a second NPI after the partner's",
			bundleOf(claimOrg, strings.Replace(provOrg, npi+`8189991234"}`, npi+`8189991234"},`+npi+`1003000126"}`, 1), payerOrg, coverage),
			"congruence.provider", "Bundle.entry[0].resource.provider"},
		{"provider with a second NPI written as the NPI OID",
			bundleOf(claimOrg, strings.Replace(provOrg, npi+`8189991234"}`, npi+`8189991234"},{"system":"urn:oid:2.16.840.1.113883.4.6","value":"1003000126"}`, 1), payerOrg, coverage),
			"congruence.provider", "Bundle.entry[0].resource.provider"},
		{"provider with a second NPI in another letter case",
			bundleOf(claimOrg, strings.Replace(provOrg, npi+`8189991234"}`, npi+`8189991234"},{"system":"HTTP://HL7.ORG/fhir/sid/us-npi/","value":"1003000126"}`, 1), payerOrg, coverage),
			"congruence.provider", "Bundle.entry[0].resource.provider"},
		{"provider with its own NPI also written as the OID",
			bundleOf(claimOrg, strings.Replace(provOrg, npi+`8189991234"}`, npi+`8189991234"},{"system":"urn:oid:2.16.840.1.113883.4.6","value":"8189991234"}`, 1), payerOrg, coverage),
			"", ""},
		{"provider with an identifier of another system first",
			bundleOf(claimOrg, strings.Replace(provOrg, npi+`8189991234"}`, `{"system":"urn:tax","value":"1"},`+npi+`8189991234"}`, 1), payerOrg, coverage),
			"congruence.provider", "Bundle.entry[0].resource.provider"},
		{"provider with an incomplete identifier first",
			bundleOf(claimOrg, strings.Replace(provOrg, npi+`8189991234"}`, `{"system":"urn:tax"},`+npi+`8189991234"}`, 1), payerOrg, coverage),
			"", ""},
		{"insurer with another payer id first",
			bundleOf(claimOrg, provOrg, strings.Replace(payerOrg, npi+`1234567893"}`, npi+`1003000126"},`+npi+`1234567893"}`, 1), coverage),
			"congruence.insurer", "Bundle.entry[0].resource.insurer"},
		{"role of the partner with another organisation's practitioner",
			bundleOf(roleClaim, rolePayer, roleOrg, role("urn:uuid:org", "urn:uuid:pract"), strings.Replace(rolePract, "8189991234", "1003000126", 1)),
			"", ""},
	}
	// The last row is accepted because the payer keys a PractitionerRole
	// on its organization (see the pas package), which is the partner's.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := c.CheckClaimBundle(demoIdentity(), parse(t, tt.body))
			switch {
			case tt.rule == "" && m != nil:
				t.Fatalf("mismatch: %+v", m)
			case tt.rule != "" && m == nil:
				t.Fatalf("accepted, want %s", tt.rule)
			case tt.rule != "" && (m.Rule != tt.rule || m.Path != tt.path):
				t.Fatalf("mismatch = %s at %s, want %s at %s", m.Rule, m.Path, tt.rule, tt.path)
			}
		})
	}
}

// Whenever the congruence check accepts a request Bundle, the key the
// payer stores for its provider (pas.Party.Key) is the partner's
// registered identifier. This ties the rule to the payer's own parser
// instead of to a copy of its keying choice.
func TestAcceptedProviderKeyIsPartner(t *testing.T) {
	c := mustChecker(t, demoPayer)
	files, _ := filepath.Glob("../demo/bundles/pas-2.2.1-*.json")
	if len(files) == 0 {
		t.Fatal("no PAS 2.2.1 demo bundles found")
	}
	bodies := map[string]string{}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bodies[filepath.Base(f)] = string(body)
	}
	// The referral example's PractitionerRole, made the provider and given
	// the partner's organisation; its practitioner carries another NPI.
	role := strings.NewReplacer(
		`"provider":{"reference":"Organization/UMOExample"}`, `"provider":{"reference":"PractitionerRole/ReferralPractitionerRoleExample"}`,
		`"practitioner":{"reference":"Practitioner/ReferralPractitionerExample"}`, `"organization":{"reference":"Organization/UMOExample"},"practitioner":{"reference":"Practitioner/ReferralPractitionerExample"}`,
	).Replace(bodies["pas-2.2.1-ReferralAuthorizationBundleExample.json"])
	if role == bodies["pas-2.2.1-ReferralAuthorizationBundleExample.json"] {
		t.Fatal("test fixture: the referral example no longer has the expected references")
	}
	bodies["role provider"] = role

	want := demoOrg.System + "|" + demoOrg.Value
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			if m := c.CheckClaimBundle(demoIdentity(), parse(t, body)); m != nil {
				t.Fatalf("congruence refused the fixture: %+v", m)
			}
			req, err := pas.ParseRequest([]byte(body))
			if err != nil {
				req, err = pas.ParseInquiry([]byte(body))
			}
			if err != nil {
				t.Fatalf("pas: %v", err)
			}
			if key := req.Provider.Key(); key != want {
				t.Errorf("payer keys the provider on %q, want the partner's %q", key, want)
			}
		})
	}
}

// An http(s) fullUrl whose type segment is no resource type has no
// RESTful base, so FHIR resolves the entry's relative references by type
// and id, while the built-in payer takes the path before the last two
// segments as the base. A Bundle can then name the partner's Organization
// for one reader and another provider for the other, and the check must
// refuse it.
func TestReferenceFromFullURLWithoutRESTfulBase(t *testing.T) {
	c := mustChecker(t, demoPayer)
	body, err := os.ReadFile("../demo/bundles/pas-2.2.1-ReferralAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	// The Claim's fullUrl loses its resource type. The Organization under
	// the URL the payer builds gets another NPI and no id, and a new entry
	// with a URN fullUrl, the id and the partner's NPI is what type and id
	// resolve to.
	steps := [][2]string{
		{`"fullUrl":"http://example.org/fhir/Claim/ReferralAuthorizationExample"`, `"fullUrl":"http://example.org/fhir/Fake/ReferralAuthorizationExample"`},
		{`8189991234`, `1003000126`},
		{`"resourceType":"Organization","id":"UMOExample",`, `"resourceType":"Organization",`},
		{`{"fullUrl":"http://example.org/fhir/Organization/InsurerExample"`, `{"fullUrl":"urn:uuid:2f6c1a43-8f0e-4d57-9a83-4c1e0f5b7d21","resource":{"resourceType":"Organization","id":"UMOExample",` +
			`"identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"8189991234"}]}},{"fullUrl":"http://example.org/fhir/Organization/InsurerExample"`},
	}
	attack := string(body)
	for _, s := range steps {
		if !strings.Contains(attack, s[0]) {
			t.Fatalf("test fixture: the referral example no longer contains %q", s[0])
		}
		attack = strings.ReplaceAll(attack, s[0], s[1])
	}
	req, err := pas.ParseRequest([]byte(attack))
	if err != nil {
		t.Fatalf("pas: %v", err)
	}
	if key := req.Provider.Key(); key != "http://hl7.org/fhir/sid/us-npi|1003000126" {
		t.Fatalf("test fixture: the payer keys the provider on %q, want the other provider's NPI", key)
	}

	m := c.CheckClaimBundle(demoIdentity(), parse(t, attack))
	if m == nil {
		t.Fatal("a provider the payer reads as another organisation was accepted")
	}
	if m.Rule != "congruence.provider" {
		t.Errorf("rule = %q, want congruence.provider", m.Rule)
	}
	if m.Path != "Bundle.entry[0].resource.provider" {
		t.Errorf("path = %q, want Bundle.entry[0].resource.provider", m.Path)
	}

	// The same holds for a PractitionerRole's organization.
	fakeRole := `{"fullUrl":"http://x/fhir/Fake/role","resource":{"resourceType":"PractitionerRole","organization":{"reference":"Organization/org"}}}`
	// The payer resolves the organization to this entry, type and id to
	// the partner's Organization.
	otherAtURL := `{"fullUrl":"http://x/fhir/Organization/org","resource":{"resourceType":"Organization","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"1003000126"}]}}`
	partnerByID := strings.Replace(roleOrg, `"resourceType":"Organization"`, `"resourceType":"Organization","id":"org"`, 1)
	claim := strings.Replace(roleClaim, "urn:uuid:role", "http://x/fhir/Fake/role", 1)
	m = c.CheckClaimBundle(demoIdentity(), parse(t, bundleOf(claim, rolePayer, fakeRole, otherAtURL, partnerByID)))
	if m == nil || m.Rule != "congruence.provider" {
		t.Errorf("PractitionerRole organization under a fullUrl that is not RESTful: mismatch = %+v, want congruence.provider", m)
	}
}

// A fullUrl whose scheme is in capitals is no RESTful URL to the gateway,
// but a reader that ignores the case of the scheme resolves the Claim's
// references against its base. The gateway cannot tell which entry such
// a reader finds, so the provider counts as unresolved.
func TestReferenceFromFullURLWithCapitalScheme(t *testing.T) {
	c := mustChecker(t, demoPayer)
	body, err := os.ReadFile("../demo/bundles/pas-2.2.1-ReferralAuthorizationBundleExample.json")
	if err != nil {
		t.Fatal(err)
	}
	const claim = `"fullUrl":"http://example.org/fhir/Claim/ReferralAuthorizationExample"`
	if !strings.Contains(string(body), claim) {
		t.Fatalf("test fixture: the referral example no longer contains %q", claim)
	}
	if m := c.CheckClaimBundle(demoIdentity(), parse(t, string(body))); m != nil {
		t.Fatalf("the unchanged example was refused: %+v", m)
	}
	attack := strings.Replace(string(body), claim, `"fullUrl":"HTTP://example.org/fhir/Claim/ReferralAuthorizationExample"`, 1)
	m := c.CheckClaimBundle(demoIdentity(), parse(t, attack))
	if m == nil {
		t.Fatal("a Claim whose references a reader may resolve against another base was accepted")
	}
	if m.Rule != "congruence.provider" {
		t.Errorf("rule = %q, want congruence.provider", m.Rule)
	}
}
