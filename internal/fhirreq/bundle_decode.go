package fhirreq

import (
	"bytes"
	"errors"
	"io"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
)

// The members FHIR R4 defines for Bundle, Bundle.entry and
// Bundle.entry.request that the decoder skips. Any member in neither these
// sets nor the ones it reads is an error.
var (
	bundleSkipped = names("id", "_id", "meta", "implicitRules", "_implicitRules", "language", "_language",
		"identifier", "_type", "timestamp", "_timestamp", "total", "_total", "link", "signature")
	entrySkipped   = names("id", "extension", "link", "_fullUrl")
	requestSkipped = names("id", "extension", "_method", "_url", "ifNoneMatch", "_ifNoneMatch",
		"ifModifiedSince", "_ifModifiedSince", "ifMatch", "_ifMatch", "_ifNoneExist")
)

func names(list ...string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, n := range list {
		m[n] = true
	}
	return m
}

// rawRequest is entry.request as written.
type rawRequest struct {
	method, url, ifNoneExist string
}

// bundleDecoder reads a Bundle token by token, in one pass and without
// reflection. The jsontext defaults reject duplicate member names and
// invalid UTF-8.
type bundleDecoder struct {
	body []byte
	dec  *jsontext.Decoder
}

var errStructure = errors.New("structure")

func decodeBundle(body []byte) (*Bundle, error) {
	d := &bundleDecoder{body: body, dec: jsontext.NewDecoder(bytes.NewReader(body))}
	b, err := d.bundle()
	if err != nil {
		var fe *Error
		if errors.As(err, &fe) {
			return nil, err
		}
		return nil, badBundle("the Bundle is not valid FHIR JSON: it is malformed, repeats a member or has a value of the wrong type")
	}
	if _, err := d.dec.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, badBundle("the body has data after the Bundle")
	}
	return b, nil
}

