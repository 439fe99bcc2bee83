package pas

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// ReviewAction is an X12 306 action code, the value of the PAS
// reviewActionCode extension.
type ReviewAction string

const (
	CertifiedInTotal ReviewAction = "A1"
	CertifiedPartial ReviewAction = "A2"
	NotCertified     ReviewAction = "A3"
	Pended           ReviewAction = "A4"
	Modified         ReviewAction = "A6"
	Cancelled        ReviewAction = "C"
	ContactPayer     ReviewAction = "CT"
	NoActionRequired ReviewAction = "NA"
)

var reviewDisplay = map[ReviewAction]string{
	CertifiedInTotal: "Certified in total",
	CertifiedPartial: "Certified - partial",
	NotCertified:     "Not Certified",
	Pended:           "Pended",
	Modified:         "Modified",
	Cancelled:        "Cancelled",
	ContactPayer:     "Contact Payer",
	NoActionRequired: "No Action Required",
}

// Valid reports whether a is one of the codes above.
func (a ReviewAction) Valid() bool { _, ok := reviewDisplay[a]; return ok }

// Display returns the X12 name of the code, "" for an unknown code.
func (a ReviewAction) Display() string { return reviewDisplay[a] }

// Decision is the payer's decision on one Claim.item.
type Decision struct {
	Sequence int // the Claim.item.sequence it decides
	Action   ReviewAction
	// Number is the item's review (authorization) number, written as the
	// "number" part of the reviewAction extension; "" omits it.
	Number string
}

// Adjudication is the payer's side of a response: ids, time and the
// decisions that BuildResponse writes beside the request's data.
type Adjudication struct {
	// ID is the ClaimResponse id. When the Claim's fullUrl is a URN, the
	// ClaimResponse fullUrl is "urn:uuid:"+ID, so ID must then be a
	// lower-case UUID.
	ID         string
	PreAuthRef string // ClaimResponse.preAuthRef; "" omits it
	Created    time.Time
	// Decisions has one entry per request item, in the same order.
	Decisions []Decision
}

// Outcome returns the ClaimResponse.outcome for a set of decisions:
// "partial" while any item is pended, else "complete". PAS 2.2.1 binds
// outcome to complete | error | partial, so "queued" is never used.
func Outcome(ds []Decision) string {
	for _, d := range ds {
		if d.Action == Pended {
			return "partial"
		}
	}
	return "complete"
}

type outMeta struct {
	Profile []string `json:"profile"`
}

type outBundle struct {
	ResourceType string         `json:"resourceType"`
	Meta         outMeta        `json:"meta"`
	Identifier   jsontext.Value `json:"identifier,omitzero"`
	Type         string         `json:"type"`
	Timestamp    string         `json:"timestamp"`
	Entry        []outEntry     `json:"entry"`
}

type outEntry struct {
	FullURL  string         `json:"fullUrl"`
	Resource jsontext.Value `json:"resource"`
}

// claimResponseJSON is the ClaimResponse this package writes. It also
// reads one back (BuildInquiryResponse), so every element written must
// have a field here.
type claimResponseJSON struct {
	ResourceType string              `json:"resourceType"`
	ID           string              `json:"id"`
	Meta         outMeta             `json:"meta"`
	Identifier   []jsontext.Value    `json:"identifier,omitzero"`
	Status       string              `json:"status"`
	Type         jsontext.Value      `json:"type"`
	Use          string              `json:"use"`
	Patient      jsontext.Value      `json:"patient"`
	Created      string              `json:"created"`
	Insurer      jsontext.Value      `json:"insurer"`
	Requestor    jsontext.Value      `json:"requestor,omitzero"`
	Request      requestRefJSON      `json:"request"`
	Outcome      string              `json:"outcome"`
	Disposition  string              `json:"disposition,omitzero"`
	PreAuthRef   string              `json:"preAuthRef,omitzero"`
	Item         []responseItemJSON  `json:"item,omitzero"`
	Error        []responseErrorJSON `json:"error,omitzero"`
}

