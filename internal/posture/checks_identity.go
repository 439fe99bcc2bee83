package posture

import (
	"fmt"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// npiSystem is the FHIR identifier system of US National Provider
// Identifiers.
const npiSystem = "http://hl7.org/fhir/sid/us-npi"

var identityChecks = []Check{
	{
		ID: "GH-IDN-001", Control: "C8", Severity: High, Mode: ModeConfig,
		Title:       "This payer's identifier is set and valid",
		Rationale:   "Identity congruence compares the insurer and coverage payor named in every payload with this payer's verified identifier; without it, a payload naming another payer passes.",
		Remediation: "Set payer_id.system and payer_id.value, such as system http://hl7.org/fhir/sid/us-npi with a ten-digit NPI.",
		config:      checkPayerID,
	},
	{
		ID: "GH-IDN-002", Control: "C8", Severity: High, Mode: ModeConfig,
		Title:       "Every partner names its own organisation",
		Rationale:   "The organisation in the registration is what the certificate and the payload identifiers are compared with; a missing or shared organisation lets one partner speak for another.",
		Remediation: "Set partners[].organization.system and .value to the partner organisation's identifier, such as its NPI, distinct for every partner.",
		config:      checkPartnerOrganizations,
	},
	{
		ID: "GH-IDN-003", Control: "C3", Severity: High, Mode: ModeConfig,
		Title:       "Every partner names its issuing CA when several client CAs are trusted",
		Rationale:   "Without an issuing CA, a partner is identified by the URI SAN alone, so any trusted CA can issue a certificate that speaks for it: with a partner's own CA in the trust pool, that partner could impersonate every other.",
		Remediation: "Set partners[].issuing_ca.cert_file or .sha256 for every partner once tls.client_ca_file holds more than one CA or any partner registers its own CA.",
		config:      checkPartnerIssuingCAs,
	},
	{
		ID: "GH-IDN-004", Control: "C8", Severity: Medium, Mode: ModeConfig,
		Title:       "The outbound patient check knows this payer's member id systems",
		Rationale:   "Every patient an outbound payload or search names must be linked to the destination partner, and an identifier of a member id system must itself be linked; without the system, a Patient can carry another member's id next to the partner's own member's and reach the partner, and a search by subscriber-id cannot be matched to a member at all.",
		Remediation: "Set member_id_systems to the identifier systems of the member ids the payer's engine sends, such as the system of Coverage.identifier and Patient.identifier member numbers.",
		config:      checkMemberIDSystems,
	},
}

func checkMemberIDSystems(t *Target) []result {
	cfg := t.Config
	outbound := false
	for _, p := range cfg.Partners {
		outbound = outbound || p.Outbound != nil
	}
	switch {
	case !outbound:
		return []result{pass("member_id_systems", "no partner receives outbound payloads")}
	case len(cfg.MemberIDSystems) > 0:
		return []result{pass("member_id_systems", "outbound patients may carry only linked member ids of %d system(s)", len(cfg.MemberIDSystems))}
	case cfg.Upstream.URL == config.Builtin:
		return []result{pass("member_id_systems", "outbound patients may carry only linked member ids of the built-in payer's system")}
	}
	return []result{fail("member_id_systems", "member_id_systems is empty, so the outbound patient check cannot tell the engine's member ids from other identifiers")}
}

// identifierProblem describes what is wrong with id, or returns "".
func identifierProblem(id config.Identifier) string {
	switch {
	case id.System == "" && id.Value == "":
		return "is not set"
	case id.System == "" || id.Value == "":
		return "needs both system and value"
	case id.System == npiSystem:
		if _, err := pki.NPIURI(id.Value); err != nil {
			return fmt.Sprintf("value %q is not a valid NPI", id.Value)
		}
	}
	return ""
}

func checkPayerID(t *Target) []result {
	id := t.Config.PayerID
	if msg := identifierProblem(id); msg != "" {
		return []result{fail("payer_id", "payer_id %s", msg)}
	}
	return []result{pass("payer_id", "payer_id is %s|%s", id.System, id.Value)}
}

func checkPartnerOrganizations(t *Target) []result {
	var out []result
	owner := map[config.Identifier]string{}
	for i, p := range t.Config.Partners {
		key := fmt.Sprintf("partners[%d].organization", i)
		if msg := identifierProblem(p.Organization); msg != "" {
			out = append(out, fail(key, "partner %q: organization %s", p.ID, msg))
			continue
		}
		if other, dup := owner[p.Organization]; dup {
			out = append(out, failAt(Medium, key, "partner %q: organization %s is also registered for partner %q", p.ID, p.Organization.Value, other))
			continue
		}
		owner[p.Organization] = p.ID
		out = append(out, pass(key, "partner %q is organization %s|%s", p.ID, p.Organization.System, p.Organization.Value))
	}
	if len(t.Config.Partners) == 0 {
		out = append(out, pass("partners", "no partner is registered"))
	}
	return out
}

func checkPartnerIssuingCAs(t *Target) []result {
	c := t.Config
	trusted := 0
	if certs, err := pki.LoadCertificates(c.Resolve(c.TLS.ClientCAFile)); err == nil {
		trusted = len(certs)
	}
	// A partner file that is tls.client_ca_file itself adds no CA.
	own := map[string]bool{}
	for _, p := range c.Partners {
		if p.IssuingCA != nil && p.IssuingCA.CertFile != "" && c.Resolve(p.IssuingCA.CertFile) != c.Resolve(c.TLS.ClientCAFile) {
			own[c.Resolve(p.IssuingCA.CertFile)] = true
		}
	}
	trusted += len(own)
	if trusted <= 1 {
		return []result{pass("tls.client_ca_file", "at most one client CA is trusted, so no other CA can issue a certificate naming a partner")}
	}
	var out []result
	for i, p := range c.Partners {
		key := fmt.Sprintf("partners[%d]", i)
		if p.IssuingCA == nil {
			out = append(out, fail(key, "partner %q names no issuing_ca while %d client CAs are trusted, so a certificate from any of them can speak for it", p.ID, trusted))
			continue
		}
		out = append(out, pass(key+".issuing_ca", "partner %q accepts certificates from its issuing CA only", p.ID))
	}
	return out
}
