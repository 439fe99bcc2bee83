package fhirreq

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
)

// SearchURI is a value in a resource body that a server runs as a search
// when it stores the resource.
type SearchURI struct {
	// Criteria is set for the criteria of a Subscription; otherwise the
	// value is a Reference.reference.
	Criteria bool
	// Value is the search as written, such as "Patient?identifier=x|1".
	Value string
}

// SearchURIs returns, in document order, the values of a resource body
// that a server runs as searches when it creates or updates the resource:
//
//   - every Reference.reference that contains "?". A server resolves such a
//     conditional reference by searching, and the write fails unless
//     exactly one resource matches (FHIR R4 RESTful API, transaction
//     processing rules). Some servers resolve them outside transactions
//     too;
//   - when subscription is set, because the resource is a Subscription,
//     its top-level criteria, unless it is an absolute URI without a
//     query, which names a SubscriptionTopic (R4 Subscriptions Backport).
//     An R4 server runs any other criteria as a search on every change
//     and sends what matches to the subscriber.
//
// Member names are compared ignoring case, so that a case variant that a
// lenient parser upstream would read is found too.
func SearchURIs(resource []byte, subscription bool) ([]SearchURI, error) {
	// JSON can spell "?" only literally or as a \u escape.
	if !subscription && !bytes.Contains(resource, []byte("?")) && !bytes.Contains(resource, []byte(`\u`)) {
		return nil, nil
	}
	s := getScratch(resource)
	defer s.release()
	d := &bundleDecoder{body: resource, dec: s.dec, scratch: s}

	var found []SearchURI
	// The flags record which member name came before the token being read.
	isReference, isCriteria := false, false
	// refArray is the stack depth of the outermost array written as a
	// reference's value, or 0. FHIR allows no such array, but a lenient
	// parser upstream may take an item, so every string value within it
	// counts as a reference too. A reference array nested in it leaves
	// refArray as it is, so that closing the inner one does not end the
	// outer one.
	refArray := 0
	for {
		if d.dec.PeekKind() != '"' {
			tok, err := d.dec.ReadToken()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return found, nil
				}
				return nil, err
			}
			switch {
			case isReference && tok.Kind() == '[' && refArray == 0:
				refArray = d.dec.StackDepth()
			case refArray > d.dec.StackDepth():
				refArray = 0
			}
			isReference, isCriteria = false, false
			continue
		}
		str, err := d.stringValue()
		if err != nil {
			return nil, err
		}
		depth := d.dec.StackDepth()
		if kind, n := d.dec.StackIndex(depth); kind == '{' && n%2 == 1 {
			isReference = bytes.EqualFold(str, referenceName)
			isCriteria = subscription && depth == 1 && bytes.EqualFold(str, criteriaName)
			continue
		}
		inRefArray := refArray != 0 && depth >= refArray
		switch {
		case (isReference || inRefArray) && bytes.IndexByte(str, '?') >= 0:
			found = append(found, SearchURI{Value: string(str)})
		case isCriteria && !IsTopicURI(string(str)):
			found = append(found, SearchURI{Criteria: true, Value: string(str)})
		}
		isReference, isCriteria = false, false
	}
}

var referenceName, criteriaName = []byte("reference"), []byte("criteria")

// IsTopicURI reports whether criteria is an absolute URI without a query
// or fragment, the form of a SubscriptionTopic's canonical URL (with an
// optional "|version"). Any other Subscription criteria is a search.
func IsTopicURI(criteria string) bool {
	scheme, rest, ok := strings.Cut(criteria, ":")
	if !ok || scheme == "" || rest == "" || strings.ContainsAny(criteria, "?#") {
		return false
	}
	for i := 0; i < len(scheme); i++ {
		if c := scheme[i]; !(isAlpha(c) || i > 0 && (isAlnum(c) || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// ParseSearchURI parses a search written as [type]?[parameters], the form
// of a conditional reference and of R4 Subscription criteria, with the
// query parsed by ParseQuery. A value that names no resource type before
// the "?", such as an absolute URL, is rejected: the gateway cannot tell
// which server, if any, runs it.
func ParseSearchURI(s string) (string, *Query, error) {
	typ, raw, _ := strings.Cut(s, "?")
	if !resourceTypes[typ] {
		return "", nil, &Error{http.StatusBadRequest, "a search in a resource must be [type]?[parameters] with a FHIR resource type"}
	}
	q, err := ParseQuery(raw)
	if err != nil {
		return "", nil, err
	}
	return typ, q, nil
}
