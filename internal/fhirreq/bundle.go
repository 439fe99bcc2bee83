package fhirreq

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// MaxBundleEntries caps the entries ParseBundle accepts.
const MaxBundleEntries = 1000

// Bundle is the part of a Bundle resource that authorization needs: its
// type and, for each entry, the resource type and the request the entry
// performs.
type Bundle struct {
	Type    string // Bundle.type
	Entries []Entry
}

// Entry is one Bundle.entry.
type Entry struct {
	Index        int
	FullURL      string
	ResourceType string // entry.resource.resourceType, "" without a resource
	ResourceID   string // entry.resource.id
	// Request is entry.request parsed by parseEntryRequest; nil when the
	// entry has no request part.
	Request *Request
	// HasResponse and HasSearch mark entry.response and entry.search parts.
	HasResponse bool
	HasSearch   bool
	// NestedBundle is true when the resource is a Bundle or contains one at
	// any depth (in contained, in a Parameters value, ...).
	NestedBundle bool
	// Resource is entry.resource as sent.
	Resource jsontext.Value

	raw     rawRequest // entry.request before it is parsed
	hasRaw  bool       // the entry has a request part
	fullURL span       // FullURL in the decoder's arena
}

// Path returns the FHIRPath-like location of the entry,
// "Bundle.entry[i]". It contains no request content, so it is safe to send.
func (e *Entry) Path() string { return "Bundle.entry[" + strconv.Itoa(e.Index) + "]" }

type headJSON struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
}

func badBundle(reason string) error { return &Error{http.StatusBadRequest, reason} }

// ParseBundle reads a Bundle body in one pass, plus a second walk of each
// entry resource whose bytes hold "Bundle" or a \u escape, to find nested
// Bundles. Entry.Resource refers to body, which must not change while the
// result is in use. JSON member names match
// case-sensitively, and duplicate names and invalid UTF-8 are rejected. Only
// the members FHIR R4 defines for Bundle, Bundle.entry and
// Bundle.entry.request are accepted there. A member that differs from a
// known one only in case (an "Entry" beside "entry") is therefore an error,
// because a case-insensitive parser upstream might read it. Every entry.request is parsed by parseEntryRequest; an entry
// whose request does not parse fails the whole Bundle. Errors name the
// entry, never its content.
func ParseBundle(body []byte) (*Bundle, error) {
	b, err := decodeBundle(body)
	if err != nil {
		if typ, _, headErr := ResourceHead(body); headErr == nil && typ != "Bundle" {
			return nil, badBundle("the body is not a Bundle")
		}
		return nil, err
	}
	// One allocation stores the requests and queries of every entry.
	n := 0
	for i := range b.Entries {
		if b.Entries[i].hasRaw {
			n++
		}
	}
	slab := make([]parsedRequest, n)
	for i := range b.Entries {
		e := &b.Entries[i]
		if !e.hasRaw {
			continue
		}
		if err := e.parseRequest(&slab[0]); err != nil {
			return nil, err
		}
		slab = slab[1:]
	}
	return b, nil
}

// ParseBundleContent reads a Bundle body under the same rules as
// ParseBundle, but leaves every Entry.Request nil instead of parsing
// entry.request as an interaction the gateway would forward. It is for
// checks that read only fullUrls and resources, such as the entries of a
// history Bundle, whose request URLs may be absolute.
func ParseBundleContent(body []byte) (*Bundle, error) {
	b, err := decodeBundle(body)
	if err != nil {
		if typ, _, headErr := ResourceHead(body); headErr == nil && typ != "Bundle" {
			return nil, badBundle("the body is not a Bundle")
		}
		return nil, err
	}
	for i := range b.Entries {
		b.Entries[i].raw, b.Entries[i].hasRaw = rawRequest{}, false
	}
	return b, nil
}

// parsedRequest is the storage of one entry's parsed request.
type parsedRequest struct {
	req   Request
	query Query
}

// parseRequest parses the entry's raw request fields into Request, using
// dst for storage.
func (e *Entry) parseRequest(dst *parsedRequest) error {
	err := parseEntryRequest(&dst.req, &dst.query, e.raw.method, e.raw.url, e.raw.ifNoneExist)
	if err != nil {
		var fe *Error
		if errors.As(err, &fe) {
			return &Error{fe.Status, e.Path() + ".request: " + fe.Reason}
		}
		return badBundle(e.Path() + ".request is invalid")
	}
	e.Request, e.raw, e.hasRaw = &dst.req, rawRequest{}, false
	return nil
}

// ResourceHead returns the resourceType and id of a resource body under the
// same strict decoding rules as ParseBundle.
func ResourceHead(body []byte) (typ, id string, err error) {
	var h headJSON
	if err := json.Unmarshal(body, &h); err != nil {
		return "", "", badBundle("the body is not a valid FHIR JSON resource")
	}
	if h.ResourceType == "" {
		return "", "", badBundle("the body has no resourceType")
	}
	return h.ResourceType, h.ID, nil
}

// ContainsBundle reports whether a resource body is a Bundle or contains one
// at any depth, by the rule ParseBundle applies to each entry.
func ContainsBundle(resource []byte) (bool, error) { return containsBundle(resource) }

// containsBundle reports whether a resource is a Bundle or has a member
// "resourceType" with the value "Bundle" at any depth. JSON can spell those
// letters only literally or as \u escapes, so a resource whose bytes hold
// neither "Bundle" nor "\u" cannot, and it is not walked.
func containsBundle(resource jsontext.Value) (bool, error) {
	if !bytes.Contains(resource, []byte("Bundle")) && !bytes.Contains(resource, []byte(`\u`)) {
		return false, nil
	}
	s := getScratch(resource)
	defer s.release()
	dec := s.dec
	d := &bundleDecoder{body: resource, dec: dec, scratch: s}
	afterTypeName := false
	for {
		if d.dec.PeekKind() != '"' {
			if _, err := dec.ReadToken(); err != nil {
				if errors.Is(err, io.EOF) {
					return false, nil
				}
				return false, err
			}
			afterTypeName = false
			continue
		}
		str, err := d.stringValue()
		if err != nil {
			return false, err
		}
		kind, n := dec.StackIndex(dec.StackDepth())
		isName := kind == '{' && n%2 == 1
		switch {
		case isName:
			afterTypeName = string(str) == "resourceType"
		case afterTypeName && string(str) == "Bundle":
			return true, nil
		default:
			afterTypeName = false
		}
	}
}