func (d *bundleDecoder) bundle() (*Bundle, error) {
	if err := d.open('{'); err != nil {
		return nil, err
	}
	b := &Bundle{}
	resourceType := ""
	err := d.members(func(name []byte) error {
		var err error
		switch string(name) {
		case "resourceType":
			resourceType, err = d.str()
		case "type":
			b.Type, err = d.str()
		case "entry":
			b.Entries, err = d.entries()
		default:
			if !bundleSkipped[string(name)] {
				return badBundle("the Bundle has a member FHIR does not define for it")
			}
			err = d.dec.SkipValue()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if resourceType != "Bundle" {
		return nil, badBundle("the body is not a Bundle")
	}
	return b, nil
}

// members calls fn for each member name of the object just opened, with the
// decoder positioned before the member's value, and consumes the closing
// brace. The name passed to fn is valid only until fn reads the value.
func (d *bundleDecoder) members(fn func(name []byte) error) error {
	for d.dec.PeekKind() != '}' {
		name, err := d.stringValue()
		if err != nil {
			return err
		}
		if err := fn(name); err != nil {
			return err
		}
	}
	_, err := d.dec.ReadToken()
	return err
}

// stringValue reads a string (a member name or value) and returns it
// unquoted. Unless the string has escapes, the result is borrowed from the
// decoder's buffer and is valid only until the next read. Borrowing keeps
// the walk over resources free of an allocation per string.
func (d *bundleDecoder) stringValue() ([]byte, error) {
	v, err := d.dec.ReadValue()
	if err != nil {
		return nil, err
	}
	if v.Kind() != '"' {
		return nil, errStructure
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1], nil
	}
	return jsontext.AppendUnquote(nil, v)
}

func (d *bundleDecoder) open(kind jsontext.Kind) error {
	tok, err := d.dec.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != kind {
		return errStructure
	}
	return nil
}

func (d *bundleDecoder) str() (string, error) {
	tok, err := d.dec.ReadToken()
	if err != nil {
		return "", err
	}
	if tok.Kind() != '"' {
		return "", errStructure
	}
	return tok.String(), nil
}

// isNull consumes a null value and reports whether there was one.
func (d *bundleDecoder) isNull() (bool, error) {
	if d.dec.PeekKind() != 'n' {
		return false, nil
	}
	_, err := d.dec.ReadToken()
	return true, err
}

func (d *bundleDecoder) entries() ([]Entry, error) {
	if err := d.open('['); err != nil {
		return nil, err
	}
	var out []Entry
	for d.dec.PeekKind() != ']' {
		if len(out) == MaxBundleEntries {
			return nil, badBundle("the Bundle has more than " + strconv.Itoa(MaxBundleEntries) + " entries")
		}
		out = append(out, Entry{Index: len(out)})
		if err := d.entry(&out[len(out)-1]); err != nil {
			return nil, err
		}
	}
	_, err := d.dec.ReadToken()
	return out, err
}

func (d *bundleDecoder) entry(e *Entry) error {
	if err := d.open('{'); err != nil {
		return err
	}
	return d.members(func(name []byte) error {
		var err error
		switch string(name) {
		case "fullUrl":
			e.FullURL, err = d.str()
		case "resource":
			err = d.resource(e)
		case "request":
			err = d.request(e)
		case "response":
			e.HasResponse, err = d.present()
		case "search":
			e.HasSearch, err = d.present()
		case "modifierExtension":
			// A modifier extension changes what the entry means to a
			// server that understands it, which the policy cannot see.
			err = d.refuseModifier(e.Path())
		default:
			if !entrySkipped[string(name)] {
				return badBundle(e.Path() + " has a member FHIR does not define for an entry")
			}
			err = d.dec.SkipValue()
		}
		return err
	})
}

// present skips a value and reports whether it was other than null.
func (d *bundleDecoder) present() (bool, error) {
	if null, err := d.isNull(); null || err != nil {
		return false, err
	}
	return true, d.dec.SkipValue()
}

func (d *bundleDecoder) refuseModifier(at string) error {
	if null, err := d.isNull(); null || err != nil {
		return err
	}
	return badBundle(at + " carries a modifierExtension, which is not accepted")
}

func (d *bundleDecoder) request(e *Entry) error {
	if null, err := d.isNull(); null || err != nil {
		return err
	}
	if err := d.open('{'); err != nil {
		return err
	}
	raw := &rawRequest{}
	e.raw = raw
	return d.members(func(name []byte) error {
		var err error
		switch string(name) {
		case "method":
			raw.method, err = d.str()
		case "url":
			raw.url, err = d.str()
		case "ifNoneExist":
			raw.ifNoneExist, err = d.str()
		case "modifierExtension":
			err = d.refuseModifier(e.Path() + ".request")
		default:
			if !requestSkipped[string(name)] {
				return badBundle(e.Path() + ".request has a member FHIR does not define for it")
			}
			err = d.dec.SkipValue()
		}
		return err
	})
}

// resource walks entry.resource once: it records resourceType and id of the
// top level, flags a "resourceType": "Bundle" member at any depth, and
// keeps the raw bytes.
func (d *bundleDecoder) resource(e *Entry) error {
	if null, err := d.isNull(); null || err != nil {
		return err
	}
	start := d.dec.InputOffset()
	if err := d.open('{'); err != nil {
		return badBundle(e.Path() + ".resource is not a FHIR resource")
	}
	depth, field := 1, ""
	for depth > 0 {
		if d.dec.PeekKind() == '"' {
			str, err := d.stringValue()
			if err != nil {
				return err
			}
			field = d.stringToken(e, str, depth, field)
			continue
		}
		tok, err := d.dec.ReadToken()
		if err != nil {
			return err
		}
		switch tok.Kind() {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
		field = ""
	}
	e.Resource = jsontext.Value(bytes.TrimLeft(d.body[start:d.dec.InputOffset()], " \t\r\n:"))
	if e.ResourceType == "" {
		return badBundle(e.Path() + ".resource has no resourceType")
	}
	return nil
}

// stringToken handles one string inside a resource. field is the member
// name the string is the value of, when that name matters; the result is
// the field for the next token.
func (d *bundleDecoder) stringToken(e *Entry, s []byte, depth int, field string) string {
	kind, n := d.dec.StackIndex(d.dec.StackDepth())
	if kind == '{' && n%2 == 1 { // a member name
		switch {
		case string(s) == "resourceType":
			return "resourceType"
		case depth == 1 && string(s) == "id":
			return "id"
		}
		return ""
	}
	if field == "resourceType" && string(s) == "Bundle" {
		e.NestedBundle = true
	}
	if depth == 1 {
		switch field {
		case "resourceType":
			e.ResourceType = string(s)
		case "id":
			e.ResourceID = string(s)
		}
	}
	return ""
}
