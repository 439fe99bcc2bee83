package congruence

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// SearchRule is the rule of a mismatch in the criteria of an outbound
// search, and of a search that names a person the destination partner
// has not named.
const SearchRule = "congruence.outbound-search"

// SearchNames is the result of CheckOutboundSearch: the people and the
// other identifiers that the criteria of one outbound search name.
type SearchNames struct {
	// Patients are the people that the criteria name, one per search
	// parameter. Each is Conditional, because the partner returns every
	// person that any comma-separated value matches, so each identifier
	// must be linked to the destination. AnySystem contains the values of
	// a person parameter without a system, and of "subscriber-id".
	Patients []NamedPatient
	// Others are the identifiers that name something other than a person,
	// such as "Task?identifier=..." or "Claim?provider:identifier=...".
	// The caller applies the rules of a body's other identifiers to them:
	// none may be linked only to another partner, or be an unlinked member
	// id. Pointer names the search parameter.
	Others []FoundIdentifier
}

// searchResultParameters are the parameters that a search of a person type
// may carry beside its "identifier" parameters. They shape the result and
// select no one.
var searchResultParameters = []string{
	"_count", "_sort", "_elements", "_summary", "_include", "_revinclude",
	"_total", "_format", "_contained", "_containedType",
}

// safeParameterName matches the parameter names that a mismatch reason
// may quote. A name is part of the query, so any other name is shown by
// its position only.
var safeParameterName = regexp.MustCompile(`^[A-Za-z0-9_:.-]{1,64}$`)

// CheckOutboundSearch reads query, the criteria of a search of type typ
// that the payer's engine sends to a partner. partner is that partner's
// registered organisation. It returns the people and other identifiers
// that the criteria name, for the caller to check against the patient
// links. typ is "" for a search of every type. at locates the criteria in the reasons:
// "the search", "If-None-Exist" or a Bundle entry's request. The query
// must be one that fhirreq.ParseQuery accepted, encoded again.
//
// A search names a person in three ways, and every one must be by an
// identifier the gateway can match against the links:
//
//   - a search of Patient, RelatedPerson or Person, or of every type
//     unless _type names only other types, selects people. Its criteria
//     must be "identifier" parameters whose every value has a system,
//     and the result parameters of searchResultParameters. Other criteria
//     (name, birthdate, _id, an empty search) name people the gateway
//     cannot match, or select the partner's whole population of them.
//   - a member identifier parameter (ConditionalIdentifiers) through a
//     reference that may name a person ("Observation?patient:identifier=",
//     "patient.identifier", any "_has") names that person, and so do
//     "subscriber-id" and a Coverage's own "identifier", because a
//     Coverage is a member's record. A search of every type reaches
//     Coverage unless _type names only other types.
//   - criteria that name a person by server id or by something other than
//     an identifier (criteriaNamePersonByID), such as
//     "Observation?patient=Patient/123", are a mismatch.
//
// Criteria that the gateway cannot read are a mismatch: a modifier on a
// member identifier parameter, "_filter", "_query", a raw "#" or bad
// percent-encoding. An identifier of this payer or of partner, such as
// "Task?owner:identifier=", names an organisation and passes. A search of
// another type whose criteria name no person, such as
// "Practitioner?name=" or "Task?status=requested", passes with nothing
// named.
func (c *Checker) CheckOutboundSearch(partner Identifier, typ, query, at string) (SearchNames, *Mismatch) {
	var names SearchNames
	if _, err := ConditionalIdentifiers(typ, query); err != nil {
		return names, searchMismatch(at, at+" has criteria the gateway cannot read: a modifier on an identifier parameter, _filter, _query, a raw \"#\" or bad percent-encoding")
	}
	if criteriaNamePersonByID(query) {
		return names, searchMismatch(at, at+" names a patient or another person by server id or by something other than an identifier; search by identifier")
	}
	people := searchesType(typ, query, personTypes)
	// A search of every type matches Coverage.identifier too, so its own
	// "identifier" is read as a Coverage's.
	criteriaType := typ
	coverage := searchesType(typ, query, []string{"Coverage"})
	if coverage {
		criteriaType = "Coverage"
	}
	for i, param := range strings.Split(query, "&") {
		if query == "" {
			break
		}
		rawName, _, _ := strings.Cut(param, "=")
		// ConditionalIdentifiers above decoded every name and accepted
		// it in memberParameter.
		name, _ := url.QueryUnescape(rawName)
		kind, own, _ := memberParameter(name)
		label := parameterLabel(at, i, name)
		if people {
			if m := checkPeopleParameter(name, label, at, typ, own); m != nil {
				return names, m
			}
		}
		if kind == "" {
			continue
		}
		ids, err := ConditionalIdentifiers(criteriaType, param)
		if err != nil {
			return names, searchMismatch(at, label+" cannot be read")
		}
		if m := c.addSearchParameter(&names, partner, ids, label, at, name, kind, own, people, coverage); m != nil {
			return names, m
		}
	}
	if people && !slices.ContainsFunc(names.Patients, func(p NamedPatient) bool { return len(p.Identifiers) > 0 }) {
		return names, searchMismatch(at, at+" searches patients or other people without an identifier parameter that has both system and value; search by identifier with a system")
	}
	return names, nil
}

