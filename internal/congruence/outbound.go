package congruence

import (
	"slices"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// Outbound covers what the payer's engine and the built-in payer send to a
// partner. The check reads the body, every entry of a Bundle and its
// response.outcome, every resource of a Parameters and every contained
// resource, down to maxOutboundNesting levels. Where a resource's type
// names parties, they must be this payer and the destination partner:
//
//   - ClaimResponse: insurer is this payer, and requestor, when present,
//     is the partner's organisation.
//   - CoverageEligibilityResponse: the same.
//   - Claim: insurer is this payer, and provider is the partner's
//     organisation.
//   - Coverage: every payor is this payer, and there is at least one.
//   - Task: requester is this payer, and owner, when present, is the
//     partner's organisation.
//
// A party is named either by Reference.identifier alone, or, inside a
// Bundle, by a literal reference that resolves to an entry as in a PAS
// Bundle, with Reference.identifier, if present, naming the same party.
// The payer side must be an Organization entry keyed to one of this
// payer's identifiers. The partner side must be an Organization or
// Practitioner keyed to the partner's organisation, or a PractitionerRole
// of it. Any other literal reference, such as "Organization/123" on the
// partner's server or a contained "#id", is a mismatch, because the
// gateway cannot determine whose organisation it names.
//
// Every Patient, and the patient or subject element of every resource
// (Task.for, Coverage.beneficiary), must name a patient by identifiers
// that the gateway can read, as described in patients.go. Every
// ClaimResponse must name the Claim it responds to by identifiers the gateway
// can read, as described in claims.go. CheckOutboundNamed returns those
// identifiers, and the caller checks that the destination partner named
// the patient, and sent the claim, in an inbound request. A reference to
// a person in any other element must resolve to a resource of the body,
// as described in personrefs.go.

// maxOutboundNesting caps how deep Bundles, Parameters and contained
// resources may nest in an outbound body, so that the walk stays bounded
// for a crafted body. The payer's notifications nest one level (a
// Parameters entry of a Bundle).
const maxOutboundNesting = 8

// partySide is whose identifier a party field must carry.
type partySide int

const (
	sidePayer partySide = iota
	sidePartner
)

// partyField is one party-bearing element of a resource type.
type partyField struct {
	name     string
	side     partySide
	required bool
}

// outboundParties maps each resource type to the elements CheckOutbound
// checks. Coverage.payor is a list, so checkOutboundPayors checks it.
var outboundParties = map[string][]partyField{
	"ClaimResponse":               {{"insurer", sidePayer, true}, {"requestor", sidePartner, false}},
	"CoverageEligibilityResponse": {{"insurer", sidePayer, true}, {"requestor", sidePartner, false}},
	"Claim":                       {{"insurer", sidePayer, true}, {"provider", sidePartner, true}},
	"Task":                        {{"requester", sidePayer, true}, {"owner", sidePartner, false}},
	"Coverage":                    {{"payor", sidePayer, true}},
}

type outboundResourceJSON struct {
	Insurer   *referenceJSON   `json:"insurer"`
	Requestor *referenceJSON   `json:"requestor"`
	Provider  *referenceJSON   `json:"provider"`
	Requester *referenceJSON   `json:"requester"`
	Owner     *referenceJSON   `json:"owner"`
	Payor     []*referenceJSON `json:"payor"`
	Contained []jsontext.Value `json:"contained"`
	Request   *referenceJSON   `json:"request"`

	Patient      *referenceJSON `json:"patient"`
	For          *referenceJSON `json:"for"`
	Beneficiary  *referenceJSON `json:"beneficiary"`
	Subject      *referenceJSON `json:"subject"`
	Subscriber   *referenceJSON `json:"subscriber"`
	PolicyHolder *referenceJSON `json:"policyHolder"`
	Member       []struct {
		Entity *referenceJSON `json:"entity"`
	} `json:"member"`
}

func (r *outboundResourceJSON) field(name string) *referenceJSON {
	switch name {
	case "insurer":
		return r.Insurer
	case "requestor":
		return r.Requestor
	case "provider":
		return r.Provider
	case "requester":
		return r.Requester
	case "owner":
		return r.Owner
	}
	return nil
}

type outboundParametersJSON struct {
	Parameter []outboundParameterJSON `json:"parameter"`
}

type outboundParameterJSON struct {
	Resource        jsontext.Value          `json:"resource"`
	ValueIdentifier *identifierJSON         `json:"valueIdentifier"`
	ValueReference  *referenceJSON          `json:"valueReference"`
	Part            []outboundParameterJSON `json:"part"`
}

// CheckOutbound applies the outbound rules to body, a resource the payer
// sends to the partner whose registered organisation is partner: the body
// of a create or update, of an operation, of a batch or transaction, or a
// Subscription notification. The identity rules do not apply, because the
// sender is the payer's own engine.
func (c *Checker) CheckOutbound(partner Identifier, body []byte) *Mismatch {
	_, m := c.CheckOutboundPatients(partner, body)
	return m
}

// CheckOutboundPatients applies the rules of CheckOutbound and returns the
// patients body names, for the caller to check against the patients the
// partner named inbound. A patient field whose identifiers cannot be
// determined is a mismatch.
func (c *Checker) CheckOutboundPatients(partner Identifier, body []byte) ([]NamedPatient, *Mismatch) {
	named, m := c.CheckOutboundNamed(partner, body)
	return named.Patients, m
}

// outboundWalk is the state of one CheckOutboundPatients call.
type outboundWalk struct {
	partner  Identifier
	patients []NamedPatient
	claims   []NamedClaim
	// bundles are the Bundles that enclose the resource being checked,
	// outermost first.
	bundles []*index
	// containers are the contained lists of the resources that contain
	// the resource being checked, outermost first.
	containers [][]jsontext.Value
}

// resolvesToEntry reports whether the literal reference ref is the
// fullUrl of an entry of an enclosing Bundle. That entry is checked as
// any other, so a reference to it names nothing unchecked.
func (w *outboundWalk) resolvesToEntry(ref string) bool {
	for _, ix := range w.bundles {
		if _, ok := ix.byFullURL(ref); ok {
			return true
		}
	}
	return false
}

func (c *Checker) outboundBody(w *outboundWalk, body []byte) *Mismatch {
	typ, _, err := fhirreq.ResourceHead(body)
	if err != nil {
		return unreadable("the request body")
	}
	return c.outboundResource(w, typ, body, typ, 0)
}

// outboundResource checks one resource that is not a Bundle entry: a
// request body, a resource of a Parameters or a contained resource, or a
// Bundle entry that is itself a Bundle or Parameters. at is its location.
func (c *Checker) outboundResource(w *outboundWalk, typ string, body []byte, at string, depth int) *Mismatch {
	if depth > maxOutboundNesting {
		return &Mismatch{Rule: "congruence.outbound-nesting", Path: at,
			Reason: at + " nests Bundles, Parameters or contained resources more than " + strconv.Itoa(maxOutboundNesting) + " levels deep"}
	}
	switch typ {
	case "Bundle":
		return c.outboundBundle(w, body, at, depth)
	case "Parameters":
		return c.outboundParameters(w, body, at, depth)
	}
	b := &fhirreq.Bundle{Entries: []fhirreq.Entry{{ResourceType: typ, Resource: body}}}
	return c.outboundEntry(w, newIndex(b), 0, at, false, depth)
}

func (c *Checker) outboundBundle(w *outboundWalk, body []byte, at string, depth int) *Mismatch {
	// The entries' requests are not read here: the payload stage and the
	// outbound allowlist check them for a batch or transaction, and in a
	// notification's history Bundle they are absolute URLs that only
	// describe the events.
	b, err := fhirreq.ParseBundleContent(body)
	if err != nil {
		return unreadable(at)
	}
	ix := newIndex(b)
	w.bundles = append(w.bundles, ix)
	defer func() { w.bundles = w.bundles[:len(w.bundles)-1] }()
	for i := range b.Entries {
		e := &b.Entries[i]
		path := at + ".entry[" + strconv.Itoa(i) + "].resource"
		var m *Mismatch
		switch e.ResourceType {
		case "":
			// A delete or a search in a batch, or an id-only notification
			// entry, carries no resource.
		case "Bundle", "Parameters":
			m = c.outboundResource(w, e.ResourceType, e.Resource, path, depth+1)
		default:
			m = c.outboundEntry(w, ix, i, path, true, depth)
		}
		if m != nil {
			return m
		}
	}
	if m := c.outboundOutcomes(w, b, body, at, depth); m != nil {
		return m
	}
	return checkPersonReferences(w, "Bundle", body, at, w.resolvesToEntry)
}

// bundleOutcomesJSON is the part of a Bundle that contains each
// entry.response.outcome. R4 types that element as Resource, so any
// resource may be there, a Patient included.
type bundleOutcomesJSON struct {
	Entry []struct {
		Response *struct {
			Outcome jsontext.Value `json:"outcome"`
		} `json:"response"`
	} `json:"entry"`
}

// outboundOutcomes checks the resource in each entry.response.outcome of
// the Bundle b, whose JSON is body, as it checks a resource outside a
// Bundle. fhirreq.ParseBundleContent does not return these resources.
func (c *Checker) outboundOutcomes(w *outboundWalk, b *fhirreq.Bundle, body []byte, at string, depth int) *Mismatch {
	if !slices.ContainsFunc(b.Entries, func(e fhirreq.Entry) bool { return e.HasResponse }) {
		return nil
	}
	var outcomes bundleOutcomesJSON
	if err := json.Unmarshal(body, &outcomes); err != nil {
		return unreadable(at)
	}
	for i, e := range outcomes.Entry {
		if e.Response == nil || len(e.Response.Outcome) == 0 || string(e.Response.Outcome) == "null" {
			continue
		}
		path := at + ".entry[" + strconv.Itoa(i) + "].response.outcome"
		typ, _, err := fhirreq.ResourceHead(e.Response.Outcome)
		if err != nil {
			return unreadable(path)
		}
		if m := c.outboundResource(w, typ, e.Response.Outcome, path, depth+1); m != nil {
			return m
		}
	}
	return nil
}

func (c *Checker) outboundParameters(w *outboundWalk, body []byte, at string, depth int) *Mismatch {
	var p outboundParametersJSON
	if err := json.Unmarshal(body, &p); err != nil {
		return unreadable(at)
	}
	if m := c.outboundParameterList(w, p.Parameter, at+".parameter", depth); m != nil {
		return m
	}
	return checkPersonReferences(w, "Parameters", body, at, w.resolvesToEntry)
}

func (c *Checker) outboundParameterList(w *outboundWalk, params []outboundParameterJSON, at string, depth int) *Mismatch {
	for i, param := range params {
		path := at + "[" + strconv.Itoa(i) + "]"
		if len(param.Resource) > 0 {
			typ, _, err := fhirreq.ResourceHead(param.Resource)
			if err != nil {
				return unreadable(path + ".resource")
			}
			if m := c.outboundResource(w, typ, param.Resource, path+".resource", depth+1); m != nil {
				return m
			}
		}
		if m := w.addParameterPatient(param, path); m != nil {
			return m
		}
		if m := c.outboundParameterList(w, param.Part, path+".part", depth+1); m != nil {
			return m
		}
	}
	return nil
}

// addParameterPatient records the patient that a parameter's
// valueIdentifier or valueReference.identifier names. A Parameters type
// has no fixed meaning, so the gateway cannot tell a member id from
// another identifier there. Each such identifier therefore counts as a
// patient. A literal valueReference that may name a person or a Group
// (namesPersonType), which cannot be resolved, is a mismatch unless it is
// the fullUrl of an entry of an enclosing Bundle, such as a
// notification's additional context. A conditional reference is read by
// conditionalPerson. A literal valueReference to another type, such as a
// notification's focus, passes.
func (w *outboundWalk) addParameterPatient(param outboundParameterJSON, path string) *Mismatch {
	if param.ValueIdentifier != nil {
		at := path + ".valueIdentifier"
		ids := complete([]identifierJSON{*param.ValueIdentifier})
		if len(ids) == 0 {
			return &Mismatch{Rule: patientRule, Path: at, Reason: at + " is an identifier without both system and value"}
		}
		w.patients = append(w.patients, NamedPatient{Path: at, Identifiers: ids})
	}
	ref := param.ValueReference
	if ref == nil {
		return nil
	}
	at := path + ".valueReference"
	switch {
	case ref.Identifier != nil && ref.Reference != "":
		return &Mismatch{Rule: patientRule, Path: at,
			Reason: at + " has both a literal reference and an identifier, which the gateway cannot match in a Parameters; send one"}
	case ref.Identifier != nil:
		ids := complete([]identifierJSON{*ref.Identifier})
		if len(ids) == 0 {
			return &Mismatch{Rule: patientRule, Path: at + ".identifier", Reason: at + ".identifier is an identifier without both system and value"}
		}
		w.patients = append(w.patients, NamedPatient{Path: at, Identifiers: ids})
	case strings.Contains(ref.Reference, "?"):
		named, m := conditionalPerson(ref, at)
		if m != nil {
			return m
		}
		if named != nil {
			w.patients = append(w.patients, *named)
		}
	case namesPersonType(ref.Reference) && !w.resolvesToEntry(ref.Reference):
		return &Mismatch{Rule: patientRule, Path: at,
			Reason: at + " is a literal reference that may name a patient or another person, which the gateway cannot resolve; name the patient by identifier"}
	}
	return nil
}

// conditionalPerson returns the person that ref, a conditional reference
// at path in a Parameters or in any element outside a patient element,
// names, or nil when it searches another type. Criteria of a person type
// (personTypes) name the person by their identifier parameters, as in a
// patient element (conditionalPatient), because a Person or a
// RelatedPerson carries the same member ids and MRNs as a Patient.
// Criteria of a Group are a mismatch, because they select every member of
// the Group. Criteria of another type must not name a person by server id
// (criteriaNamePersonByID). A type that a server may read differently
// from the gateway, such as "patient" or "PATIENT", is a mismatch.
func conditionalPerson(ref *referenceJSON, path string) (*NamedPatient, *Mismatch) {
	typ, query, _ := conditionalQuery(ref.Reference)
	people := foldedPeopleType(typ)
	switch {
	case !resourceTypeName.MatchString(typ) || people != "" && people != typ:
		return nil, &Mismatch{Rule: patientRule, Path: path,
			Reason: path + " is a conditional reference whose resource type " + strconv.Quote(typ) + " is not written as FHIR spells it"}
	case people == groupType:
		return nil, &Mismatch{Rule: patientRule, Path: path,
			Reason: path + " is a conditional reference to a Group, whose members the gateway cannot check; name each patient by identifier"}
	case people != "":
		named, m := conditionalPatient(ref, path, personTypes)
		if m != nil {
			return nil, m
		}
		return &named, nil
	case criteriaNamePersonByID(query):
		return nil, &Mismatch{Rule: patientRule, Path: path,
			Reason: path + " is a conditional reference whose criteria name a patient or another person by server id or by something other than an identifier; name the patient by identifier"}
	}
	return nil, nil
}

// patientElementTypes are the types that a conditional reference in a
// patient element may search. The R4 patient elements that this check
// reads refer to a Patient, and Coverage.subscriber and
// Coverage.policyHolder also to a RelatedPerson.
var patientElementTypes = []string{"Patient", "RelatedPerson"}

// conditionalPatient returns the patient that ref, a conditional
// reference at path, names by the "identifier" parameters of its
// criteria. Each identifier must have a system, and the result is marked
// NamedPatient.Conditional. The searched type must be one of types, whose
// "identifier" parameter matches the person's own identifiers. A
// Reference.identifier beside the reference must be one of them.
//
// A patient named in another way is a mismatch. That includes criteria
// by name or birth date, criteria the gateway cannot read, and criteria
// that also name a person by server id (criteriaNamePersonByID). It also
// includes a value without a system, which a server matches in every
// identifier system, so MRNs of other patients match too. The other
// member identifier parameters of the criteria
// ("_has:Coverage:beneficiary:subscriber-id") only narrow the search, and
// the caller checks them as identifiers of the body.
func conditionalPatient(ref *referenceJSON, path string, types []string) (NamedPatient, *Mismatch) {
	typ, query, _ := conditionalQuery(ref.Reference)
	if !slices.Contains(types, typ) {
		return NamedPatient{}, &Mismatch{Rule: patientRule, Path: path,
			Reason: path + " is a conditional reference to type " + strconv.Quote(typ) + ", which the gateway cannot match to a patient; search " + strings.Join(types, ", ") + " by identifier"}
	}
	criteria, err := ConditionalIdentifiers(typ, query)
	if err != nil {
		return NamedPatient{}, &Mismatch{Rule: patientRule, Path: path, Reason: path + " is a conditional reference whose search criteria cannot be read"}
	}
	if criteriaNamePersonByID(query) {
		return NamedPatient{}, &Mismatch{Rule: patientRule, Path: path,
			Reason: path + " is a conditional reference whose criteria also name a patient or another person by server id or by something other than an identifier"}
	}
	named := NamedPatient{Path: path, Conditional: true}
	for _, c := range criteria {
		if !c.Own {
			continue
		}
		if c.System == "" {
			return NamedPatient{}, &Mismatch{Rule: patientRule, Path: path,
				Reason: path + " is a conditional reference with an identifier parameter without a system, which matches identifiers of any system; state the system"}
		}
		named.Identifiers = appendNew(named.Identifiers, c.Identifier)
	}
	if len(named.Identifiers) == 0 {
		return NamedPatient{}, &Mismatch{Rule: patientRule, Path: path,
			Reason: path + " is a conditional reference without an identifier parameter that has both system and value"}
	}
	if ref.Identifier != nil && !contains(named.Identifiers, ref.Identifier.id()) {
		return NamedPatient{}, &Mismatch{Rule: patientRule, Path: path + ".identifier",
			Reason: path + ".identifier is not an identifier that the criteria of " + path + ".reference name"}
	}
	return named, nil
}

// outboundEntry checks entry i of ix, located at at, and then its
// contained resources. inBundle reports whether ix is a real Bundle, in
// which literal references may resolve.
func (c *Checker) outboundEntry(w *outboundWalk, ix *index, i int, at string, inBundle bool, depth int) *Mismatch {
	typ := ix.entries[i].ResourceType
	var r outboundResourceJSON
	if err := json.Unmarshal(ix.entries[i].Resource, &r); err != nil {
		return unreadable(at)
	}
	for _, f := range outboundParties[typ] {
		var m *Mismatch
		if f.name == "payor" {
			m = c.checkOutboundPayors(w, ix, i, f, r.Payor, at, inBundle)
		} else {
			m = c.checkOutboundParty(w, ix, i, f, r.field(f.name), at+"."+f.name, inBundle)
		}
		if m != nil {
			return m
		}
	}
	if m := w.addPatient(ix, i, typ, &r, at, inBundle); m != nil {
		return m
	}
	if typ == "ClaimResponse" {
		if m := w.addClaimResponse(ix, i, &r, at, inBundle); m != nil {
			return m
		}
	}
	if m := checkPersonReferences(w, typ, ix.entries[i].Resource, at, w.entryResolver(ix, i, &r, inBundle)); m != nil {
		return m
	}
	w.containers = append(w.containers, r.Contained)
	defer func() { w.containers = w.containers[:len(w.containers)-1] }()
	for k, res := range r.Contained {
		path := at + ".contained[" + strconv.Itoa(k) + "]"
		ctyp, _, err := fhirreq.ResourceHead(res)
		if err != nil {
			return unreadable(path)
		}
		if m := c.outboundResource(w, ctyp, res, path, depth+1); m != nil {
			return m
		}
	}
	return nil
}

// checkOutboundPayors checks Coverage.payor, the list field f, which must
// name this payer in every item and have at least one.
func (c *Checker) checkOutboundPayors(w *outboundWalk, ix *index, i int, f partyField, payors []*referenceJSON, at string, inBundle bool) *Mismatch {
	if len(payors) == 0 {
		return &Mismatch{Rule: "congruence.outbound-payor", Path: at + ".payor", Reason: at + ".payor is missing: it must name this payer"}
	}
	for k, ref := range payors {
		if m := c.checkOutboundParty(w, ix, i, f, ref, at+".payor["+strconv.Itoa(k)+"]", inBundle); m != nil {
			return m
		}
	}
	return nil
}

// checkOutboundParty checks one party reference at path against the side
// f names.
func (c *Checker) checkOutboundParty(w *outboundWalk, ix *index, i int, f partyField, ref *referenceJSON, path string, inBundle bool) *Mismatch {
	rule := "congruence.outbound-" + f.name
	want, party := c.payerIDs, "this payer"
	if f.side == sidePartner {
		want, party = []Identifier{w.partner}, "the destination partner's registered organisation"
	}
	switch {
	case ref == nil && !f.required:
		return nil
	case ref == nil:
		return &Mismatch{Rule: rule, Path: path, Reason: path + " is missing: it must name " + party}
	case f.side == sidePartner && (w.partner.System == "" || w.partner.Value == ""):
		return &Mismatch{Rule: rule, Path: path,
			Reason: path + " names a party, but the destination partner's registration names no organisation identifier to match it"}
	case ref.Reference == "" || !inBundle:
		return namedBy(ref, want, rule, path, party)
	case f.side == sidePayer:
		return c.checkPayer(ix, i, ref, path, rule)
	}
	return checkProvider(w.partner, ix, i, ref, path, rule)
}

// CheckOutboundPatch rejects a FHIRPath Patch (a Parameters body) of a
// resource of type typ that touches a party or patient element that
// CheckOutbound checks, any patch of a Patient, or the contained
// resources of any type. The gateway does not have the
// resource the patch applies to, so it cannot check the result, and the
// engine must send such a change as an update. Any other patch passes.
func CheckOutboundPatch(typ string, body []byte) *Mismatch {
	if typ == "Patient" {
		// Every element of a Patient is that member's data, and the
		// gateway cannot tell which member the patched Patient is.
		return &Mismatch{Rule: "congruence.outbound-patch", Path: "Parameters",
			Reason: "a patch of a Patient names a patient the gateway cannot determine; send an update with the whole resource"}
	}
	names := []string{"contained"}
	for _, f := range outboundParties[typ] {
		names = append(names, f.name)
	}
	names = append(names, patientFields(typ)...)
	var p struct {
		Parameter []struct {
			Part []struct {
				Name        string `json:"name"`
				ValueString string `json:"valueString"`
			} `json:"part"`
		} `json:"parameter"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return unreadable("Parameters")
	}
	for i, op := range p.Parameter {
		for _, part := range op.Part {
			if part.Name != "path" && part.Name != "name" {
				continue
			}
			for _, name := range names {
				if namesElement(part.ValueString, name) {
					path := "Parameters.parameter[" + strconv.Itoa(i) + "]"
					return &Mismatch{Rule: "congruence.outbound-patch", Path: path,
						Reason: path + " patches " + typ + "." + name + ", which the gateway cannot check in a patch; send an update with the whole resource"}
				}
			}
		}
	}
	return nil
}

// namesElement reports whether the FHIRPath expression or element name
// expr mentions the element name as one of its identifiers.
func namesElement(expr, name string) bool {
	for _, token := range strings.FieldsFunc(expr, func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		if token == name {
			return true
		}
	}
	return false
}
