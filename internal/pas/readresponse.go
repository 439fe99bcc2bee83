package pas

import (
	"errors"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"
)

// Response is a parsed PAS response or inquiry response Bundle, as a
// submitter reads it.
type Response struct {
	BundleIdentifier jsontext.Value
	ClaimResponse    *Entry
	Identifiers      []Identifier // ClaimResponse.identifier with system and value
	Outcome          string
	PreAuthRef       string
	Patient          *Party
	Insurer          *Party
	Requestor        *Party // nil when ClaimResponse.requestor is absent
	Items            []ItemDecision
}

// ItemDecision is the decision a ClaimResponse.item carries.
type ItemDecision struct {
	Sequence int          // ClaimResponse.item.itemSequence
	Action   ReviewAction // "" when the item has no reviewActionCode
	Number   string       // the reviewAction "number", "" when absent
}

type readClaimResponseJSON struct {
	ResourceType string             `json:"resourceType"`
	Identifier   []Identifier       `json:"identifier"`
	Use          string             `json:"use"`
	Patient      jsontext.Value     `json:"patient"`
	Insurer      jsontext.Value     `json:"insurer"`
	Requestor    jsontext.Value     `json:"requestor"`
	Outcome      string             `json:"outcome"`
	PreAuthRef   string             `json:"preAuthRef"`
	Item         []readResponseItem `json:"item"`
}

type readResponseItem struct {
	ItemSequence int `json:"itemSequence"`
	Adjudication []struct {
		Extension []struct {
			URL       string          `json:"url"`
			Extension []extensionRead `json:"extension"`
		} `json:"extension"`
	} `json:"adjudication"`
}

type extensionRead struct {
	URL                  string        `json:"url"`
	ValueString          string        `json:"valueString"`
	ValueCodeableConcept *codeableJSON `json:"valueCodeableConcept"`
}

// ParseResponse parses a PAS response Bundle or inquiry response Bundle:
// a collection with a timestamp whose first entry is a ClaimResponse for a
// preauthorization, whose patient and insurer (and requestor, when given)
// resolve to entries of the Bundle. Errors are *BundleError values. The
// Response's raw JSON elements are subslices of body, so the caller must
// not modify body while it uses the Response.
func ParseResponse(body []byte) (*Response, error) {
	b, ix, err := decodeBundle(body)
	if err != nil {
		return nil, err
	}
	if b.Timestamp == "" {
		return nil, invalid("Bundle.timestamp", "missing")
	}
	first := &ix.entries[0]
	at := first.Path()
	if first.Type != "ClaimResponse" {
		return nil, invalid(at, "the first entry must be a ClaimResponse")
	}
	var cr readClaimResponseJSON
	if err := unmarshalAliasing(first.Resource, &cr); err != nil {
		return nil, decodeError(at, err)
	}
	if cr.Use != "preauthorization" {
		return nil, invalid(at+".use", "must be preauthorization")
	}
	if cr.Outcome == "" {
		return nil, invalid(at+".outcome", "missing")
	}

	resp := &Response{BundleIdentifier: b.Identifier, ClaimResponse: first, Outcome: cr.Outcome, PreAuthRef: cr.PreAuthRef}
	for _, id := range cr.Identifier {
		if id.complete() {
			resp.Identifiers = append(resp.Identifiers, id)
		}
	}
	if resp.Patient, err = resolveParty(ix, cr.Patient, at+".patient", "Patient"); err != nil {
		return nil, err
	}
	if resp.Insurer, err = resolveParty(ix, cr.Insurer, at+".insurer", "Organization"); err != nil {
		return nil, err
	}
	if present(cr.Requestor) {
		resp.Requestor, err = resolveParty(ix, cr.Requestor, at+".requestor", "Organization", "PractitionerRole", "Practitioner")
		if err != nil {
			return nil, err
		}
	}
	for i, it := range cr.Item {
		if it.ItemSequence < 1 {
			return nil, invalid(at+".item["+itoa(i)+"].itemSequence", "missing or not a positive integer")
		}
		resp.Items = append(resp.Items, readDecision(it))
	}
	return resp, nil
}

// readDecision takes the first reviewAction of the item's adjudications.
func readDecision(it readResponseItem) ItemDecision {
	d := ItemDecision{Sequence: it.ItemSequence}
	for _, adj := range it.Adjudication {
		for _, ext := range adj.Extension {
			if ext.URL != ExtReviewAction {
				continue
			}
			for _, part := range ext.Extension {
				switch {
				case part.URL == "number":
					d.Number = part.ValueString
				case part.URL == ExtReviewActionCode && part.ValueCodeableConcept != nil:
					d.Action = reviewCode(part.ValueCodeableConcept)
				}
			}
			return d
		}
	}
	return d
}

func reviewCode(cc *codeableJSON) ReviewAction {
	for _, c := range cc.Coding {
		if c.System == SystemReviewAction {
			return ReviewAction(c.Code)
		}
	}
	return ""
}

// ErrMismatch is wrapped by CheckAgainst errors.
var ErrMismatch = errors.New("response does not match the request")

// CheckAgainst returns an error wrapping ErrMismatch unless the response
// matches req: the same patient, insurer and (when given) requestor by
// identifier, and a decision for every requested item. A submitter makes
// this check before trusting a decision.
func (r *Response) CheckAgainst(req *Request) error {
	at := r.ClaimResponse.Path()
	switch {
	case !r.Patient.SameAs(req.Patient):
		return fmt.Errorf("pas: %s.patient: %w: another patient", at, ErrMismatch)
	case len(r.Insurer.Identifiers) > 0 && !r.Insurer.SameAs(req.Insurer):
		return fmt.Errorf("pas: %s.insurer: %w: another insurer", at, ErrMismatch)
	case r.Requestor != nil && !r.Requestor.SameAs(req.Provider):
		return fmt.Errorf("pas: %s.requestor: %w: another provider", at, ErrMismatch)
	}

	answered := map[int]bool{}
	for _, d := range r.Items {
		answered[d.Sequence] = true
	}
	for _, it := range req.Items {
		if !answered[it.Sequence] {
			return fmt.Errorf("pas: %s.item: %w: no decision for item sequence %d", at, ErrMismatch, it.Sequence)
		}
	}
	return nil
}
