package congruence

import (
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// Patients, in both directions. The gateway has no list of which members
// belong to which partner, so it derives one from the partner's own
// requests. The patients that an allowed inbound request names
// (ClaimPatients, EligibilityPatients) and the member that a
// Patient/$member-match response returns (MatchedMember) are linked to
// that partner. Every patient an outbound payload names
// (CheckOutboundPatients) must be linked to the destination partner.
//
// A patient is named by its business identifiers: those of the Patient a
// literal reference resolves to (a Bundle entry, or a contained resource
// for "#id"), and Reference.identifier. When a reference has both, the
// identifier must be one of the Patient's, so that a reader of either
// part finds the same patient. A literal reference that does not resolve,
// or a patient with no identifier that has both system and value, is a
// mismatch: uncertainty means deny.
//
// The caller decides from the links (gateway.checkOutboundPatients): at
// least one identifier of each patient must be linked to the destination,
// none may be linked only to other partners, and none may be an unlinked
// member id of this payer.
// An identifier of the patient with a value but no system is kept apart
// (NamedPatient.AnySystem): the caller looks it up under every member id
// system, because it may be a member id written without its system.

// NamedPatient is a patient an outbound payload names.
type NamedPatient struct {
	// Path is the FHIRPath-like location of the patient field.
	Path string
	// Identifiers are the patient's identifiers with both system and value.
	Identifiers []Identifier
	// AnySystem are the values of the patient's identifiers without a
	// system, read from the Patient resource the field resolves to.
	AnySystem []string
	// Conditional marks a patient named by the criteria of a conditional
	// reference. A comma-separated token matches a patient that has any
	// one of its values, so each identifier must be linked to the
	// destination.
	Conditional bool
}

// outboundPatientFields maps the resource types whose patient elements
// are not called patient or subject to those elements. Coverage.subscriber
// and Coverage.policyHolder name a person whose member data the Coverage
// carries, and Group.member.entity names each member of the Group, so they
// are checked like a patient element. A policyHolder that resolves to an
// Organization, an employer, names no patient.
var outboundPatientFields = map[string][]string{
	"Task":     {"for"},
	"Coverage": {"beneficiary", "subscriber", "policyHolder"},
	"Group":    {"member"},
}

// patientFields returns the elements of a resource of type typ that name
// its patient. Outside outboundPatientFields, these are patient and
// subject, the names R4 gives the patient element of most clinical and
// financial resources, such as ExplanationOfBenefit.patient and
// Observation.subject. So a type that no list names cannot carry another
// member's data. A subject that names a Group, a device or a practitioner
// is rejected like an unknown patient, because uncertainty means deny.
func patientFields(typ string) []string {
	if f, ok := outboundPatientFields[typ]; ok {
		return f
	}
	return []string{"patient", "subject"}
}

// patientRule is the mismatch rule of an outbound patient field.
const patientRule = "congruence.outbound-patient"

type patientJSON struct {
	Identifier []identifierJSON `json:"identifier"`
}

type containedHeadJSON struct {
	ResourceType string           `json:"resourceType"`
	ID           string           `json:"id"`
	Identifier   []identifierJSON `json:"identifier"`
}

// addPatient records the patients that entry i of ix names: the entry
// itself when it is a Patient, and the patient elements of its type. r is
// the entry decoded.
func (w *outboundWalk) addPatient(ix *index, i int, typ string, r *outboundResourceJSON, at string, inBundle bool) *Mismatch {
	if typ == "Patient" {
		// A Patient is a member's data whatever references it, or none:
		// an unreferenced Bundle entry or contained Patient reaches the
		// partner as well.
		var p patientJSON
		if err := json.Unmarshal(ix.entries[i].Resource, &p); err != nil {
			return unreadable(at)
		}
		ids := complete(p.Identifier)
		if len(ids) == 0 {
			return &Mismatch{Rule: patientRule, Path: at, Reason: at + " is a Patient without an identifier that has both system and value"}
		}
		w.patients = append(w.patients, NamedPatient{Path: at, Identifiers: ids, AnySystem: withoutSystem(p.Identifier)})
		return nil
	}
	for _, field := range patientFields(typ) {
		for k, ref := range r.patientRefs(field) {
			path := at + "." + field
			if field == "member" {
				path = at + ".member[" + strconv.Itoa(k) + "].entity"
			}
			if ref == nil {
				if field == "member" {
					return &Mismatch{Rule: patientRule, Path: path, Reason: path + " is missing: a Group member must name a patient"}
				}
				continue
			}
			if field == "policyHolder" && namesOrganization(ix, i, ref, r, inBundle) {
				continue
			}
			var named NamedPatient
			var m *Mismatch
			if _, _, ok := conditionalQuery(ref.Reference); ok {
				named, m = conditionalPatient(ref, path, patientElementTypes)
			} else {
				named, m = namePatient(ix, i, ref, r, path, inBundle)
			}
			if m != nil {
				return m
			}
			w.patients = append(w.patients, named)
		}
	}
	return nil
}

// patientRefs returns the references of the patient element field of r.
// For Group.member it returns each member's entity, nil where one is
// missing.
func (r *outboundResourceJSON) patientRefs(field string) []*referenceJSON {
	switch field {
	case "patient":
		return []*referenceJSON{r.Patient}
	case "subject":
		return []*referenceJSON{r.Subject}
	case "for":
		return []*referenceJSON{r.For}
	case "beneficiary":
		return []*referenceJSON{r.Beneficiary}
	case "subscriber":
		return []*referenceJSON{r.Subscriber}
	case "policyHolder":
		return []*referenceJSON{r.PolicyHolder}
	case "member":
		refs := make([]*referenceJSON, len(r.Member))
		for k := range r.Member {
			refs[k] = r.Member[k].Entity
		}
		return refs
	}
	return nil
}

// namesOrganization reports whether ref, without Reference.identifier,
// resolves to an Organization: a contained one, or an entry of the Bundle.
// Reference.type alone does not count, because the sender chooses it.
func namesOrganization(ix *index, from int, ref *referenceJSON, r *outboundResourceJSON, inBundle bool) bool {
	if ref.Identifier != nil || ref.Reference == "" {
		return false
	}
	if id, ok := strings.CutPrefix(ref.Reference, "#"); ok {
		return containedType(r, id) == "Organization"
	}
	if !inBundle {
		return false
	}
	target, ok := ix.resolve(from, ref)
	return ok && ix.entries[target].ResourceType == "Organization"
}

// containedType returns the resource type of the contained resource of r
// whose id is id, or "" when there is none.
func containedType(r *outboundResourceJSON, id string) string {
	for _, raw := range r.Contained {
		var h containedHeadJSON
		if json.Unmarshal(raw, &h) != nil {
			return ""
		}
		if id != "" && h.ID == id {
			return h.ResourceType
		}
	}
	return ""
}

// namePatient returns the patient ref names from entry from, whose
// contained resources are those of r, with the identifiers of the Patient
// it resolves to or of Reference.identifier.
func namePatient(ix *index, from int, ref *referenceJSON, r *outboundResourceJSON, path string, inBundle bool) (NamedPatient, *Mismatch) {
	var resolved []identifierJSON
	switch {
	case ref.Reference == "":
	case strings.HasPrefix(ref.Reference, "#"):
		found, ok := containedPatient(r, ref.Reference[1:])
		if !ok {
			return NamedPatient{}, &Mismatch{Rule: patientRule, Path: path, Reason: path + " does not resolve to a contained Patient"}
		}
		resolved = found
	case inBundle:
		target, ok := ix.resolve(from, ref)
		if !ok || ix.entries[target].ResourceType != "Patient" {
			return NamedPatient{}, &Mismatch{Rule: patientRule, Path: path, Reason: path + " does not resolve to a Patient entry of the Bundle"}
		}
		var p patientJSON
		if err := json.Unmarshal(ix.entries[target].Resource, &p); err != nil {
			return NamedPatient{}, unreadable(resourcePath(target))
		}
		resolved = p.Identifier
	default:
		return NamedPatient{}, &Mismatch{Rule: patientRule, Path: path,
			Reason: path + " is a literal reference the gateway cannot resolve; name the patient by Reference.identifier or include the Patient"}
	}
	named := NamedPatient{Path: path, Identifiers: complete(resolved), AnySystem: withoutSystem(resolved)}
	switch {
	case ref.Identifier == nil:
	case ref.Reference == "":
		named.Identifiers = complete([]identifierJSON{*ref.Identifier})
	case !contains(named.Identifiers, ref.Identifier.id()):
		return NamedPatient{}, &Mismatch{Rule: patientRule, Path: path + ".identifier",
			Reason: path + ".identifier is not an identifier of the Patient that " + path + ".reference names"}
	}
	if len(named.Identifiers) == 0 {
		return NamedPatient{}, &Mismatch{Rule: patientRule, Path: path, Reason: path + " names a patient without an identifier that has both system and value"}
	}
	return named, nil
}

// containedPatient returns the identifiers of the contained Patient of r
// whose id is id.
func containedPatient(r *outboundResourceJSON, id string) ([]identifierJSON, bool) {
	if id == "" {
		return nil, false
	}
	for _, raw := range r.Contained {
		var h containedHeadJSON
		if json.Unmarshal(raw, &h) != nil {
			return nil, false
		}
		if h.ID == id {
			return h.Identifier, h.ResourceType == "Patient"
		}
	}
	return nil, false
}

// withoutSystem returns the values of the identifiers of ids that have a
// value but no system.
func withoutSystem(ids []identifierJSON) []string {
	var out []string
	for i := range ids {
		if ids[i].System == "" && ids[i].Value != "" {
			out = append(out, ids[i].Value)
		}
	}
	return out
}

// complete returns the identifiers of ids with both system and value.
func complete(ids []identifierJSON) []Identifier {
	out := make([]Identifier, 0, len(ids))
	for i := range ids {
		if ids[i].System != "" && ids[i].Value != "" {
			out = append(out, ids[i].id())
		}
	}
	return out
}

// ClaimPatients returns the identifiers of the patients that the Claims of
// a PAS Bundle name, for a Bundle that CheckClaimBundle accepted, so that
// every Claim.patient resolves to a Patient entry. It reads the entries
// fhirreq.ParseBundle already split, not the whole body.
func ClaimPatients(b *fhirreq.Bundle) []Identifier {
	ix := newIndex(b)
	var out []Identifier
	for i := range b.Entries {
		if b.Entries[i].ResourceType != "Claim" {
			continue
		}
		var claim claimJSON
		if json.Unmarshal(b.Entries[i].Resource, &claim) != nil {
			continue
		}
		target, ok := ix.resolve(i, claim.Patient)
		if !ok || ix.entries[target].ResourceType != "Patient" {
			continue
		}
		var p patientJSON
		if json.Unmarshal(ix.entries[target].Resource, &p) == nil {
			out = appendNew(out, complete(p.Identifier)...)
		}
	}
	return out
}

// EligibilityPatients returns the identifiers of the patient a
// CoverageEligibilityRequest/$submit body names: the request alone, or
// the first entry of a Bundle, as the built-in payer reads it. A patient
// whose identifiers cannot be determined adds none.
func EligibilityPatients(body []byte) []Identifier {
	typ, _, err := fhirreq.ResourceHead(body)
	if err != nil {
		return nil
	}
	b := &fhirreq.Bundle{Entries: []fhirreq.Entry{{ResourceType: typ, Resource: body}}}
	inBundle := typ == "Bundle"
	if inBundle {
		if b, err = fhirreq.ParseBundle(body); err != nil {
			return nil
		}
	}
	// Only the first entry is read: the payer processes that request alone,
	// so a later one could name any member id and never be looked up.
	if len(b.Entries) == 0 || b.Entries[0].ResourceType != "CoverageEligibilityRequest" {
		return nil
	}
	var r outboundResourceJSON
	if json.Unmarshal(b.Entries[0].Resource, &r) != nil || r.Patient == nil {
		return nil
	}
	named, m := namePatient(newIndex(b), 0, r.Patient, &r, "", inBundle)
	if m != nil {
		return nil
	}
	return named.Identifiers
}

func appendNew(ids []Identifier, add ...Identifier) []Identifier {
	for _, id := range add {
		if !contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

type matchOutputJSON struct {
	Parameter []struct {
		Name            string          `json:"name"`
		ValueIdentifier *identifierJSON `json:"valueIdentifier"`
	} `json:"parameter"`
}

// MatchedMember returns the member identifier a Patient/$member-match
// response returns: the valueIdentifier of its MemberIdentifier
// parameters (Da Vinci HRex). A body that is not such a Parameters
// returns none.
func MatchedMember(body []byte) []Identifier {
	var out matchOutputJSON
	if json.Unmarshal(body, &out) != nil {
		return nil
	}
	var ids []identifierJSON
	for _, p := range out.Parameter {
		if p.Name == "MemberIdentifier" && p.ValueIdentifier != nil {
			ids = append(ids, *p.ValueIdentifier)
		}
	}
	return complete(ids)
}
