package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// URI prefixes of the identity SANs this package issues.
const (
	PartnerURIPrefix = "urn:gatehouse:partner:"
	AdminURIPrefix   = "urn:gatehouse:admin:"
	// EngineURIPrefix names the payer's own integration engine, the only
	// client of the outbound listener.
	EngineURIPrefix = "urn:gatehouse:engine:"
	// NPIURIPrefix is the organisation URI form for a US National Provider
	// Identifier: 2.16.840.1.113883.4.6 is the HL7 OID of the NPI system.
	NPIURIPrefix = "urn:oid:2.16.840.1.113883.4.6:"
)

// maxIDLen is the longest partner id or administrator name, the length limit
// of a DNS label, so an id can also serve as a host name label.
const maxIDLen = 63

// ValidateID returns an error unless id is a valid partner id or
// administrator name: 1 to 63 characters from a-z, 0-9, '-' and '.',
// starting and ending with a letter or digit.
func ValidateID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("pki: id %q must be 1 to %d characters long", id, maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if !isIDChar(id[i]) {
			return fmt.Errorf("pki: id %q contains %q (allowed: a-z, 0-9, '-', '.')", id, id[i])
		}
	}
	if !isAlphaNum(id[0]) || !isAlphaNum(id[len(id)-1]) {
		return fmt.Errorf("pki: id %q must start and end with a letter or digit", id)
	}
	return nil
}

func isIDChar(b byte) bool { return isAlphaNum(b) || b == '-' || b == '.' }

func isAlphaNum(b byte) bool { return 'a' <= b && b <= 'z' || '0' <= b && b <= '9' }

// PartnerURI returns the URI SAN that names a partner in its client
// certificate: urn:gatehouse:partner:<id>. It does not validate id, but
// IssueClient and PartnerFromCertificate do.
func PartnerURI(id string) string { return PartnerURIPrefix + id }

// AdminURI returns the URI SAN that names an administrator:
// urn:gatehouse:admin:<name>.
func AdminURI(name string) string { return AdminURIPrefix + name }

// NPIURI returns the organisation URI SAN for a National Provider Identifier,
// urn:oid:2.16.840.1.113883.4.6:<npi>. It returns an error unless npi is ten
// digits whose last digit is the Luhn check digit computed over the prefix
// 80840 followed by the first nine digits.
func NPIURI(npi string) (string, error) {
	if err := validateNPI(npi); err != nil {
		return "", err
	}
	return NPIURIPrefix + npi, nil
}

func validateNPI(npi string) error {
	if len(npi) != 10 {
		return fmt.Errorf("pki: NPI %q must be 10 digits", npi)
	}
	for i := 0; i < len(npi); i++ {
		if npi[i] < '0' || npi[i] > '9' {
			return fmt.Errorf("pki: NPI %q must be 10 digits", npi)
		}
	}
	if !luhnValid("80840" + npi) {
		return fmt.Errorf("pki: NPI %q has an invalid check digit", npi)
	}
	return nil
}

