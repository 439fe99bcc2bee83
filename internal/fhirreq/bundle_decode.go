package fhirreq

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strconv"
	"sync"

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

// rawRequest is entry.request as written. The decoder fills method and
// the spans; url and ifNoneExist are set from the spans when decoding ends.
type rawRequest struct {
	method, url, ifNoneExist string
	urlSpan, ifNoneExistSpan span
}

// span locates a string in the decoder's arena.
type span struct{ start, end int }

// bundleDecoder reads a Bundle token by token, in one pass and without
// reflection. The jsontext defaults reject duplicate member names and
// invalid UTF-8.
type bundleDecoder struct {
	body []byte
	dec  *jsontext.Decoder
	// scratch contains the entries while they are read, and the arena that
	// collects the strings the Bundle keeps (urls, fullUrls), so that
	// those become one string allocation rather than one each.
	scratch *scratch
}

var errStructure = errors.New("structure")

// scratch is the working storage of one decode, kept between Bundles in
// scratches so that the decoder's state stacks, the entry list and the
// string arena are allocated once rather than per request. release clears
// everything that refers to the last body.
type scratch struct {
	dec     *jsontext.Decoder
	entries []Entry
	arena   []byte
}

var scratches = sync.Pool{New: func() any { return &scratch{dec: jsontext.NewDecoder(noInput)} }}

// noInput is the reader a released decoder keeps, so that it keeps no
// reference to the last body. It is never read.
var noInput = new(bytes.Reader)

// maxKeptArena is the largest arena a released scratch keeps; a larger one,
// from an unusual Bundle, is left to the garbage collector.
const maxKeptArena = 64 << 10

func getScratch(body []byte) *scratch {
	s := scratches.Get().(*scratch)
	// A bytes.Buffer lets jsontext parse body in place instead of copying
	// it into a buffer of its own; nothing writes to it.
	s.dec.Reset(bytes.NewBuffer(body))
	return s
}

func (s *scratch) release() {
	s.dec.Reset(noInput)
	clear(s.entries)
	s.entries = s.entries[:0]
	s.arena = s.arena[:0]
	if cap(s.arena) > maxKeptArena {
		s.arena = nil
	}
	scratches.Put(s)
}

func decodeBundle(body []byte) (*Bundle, error) {
	s := getScratch(body)
	defer s.release()
	d := &bundleDecoder{body: body, dec: s.dec, scratch: s}
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
	text := string(d.scratch.arena)
	for i := range b.Entries {
		e := &b.Entries[i]
		e.FullURL = text[e.fullURL.start:e.fullURL.end]
		e.raw.url = text[e.raw.urlSpan.start:e.raw.urlSpan.end]
		e.raw.ifNoneExist = text[e.raw.ifNoneExistSpan.start:e.raw.ifNoneExistSpan.end]
	}
	return b, nil
}

// keep reads a string value into the arena and returns where it is.
func (d *bundleDecoder) keep() (span, error) {
	if d.dec.PeekKind() != '"' {
		return span{}, errStructure
	}
	b, err := d.stringValue()
	if err != nil {
		return span{}, err
	}
	start := len(d.scratch.arena)
	d.scratch.arena = append(d.scratch.arena, b...)
	return span{start, len(d.scratch.arena)}, nil
}

