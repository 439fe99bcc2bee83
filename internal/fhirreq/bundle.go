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
	// Request is entry.request parsed by ParseEntryRequest; nil when the
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

	raw *rawRequest // entry.request before ParseEntryRequest
}

// Path returns the FHIRPath-like location of the entry,
// "Bundle.entry[i]". It holds no request content, so it is safe to send.
func (e *Entry) Path() string { return "Bundle.entry[" + strconv.Itoa(e.Index) + "]" }

type headJSON struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
}

func badBundle(reason string) error { return &Error{http.StatusBadRequest, reason} }

// ParseBundle reads a Bundle body in one pass. JSON member names match
// case-sensitively, and duplicate names and invalid UTF-8 are rejected. Only
// the members FHIR R4 defines for Bundle, Bundle.entry and
// Bundle.entry.request are accepted there. A member that differs from a
// known one only in case (an "Entry" beside "entry") is therefore an error,
// because a case-insensitive parser upstream might read it. Every entry.request is parsed by ParseEntryRequest; an entry
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
	for i := range b.Entries {
		if err := b.Entries[i].parseRequest(); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// parseRequest parses the entry's raw request fields into Request.
func (e *Entry) parseRequest() error {
	if e.raw == nil {
		return nil
	}
	req, err := ParseEntryRequest(e.raw.method, e.raw.url, e.raw.ifNoneExist)
	if err != nil {
		var fe *Error
		if errors.As(err, &fe) {
			return &Error{fe.Status, e.Path() + ".request: " + fe.Reason}
		}
		return badBundle(e.Path() + ".request is invalid")
	}
	e.Request, e.raw = req, nil
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
// "resourceType" with the value "Bundle" at any depth. A resource whose
// bytes hold neither "Bundle" nor a backslash (which could escape those
// letters) cannot, so it is not walked.
func containsBundle(resource jsontext.Value) (bool, error) {
	if !bytes.Contains(resource, []byte("Bundle")) && !bytes.Contains(resource, []byte(`\`)) {
		return false, nil
	}
	dec := jsontext.NewDecoder(bytes.NewReader(resource))
	afterTypeName := false
	for {
		tok, err := dec.ReadToken()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if tok.Kind() != '"' {
			afterTypeName = false
			continue
		}
		kind, n := dec.StackIndex(dec.StackDepth())
		isName := kind == '{' && n%2 == 1
		switch {
		case isName:
			afterTypeName = tok.String() == "resourceType"
		case afterTypeName && tok.String() == "Bundle":
			return true, nil
		default:
			afterTypeName = false
		}
	}
}