type requestRefJSON struct {
	Reference  string         `json:"reference,omitzero"`
	Identifier jsontext.Value `json:"identifier,omitzero"`
}

type responseItemJSON struct {
	Extension    []extensionOut     `json:"extension,omitzero"`
	ItemSequence int                `json:"itemSequence"`
	Adjudication []adjudicationJSON `json:"adjudication"`
}

type adjudicationJSON struct {
	Extension []extensionOut `json:"extension,omitzero"`
	Category  codeableJSON   `json:"category"`
}

type extensionOut struct {
	Extension            []extensionOut `json:"extension,omitzero"`
	URL                  string         `json:"url"`
	ValueString          string         `json:"valueString,omitzero"`
	ValueIdentifier      jsontext.Value `json:"valueIdentifier,omitzero"`
	ValueCodeableConcept *codeableJSON  `json:"valueCodeableConcept,omitzero"`
}

// BuildResponse returns the PAS response Bundle for req. Its first entry
// is the ClaimResponse. The patient, insurer and provider entries of the
// request follow, with every entry they reference, so the ClaimResponse's
// references resolve inside the Bundle. The shape follows the PAS 2.2.1
// response examples, such as ReferralAuthorizationResponseBundleExample.
// The Bundle is a string so that a store can bind it as text without a
// copy.
func BuildResponse(req *Request, adj Adjudication) (string, error) {
	if err := checkAdjudication(req, adj); err != nil {
		return "", err
	}
	fullURL, err := siblingURL(req.Claim.FullURL, "ClaimResponse", adj.ID)
	if err != nil {
		return "", err
	}

	cr := claimResponseJSON{
		ResourceType: "ClaimResponse",
		ID:           adj.ID,
		Meta:         outMeta{Profile: []string{ProfileClaimResponse}},
		Identifier:   req.RawIdentifiers,
		Status:       "active",
		Type:         req.claimType,
		Use:          "preauthorization",
		Patient:      req.Patient.Reference,
		Created:      formatInstant(adj.Created),
		Insurer:      req.Insurer.Reference,
		Requestor:    req.Provider.Reference,
		Request:      requestRef(req),
		Outcome:      Outcome(adj.Decisions),
		PreAuthRef:   adj.PreAuthRef,
	}
	for i, d := range adj.Decisions {
		cr.Item = append(cr.Item, responseItem(req.Items[i], d))
	}
	return responseBundle(req, fullURL, cr, adj.Created)
}

func checkAdjudication(req *Request, adj Adjudication) error {
	if !isFHIRID(adj.ID) {
		return errors.New("pas: ClaimResponse id is not a valid FHIR id")
	}
	if len(adj.Decisions) != len(req.Items) {
		return fmt.Errorf("pas: %d decisions for %d items", len(adj.Decisions), len(req.Items))
	}
	for i, d := range adj.Decisions {
		if d.Sequence != req.Items[i].Sequence {
			return fmt.Errorf("pas: decision %d is for item sequence %d, expected %d", i, d.Sequence, req.Items[i].Sequence)
		}
		if !d.Action.Valid() {
			return fmt.Errorf("pas: decision %d has unknown review action %q", i, d.Action)
		}
	}
	return nil
}

// requestRef points ClaimResponse.request at the Claim by its identifier
// only. The Claim is not copied into the response, and PAS Bundles must
// contain every resource they reference literally, so a literal reference
// (as some PAS examples have) would leave the response Bundle
// non-conformant.
func requestRef(req *Request) requestRefJSON {
	return requestRefJSON{Identifier: req.keyRaw}
}

func responseItem(item Item, d Decision) responseItemJSON {
	out := responseItemJSON{ItemSequence: d.Sequence}
	for _, tn := range item.TraceNumbers {
		out.Extension = append(out.Extension, extensionOut{URL: ExtItemTraceNumber, ValueIdentifier: tn})
	}

	var parts []extensionOut
	if d.Number != "" {
		parts = append(parts, extensionOut{URL: "number", ValueString: d.Number})
	}
	parts = append(parts, extensionOut{
		URL: ExtReviewActionCode,
		ValueCodeableConcept: &codeableJSON{Coding: []Coding{{
			System: SystemReviewAction, Code: string(d.Action), Display: d.Action.Display(),
		}}},
	})
	out.Adjudication = []adjudicationJSON{{
		Extension: []extensionOut{{URL: ExtReviewAction, Extension: parts}},
		Category:  codeableJSON{Coding: []Coding{{System: systemAdjudication, Code: "submitted"}}},
	}}
	return out
}

