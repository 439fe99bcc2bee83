package congruence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

var (
	demoOrg    = Identifier{System: NPISystem, Value: "8189991234"}
	demoPayer  = Identifier{System: NPISystem, Value: "1234567893"}
	pas201Payr = Identifier{System: NPISystem, Value: "789312"}
)

func demoIdentity() Identity {
	return Identity{
		PartnerID: "demo-ehr", TokenClientID: "demo-ehr", Organization: demoOrg,
		CertificateOrganizations: OrganizationsFromURIs([]string{"urn:gatehouse:partner:demo-ehr", "urn:oid:2.16.840.1.113883.4.6:8189991234"}),
	}
}

func mustChecker(t testing.TB, ids ...Identifier) *Checker {
	t.Helper()
	c, err := New(ids...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func parse(t testing.TB, body string) *fhirreq.Bundle {
	t.Helper()
	b, err := fhirreq.ParseBundle([]byte(body))
	if err != nil {
		t.Fatalf("ParseBundle: %v", err)
	}
	return b
}

func TestCheckIdentity(t *testing.T) {
	c := mustChecker(t, demoPayer)
	tests := []struct {
		name   string
		change func(*Identity)
		rule   string
	}{
		{"congruent", func(*Identity) {}, ""},
		{"token of another client", func(id *Identity) { id.TokenClientID = "other-ehr" }, "congruence.client"},
		{"no partner", func(id *Identity) { id.PartnerID, id.TokenClientID = "", "" }, "congruence.client"},
		{"no registered organisation", func(id *Identity) { id.Organization = Identifier{} }, "congruence.no-organization"},
		{"certificate names no organisation", func(id *Identity) { id.CertificateOrganizations = nil }, "congruence.certificate"},
		{"certificate names another organisation", func(id *Identity) {
			id.CertificateOrganizations = []Identifier{{NPISystem, "1003000126"}}
		}, "congruence.certificate"},
		{"same value, other system", func(id *Identity) {
			id.Organization = Identifier{"urn:oid:2.16.840.1.113883.4.7", "8189991234"}
		}, "congruence.certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := demoIdentity()
			tt.change(&id)
			m := c.CheckIdentity(id)
			switch {
			case tt.rule == "" && m != nil:
				t.Fatalf("mismatch: %+v", m)
			case tt.rule != "" && (m == nil || m.Rule != tt.rule):
				t.Fatalf("mismatch = %+v, want rule %s", m, tt.rule)
			}
		})
	}
}

// TestDemoBundles records which shipped demo Bundles are congruent for the
// development partner (NPI 8189991234) and payer (NPI 1234567893): the PAS
// 2.2.1 examples name that payer, the 2.0.1 examples name NPI 789312 as
// insurer and payor.
func TestDemoBundles(t *testing.T) {
	// The shipped bundles and the two PAS examples strict mode refuses:
	// congruence holds for all eleven.
	files, _ := filepath.Glob("../demo/bundles/*.json")
	more, _ := filepath.Glob("../demo/nonconformant/*.json")
	files = append(files, more...)
	if len(files) != 11 {
		t.Fatalf("found %d demo bundles, want 11", len(files))
	}
	devOnly := mustChecker(t, demoPayer)
	withAlias := mustChecker(t, demoPayer, pas201Payr)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			b := parse(t, string(body))
			m := devOnly.CheckClaimBundle(demoIdentity(), b)
			if strings.Contains(f, "pas-2.2.1") {
				if m != nil {
					t.Errorf("2.2.1 example refused: %+v", m)
				}
			} else if m == nil || m.Rule != "congruence.insurer" || m.Path != "Bundle.entry[0].resource.insurer" {
				t.Errorf("2.0.1 example: mismatch = %+v, want congruence.insurer at Bundle.entry[0].resource.insurer", m)
			}
			if m := withAlias.CheckClaimBundle(demoIdentity(), b); m != nil {
				t.Errorf("with 789312 accepted as payer id: %+v", m)
			}
		})
	}
}

