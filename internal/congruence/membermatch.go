package congruence

import (
	"strconv"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Member match (Patient/$member-match, HRex):
//
//   - every payor of every CoverageToMatch is this payer: the coverage to
//     match is one this payer issued;
//   - every Consent has a source actor (role performer) that is this
//     payer, the party the member allowed to disclose;
//   - every Consent has a recipient actor (role IRCP) that is the
//     partner's organisation, so that a partner cannot reuse a Consent
//     the member gave another organisation;
//   - every source and recipient actor is this payer or the partner's
//     organisation. A bidirectional Consent, which the HRex Consent
//     profile allows, also lists the partner as a source and this payer
//     as a recipient;
//   - every actor has one of those two roles, coded exactly as the
//     profile fixes them, and no provision is nested (the profile allows
//     none). An upstream may read any other actor as a recipient or
//     source, so none may escape these checks.
//
// Each of these parties must be named by Reference.identifier alone. A
// literal reference could resolve on a server to another organisation
// than its identifier names, and the Parameters do not show which one, so
// it is a mismatch. Which parameters must be present, and how often,
// the HRex profile decides (strict mode) and the payer service checks.

type parametersJSON struct {
	Parameter []struct {
		Name     string         `json:"name"`
		Resource jsontext.Value `json:"resource"`
	} `json:"parameter"`
}

type coverageToMatchJSON struct {
	Payor []referenceJSON `json:"payor"`
}

type consentJSON struct {
	Provision *struct {
		Actor []struct {
			Role struct {
				Coding []struct {
					System string `json:"system"`
					Code   string `json:"code"`
				} `json:"coding"`
			} `json:"role"`
			Reference referenceJSON `json:"reference"`
		} `json:"actor"`
		Nested []jsontext.Value `json:"provision"`
	} `json:"provision"`
}

// The actor roles of the HRex Consent profile's two slices.
const (
	roleSystemSource    = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
	roleCodeSource      = "performer"
	roleSystemRecipient = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	roleCodeRecipient   = "IRCP"
)

// CheckMemberMatch applies the identity rules and then the member-match
// rules to a Patient/$member-match Parameters body.
func (c *Checker) CheckMemberMatch(id Identity, body []byte) *Mismatch {
	if m := c.CheckIdentity(id); m != nil {
		return m
	}
	var p parametersJSON
	if err := json.Unmarshal(body, &p); err != nil {
		return unreadable("Parameters")
	}
	for i, param := range p.Parameter {
		var m *Mismatch
		switch param.Name {
		case "CoverageToMatch":
			m = c.checkCoverageToMatch(param.Resource, paramPath(i))
		case "Consent":
			m = c.checkConsent(id.Organization, param.Resource, paramPath(i))
		}
		if m != nil {
			return m
		}
	}
	return nil
}

func (c *Checker) checkCoverageToMatch(raw jsontext.Value, path string) *Mismatch {
	var cov coverageToMatchJSON
	if err := json.Unmarshal(raw, &cov); err != nil {
		return unreadable(path)
	}
	if len(cov.Payor) == 0 {
		return &Mismatch{Rule: "congruence.payor", Path: path + ".payor",
			Reason: path + ".payor must name this payer"}
	}
	for i := range cov.Payor {
		at := path + ".payor[" + strconv.Itoa(i) + "]"
		if m := namedBy(&cov.Payor[i], c.payerIDs, "congruence.payor", at, "this payer"); m != nil {
			return m
		}
	}
	return nil
}

func (c *Checker) checkConsent(org Identifier, raw jsontext.Value, path string) *Mismatch {
	var consent consentJSON
	if err := json.Unmarshal(raw, &consent); err != nil {
		return unreadable(path)
	}
	parties := append([]Identifier{org}, c.payerIDs...)
	payerSource, partnerRecipient := false, false
	if consent.Provision != nil {
		if len(consent.Provision.Nested) > 0 {
			at := path + ".provision.provision"
			return &Mismatch{Rule: "congruence.consent.provision", Path: at,
				Reason: at + " must be absent: the HRex Consent profile allows no nested provision, and its actors would go unchecked"}
		}
		for i := range consent.Provision.Actor {
			actor := &consent.Provision.Actor[i]
			at := path + ".provision.actor[" + strconv.Itoa(i) + "]"
			source, recipient := false, false
			for _, coding := range actor.Role.Coding {
				source = source || coding.System == roleSystemSource && coding.Code == roleCodeSource
				recipient = recipient || coding.System == roleSystemRecipient && coding.Code == roleCodeRecipient
			}
			if !source && !recipient {
				return &Mismatch{Rule: "congruence.consent.actor", Path: at + ".role",
					Reason: at + ".role must be coded as performer (" + roleSystemSource + ") or IRCP (" + roleSystemRecipient + ")"}
			}
			if source {
				if m := namedBy(&actor.Reference, parties, "congruence.consent.source", at+".reference", "this payer or the partner's registered organisation"); m != nil {
					return m
				}
				payerSource = payerSource || containsAlias(c.payerIDs, actor.Reference.Identifier.id())
			}
			if recipient {
				if m := namedBy(&actor.Reference, parties, "congruence.consent.recipient", at+".reference", "the partner's registered organisation or this payer"); m != nil {
					return m
				}
				partnerRecipient = partnerRecipient || containsAlias([]Identifier{org}, actor.Reference.Identifier.id())
			}
		}
	}
	switch {
	case !partnerRecipient:
		return &Mismatch{Rule: "congruence.consent.recipient", Path: path + ".provision.actor",
			Reason: path + " must name the partner's registered organisation as a recipient (role IRCP)"}
	case !payerSource:
		return &Mismatch{Rule: "congruence.consent.source", Path: path + ".provision.actor",
			Reason: path + " must name this payer as a source (role performer)"}
	}
	return nil
}

// namedBy checks that ref names one of want by its identifier alone.
func namedBy(ref *referenceJSON, want []Identifier, rule, path, party string) *Mismatch {
	switch {
	case ref.Reference != "":
		return &Mismatch{Rule: rule, Path: path,
			Reason: path + " must name " + party + " by Reference.identifier alone, without a literal reference"}
	case ref.Identifier == nil:
		return &Mismatch{Rule: rule, Path: path, Reason: path + " must name " + party + " by Reference.identifier"}
	}
	if !containsAlias(want, ref.Identifier.id()) {
		return &Mismatch{Rule: rule, Path: path, Reason: path + " does not name " + party}
	}
	return nil
}

func paramPath(i int) string { return "Parameters.parameter[" + strconv.Itoa(i) + "].resource" }
