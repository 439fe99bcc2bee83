package loadgen

import (
	"encoding/json"
	"io"
)

// Response is the outcome of one $submit request as a Sender reports it.
type Response struct {
	Status int
	// Rejected is true for a 2xx response whose first ClaimResponse has
	// outcome "error": the payer responded but adjudicated nothing, as the
	// built-in payer does for a patient that is not its member.
	Rejected bool
}

// claimResponseHead contains the fields of a resource that
// rejectedClaimResponse needs.
type claimResponseHead struct {
	ResourceType string `json:"resourceType"`
	Outcome      string `json:"outcome"`
}

// rejectedClaimResponse reports whether r contains a ClaimResponse with
// outcome "error", either as the whole document or as the resource of a
// Bundle's first entry. It decodes only up to the end of that first entry
// and leaves the rest of r unread, so that the load generator's cost does
// not grow with the response. A body that is not JSON, or not of that
// shape, is not a rejection.
func rejectedClaimResponse(r io.Reader) bool {
	dec := json.NewDecoder(r)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}

	var top claimResponseHead
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return false
		}
		switch key {
		case "resourceType":
			err = dec.Decode(&top.ResourceType)
		case "outcome":
			err = dec.Decode(&top.Outcome)
		case "entry":
			return firstEntryRejected(dec)
		default:
			var skipped json.RawMessage
			err = dec.Decode(&skipped)
		}
		if err != nil {
			return false
		}
	}
	return top.ResourceType == "ClaimResponse" && top.Outcome == "error"
}

// firstEntryRejected decodes the first element of a Bundle's entry array,
// which dec is positioned at.
func firstEntryRejected(dec *json.Decoder) bool {
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') || !dec.More() {
		return false
	}
	var first struct {
		Resource claimResponseHead `json:"resource"`
	}
	if err := dec.Decode(&first); err != nil {
		return false
	}
	return first.Resource.ResourceType == "ClaimResponse" && first.Resource.Outcome == "error"
}