// TestPASExamples runs every PAS request and inquiry Bundle of the PAS IG
// packages and the Inferno fixtures: the provider is always the demo
// organisation.
func TestPASExamples(t *testing.T) {
	c := mustChecker(t, demoPayer, pas201Payr)
	var files []string
	for _, v := range []string{"2.0.1", "2.2.1"} {
		dir := filepath.Join(corpustest.Unpack(t, "davinci-pas/hl7.fhir.us.davinci-pas-"+v+".tgz"), "package", "example")
		found, _ := filepath.Glob(filepath.Join(dir, "Bundle-*.json"))
		files = append(files, found...)
	}
	for _, name := range []string{"conformant_pas_bundle_v110.json", "conformant_pas_bundle_v110_uuid.json", "conformant_pas_inquire_bundle_v110.json"} {
		files = append(files, corpustest.File(t, "inferno-fixtures/pas/"+name))
	}
	checked := 0
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := fhirreq.ParseBundle(body)
		if err != nil || len(b.Entries) == 0 || b.Entries[0].ResourceType != "Claim" {
			continue // response Bundles and other examples
		}
		checked++
		if m := c.CheckClaimBundle(demoIdentity(), b); m != nil {
			t.Errorf("%s: %+v", filepath.Base(f), m)
		}
	}
	if checked < 10 {
		t.Errorf("checked %d request Bundles, want at least 10", checked)
	}
}

const (
	claimOrg = `{"fullUrl":"http://x/fhir/Claim/c1","resource":{"resourceType":"Claim","id":"c1","patient":{"reference":"Patient/pat"},
 "provider":{"reference":"Organization/prov"},"insurer":{"reference":"Organization/payer"},
 "insurance":[{"coverage":{"reference":"Coverage/cov"}}]}}`
	provOrg  = `{"fullUrl":"http://x/fhir/Organization/prov","resource":{"resourceType":"Organization","id":"prov","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"8189991234"}]}}`
	payerOrg = `{"fullUrl":"http://x/fhir/Organization/payer","resource":{"resourceType":"Organization","id":"payer","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}]}}`
	otherOrg = `{"fullUrl":"http://x/fhir/Organization/other","resource":{"resourceType":"Organization","id":"other","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"1003000126"}]}}`
	coverage = `{"fullUrl":"http://x/fhir/Coverage/cov","resource":{"resourceType":"Coverage","id":"cov","payor":[{"reference":"Organization/payer"}]}}`
)

// patients contains the Patients that claimOrg and roleClaim reference,
// one under each claim's fullUrl base. bundleOf appends them after the
// given entries, so the expected entry indexes are those of its arguments.
const patients = `{"fullUrl":"http://x/fhir/Patient/pat","resource":{"resourceType":"Patient","id":"pat"}},` +
	`{"fullUrl":"urn:uuid:pat","resource":{"resourceType":"Patient"}}`

func bundleOf(entries ...string) string {
	return `{"resourceType":"Bundle","type":"collection","entry":[` + strings.Join(append(entries, patients), ",") + `]}`
}