// addSearchParameter adds the identifiers ids of the member identifier
// parameter name, of kind "identifier" or "subscriber-id", to names: as a
// person when the parameter names one, else as others. people and
// coverage report whether the search selects people or Coverages.
func (c *Checker) addSearchParameter(names *SearchNames, partner Identifier, ids []CriteriaIdentifier, label, at, name, kind string, own, people, coverage bool) *Mismatch {
	person := own && (people || coverage) || !own && (kind == "subscriber-id" || reachesPerson(name))
	named := NamedPatient{Path: label, Conditional: true}
	for _, id := range ids {
		switch {
		case id.System != "" && (containsAlias(c.payerIDs, id.Identifier) || id.Identifier == partner):
			// An organisation, not a person.
		case !person:
			names.Others = append(names.Others, FoundIdentifier{Pointer: label, Identifier: id.Identifier, AnySystem: id.AnySystem})
		case id.System == "" && own && people:
			return searchMismatch(at, label+" is an identifier without a system, which matches identifiers of any system; state the system")
		case id.System == "":
			named.AnySystem = append(named.AnySystem, id.Value)
		default:
			named.Identifiers = appendNew(named.Identifiers, id.Identifier)
			if id.AnySystem {
				// A Coverage identifier may carry a member id under
				// another system, so its value must not be one of
				// another partner's.
				names.Others = append(names.Others, FoundIdentifier{Pointer: label, Identifier: id.Identifier, AnySystem: true})
			}
		}
	}
	if len(named.Identifiers) > 0 || len(named.AnySystem) > 0 {
		names.Patients = append(names.Patients, named)
	}
	return nil
}

// checkPeopleParameter rejects a parameter of a search that selects people
// unless it is the searched type's own "identifier" or a result
// parameter.
func checkPeopleParameter(name, label, at, typ string, own bool) *Mismatch {
	if slices.Contains(searchResultParameters, name) || name == "_type" && typ == "" || own && name == "identifier" {
		return nil
	}
	searched := typ
	if searched == "" {
		searched = "every type"
	}
	return searchMismatch(at, label+" is not an identifier parameter: a search of "+searched+
		" selects patients or other people, which the gateway matches only by identifier; search by identifier with a system")
}

// searchesType reports whether a search of typ with query selects
// resources of one of types: typ is one of them, or typ is "" (every
// type) and _type is absent or lists one of them.
func searchesType(typ, query string, types []string) bool {
	if typ != "" {
		return slices.Contains(types, typ)
	}
	listed := false
	for _, param := range strings.Split(query, "&") {
		name, value, _ := strings.Cut(param, "=")
		if name != "_type" {
			continue
		}
		listed = true
		decoded, err := url.QueryUnescape(value)
		if err != nil {
			return true
		}
		for _, t := range strings.Split(decoded, ",") {
			if foldedType(t, types) != "" {
				return true
			}
		}
	}
	return !listed
}

// reachesPerson reports whether the member identifier parameter name,
// which is not the searched type's own "identifier", matches the
// identifier of a resource that may be a person. That is a reverse chain,
// or a chain or ":identifier" modifier through a reference parameter of
// personReferenceParameters or through a type modifier naming a person
// type or Group.
func reachesPerson(name string) bool {
	if isReverseChain(name) {
		return true
	}
	links := strings.Split(name, ".")
	for k, link := range links {
		base, modifier, _ := strings.Cut(link, ":")
		if k == len(links)-1 && !strings.EqualFold(modifier, "identifier") {
			// The last link is the identifier parameter itself.
			break
		}
		if isPersonReferenceParameter(base) || foldedPeopleType(modifier) != "" {
			return true
		}
	}
	return false
}

// parameterLabel returns how a reason names parameter i of the criteria at
// at: by position, and by name when safeParameterName matches it.
func parameterLabel(at string, i int, name string) string {
	label := at + " parameter " + strconv.Itoa(i+1)
	if safeParameterName.MatchString(name) {
		label += " (" + name + ")"
	}
	return label
}

func searchMismatch(at, reason string) *Mismatch {
	return &Mismatch{Rule: SearchRule, Path: at, Reason: reason}
}
