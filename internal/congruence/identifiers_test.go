package congruence

import (
	"strings"
	"testing"
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
