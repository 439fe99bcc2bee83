package fhirjson

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// Head is what the gateway reads of a resource before anything else: its
// type and id, and for a Bundle its Bundle.type.
type Head struct {
	ResourceType string
	ID           string
	// Type is the top-level type member when it is a JSON string, which
	// for a Bundle is Bundle.type. It is "" otherwise.
	Type string
}

// ErrCaseVariant is returned, wrapped, when a top-level member name differs
// from resourceType or id only in letter case. FHIR names are case-sensitive
// and never differ only in case, and readers that match names without case
// (encoding/json among them) would see another type than strict ones do.
var ErrCaseVariant = errors.New("member name differs from a FHIR element name only in letter case")

// ReadHead reads the top-level resourceType and id of doc, which must have
// passed Check. Names are matched exactly; a name that matches only without
// case is an error.
func ReadHead(doc []byte) (Head, error) {
	var h Head
	dec := jsontext.NewDecoder(bytes.NewBuffer(doc)) // read in place, not copied
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return h, errors.New("fhirjson: top-level value is not an object")
	}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return h, fmt.Errorf("fhirjson: %w", err)
		}
		key := name.String()
		switch {
		case key == "resourceType":
			h.ResourceType, err = readString(dec)
		case key == "id":
			h.ID, err = readString(dec)
		case key == "type" && dec.PeekKind() == '"':
			h.Type, err = readString(dec)
		case strings.EqualFold(key, "resourceType") || strings.EqualFold(key, "id"):
			return h, fmt.Errorf("fhirjson: %w", ErrCaseVariant)
		default:
			err = dec.SkipValue()
		}
		if err != nil {
			return h, fmt.Errorf("fhirjson: %w", err)
		}
	}
	return h, nil
}

func readString(dec *jsontext.Decoder) (string, error) {
	tok, err := dec.ReadToken()
	if err != nil {
		return "", err
	}
	if tok.Kind() != '"' {
		return "", errors.New("value is not a string")
	}
	return tok.String(), nil
}

// HeadError is returned by CheckObjectHead for a document that CheckObject
// accepts but whose top-level resourceType or id ReadHead would reject.
type HeadError struct{ Err error }

func (e *HeadError) Error() string { return "fhirjson: " + e.Err.Error() }
func (e *HeadError) Unwrap() error { return e.Err }

// headReader collects what ReadHead returns from the tokens of a Check
// pass at nesting depth 1: the top-level member names and scalar values.
type headReader struct {
	head    Head
	pending *string // field the next top-level value goes to
	err     error   // the first error ReadHead would return
}

// note takes one token read at depth 1, after the decoder read it.
func (h *headReader) note(dec *jsontext.Decoder, tok jsontext.Token) {
	if h.err != nil || tok.Kind() != '"' {
		return
	}
	// The decoder counts names and values of the open object, so an odd
	// count right after a string means the string was a name.
	if _, n := dec.StackIndex(1); n%2 == 1 {
		h.name(dec, tok.String())
		return
	}
	if h.pending != nil {
		*h.pending = tok.String()
		h.pending = nil
	}
}

func (h *headReader) name(dec *jsontext.Decoder, key string) {
	switch {
	case key == "resourceType":
		h.pending = &h.head.ResourceType
	case key == "id":
		h.pending = &h.head.ID
	case key == "type":
		if dec.PeekKind() == '"' {
			h.pending = &h.head.Type
		}
		return
	case strings.EqualFold(key, "resourceType") || strings.EqualFold(key, "id"):
		h.err = ErrCaseVariant
		return
	default:
		return
	}
	if dec.PeekKind() != '"' {
		h.err = errors.New("value is not a string")
		h.pending = nil
	}
}