func TestCheckClaimBundle(t *testing.T) {
	c := mustChecker(t, demoPayer)
	tests := []struct {
		name string
		body string
		rule string
		path string
	}{
		{"congruent", bundleOf(claimOrg, provOrg, payerOrg, coverage), "", ""},
		{"provider of another organisation",
			bundleOf(strings.Replace(claimOrg, "Organization/prov", "Organization/other", 1), provOrg, payerOrg, otherOrg, coverage),
			"congruence.provider", "Bundle.entry[0].resource.provider"},
		{"insurer of another payer",
			bundleOf(strings.Replace(claimOrg, "Organization/payer", "Organization/other", 1), provOrg, payerOrg, otherOrg, coverage),
			"congruence.insurer", "Bundle.entry[0].resource.insurer"},
		{"coverage payor of another payer",
			bundleOf(claimOrg, provOrg, payerOrg, otherOrg, strings.Replace(coverage, "Organization/payer", "Organization/other", 1)),
			"congruence.payor", "Bundle.entry[4].resource.payor[0]"},
		{"second payor of another payer",
			bundleOf(claimOrg, provOrg, payerOrg, otherOrg, strings.Replace(coverage, `[{"reference":"Organization/payer"}]`, `[{"reference":"Organization/payer"},{"reference":"Organization/other"}]`, 1)),
			"congruence.payor", "Bundle.entry[4].resource.payor[1]"},
		{"second Claim naming another provider",
			bundleOf(claimOrg, provOrg, payerOrg, otherOrg, coverage,
				strings.NewReplacer("Claim/c1", "Claim/c2", `"c1"`, `"c2"`, "Organization/prov", "Organization/other").Replace(claimOrg)),
			"congruence.provider", "Bundle.entry[5].resource.provider"},
		{"provider unresolved",
			bundleOf(strings.Replace(claimOrg, "Organization/prov", "Organization/missing", 1), provOrg, payerOrg, coverage),
			"congruence.provider", "Bundle.entry[0].resource.provider"},
		{"provider absolute elsewhere",
			bundleOf(strings.Replace(claimOrg, "Organization/prov", "https://evil.example/fhir/Organization/prov", 1), provOrg, payerOrg, coverage),
			"congruence.provider", "Bundle.entry[0].resource.provider"},
		{"provider contained",
			bundleOf(strings.Replace(claimOrg, "Organization/prov", "#prov", 1), provOrg, payerOrg, coverage),
			"congruence.provider", "Bundle.entry[0].resource.provider"},
		{"provider identifier disagrees with reference",
			bundleOf(strings.Replace(claimOrg, `{"reference":"Organization/prov"}`, `{"reference":"Organization/prov","identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"1003000126"}}`, 1), provOrg, payerOrg, coverage),
			"congruence.provider", "Bundle.entry[0].resource.provider"},
		{"duplicate fullUrl",
			bundleOf(claimOrg, provOrg, strings.Replace(otherOrg, "Organization/other", "Organization/prov", 1), payerOrg, coverage),
			"congruence.provider", "Bundle.entry[0].resource.provider"},
		{"fullUrl differing from the provider's by host case",
			bundleOf(claimOrg, provOrg, strings.Replace(otherOrg, "http://x/fhir/Organization/other", "http://X/fhir/Organization/prov", 1), payerOrg, coverage),
			"congruence.provider", "Bundle.entry[0].resource.provider"},
		{"fullUrl differing from the provider's by a trailing slash",
			bundleOf(claimOrg, strings.Replace(otherOrg, "http://x/fhir/Organization/other", "http://x/fhir/Organization/prov/", 1), provOrg, payerOrg, coverage),
			"congruence.provider", "Bundle.entry[0].resource.provider"},
		{"provider's relative fullUrl shadowing the RESTful reading",
			bundleOf(claimOrg, strings.Replace(provOrg, "http://x/fhir/Organization/prov", "Organization/prov", 1),
				strings.Replace(otherOrg, "http://x/fhir/Organization/other", "http://x/fhir/Organization/prov", 1), payerOrg, coverage),
			"congruence.provider", "Bundle.entry[0].resource.provider"},
		{"provider only under a relative fullUrl",
			bundleOf(claimOrg, strings.Replace(provOrg, "http://x/fhir/Organization/prov", "Organization/prov", 1), payerOrg, coverage),
			"congruence.provider", "Bundle.entry[0].resource.provider"},
		{"provider is a Patient",
			bundleOf(strings.Replace(claimOrg, "Organization/prov", "Patient/p", 1), provOrg, payerOrg, coverage,
				`{"fullUrl":"http://x/fhir/Patient/p","resource":{"resourceType":"Patient","id":"p","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"8189991234"}]}}`),
			"congruence.provider", "Bundle.entry[0].resource.provider"},
		{"patient by identifier only",
			bundleOf(strings.Replace(claimOrg, `{"reference":"Patient/pat"}`, `{"identifier":{"system":"http://example.org/member","value":"M1"}}`, 1), provOrg, payerOrg, coverage),
			"congruence.patient", "Bundle.entry[0].resource.patient"},
		{"patient missing",
			bundleOf(strings.Replace(claimOrg, `"patient":{"reference":"Patient/pat"},`, ``, 1), provOrg, payerOrg, coverage),
			"congruence.patient", "Bundle.entry[0].resource.patient"},
		{"patient outside the Bundle",
			bundleOf(strings.Replace(claimOrg, "Patient/pat", "Patient/elsewhere", 1), provOrg, payerOrg, coverage),
			"congruence.patient", "Bundle.entry[0].resource.patient"},
		{"patient is an Organization",
			bundleOf(strings.Replace(claimOrg, "Patient/pat", "Organization/payer", 1), provOrg, payerOrg, coverage),
			"congruence.patient", "Bundle.entry[0].resource.patient"},
		{"two items with one sequence",
			bundleOf(strings.Replace(claimOrg, `"patient":`, `"item":[{"sequence":1},{"sequence":2},{"sequence":1}],"patient":`, 1), provOrg, payerOrg, coverage),
			"congruence.item-sequence", "Bundle.entry[0].resource.item[2].sequence"},
		{"items with their own sequences",
			bundleOf(strings.Replace(claimOrg, `"patient":`, `"item":[{"sequence":1},{"sequence":2}],"patient":`, 1), provOrg, payerOrg, coverage),
			"", ""},
		{"insurance to a non-Coverage",
			bundleOf(strings.Replace(claimOrg, "Coverage/cov", "Organization/payer", 1), provOrg, payerOrg, coverage),
			"congruence.coverage", "Bundle.entry[0].resource.insurance[0].coverage"},
		{"nested Bundle",
			bundleOf(claimOrg, provOrg, payerOrg, coverage, `{"fullUrl":"urn:uuid:b","resource":{"resourceType":"Bundle","type":"collection"}}`),
			"congruence.nested-bundle", "Bundle.entry[4].resource"},
		{"Bundle contained in an entry",
			bundleOf(claimOrg, provOrg, payerOrg, coverage, `{"fullUrl":"urn:uuid:b","resource":{"resourceType":"DocumentReference","contained":[{"resourceType":"Bundle"}]}}`),
			"congruence.nested-bundle", "Bundle.entry[4].resource"},
		{"coverage without payor",
			bundleOf(claimOrg, provOrg, payerOrg, `{"fullUrl":"http://x/fhir/Coverage/cov","resource":{"resourceType":"Coverage","id":"cov"}}`),
			"congruence.payor", "Bundle.entry[3].resource.payor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := c.CheckClaimBundle(demoIdentity(), parse(t, tt.body))
			if tt.rule == "" {
				if m != nil {
					t.Fatalf("mismatch: %+v", m)
				}
				return
			}
			if m == nil || m.Rule != tt.rule || m.Path != tt.path {
				t.Fatalf("mismatch = %+v, want %s at %s", m, tt.rule, tt.path)
			}
			if strings.Contains(m.Reason, "1003000126") || strings.Contains(m.Reason, "8189991234") {
				t.Errorf("Reason quotes an identifier: %q", m.Reason)
			}
		})
	}
}

