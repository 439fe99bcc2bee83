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
	// AnySystem marks a value that may be a member id of a system the
	// payload does not state, so the caller also looks it up under every
	// member id system. Such values are identifiers without system,
	// Coverage.subscriberId and Coverage.identifier of any system.
	AnySystem bool
	// Unreadable is set, with Identifier empty, for a conditional
	// reference whose criteria cannot be read (ConditionalIdentifiers).
	Unreadable bool
}

// PayloadIdentifiers returns the identifiers of body, in document order,
// once per distinct identifier:
//
//   - every JSON object that has a string member "value" and a string
//     member "system", or a string "value" and no system (AnySystem);
//   - every string member "subscriberId" (AnySystem), which only
//     Coverage has in R4;
//   - the identifiers of the Coverage.identifier list again, AnySystem;
//   - the member identifier search parameters (ConditionalIdentifiers) of
//     a string member "reference", "url", "valueUri", "valueUrl" or
//     "valueCanonical" that has a query, such as the conditional
//     references "Patient?identifier=SYSTEM|VALUE" and
//     "Patient?IDENTIFIER=SYSTEM|VALUE", and of "ifNoneExist".
//
// That is the shape of a FHIR Identifier wherever it sits: on a resource
// of any type, in an extension's valueIdentifier, in a
// Reference.identifier nested in another reference's extension, in a
// contained resource or a nested Bundle. The outbound patient walk reads
// only the patient elements of known types, so the caller checks these as
// well. ContactPoint and Coverage.class have the same shape, and a phone
// number or a group number is returned like an identifier.
//
// It returns an error for a body that is not valid JSON.
func PayloadIdentifiers(body []byte) ([]FoundIdentifier, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	var stack []*payloadFrame
	var out []FoundIdentifier
	seen := map[FoundIdentifier]bool{}
	add := func(f FoundIdentifier) {
		key := f
		key.Pointer = ""
		if !seen[key] {
			seen[key] = true
			out = append(out, f)
		}
	}
	for {
		tok, err := dec.ReadToken()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var parent *payloadFrame
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
			stack = append(stack, &payloadFrame{object: kind == '{', wantName: kind == '{', pointer: string(dec.StackPointer())})
		case '}', ']':
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !f.object {
				continue
			}
			for _, listed := range f.listed {
				if f.resourceType == "Coverage" {
					listed.AnySystem = true
					add(listed)
				}
			}
			found, ok := f.identifier()
			if !ok {
				continue
			}
			add(found)
			// An object in the "identifier" list of its grandparent.
			if len(stack) >= 2 && !stack[len(stack)-1].object && stack[len(stack)-2].name == "identifier" {
				owner := stack[len(stack)-2]
				owner.listed = append(owner.listed, found)
			}
		default:
			if parent == nil || !parent.object {
				continue
			}
			parent.wantName = true
			if kind != '"' {
				continue
			}
			s := tok.String()
			switch parent.name {
			case "system":
				parent.system = &s
			case "value":
				parent.value = &s
			case "resourceType":
				parent.resourceType = s
			case "subscriberId":
				add(FoundIdentifier{Pointer: parent.pointer + "/subscriberId", Identifier: Identifier{Value: s}, AnySystem: true})
			case "reference", "url", "valueUri", "valueUrl", "valueCanonical":
				if typ, query, ok := conditionalQuery(s); ok {
					addConditional(add, parent.pointer+"/"+parent.name, typ, query)
				}
			case "ifNoneExist":
				addConditional(add, parent.pointer+"/ifNoneExist", "", s)
			}
		}
	}
}

// payloadFrame is one open object or array of PayloadIdentifiers.
type payloadFrame struct {
	object       bool
	pointer      string
	name         string // member whose value comes next, in an object
	wantName     bool
	system       *string
	value        *string
	resourceType string
	// listed are the identifiers of this object's "identifier" list,
	// kept until the object closes and its resourceType is known.
	listed []FoundIdentifier
}

// identifier returns the identifier an object frame carries: its string
// value with its string system, or with no system (AnySystem). An empty
// value carries none.
func (f *payloadFrame) identifier() (FoundIdentifier, bool) {
	if f.value == nil || *f.value == "" {
		return FoundIdentifier{}, false
	}
	found := FoundIdentifier{Pointer: f.pointer, Identifier: Identifier{Value: *f.value}}
	if f.system != nil {
		found.System = *f.system
	}
	found.AnySystem = found.System == ""
	return found, true
}

// addConditional adds the identifiers that the member identifier search
// parameters of query name (ConditionalIdentifiers), or one Unreadable
// entry when they cannot be read. typ is the searched type, "" when the
// criteria do not state it.
func addConditional(add func(FoundIdentifier), pointer, typ, query string) {
	ids, err := ConditionalIdentifiers(typ, query)
	if err != nil {
		add(FoundIdentifier{Pointer: pointer, Unreadable: true})
		return
	}
	for _, id := range ids {
		add(FoundIdentifier{Pointer: pointer, Identifier: id.Identifier, AnySystem: id.AnySystem})
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
