package congruence

import (
	"net/url"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// This file decides which references may name a person. The outbound
// patient check cannot resolve a server id, so it rejects a reference by
// server id to a person wherever it reads references. It reads every
// string "reference" and URL member of an outbound body (personrefs.go),
// and the criteria of every conditional reference there and of every
// outbound search (outboundsearch.go). A reference counts as naming a person when any reading
// of it that a conformant or a lenient server may apply names one. So no
// spelling reaches a server that resolves it to a patient the gateway
// never saw.

// personTypes are the resource types whose instances are people whose
// data a payload may carry. A RelatedPerson is a subscriber or policy
// holder, and a Person links one person's Patient records.
var personTypes = []string{"Patient", "RelatedPerson", "Person"}

// resourceTypeName matches the form of an R4 resource type name, which
// conditional criteria must state exactly, as the server matches it.
var resourceTypeName = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}$`)

// maxPercentDecodings caps how many times a reference is percent-decoded
// when looking for a reading that names a person.
//
// NOTE: 3 is an estimate. A reference passes a proxy, a servlet container
// and the FHIR server, and each may decode it once. A server that decodes
// more often could read a reference encoded four times as a Patient.
const maxPercentDecodings = 3

// groupType is the resource type whose members may be patients. A
// reference to a Group names every member, whom the gateway cannot list.
// So outbound a literal Group reference must resolve to a Group of the
// body, whose members the walk checks, and conditional criteria must not
// search one.
const groupType = "Group"

// foldedPersonType returns the person type that name spells, ignoring
// letter case, Unicode compatibility forms and surrounding white space,
// or "" when it spells none.
func foldedPersonType(name string) string {
	return foldedType(name, personTypes)
}

// peopleTypes are personTypes and groupType.
var peopleTypes = append(slices.Clone(personTypes), groupType)

// foldedPeopleType returns the person type or "Group" that name spells,
// as foldedPersonType does, or "" when it spells none.
func foldedPeopleType(name string) string {
	return foldedType(name, peopleTypes)
}

func foldedType(name string, types []string) string {
	name = strings.TrimSpace(norm.NFKC.String(name))
	for _, t := range types {
		if strings.EqualFold(name, t) {
			return t
		}
	}
	return ""
}

// referenceReadings returns ref as a lenient reader may read it: as
// written, after each of up to maxPercentDecodings percent-decodings, and
// each of those with backslashes read as slashes, as URL parsers do for
// http URLs.
func referenceReadings(ref string) []string {
	readings := []string{ref}
	current := ref
	for range maxPercentDecodings {
		decoded, err := url.PathUnescape(current)
		if err != nil || decoded == current {
			break
		}
		readings = append(readings, decoded)
		current = decoded
	}
	for _, r := range readings {
		if strings.Contains(r, `\`) {
			readings = append(readings, strings.ReplaceAll(r, `\`, "/"))
		}
	}
	return readings
}

// referenceSegments returns the path segments of one reading of a
// reference, each cut at the first ";", "?" or "#". A servlet container
// drops ";" path parameters, and the rest is a query or a fragment.
func referenceSegments(reading string) []string {
	segments := strings.Split(reading, "/")
	for i, s := range segments {
		if j := strings.IndexAny(s, ";?#"); j >= 0 {
			segments[i] = s[:j]
		}
	}
	return segments
}

// namesPersonType reports whether the literal reference ref may name a
// person. That is the case when a path segment of one of its readings
// spells a person type or Group, as in "Patient/id", "patient/id",
// "Patient%2Fid", "Group/id" or an absolute URL. It is also the case for
// a contained "#id", whose type the reference does not show. A "urn:uuid:" reference to a Bundle
// entry passes, because the entry itself is checked.
func namesPersonType(ref string) bool {
	if strings.HasPrefix(ref, "#") {
		return true
	}
	for _, reading := range referenceReadings(ref) {
		for _, seg := range referenceSegments(reading) {
			if foldedPeopleType(seg) != "" {
				return true
			}
		}
	}
	return false
}

// namesPersonInstance reports whether the search value value, a reference
// "Type/id" or an absolute URL, names an instance of a person type or a
// Group in one of its readings: such a type segment followed by a
// non-empty id.
func namesPersonInstance(value string) bool {
	for _, reading := range referenceReadings(value) {
		segments := referenceSegments(reading)
		for i := 0; i+1 < len(segments); i++ {
			if foldedPeopleType(segments[i]) != "" && strings.TrimSpace(segments[i+1]) != "" {
				return true
			}
		}
	}
	return false
}

// personReferenceParameters are the codes of the R4 reference search
// parameters (hl7.fhir.r4.core 4.0.1) whose targets include Patient,
// RelatedPerson, Person or Group, or that have no fixed target, such as
// Observation's "focus" and Provenance's "target". A bare id in one of
// them may name a patient, because the server matches it against every
// target type. A code counts on every resource type, also where that type
// defines it with other targets or as another type: a bare id there is
// rejected, because the gateway does not read the criteria type by type.
// TestPersonReferenceParametersCoverCore checks the list against the
// core package.
var personReferenceParameters = []string{
	"actor", "agent", "asserter", "assessed-condition", "attester", "author",
	"based-on", "beneficiary", "composed-of", "consentor", "data", "depends-on",
	"derived-from", "enterer", "entity", "entry", "evaluated-resource",
	"evidence-detail", "focus", "implicated", "individual", "information",
	"instantiates-canonical", "intended-performer", "item", "item-subject",
	"link", "managing-entity", "member", "operator", "owner", "part-of",
	"participant", "patient", "payee", "payor", "performer", "performer-actor",
	"policy-holder", "predecessor", "prior-request", "receiver", "recipient",
	"recorder", "related", "related-ref", "relatedperson", "request",
	"requester", "resource", "response", "sender", "signer", "source",
	"subject", "subscriber", "successor", "supporting-info", "target",
}

// isPersonReferenceParameter reports whether name, compared without
// letter case and surrounding white space, is one of
// personReferenceParameters. A lenient server may
// match a parameter name in another case.
func isPersonReferenceParameter(name string) bool {
	name = strings.TrimSpace(name)
	for _, p := range personReferenceParameters {
		if strings.EqualFold(name, p) {
			return true
		}
	}
	return false
}

// criteriaNamePersonByID reports whether the search criteria query, the
// part of a conditional reference after "?", name a person by something
// other than an identifier, which the gateway cannot match to the
// patients a partner named. That is the case for:
//
//   - a value of any parameter that is a reference to a person instance
//     ("Coverage?payor=Patient/victim", "...?x=https://ehr/fhir/Patient/1");
//   - a value of a personReferenceParameters entry that does not name an
//     instance of a type other than a person type or Group, such as a bare
//     id ("Coverage?beneficiary=victim");
//   - a type modifier naming a person type or Group
//     ("Observation?subject:Patient=1");
//   - a chain through a person reference parameter or a person type
//     modifier that ends in anything but "identifier"
//     ("Coverage?beneficiary._id=victim",
//     "Coverage?beneficiary.family=Victim").
//
// Criteria whose names or values cannot be percent-decoded count as
// naming a person, because the gateway cannot tell which they name. The
// "identifier" parameters that remain are read by ConditionalIdentifiers.
func criteriaNamePersonByID(query string) bool {
	for _, param := range strings.Split(query, "&") {
		rawName, rawValue, _ := strings.Cut(param, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return true
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return true
		}
		if parameterNamesPerson(name, value) {
			return true
		}
	}
	return false
}

// parameterNamesPerson applies the rules of criteriaNamePersonByID to the
// decoded parameter name and value.
func parameterNamesPerson(name, value string) bool {
	// The reference parameter of a reverse chain "_has:Type:reference:"
	// points to the searched resource, so only what follows it counts.
	target, ok := reverseChainTarget(name)
	if !ok {
		return true
	}
	links := strings.Split(target, ".")
	for _, link := range links[:len(links)-1] {
		base, modifier, _ := strings.Cut(link, ":")
		if isPersonReferenceParameter(base) || foldedPeopleType(modifier) != "" {
			last, lastModifier, _ := strings.Cut(links[len(links)-1], ":")
			if !strings.EqualFold(last, "identifier") || lastModifier != "" {
				return true
			}
		}
	}
	base, modifier, _ := strings.Cut(links[len(links)-1], ":")
	if foldedPeopleType(modifier) != "" {
		return true
	}
	personParameter := len(links) == 1 && modifier == "" && isPersonReferenceParameter(base)
	for _, token := range splitEscaped(value, ',') {
		token = unescapeSearch(token)
		if namesPersonInstance(token) {
			return true
		}
		if personParameter && token != "" && !namesOtherType(token) {
			return true
		}
	}
	return false
}

// namesOtherType reports whether the reference value names an instance
// of a type that is not a person type. Its second-to-last path segment
// must be a resource type name other than a person type or Group, because
// a Group's members may be patients.
func namesOtherType(value string) bool {
	segments := referenceSegments(value)
	if len(segments) < 2 {
		return false
	}
	typ := segments[len(segments)-2]
	return resourceTypeName.MatchString(typ) && foldedPeopleType(typ) == ""
}
