package pas

import (
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// PatientOf returns the patient of a PAS $submit or $inquire Bundle, which
// is the entry that Claim.patient references, with its identifiers. It
// reads the Bundle's entries and Claim.patient only, so it does less
// work than ParseRequest. A Bundle that PatientOf accepts may still fail
// ParseRequest, because the rest of the request is not checked.
func PatientOf(body []byte) (*Party, error) {
	_, ix, err := decodeBundle(body)
	if err != nil {
		return nil, err
	}
	return patientOf(ix)
}

// PatientOfBundle returns what PatientOf returns, from a Bundle that
// fhirreq.ParseBundle has already read, so the body is not decoded again.
// The policy engine's parsed Bundle is one such input. It applies the same
// entry rules as PatientOf and reads only Claim.patient and the Patient
// entry.
func PatientOfBundle(b *fhirreq.Bundle) (*Party, error) {
	ix, err := indexParsed(b)
	if err != nil {
		return nil, err
	}
	return patientOf(ix)
}

// patientOf resolves Claim.patient of the first entry.
func patientOf(ix *bundleIndex) (*Party, error) {
	claimEntry := &ix.entries[0]
	at := claimEntry.Path()
	if claimEntry.Type != "Claim" {
		return nil, invalid(at, "the first entry must be a Claim")
	}
	var c struct {
		Patient jsontext.Value `json:"patient"`
	}
	if err := unmarshalAliasing(claimEntry.Resource, &c); err != nil {
		return nil, decodeError(at, err)
	}
	return resolveParty(ix, c.Patient, at+".patient", "Patient")
}

// indexParsed indexes the entries of a parsed Bundle under the rules
// decodeBundle applies to a body.
func indexParsed(b *fhirreq.Bundle) (*bundleIndex, error) {
	if err := checkCollection(b.Type, len(b.Entries)); err != nil {
		return nil, err
	}

	ix := newBundleIndex(len(b.Entries))
	for i := range b.Entries {
		e := &b.Entries[i]
		hasOtherPart := e.Request != nil || e.HasResponse || e.HasSearch
		if err := checkEntryParts(i, e.FullURL, e.ResourceType != "", hasOtherPart); err != nil {
			return nil, err
		}
		entry := Entry{Index: i, FullURL: e.FullURL, Type: e.ResourceType, ID: e.ResourceID, Resource: e.Resource}
		if err := ix.add(entry); err != nil {
			return nil, err
		}
	}
	return ix, nil
}