// siblingURL returns the fullUrl for a new resource placed beside the one
// at fullURL: the same RESTful base, or a urn:uuid when there is none.
func siblingURL(fullURL, resourceType, id string) (string, error) {
	if base := restBase(fullURL); base != "" {
		return base + resourceType + "/" + id, nil
	}
	if !isUUID(id) {
		return "", errors.New("pas: the Claim's fullUrl is a URN, so the new resource id must be a lower-case UUID")
	}
	return "urn:uuid:" + id, nil
}

// copyEntries copies entries for a new Bundle whose first entry has the
// fullUrl first, which none of them may share.
func copyEntries(first string, entries []*Entry) ([]outEntry, error) {
	out := make([]outEntry, 0, len(entries))
	for _, e := range entries {
		if e.FullURL == first {
			return nil, errors.New("pas: the new resource's fullUrl is already used in the request Bundle")
		}
		out = append(out, outEntry{FullURL: e.FullURL, Resource: e.Resource})
	}
	return out, nil
}

// formatInstant writes t as a FHIR instant with second precision.
func formatInstant(t time.Time) string { return t.Format(time.RFC3339) }

// isFHIRID reports whether s matches the FHIR id grammar
// [A-Za-z0-9\-\.]{1,64}.
func isFHIRID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		ok := c == '-' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}

// isUUID reports whether s is a lower-case 8-4-4-4-12 hex UUID.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// responseBundle wraps the ClaimResponse cr in a PAS response Bundle with
// the request's Bundle identifier, followed by copies of the patient,
// insurer and provider entries (and what they reference) that cr names
// by fullUrl.
func responseBundle(req *Request, fullURL string, cr any, created time.Time) (string, error) {
	// resource aliases a pooled buffer, which returns to the pool only
	// after marshalString has copied the whole Bundle into a string.
	buf := getEncodeBuffer()
	defer putEncodeBuffer(buf)
	if err := json.MarshalWrite(buf, cr); err != nil {
		return "", fmt.Errorf("pas: encode ClaimResponse: %w", err)
	}
	resource := jsontext.Value(buf.Bytes())

	out := outBundle{
		ResourceType: "Bundle",
		Meta:         outMeta{Profile: []string{ProfileResponseBundle}},
		Identifier:   req.BundleIdentifier,
		Type:         "collection",
		Timestamp:    formatInstant(created),
		Entry:        []outEntry{{FullURL: fullURL, Resource: resource}},
	}
	copied, err := copyEntries(fullURL, req.index.closure(req.Patient.Entry, req.Insurer.Entry, req.Provider.Entry))
	if err != nil {
		return "", err
	}
	out.Entry = append(out.Entry, copied...)
	return marshalString(out)
}

// encodeBuffers holds the buffers responseBundle encodes into. A buffer
// returns to the pool only when nothing refers to its bytes any more.
var encodeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer is the largest buffer kept for reuse, so that one large
// response does not stay pinned in the pool.
const maxPooledBuffer = 1 << 20

func getEncodeBuffer() *bytes.Buffer { return encodeBuffers.Get().(*bytes.Buffer) }

func putEncodeBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBuffer {
		buf.Reset()
		encodeBuffers.Put(buf)
	}
}

// marshalString encodes v as json.Marshal does, into a string that is its
// only allocation of the output's size.
func marshalString(v any) (string, error) {
	buf := getEncodeBuffer()
	defer putEncodeBuffer(buf)
	if err := json.MarshalWrite(buf, v); err != nil {
		return "", err
	}
	return buf.String(), nil
}
