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
//   - every source actor (role performer) of every Consent is this payer,
//     the party the member allowed to disclose;
//   - every Consent has a recipient actor (role IRCP), and each is the
//     partner's organisation, so that a partner cannot reuse a Consent
//     the member gave another organisation.
//
// Each of these parties must be named by Reference.identifier alone. A
// literal reference could resolve on a server to another organisation
// than its identifier names, and nothing inside the Parameters says which,
// so it is a mismatch. Which parameters must be present, and how often,
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
	recipients := 0
	if consent.Provision != nil {
		for i := range consent.Provision.Actor {
			actor := &consent.Provision.Actor[i]
			at := path + ".provision.actor[" + strconv.Itoa(i) + "].reference"
			for _, coding := range actor.Role.Coding {
				var m *Mismatch
				switch {
				case coding.System == roleSystemSource && coding.Code == roleCodeSource:
					m = namedBy(&actor.Reference, c.payerIDs, "congruence.consent.source", at, "this payer")
				case coding.System == roleSystemRecipient && coding.Code == roleCodeRecipient:
					recipients++
					m = namedBy(&actor.Reference, []Identifier{org}, "congruence.consent.recipient", at, "the partner's organisation")
				}
				if m != nil {
					return m
				}
			}
		}
	}
	if recipients == 0 {
		return &Mismatch{Rule: "congruence.consent.recipient", Path: path + ".provision.actor",
			Reason: path + " must name the partner's organisation as its recipient (role IRCP)"}
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