// luhnValid reports whether the decimal string digits, check digit last,
// passes the Luhn check.
func luhnValid(digits string) bool {
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// PartnerFromCertificate returns the partner id named by leaf's URI SANs.
// It reports false unless leaf has exactly one URI SAN that starts with the
// partner prefix in any letter case, that SAN is exactly
// urn:gatehouse:partner:<id> with a valid id, and leaf has no administrator
// SAN. The SANs are read as encoded in leaf.Raw, so leaf must be a parsed
// certificate. Callers must pass a certificate from a verified chain, never
// one merely presented by the peer.
func PartnerFromCertificate(leaf *x509.Certificate) (string, bool) {
	return identityFromCertificate(leaf, PartnerURIPrefix)
}

// AdminFromCertificate returns the administrator name named by leaf's URI
// SANs, with the same rules as PartnerFromCertificate: exactly one
// urn:gatehouse:admin:<name> SAN and no partner or engine SAN.
func AdminFromCertificate(leaf *x509.Certificate) (string, bool) {
	return identityFromCertificate(leaf, AdminURIPrefix)
}

// EngineFromCertificate returns the integration engine named by leaf's URI
// SANs, with the same rules: exactly one urn:gatehouse:engine:<name> SAN and
// no partner or administrator SAN.
func EngineFromCertificate(leaf *x509.Certificate) (string, bool) {
	return identityFromCertificate(leaf, EngineURIPrefix)
}

// identityPrefixes are the identity kinds. A certificate may carry one.
var identityPrefixes = []string{PartnerURIPrefix, AdminURIPrefix, EngineURIPrefix}

func identityFromCertificate(leaf *x509.Certificate, prefix string) (string, bool) {
	uris, err := rawURISANs(leaf)
	if err != nil {
		return "", false
	}
	for _, other := range identityPrefixes {
		if other != prefix && len(withPrefix(uris, other)) > 0 {
			return "", false
		}
	}
	return identityFromSANs(withPrefix(uris, prefix), prefix)
}

// oidSubjectAltName is the subjectAltName extension (RFC 5280, 4.2.1.6).
var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// uriGeneralNameTag is the context-specific tag of uniformResourceIdentifier
// in GeneralName.
const uriGeneralNameTag = 6

// rawURISANs returns cert's URI SANs exactly as encoded. The parsed
// cert.URIs are normalised by net/url, which lower-cases the scheme and
// drops an empty fragment, so "urn:gatehouse:partner:a#" would read as
// partner "a".
func rawURISANs(cert *x509.Certificate) ([]string, error) {
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(oidSubjectAltName) {
			continue
		}
		var names []asn1.RawValue
		rest, err := asn1.Unmarshal(ext.Value, &names)
		if err != nil {
			return nil, fmt.Errorf("pki: invalid subjectAltName extension: %w", err)
		}
		if len(rest) != 0 {
			return nil, errors.New("pki: trailing data after subjectAltName extension")
		}
		var uris []string
		for _, name := range names {
			if name.Class == asn1.ClassContextSpecific && name.Tag == uriGeneralNameTag {
				uris = append(uris, string(name.Bytes))
			}
		}
		return uris, nil
	}
	return nil, nil
}

// withPrefix returns the URIs that start with prefix, compared without
// regard to case. URN schemes and namespace ids are case-insensitive
// (RFC 8141), so "URN:Gatehouse:Partner:x" must count as a second partner
// SAN rather than be ignored.
func withPrefix(uris []string, prefix string) []string {
	var matches []string
	for _, s := range uris {
		if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
			matches = append(matches, s)
		}
	}
	return matches
}

func identityFromSANs(sans []string, prefix string) (string, bool) {
	if len(sans) != 1 {
		return "", false
	}
	id, ok := strings.CutPrefix(sans[0], prefix)
	if !ok || ValidateID(id) != nil {
		return "", false
	}
	return id, true
}

// PartnerIdentityProblem explains why PartnerFromCertificate finds no
// partner in leaf, as a phrase that follows "the client certificate", such
// as "carries 2 partner URI SANs: it must carry exactly one". It returns "" when leaf names
// a partner.
func PartnerIdentityProblem(leaf *x509.Certificate) string {
	uris, err := rawURISANs(leaf)
	if err != nil {
		return "has an invalid subjectAltName extension"
	}
	for _, other := range []string{AdminURIPrefix, EngineURIPrefix} {
		if len(withPrefix(uris, other)) > 0 {
			return "carries an administrator or engine identity, not a partner one"
		}
	}
	sans := withPrefix(uris, PartnerURIPrefix)
	switch {
	case len(sans) == 0:
		return "carries no partner identity: it needs one URI SAN " + PartnerURIPrefix + "<id>"
	case len(sans) > 1:
		return fmt.Sprintf("carries %d partner URI SANs: it must carry exactly one", len(sans))
	}
	if _, ok := identityFromSANs(sans, PartnerURIPrefix); !ok {
		return "carries an invalid partner URI SAN: use " + PartnerURIPrefix + "<id>, with an id of 1 to 63 characters from a-z, 0-9, '-' and '.'"
	}
	return ""
}

// Fingerprint returns the SHA-256 digest of cert's DER encoding as 64
// lower-case hex digits, the form Gatehouse records store.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}
