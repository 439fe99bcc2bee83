package gateway

import (
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// adjudicatedResource contains the elements of a response resource that
// rejectedResponse reads.
type adjudicatedResource struct {
	ResourceType string `json:"resourceType"`
	Outcome      string `json:"outcome"`
	Entry        []struct {
		Resource entryResource `json:"resource"`
	} `json:"entry"`
}

// entryResource is an entry's resource decoded as an adjudicatedResource
// while the enclosing Bundle is decoded, so that the resource's JSON is not
// copied to be decoded later. A resource that fails to decode does not
// fail the Bundle's decoding, because rejectedResponse reads the error
// only when the enclosing resource is a Bundle.
type entryResource struct {
	present  bool
	resource adjudicatedResource
	err      error
}

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (r *entryResource) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	raw, err := dec.ReadValue()
	if err != nil {
		return err
	}
	r.present = true
	r.err = json.Unmarshal(raw, &r.resource)
	return nil
}

// rejectedResponse reports whether a 2xx response body still rejects the
// request, so that it links no patient and no claim. A PAS payer responds to
// a Claim/$submit for a patient it does not cover with 200 and a
// ClaimResponse whose outcome is "error" (an X12 278 AAA reject), and an
// eligibility payer does the same with a CoverageEligibilityResponse. The
// response rejects when the body itself, or a resource of a top-level
// Bundle entry, is such a response with outcome "error". A body that is
// not a JSON object counts as a rejection too, because the gateway cannot
// read its outcome.
func rejectedResponse(body []byte) bool {
	if len(body) == 0 {
		return false
	}
	var top adjudicatedResource
	if err := json.Unmarshal(body, &top); err != nil {
		return true
	}
	if isErrorOutcome(top.ResourceType, top.Outcome) {
		return true
	}
	if top.ResourceType != "Bundle" {
		return false
	}
	for _, e := range top.Entry {
		if !e.Resource.present {
			continue
		}
		if e.Resource.err != nil {
			return true
		}
		if isErrorOutcome(e.Resource.resource.ResourceType, e.Resource.resource.Outcome) {
			return true
		}
	}
	return false
}

// isErrorOutcome reports whether a resource is an adjudication response
// whose outcome is "error".
func isErrorOutcome(resourceType, outcome string) bool {
	switch resourceType {
	case "ClaimResponse", "CoverageEligibilityResponse":
		return outcome == "error"
	}
	return false
}
