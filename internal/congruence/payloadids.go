package congruence

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
	"golang.org/x/text/unicode/norm"
)

// FoundIdentifier is an identifier found anywhere in a payload, with the
// JSON Pointer (RFC 6901) of the object that carries it.
type FoundIdentifier struct {
	Pointer string
	Identifier
}

// PayloadIdentifiers returns every JSON object of body that has a string
// member "system" and a string member "value", in document order, once
// per distinct system and value. That is the shape of a FHIR Identifier
// wherever it sits: on a resource of any type, in an extension's
// valueIdentifier, in a Reference.identifier nested in another
// reference's extension, in a contained resource or a nested Bundle. The
// outbound patient walk reads only the patient elements of known types,
// so the caller checks these as well. ContactPoint has the same shape, and a
// phone number or e-mail address is returned like an identifier.
//
// It returns an error for a body that is not valid JSON.
func PayloadIdentifiers(body []byte) ([]FoundIdentifier, error) {
	// frame is one open object or array.
	type frame struct {
		object   bool
		pointer  string
		name     string // member whose value comes next, in an object
		wantName bool
		system   *string
		value    *string
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	var stack []*frame
	var out []FoundIdentifier
	seen := map[Identifier]bool{}
	for {
		tok, err := dec.ReadToken()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var parent *frame
		if len(stack) > 0 {
			parent = stack[len(stack)-1]
		}
		kind := tok.Kind()
		if parent != nil && parent.object && parent.wantName && kind == '"' {
			parent.name, parent.wantName = tok.String(), false
			continue
		}
		switch kind {
		case '{', '[':
			if parent != nil && parent.object {
				parent.wantName = true
			}
			stack = append(stack, &frame{object: kind == '{', wantName: kind == '{', pointer: string(dec.StackPointer())})
		case '}', ']':
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if f.object && f.system != nil && f.value != nil {
				id := Identifier{System: *f.system, Value: *f.value}
				if !seen[id] {
					seen[id] = true
					out = append(out, FoundIdentifier{Pointer: f.pointer, Identifier: id})
				}
			}
		default:
			if parent == nil || !parent.object {
				continue
			}
			parent.wantName = true
			if kind != '"' {
				continue
			}
			switch s := tok.String(); parent.name {
			case "system":
				parent.system = &s
			case "value":
				parent.value = &s
			}
		}
	}
}

// SystemKey returns the key under which a lenient reader may take two
// identifier systems for the same one. It ignores Unicode compatibility
// forms (NFKC), surrounding white space, letter case, a trailing slash and
// the "urn:oid:" prefix of an OID, and it reads the HL7 OID of the NPI
// system as the NPI system. Links match systems byte for byte, so a
// variant of a member id system would otherwise escape the member id rule.
func SystemKey(system string) string {
	s := systemKey(strings.TrimSpace(norm.NFKC.String(system)))
	return strings.TrimPrefix(s, "urn:oid:")
}
