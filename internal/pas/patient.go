package pas

import (
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
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
	return patientOf(ix)
}

// PatientOfBundle is PatientOf on a Bundle that fhirreq.ParseBundle has
// already read, such as the one the policy engine parsed to decide the
// request, so the body is not decoded again. It applies the entry rules
// of PatientOf (a collection, each entry with a unique fullUrl and a
// resource, and no search, request or response) and reads only
// Claim.patient and the Patient entry.
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
	if err := json.Unmarshal(claimEntry.Resource, &c); err != nil {
		return nil, decodeError(at, err)
	}
	return resolveParty(ix, c.Patient, at+".patient", "Patient")
}

// indexParsed indexes the entries of a parsed Bundle under the rules
// decodeBundle applies to a body.
func indexParsed(b *fhirreq.Bundle) (*bundleIndex, error) {
	switch {
	case b.Type != "collection":
		return nil, invalid("Bundle.type", "must be collection")
	case len(b.Entries) == 0:
		return nil, invalid("Bundle.entry", "the Bundle has no entries")
	}
	ix := &bundleIndex{entries: make([]Entry, 0, len(b.Entries)), byURL: map[string]int{}, byTypeID: map[string][]int{}}
	for i := range b.Entries {
		e := &b.Entries[i]
		at := "Bundle.entry[" + itoa(i) + "]"
		switch {
		case e.FullURL == "":
			return nil, invalid(at+".fullUrl", "missing")
		case e.ResourceType == "":
			return nil, invalid(at+".resource", "missing")
		case e.Request != nil || e.HasResponse || e.HasSearch:
			return nil, invalid(at, "entries of a collection carry no search, request or response")
		}
		if _, dup := ix.byURL[e.FullURL]; dup {
			return nil, invalid(at+".fullUrl", "the same fullUrl appears on an earlier entry")
		}
		ix.byURL[e.FullURL] = i
		if e.ResourceID != "" {
			key := e.ResourceType + "/" + e.ResourceID
			ix.byTypeID[key] = append(ix.byTypeID[key], i)
		}
		ix.entries = append(ix.entries, Entry{Index: i, FullURL: e.FullURL, Type: e.ResourceType, ID: e.ResourceID, Resource: e.Resource})
	}
	return ix, nil
}