func (d *bundleDecoder) bundle() (*Bundle, error) {
	if err := d.open('{'); err != nil {
		return nil, err
	}
	b := &Bundle{}
	isBundle := false
	err := d.members(func(name []byte) error {
		var err error
		switch string(name) {
		case "resourceType":
			isBundle, err = d.isString("Bundle")
		case "type":
			b.Type, err = d.bundleType()
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
	if !isBundle {
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

// isString reads a string value and reports whether it is want.
func (d *bundleDecoder) isString(want string) (bool, error) {
	if d.dec.PeekKind() != '"' {
		return false, errStructure
	}
	b, err := d.stringValue()
	return err == nil && string(b) == want, err
}

// bundleType reads Bundle.type, returning the codes FHIR R4 defines as
// constants so that they cost no allocation.
func (d *bundleDecoder) bundleType() (string, error) {
	if d.dec.PeekKind() != '"' {
		return "", errStructure
	}
	b, err := d.stringValue()
	if err != nil {
		return "", err
	}
	for _, t := range bundleTypes {
		if string(b) == t {
			return t, nil
		}
	}
	return string(b), nil
}

var bundleTypes = []string{"document", "message", "transaction", "transaction-response", "batch",
	"batch-response", "history", "searchset", "collection"}

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
	// Entries are read into the scratch list, and copied once their number
	// is known.
	for d.dec.PeekKind() != ']' {
		n := len(d.scratch.entries)
		if n == MaxBundleEntries {
			return nil, badBundle("the Bundle has more than " + strconv.Itoa(MaxBundleEntries) + " entries")
		}
		d.scratch.entries = append(d.scratch.entries, Entry{Index: n})
		if err := d.entry(&d.scratch.entries[n]); err != nil {
			return nil, err
		}
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return nil, err
	}
	if len(d.scratch.entries) == 0 {
		return nil, nil
	}
	return slices.Clone(d.scratch.entries), nil
}

func (d *bundleDecoder) entry(e *Entry) error {
	if err := d.open('{'); err != nil {
		return err
	}
	return d.members(func(name []byte) error {
		var err error
		switch string(name) {
		case "fullUrl":
			e.fullURL, err = d.keep()
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
	raw := &e.raw
	e.hasRaw = true
	return d.members(func(name []byte) error {
		var err error
		switch string(name) {
		case "method":
			raw.method, err = d.method()
		case "url":
			raw.urlSpan, err = d.keep()
		case "ifNoneExist":
			raw.ifNoneExistSpan, err = d.keep()
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

// resource reads entry.resource: it records resourceType and id of the
// top level, skips (and so validates) every other member, and keeps the raw
// bytes. An entry is flagged as nested when the resource is a Bundle or has
// a "resourceType": "Bundle" member at any depth. containsBundle looks for
// such a member only when the bytes could spell it.
func (d *bundleDecoder) resource(e *Entry) error {
	if null, err := d.isNull(); null || err != nil {
		return err
	}
	start := d.dec.InputOffset()
	if err := d.open('{'); err != nil {
		return badBundle(e.Path() + ".resource is not a FHIR resource")
	}
	err := d.members(func(name []byte) error {
		isType, isID := string(name) == "resourceType", string(name) == "id"
		if !isType && !isID || d.dec.PeekKind() != '"' {
			return d.dec.SkipValue()
		}
		s, err := d.stringValue()
		if err != nil {
			return err
		}
		if isType {
			e.ResourceType = internType(s)
		} else {
			e.ResourceID = string(s)
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.Resource = jsontext.Value(bytes.TrimLeft(d.body[start:d.dec.InputOffset()], " \t\r\n:"))
	if e.ResourceType == "" {
		return badBundle(e.Path() + ".resource has no resourceType")
	}
	e.NestedBundle = e.ResourceType == "Bundle"
	if !e.NestedBundle {
		if e.NestedBundle, err = containsBundle(e.Resource); err != nil {
			return err
		}
	}
	return nil
}

// method reads entry.request.method. The methods FHIR defines are returned
// as constants, so that the common case allocates nothing.
func (d *bundleDecoder) method() (string, error) {
	if d.dec.PeekKind() != '"' {
		return "", errStructure
	}
	b, err := d.stringValue()
	if err != nil {
		return "", err
	}
	switch string(b) {
	case "GET":
		return "GET", nil
	case "HEAD":
		return "HEAD", nil
	case "POST":
		return "POST", nil
	case "PUT":
		return "PUT", nil
	case "DELETE":
		return "DELETE", nil
	case "PATCH":
		return "PATCH", nil
	}
	return string(b), nil
}

// internType returns a resource type name without allocating when it is a
// FHIR R4 type.
func internType(b []byte) string {
	if t, ok := canonicalTypes[string(b)]; ok {
		return t
	}
	return string(b)
}

// canonicalTypes maps every resource type name to itself, for internType.
var canonicalTypes = func() map[string]string {
	m := make(map[string]string, len(resourceTypes))
	for t := range resourceTypes {
		m[t] = t
	}
	return m
}()
