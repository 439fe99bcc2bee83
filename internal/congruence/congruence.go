// Package congruence checks that the identities around a write agree: the
// organisation named by the partner's client certificate, the access
// token's client, the partner registration, and the provider and payer
// identifiers inside the payload.
//
// # Rules
//
// Identity (every write and operation):
//
//   - the token's client id equals the registered partner id the
//     certificate maps to;
//   - the partner registration names an organisation identifier;
//   - the verified client certificate names that organisation (an
//     urn:oid:2.16.840.1.113883.4.6:<NPI> URI SAN for an NPI).
//
// PAS Bundle (Claim/$submit and Claim/$inquire):
//
//   - no entry is, or contains, a Bundle;
//   - every Claim entry, not only the first, names a provider that resolves
//     inside the Bundle to the partner's organisation: an Organization or
//     Practitioner keyed to the registered identifier, or a PractitionerRole
//     whose organization (when it has one, else its practitioner) is;
//   - every Claim names an insurer that resolves to an Organization keyed
//     to one of this payer's identifiers;
//   - every Claim names a patient that resolves to a Patient entry, so
//     that the beneficiary the payer acts on is one strict mode checked;
//   - no two items of a Claim share a sequence, which the payer's
//     decisions name;
//   - every Coverage entry, whether or not a Claim points to it, has payors
//     that all resolve to an Organization keyed to one of this payer's
//     identifiers;
//   - a Reference that also carries Reference.identifier must carry the
//     expected identifier there too, so that a server reading either part
//     finds the same party.
//
// Member match: see CheckMemberMatch (membermatch.go).
//
// Outbound payloads, from the payer to a partner: see CheckOutbound
// (outbound.go).
//
// A party is keyed to an expected identifier when its first identifier
// with both system and value is an expected one, and every identifier in a
// system the expected identifiers use is an expected one. The payer keys a
// party on that first identifier (pas.Party.Key), and keys a
// PractitionerRole on the party this package checks, so the key it
// stores is the identifier verified here.
//
// References resolve as in the PAS package. An absolute reference equal to
// an entry's fullUrl is that entry. A relative Type/id is appended to the
// RESTful base of the referring entry's fullUrl, and never matches a
// relative fullUrl as written. When that fullUrl is a URN, Type/id must
// match exactly one entry. Contained references ("#id"), absolute URLs
// that are no entry's fullUrl and identifier-only references do not
// resolve. Neither do relative references from an http(s) fullUrl that is
// not RESTful because its type segment is no resource type. A reference
// that does not resolve is a mismatch: uncertainty means deny.
//
// A mismatch names the field as a FHIRPath-like location such as
// Bundle.entry[0].resource.provider and never quotes the value.
package congruence

import (
	"errors"
	"strings"
)

// Identifier is a FHIR Identifier's system and value.
type Identifier struct {
	System string
	Value  string
}

// NPISystem is the FHIR identifier system of the US National Provider
// Identifier.
const NPISystem = "http://hl7.org/fhir/sid/us-npi"

// npiURIPrefix is the URI SAN form of an NPI in partner certificates:
// 2.16.840.1.113883.4.6 is the HL7 OID of the NPI system.
const npiURIPrefix = npiOID + ":"

// npiOID is the NPI system written as its OID.
const npiOID = "urn:oid:2.16.840.1.113883.4.6"

// OrganizationsFromURIs returns the organisation identifiers a certificate's
// URI SANs name. Only the NPI form is recognised; other URIs are ignored.
func OrganizationsFromURIs(uris []string) []Identifier {
	var out []Identifier
	for _, u := range uris {
		if v, ok := strings.CutPrefix(u, npiURIPrefix); ok && v != "" {
			out = append(out, Identifier{System: NPISystem, Value: v})
		}
	}
	return out
}

// Identity is who an exchange claims to come from, taken from verified
// state only.
type Identity struct {
	// PartnerID is the registration the verified certificate maps to.
	PartnerID string
	// TokenClientID is the access token's client_id.
	TokenClientID string
	// Organization is the partner's registered organisation identifier.
	Organization Identifier
	// CertificateOrganizations are the organisation identifiers the
	// verified client certificate names (see OrganizationsFromURIs).
	CertificateOrganizations []Identifier
}

// Mismatch is a failed congruence check. It is the content of a decision,
// not an internal failure, and the caller responds 403 with issue code
// forbidden.
type Mismatch struct {
	// Rule is a stable id, e.g. "congruence.provider".
	Rule string
	// Path is the FHIRPath-like location of the field, "" for identity
	// checks.
	Path string
	// Reason is safe to send to the partner: it names the field, never its
	// value.
	Reason string
}

func (m *Mismatch) Error() string { return "congruence: " + m.Reason }

// Checker contains this payer's identifiers. It is safe for concurrent use.
type Checker struct {
	payerIDs []Identifier
}

// New returns a Checker accepting any of payerIDs as this payer's
// identifier in Claim.insurer and Coverage.payor.
func New(payerIDs ...Identifier) (*Checker, error) {
	if len(payerIDs) == 0 {
		return nil, errors.New("congruence: at least one payer identifier is required")
	}
	for _, id := range payerIDs {
		if id.System == "" || id.Value == "" {
			return nil, errors.New("congruence: a payer identifier needs both system and value")
		}
	}
	return &Checker{payerIDs: append([]Identifier(nil), payerIDs...)}, nil
}

// CheckIdentity applies the identity rules.
func (c *Checker) CheckIdentity(id Identity) *Mismatch {
	switch {
	case id.PartnerID == "" || id.TokenClientID != id.PartnerID:
		return &Mismatch{Rule: "congruence.client",
			Reason: "the access token was issued to another client than the partner the certificate names"}
	case id.Organization.System == "" || id.Organization.Value == "":
		return &Mismatch{Rule: "congruence.no-organization",
			Reason: "the partner registration names no organisation identifier, which writes and operations require"}
	}
	for _, org := range id.CertificateOrganizations {
		if org == id.Organization {
			return nil
		}
	}
	return &Mismatch{Rule: "congruence.certificate",
		Reason: "the client certificate does not name the partner's registered organisation"}
}

func (c *Checker) isPayer(ids []Identifier) bool {
	for _, id := range ids {
		for _, p := range c.payerIDs {
			if id == p {
				return true
			}
		}
	}
	return false
}

func contains(ids []Identifier, want Identifier) bool {
	for _, id := range ids {
		if id == want {
			return true
		}
	}
	return false
}
