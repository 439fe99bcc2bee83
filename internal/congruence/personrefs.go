package congruence

import (
	"bytes"
	"slices"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// This file checks person references anywhere in an outbound body. The
// walk reads the patient elements and a Parameters valueReference itself,
// but a Reference may be in any element, such as Observation.focus,
// Provenance.target, an extension's valueReference or
// Bundle.signature.who. A server resolves "Patient/{id}" there as it does
// in a patient element, so every string "reference" of every JSON object
// of the body follows the patient element rule.
//
// A literal reference that may name a person (namesPersonType) must
// resolve to a resource that the walk checks itself. That is an entry of
// an enclosing Bundle, or for "#id" a resource contained in the referring
// resource or in its container. A conditional reference must not name a
// person by server id, in its path (namesPersonInstance) or in its
// criteria (criteriaNamePersonByID).
//
// NOTE: a conditional reference to a person type by identifier outside a
// patient element and a Parameters, such as Observation.focus =
// "Patient?identifier=...", is not counted as a named patient. Only the
// payload identifier rules read its member identifiers.

// nestedResourcePaths returns the skip function of a scan of a resource
// of type typ. The function reports whether the element at names (the
// member names from the root, without array indices) contains a resource
// that the walk checks separately.
func nestedResourcePaths(typ string) func(names []string) bool {
	switch typ {
	case "Bundle":
		return func(names []string) bool {
			return slices.Equal(names, []string{"entry", "resource"}) || slices.Equal(names, []string{"entry", "response", "outcome"})
		}
	case "Parameters":
		return func(names []string) bool {
			// parameter.resource and parameter.part...part.resource.
			if len(names) < 2 || names[0] != "parameter" || names[len(names)-1] != "resource" {
				return false
			}
			for _, n := range names[1 : len(names)-1] {
				if n != "part" {
					return false
				}
			}
			return true
		}
	}
	return func(names []string) bool { return slices.Equal(names, []string{"contained"}) }
}

// personReferenceScan is the state of one scan of a resource's JSON.
type personReferenceScan struct {
	dec  *jsontext.Decoder
	skip func(names []string) bool
	// resolves reports whether a literal reference names a resource that
	// the walk checks itself.
	resolves func(ref string) bool
	// names are the member names from the root to the current value.
	names []string
	// segments are the path segments of the current value, array indices
	// included, for the Mismatch path.
	segments []string
	// at is the location of the scanned resource.
	at string
}

// checkPersonReferences scans body, the resource of type typ at location
// at, for references that may name a person the gateway cannot check.
// resolves reports whether a literal reference resolves to a resource
// that the walk checks.
func checkPersonReferences(typ string, body []byte, at string, resolves func(ref string) bool) *Mismatch {
	s := &personReferenceScan{
		dec:      jsontext.NewDecoder(bytes.NewReader(body)),
		skip:     nestedResourcePaths(typ),
		resolves: resolves,
		at:       at,
	}
	m, err := s.value()
	if err != nil {
		return unreadable(at)
	}
	return m
}

// value scans the next JSON value.
func (s *personReferenceScan) value() (*Mismatch, error) {
	switch s.dec.PeekKind() {
	case '{':
		return s.object()
	case '[':
		if _, err := s.dec.ReadToken(); err != nil {
			return nil, err
		}
		for i := 0; s.dec.PeekKind() != ']'; i++ {
			s.segments = append(s.segments, "["+strconv.Itoa(i)+"]")
			m, err := s.value()
			s.segments = s.segments[:len(s.segments)-1]
			if m != nil || err != nil {
				return m, err
			}
		}
		_, err := s.dec.ReadToken()
		return nil, err
	}
	return nil, s.dec.SkipValue()
}

// object scans the members of the next JSON object.
func (s *personReferenceScan) object() (*Mismatch, error) {
	if _, err := s.dec.ReadToken(); err != nil {
		return nil, err
	}
	for s.dec.PeekKind() != '}' {
		tok, err := s.dec.ReadToken()
		if err != nil {
			return nil, err
		}
		name := tok.String()
		s.names = append(s.names, name)
		s.segments = append(s.segments, "."+name)
		m, err := s.member(name)
		s.names = s.names[:len(s.names)-1]
		s.segments = s.segments[:len(s.segments)-1]
		if m != nil || err != nil {
			return m, err
		}
	}
	_, err := s.dec.ReadToken()
	return nil, err
}

// member scans the value of the object member name.
func (s *personReferenceScan) member(name string) (*Mismatch, error) {
	if s.skip(s.names) {
		return nil, s.dec.SkipValue()
	}
	if name != "reference" || s.dec.PeekKind() != '"' {
		return s.value()
	}
	tok, err := s.dec.ReadToken()
	if err != nil {
		return nil, err
	}
	return s.checkReference(tok.String()), nil
}

// checkReference applies the rules in the file comment to ref, the value
// of the "reference" member at the current location.
func (s *personReferenceScan) checkReference(ref string) *Mismatch {
	path := s.at + strings.Join(s.segments, "")
	if before, query, ok := strings.Cut(ref, "?"); ok {
		if namesPersonInstance(before) || criteriaNamePersonByID(query) {
			return &Mismatch{Rule: patientRule, Path: path,
				Reason: path + " is a conditional reference that names a patient or another person by server id or by something other than an identifier; name the patient by identifier"}
		}
		return nil
	}
	if namesPersonType(ref) && !s.resolves(ref) {
		return &Mismatch{Rule: patientRule, Path: path,
			Reason: path + " is a literal reference that may name a patient or another person, which the gateway cannot resolve; name the patient by identifier or include the resource"}
	}
	return nil
}

// entryResolver returns the resolves function of a scan of entry i of
// ix, decoded as r. "#id" resolves to a resource contained in r or in its
// container, and "#" alone names r itself. Another reference resolves to
// an entry of ix when ix is a real Bundle, or to an entry of an enclosing
// Bundle.
func (w *outboundWalk) entryResolver(ix *index, i int, r *outboundResourceJSON, inBundle bool) func(ref string) bool {
	return func(ref string) bool {
		if id, ok := strings.CutPrefix(ref, "#"); ok {
			return id == "" || containedType(r, id) != "" || w.containedInContainer(id)
		}
		if inBundle {
			if _, ok := ix.resolve(i, &referenceJSON{Reference: ref}); ok {
				return true
			}
		}
		return w.resolvesToEntry(ref)
	}
}

// containedInContainer reports whether the resource that contains the
// one being checked contains a resource whose id is id.
func (w *outboundWalk) containedInContainer(id string) bool {
	if len(w.containers) == 0 {
		return false
	}
	container := &outboundResourceJSON{Contained: w.containers[len(w.containers)-1]}
	return containedType(container, id) != ""
}
