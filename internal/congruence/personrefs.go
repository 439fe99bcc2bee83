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
// of the body follows the patient element rule. A URL names a resource as
// well: Attachment.url, an extension's valueUri, valueUrl or
// valueCanonical, and any other "url" member, such as a Bundle.link, are
// read as references too, except that a bare type such as an extension
// url "patient" names no one.
//
// A literal reference that may name a person or a Group
// (namesPersonType) must resolve to a resource that the walk checks
// itself. That is an entry of an enclosing Bundle, or for "#id" a
// resource contained in the referring resource or in its container. A
// conditional reference is read by conditionalPerson: criteria of a
// person type name a patient that the caller checks like a patient
// element's, and other criteria must not name a person by server id.

// nestedResourcePaths returns the skip function of a scan of a resource
// of type typ. The function reports whether the element at names (the
// member names from the root, without array indices) contains a resource
// that the walk checks separately.
func nestedResourcePaths(typ string) func(names []string) bool {
	switch typ {
	case "Bundle":
		// The entries' requests are left to the payload stage and the
		// outbound allowlist, as in outboundBundle, so that a transaction
		// may update "Patient/{id}".
		return func(names []string) bool {
			return slices.Equal(names, []string{"entry", "resource"}) || slices.Equal(names, []string{"entry", "response", "outcome"}) ||
				slices.Equal(names, []string{"entry", "request"})
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
	// named are the patients that conditional references name.
	named []NamedPatient
	// names are the member names from the root to the current value.
	names []string
	// segments are the path segments of the current value, array indices
	// included, for the Mismatch path.
	segments []string
	// at is the location of the scanned resource.
	at string
}

// checkPersonReferences scans body, the resource of type typ at location
// at, for references that may name a person the gateway cannot check, and
// adds to w the patients that conditional references name. resolves
// reports whether a literal reference resolves to a resource that the
// walk checks.
func checkPersonReferences(w *outboundWalk, typ string, body []byte, at string, resolves func(ref string) bool) *Mismatch {
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
	if m != nil {
		return m
	}
	for _, named := range s.named {
		// A patient element or a Parameters valueReference was already
		// read by the walk, at the path of the Reference.
		element := strings.TrimSuffix(named.Path, ".reference")
		if !slices.ContainsFunc(w.patients, func(p NamedPatient) bool { return p.Path == element }) {
			w.patients = append(w.patients, named)
		}
	}
	return nil
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
	url := isURLMember(name)
	if name != "reference" && !url || s.dec.PeekKind() != '"' {
		return s.value()
	}
	tok, err := s.dec.ReadToken()
	if err != nil {
		return nil, err
	}
	return s.checkReference(tok.String(), url), nil
}

// isURLMember reports whether the member name contains a URL that may
// name a resource: "url" (Attachment.url, Bundle.link.url,
// Extension.url) or an extension value of type uri, url or canonical.
func isURLMember(name string) bool {
	switch name {
	case "url", "valueUri", "valueUrl", "valueCanonical":
		return true
	}
	return false
}

// checkReference applies the rules in the file comment to ref, the value
// of the "reference" member, or of a URL member (url), at the current
// location.
func (s *personReferenceScan) checkReference(ref string, url bool) *Mismatch {
	path := s.at + strings.Join(s.segments, "")
	if before, _, ok := strings.Cut(ref, "?"); ok {
		if namesPersonInstance(before) {
			return &Mismatch{Rule: patientRule, Path: path,
				Reason: path + " is a conditional reference that names a patient or another person by server id; name the patient by identifier"}
		}
		typ, _, _ := conditionalQuery(ref)
		if url && !namesPersonType(before) && !resourceTypeName.MatchString(typ) {
			// A URL such as https://ehr.example/download?doc=1 is not a
			// search of a resource type, but its query may still name a
			// person by id.
			typ = ""
		}
		return s.checkConditional(ref, typ, path)
	}
	// resolves may search the Bundle, so it runs only for a reference
	// that may name a person.
	switch {
	case url && namesPersonInstance(ref) && !s.resolves(ref):
		return &Mismatch{Rule: patientRule, Path: path,
			Reason: path + " is a URL that may name a patient, another person or a Group, which the gateway cannot resolve; name the patient by identifier or include the resource"}
	case !url && namesPersonType(ref) && !s.resolves(ref):
		return &Mismatch{Rule: patientRule, Path: path,
			Reason: path + " is a literal reference that may name a patient, another person or a Group, which the gateway cannot resolve; name the patient by identifier or include the resource"}
	}
	return nil
}

// checkConditional reads the conditional reference ref at path with
// conditionalPerson, or, when typ is "", only its criteria, and keeps the
// person it names.
func (s *personReferenceScan) checkConditional(ref, typ, path string) *Mismatch {
	if typ == "" {
		_, query, _ := strings.Cut(ref, "?")
		if criteriaNamePersonByID(query) {
			return &Mismatch{Rule: patientRule, Path: path,
				Reason: path + " is a URL whose query names a patient or another person by server id or by something other than an identifier; name the patient by identifier"}
		}
		return nil
	}
	named, m := conditionalPerson(&referenceJSON{Reference: ref}, path)
	if m != nil {
		return m
	}
	if named != nil {
		s.named = append(s.named, *named)
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
