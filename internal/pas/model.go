package pas

import (
	"github.com/go-json-experiment/json/jsontext"
)

// Canonical URLs of the PAS profiles and extensions this package reads or
// writes. Profile URLs are compared without their "|version" suffix, so
// both PAS 2.0.1 and 2.2.1 documents match.
const (
	base = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"

	ProfileRequestBundle         = base + "profile-pas-request-bundle"
	ProfileResponseBundle        = base + "profile-pas-response-bundle"
	ProfileInquiryRequestBundle  = base + "profile-pas-inquiry-request-bundle"
	ProfileInquiryResponseBundle = base + "profile-pas-inquiry-response-bundle"
	ProfileClaim                 = base + "profile-claim"
	ProfileClaimUpdate           = base + "profile-claim-update"
	ProfileClaimInquiry          = base + "profile-claim-inquiry"
	ProfileClaimResponse         = base + "profile-claimresponse"
	ProfileClaimInquiryResponse  = base + "profile-claiminquiryresponse"

	ExtReviewAction       = base + "extension-reviewAction"
	ExtReviewActionCode   = base + "extension-reviewActionCode"
	ExtItemTraceNumber    = base + "extension-itemTraceNumber"
	ExtCertificationType  = base + "extension-certificationType"
	ExtServiceRequestType = base + "extension-serviceItemRequestType"
	ExtInfoCancelled      = base + "modifierextension-infoCancelled"

	// SystemReviewAction is the X12 code list 306 (action codes) that
	// reviewActionCode draws from.
	SystemReviewAction = "https://codesystem.x12.org/005010/306"
	// SystemCertificationType is the X12 code list 1322; code "3" is Cancel.
	SystemCertificationType = "https://codesystem.x12.org/005010/1322"

	systemAdjudication = "http://terminology.hl7.org/CodeSystem/adjudication"
	systemRelatedClaim = "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship"
)

// Identifier is the system and value of a FHIR Identifier. Other elements
// (type, assigner, extensions) are kept only in the raw JSON.
type Identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

// Key returns "system|value", the FHIR token form. It is PHI when the
// identifier names a patient: never log it.
func (id Identifier) Key() string { return id.System + "|" + id.Value }

// complete reports whether both system and value are present.
func (id Identifier) complete() bool { return id.System != "" && id.Value != "" }

// Coding is the system and code of a FHIR Coding.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// Entry is one Bundle.entry with its resource kept as raw JSON.
type Entry struct {
	Index    int    // position in Bundle.entry
	FullURL  string // Bundle.entry.fullUrl
	Type     string // resource.resourceType
	ID       string // resource.id, "" when absent
	Resource jsontext.Value
}

// Path returns the FHIRPath-like location of the entry's resource.
func (e *Entry) Path() string { return entryPath(e.Index) }

// Party is a Reference from the Claim (or ClaimResponse) resolved to an
// entry of the same Bundle.
type Party struct {
	// Reference is the Reference element exactly as written, so that a
	// response can copy it and it resolves the same way.
	Reference jsontext.Value
	Entry     *Entry
	// Identifiers are the target's identifiers that have both system and
	// value. For a PractitionerRole they are those of its organization,
	// or when it names none its practitioner.
	Identifiers []Identifier
}

// Key returns the first identifier in "system|value" form, the value the
// payer uses to recognise the same patient or provider again. It is ""
// when the party has no complete identifier.
func (p *Party) Key() string {
	if p == nil || len(p.Identifiers) == 0 {
		return ""
	}
	return p.Identifiers[0].Key()
}

// SameAs reports whether p and q share at least one identifier.
func (p *Party) SameAs(q *Party) bool {
	if p == nil || q == nil {
		return false
	}
	for _, a := range p.Identifiers {
		for _, b := range q.Identifiers {
			if a == b {
				return true
			}
		}
	}
	return false
}

// Item is one Claim.item, with the elements the payer reads.
type Item struct {
	Sequence         int      // Claim.item.sequence
	ProductOrService []Coding // Claim.item.productOrService.coding, in order
	// CertificationType is the X12 1322 code of the certificationType
	// extension ("I" initial, "3" cancel, ...), "" when absent.
	CertificationType string
	// Cancelled is true when the item carries the infoCancelled modifier
	// extension set to true, or certification type "3" (Cancel): the
	// submitter no longer requests it.
	Cancelled bool
	// TraceNumbers are the valueIdentifier of each itemTraceNumber
	// extension, echoed in the response item.
	TraceNumbers []jsontext.Value

	// Raw parts copied into an inquiry Claim.
	productOrServiceRaw jsontext.Value
	categoryRaw         jsontext.Value
	requestTypeRaw      jsontext.Value
	certificationRaw    jsontext.Value
}

// Kind is the PAS operation a Bundle is for.
type Kind int

const (
	KindUnknown Kind = iota // no PAS profile declared
	KindSubmit              // Claim/$submit request
	KindInquiry             // Claim/$inquire request
)

// Request is a parsed PAS request Bundle ($submit) or inquiry Bundle
// ($inquire). Inquiry Bundles may have no items and no coverage.
type Request struct {
	Kind Kind // the operation it was parsed for

	// BundleIdentifier is Bundle.identifier as written, echoed in the
	// response Bundle.
	BundleIdentifier jsontext.Value
	Entries          []Entry
	Claim            *Entry

	// Identifiers are Claim.identifier entries that have system and value;
	// RawIdentifiers are all of them as written, in the same order as in
	// the Claim.
	Identifiers    []Identifier
	RawIdentifiers []jsontext.Value

	Patient  *Party
	Insurer  *Party
	Provider *Party
	Coverage []*Party // Claim.insurance.coverage, in order
	Items    []Item

	// Prior is, for a PAS 2.2.1 update, the identifiers of the Claim
	// that Claim.related (relationship "prior") points to. That Claim must
	// be in the Bundle.
	Prior []Identifier

	keyRaw    jsontext.Value // the RawIdentifiers entry Key comes from
	claimType jsontext.Value
	priority  jsontext.Value
	insurance []jsontext.Value
	index     *bundleIndex
}

// Key returns the first Claim identifier in "system|value" form: the key
// under which a payer stores the request.
func (r *Request) Key() Identifier { return r.Identifiers[0] }