const (
	roleClaim = `{"fullUrl":"urn:uuid:c1","resource":{"resourceType":"Claim","id":"c1","patient":{"reference":"urn:uuid:pat"},
 "provider":{"reference":"urn:uuid:role"},"insurer":{"reference":"urn:uuid:payer"}}}`
	rolePayer = `{"fullUrl":"urn:uuid:payer","resource":{"resourceType":"Organization","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}]}}`
	roleOrg   = `{"fullUrl":"urn:uuid:org","resource":{"resourceType":"Organization","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"8189991234"}]}}`
	roleOther = `{"fullUrl":"urn:uuid:other","resource":{"resourceType":"Organization","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"1003000126"}]}}`
	rolePract = `{"fullUrl":"urn:uuid:pract","resource":{"resourceType":"Practitioner","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"8189991234"}]}}`
)

func role(org, pract string) string {
	r := `{"fullUrl":"urn:uuid:role","resource":{"resourceType":"PractitionerRole"`
	if org != "" {
		r += `,"organization":{"reference":"` + org + `"}`
	}
	if pract != "" {
		r += `,"practitioner":{"reference":"` + pract + `"}`
	}
	return r + `}}`
}

func TestPractitionerProviders(t *testing.T) {
	c := mustChecker(t, demoPayer)
	tests := []struct {
		name, body, rule string
	}{
		{"role of the partner organisation", bundleOf(roleClaim, rolePayer, roleOrg, role("urn:uuid:org", "urn:uuid:pract"), rolePract), ""},
		{"role at another organisation", bundleOf(roleClaim, rolePayer, roleOther, role("urn:uuid:other", "urn:uuid:pract"), rolePract), "congruence.provider"},
		{"role without organisation, partner practitioner", bundleOf(roleClaim, rolePayer, role("", "urn:uuid:pract"), rolePract), ""},
		{"role with unresolved organisation", bundleOf(roleClaim, rolePayer, role("urn:uuid:gone", "urn:uuid:pract"), rolePract), "congruence.provider"},
		{"role with neither", bundleOf(roleClaim, rolePayer, role("", "")), "congruence.provider"},
		{"practitioner provider", bundleOf(strings.Replace(roleClaim, "urn:uuid:role", "urn:uuid:pract", 1), rolePayer, rolePract), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := c.CheckClaimBundle(demoIdentity(), parse(t, tt.body))
			switch {
			case tt.rule == "" && m != nil:
				t.Fatalf("mismatch: %+v", m)
			case tt.rule != "" && (m == nil || m.Rule != tt.rule):
				t.Fatalf("mismatch = %+v, want %s", m, tt.rule)
			}
		})
	}
}

func TestNewRequiresPayerID(t *testing.T) {
	if _, err := New(); err == nil {
		t.Error("New accepted no payer identifier")
	}
	if _, err := New(Identifier{System: NPISystem}); err == nil {
		t.Error("New accepted a payer identifier without value")
	}
}
