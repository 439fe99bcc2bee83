package pas

import (
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// PatientOf returns the patient of a PAS $submit or $inquire Bundle, which
// is the entry that Claim.patient references, with its identifiers. It
// reads the Bundle's entries and Claim.patient only, so it costs a
// fraction of ParseRequest. A Bundle that PatientOf accepts may still fail
// ParseRequest, because the rest of the request is not checked.
func PatientOf(body []byte) (*Party, error) {
	_, ix, err := decodeBundle(body)
	if err != nil {
		return nil, err
	}
	claimEntry := &ix.entries[0]
	at := claimEntry.Path()
	if claimEntry.Type != "Claim" {
		return nil, invalid(at, "the first entry must be a Claim")
	}
	var c struct {
		Patient jsontext.Value `json:"patient"`
	}
	if err := json.Unmarshal(claimEntry.Resource, &c); err != nil {
		return nil, decodeError(at, err)
	}
	return resolveParty(ix, c.Patient, at+".patient", "Patient")
}
