package pas

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// InquiryParams are the inputs of BuildInquiry besides the original
// request.
type InquiryParams struct {
	// ClaimID is the id of the inquiry Claim; a lower-case UUID when the
	// original Claim's fullUrl is a URN (see Adjudication.ID).
	ClaimID string
	// BundleIdentifier is the inquiry's own submitter transaction
	// identifier (Bundle.identifier).
	BundleIdentifier Identifier
	Created          time.Time
}

type inquiryClaimJSON struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id"`
	Meta         outMeta           `json:"meta"`
	Identifier   []jsontext.Value  `json:"identifier"`
	Status       string            `json:"status"`
	Type         jsontext.Value    `json:"type"`
	Use          string            `json:"use"`
	Patient      jsontext.Value    `json:"patient"`
	Created      string            `json:"created"`
	Insurer      jsontext.Value    `json:"insurer"`
	Provider     jsontext.Value    `json:"provider"`
	Priority     jsontext.Value    `json:"priority"`
	Insurance    []jsontext.Value  `json:"insurance,omitzero"`
	Item         []inquiryItemJSON `json:"item,omitzero"`
}

type inquiryItemJSON struct {
	Extension        []jsontext.Value `json:"extension,omitzero"`
	Sequence         int              `json:"sequence"`
	Category         jsontext.Value   `json:"category,omitzero"`
	ProductOrService jsontext.Value   `json:"productOrService"`
}

var normalPriority = jsontext.Value(`{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/processpriority","code":"normal"}]}`)

// BuildInquiry returns a PAS inquiry Bundle about the request req was
// parsed from. Its first entry is a PAS Claim Inquiry with the same key
// identifier, patient, insurer, provider and insurance. Its items keep the
// sequence, category, productOrService, request type and certification
// type. The entries those references reach in the original Bundle follow.
func BuildInquiry(req *Request, p InquiryParams) ([]byte, error) {
	if !isFHIRID(p.ClaimID) {
		return nil, errors.New("pas: inquiry Claim id is not a valid FHIR id")
	}
	if !p.BundleIdentifier.complete() {
		return nil, errors.New("pas: inquiry Bundle identifier needs system and value")
	}
	fullURL, err := siblingURL(req.Claim.FullURL, "Claim", p.ClaimID)
	if err != nil {
		return nil, err
	}

	claim := inquiryClaimJSON{
		ResourceType: "Claim",
		ID:           p.ClaimID,
		Meta:         outMeta{Profile: []string{ProfileClaimInquiry}},
		Identifier:   []jsontext.Value{req.keyRaw},
		Status:       "active",
		Type:         req.claimType,
		Use:          "preauthorization",
		Patient:      req.Patient.Reference,
		Created:      formatInstant(p.Created),
		Insurer:      req.Insurer.Reference,
		Provider:     req.Provider.Reference,
		Priority:     req.priority,
		Insurance:    req.insurance,
	}
	if !present(claim.Priority) {
		claim.Priority = normalPriority
	}
	for _, it := range req.Items {
		claim.Item = append(claim.Item, inquiryItem(it))
	}
	resource, err := json.Marshal(claim)
	if err != nil {
		return nil, fmt.Errorf("pas: encode inquiry Claim: %w", err)
	}
	bundleID, err := json.Marshal(p.BundleIdentifier)
	if err != nil {
		return nil, fmt.Errorf("pas: encode inquiry Bundle identifier: %w", err)
	}

	start := []*Entry{req.Patient.Entry, req.Insurer.Entry, req.Provider.Entry}
	for _, cov := range req.Coverage {
		start = append(start, cov.Entry)
	}
	out := outBundle{
		ResourceType: "Bundle",
		Meta:         outMeta{Profile: []string{ProfileInquiryRequestBundle}},
		Identifier:   bundleID,
		Type:         "collection",
		Timestamp:    formatInstant(p.Created),
		Entry:        []outEntry{{FullURL: fullURL, Resource: resource}},
	}
	copied, err := copyEntries(fullURL, req.index.closure(start...))
	if err != nil {
		return nil, err
	}
	out.Entry = append(out.Entry, copied...)
	return json.Marshal(out)
}

func inquiryItem(it Item) inquiryItemJSON {
	out := inquiryItemJSON{
		Sequence:         it.Sequence,
		Category:         it.categoryRaw,
		ProductOrService: it.productOrServiceRaw,
	}
	for _, ext := range []jsontext.Value{it.requestTypeRaw, it.certificationRaw} {
		if present(ext) {
			out.Extension = append(out.Extension, ext)
		}
	}
	return out
}

// BuildInquiryResponse returns the PAS inquiry response Bundle for inq,
// carrying the decision recorded in stored, a response Bundle that
// BuildResponse produced. The ClaimResponse and the entries it references
// are copied from stored. The ClaimResponse is relabelled with the PAS
// Claim Inquiry Response profile. The Bundle takes the inquiry's
// identifier and the time now.
func BuildInquiryResponse(stored []byte, inq *Request, now time.Time) ([]byte, error) {
	var b bundleJSON
	if err := json.Unmarshal(stored, &b); err != nil {
		return nil, fmt.Errorf("pas: stored response: %w", err)
	}
	if len(b.Entry) == 0 {
		return nil, errors.New("pas: stored response has no entries")
	}
	var cr claimResponseJSON
	if err := json.Unmarshal(b.Entry[0].Resource, &cr); err != nil {
		return nil, fmt.Errorf("pas: stored ClaimResponse: %w", err)
	}
	if cr.ResourceType != "ClaimResponse" {
		return nil, errors.New("pas: stored response does not start with a ClaimResponse")
	}

	cr.Meta = outMeta{Profile: []string{ProfileClaimInquiryResponse}}
	resource, err := json.Marshal(cr)
	if err != nil {
		return nil, fmt.Errorf("pas: encode ClaimResponse: %w", err)
	}
	out := outBundle{
		ResourceType: "Bundle",
		Meta:         outMeta{Profile: []string{ProfileInquiryResponseBundle}},
		Identifier:   inq.BundleIdentifier,
		Type:         "collection",
		Timestamp:    formatInstant(now),
		Entry:        []outEntry{{FullURL: b.Entry[0].FullURL, Resource: resource}},
	}
	for _, e := range b.Entry[1:] {
		out.Entry = append(out.Entry, outEntry{FullURL: e.FullURL, Resource: e.Resource})
	}
	return json.Marshal(out)
}
