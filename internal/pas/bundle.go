package pas

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// bundleJSON holds the Bundle elements this package reads. Decoding uses
// the JSON v2 rules: member names match case-sensitively and duplicate
// names are rejected, so no differently-cased twin of an element can hide
// beside it.
type bundleJSON struct {
	ResourceType string         `json:"resourceType"`
	Meta         metaJSON       `json:"meta"`
	Identifier   jsontext.Value `json:"identifier"`
	Type         string         `json:"type"`
	Timestamp    string         `json:"timestamp"`
	Entry        []entryJSON    `json:"entry"`
}

type metaJSON struct {
	Profile []string `json:"profile"`
}

type entryJSON struct {
	FullURL  string         `json:"fullUrl"`
	Resource jsontext.Value `json:"resource"`
	Search   jsontext.Value `json:"search"`
	Request  jsontext.Value `json:"request"`
	Response jsontext.Value `json:"response"`
}

type headerJSON struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
}

// present reports whether an optional element was given a non-null value.
func present(v jsontext.Value) bool {
	return len(v) > 0 && !bytes.Equal(v, []byte("null"))
}

// decodeBundle checks the rules every PAS Bundle shares (a collection of
// entries, each with a unique fullUrl and a resource, no search, request
// or response parts) and indexes the entries.
func decodeBundle(body []byte) (*bundleJSON, *bundleIndex, error) {
	// Decode in one pass. Another resource's elements may share a name
	// with a Bundle element of another type, so when decoding fails, read
	// resourceType alone to report a resource that is not a Bundle as such.
	var b bundleJSON
	if err := unmarshalAliasing(body, &b); err != nil {
		var head struct {
			ResourceType string `json:"resourceType"`
		}
		if json.Unmarshal(body, &head) == nil && head.ResourceType != "Bundle" {
			return nil, nil, errNotBundle()
		}
		return nil, nil, decodeError("Bundle", err)
	}
	if b.ResourceType != "Bundle" {
		return nil, nil, errNotBundle()
	}
	if err := checkCollection(b.Type, len(b.Entry)); err != nil {
		return nil, nil, err
	}

	ix := newBundleIndex(len(b.Entry))
	var scan headerScanner
	for i, e := range b.Entry {
		entry, err := checkEntry(i, e, &scan)
		if err != nil {
			return nil, nil, err
		}
		if err := ix.add(entry); err != nil {
			return nil, nil, err
		}
	}
	return &b, ix, nil
}

// checkCollection applies the Bundle-level rules of a PAS request: a
// collection with at least one entry.
func checkCollection(bundleType string, entries int) error {
	if bundleType != "collection" {
		return invalid("Bundle.type", "must be collection")
	}
	if entries == 0 {
		return invalid("Bundle.entry", "the Bundle has no entries")
	}
	return nil
}

// checkEntryParts applies the entry rules of a collection: a fullUrl, a
// resource, and no search, request or response part.
func checkEntryParts(i int, fullURL string, hasResource, hasOtherPart bool) error {
	at := "Bundle.entry[" + itoa(i) + "]"
	switch {
	case fullURL == "":
		return invalid(at+".fullUrl", "missing")
	case !hasResource:
		return invalid(at+".resource", "missing")
	case hasOtherPart:
		return invalid(at, "entries of a collection carry no search, request or response")
	}
	return nil
}

func errNotBundle() error {
	return invalid("Bundle.resourceType", "the resource is not a Bundle")
}

func checkEntry(i int, e entryJSON, scan *headerScanner) (Entry, error) {
	hasOtherPart := present(e.Search) || present(e.Request) || present(e.Response)
	if err := checkEntryParts(i, e.FullURL, present(e.Resource), hasOtherPart); err != nil {
		return Entry{}, err
	}
	h, ok := scan.header(e.Resource)
	if !ok {
		if err := json.Unmarshal(e.Resource, &h); err != nil {
			return Entry{}, decodeError(entryPath(i), err)
		}
	}
	if h.ResourceType == "" {
		return Entry{}, invalid(entryPath(i)+".resourceType", "missing")
	}
	return Entry{Index: i, FullURL: e.FullURL, Type: h.ResourceType, ID: h.ID, Resource: e.Resource}, nil
}

// headerScanner reads resourceType and id from the resources of one
// Bundle, reusing its decoder from one resource to the next.
type headerScanner struct {
	buf bytes.Buffer
	dec jsontext.Decoder
}

// header reads resourceType and id from a resource that decoding the
// Bundle has already checked as JSON, so it stops at the last of the two
// instead of reading the whole resource as json.Unmarshal would. It
// returns false for a resource that is not an object, a member name with
// escapes, or a resourceType or id that is not a JSON string. The caller
// then decodes with json.Unmarshal, which reports the error or the value.
func (s *headerScanner) header(resource jsontext.Value) (headerJSON, bool) {
	var h headerJSON
	s.buf = *bytes.NewBuffer(resource)
	dec := &s.dec
	dec.Reset(&s.buf) // reads the buffer in place, not copied
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return h, false
	}
	var haveType, haveID bool
	for !haveType || !haveID {
		if dec.PeekKind() == '}' {
			return h, true
		}
		name, err := dec.ReadValue()
		if err != nil {
			return h, false
		}
		var into *string
		switch string(name) {
		case `"resourceType"`:
			into, haveType = &h.ResourceType, true
		case `"id"`:
			into, haveID = &h.ID, true
		default:
			// An escaped name may still spell one of the two.
			if bytes.IndexByte(name, '\\') >= 0 {
				return h, false
			}
			if err := dec.SkipValue(); err != nil {
				return h, false
			}
			continue
		}
		tok, err := dec.ReadToken()
		if err != nil || tok.Kind() != '"' {
			return h, false
		}
		*into = tok.String()
	}
	return h, true
}

// bundleIndex resolves references between the entries of one Bundle.
type bundleIndex struct {
	entries  []Entry
	byURL    map[string]int
	byTypeID map[string][]int
}

func newBundleIndex(capacity int) *bundleIndex {
	return &bundleIndex{entries: make([]Entry, 0, capacity), byURL: map[string]int{}, byTypeID: map[string][]int{}}
}

// add appends entry, whose Index must be its position in the Bundle, and
// rejects a fullUrl that an earlier entry already has.
func (ix *bundleIndex) add(entry Entry) error {
	if _, dup := ix.byURL[entry.FullURL]; dup {
		return invalid("Bundle.entry["+itoa(entry.Index)+"].fullUrl", "the same fullUrl appears on an earlier entry")
	}
	ix.byURL[entry.FullURL] = entry.Index
	if entry.ID != "" {
		key := entry.Type + "/" + entry.ID
		ix.byTypeID[key] = append(ix.byTypeID[key], entry.Index)
	}
	ix.entries = append(ix.entries, entry)
	return nil
}

// resolve finds the entry that ref, written in entry from, points to:
//
//   - an absolute reference (with a scheme) equal to an entry's fullUrl
//     is that entry, and any other absolute reference does not resolve;
//   - a relative "Type/id" (optionally "/_history/v") is appended to the
//     RESTful base of the referring entry's fullUrl and must then equal a
//     fullUrl. It never matches a relative fullUrl as written, as FHIR
//     readers do not, so the payer reads the entry the gateway checked;
//   - when the referring fullUrl has no RESTful base (a urn:uuid), a
//     relative reference resolves only if exactly one entry has that type
//     and id.
func (ix *bundleIndex) resolve(from int, ref string) (*Entry, bool) {
	if strings.Contains(ref, ":") {
		i, ok := ix.byURL[ref]
		if !ok {
			return nil, false
		}
		return &ix.entries[i], true
	}
	typeID, ok := relativeTypeID(ref)
	if !ok {
		return nil, false
	}
	if base := restBase(ix.entries[from].FullURL); base != "" {
		i, ok := ix.byURL[base+typeID]
		if !ok {
			return nil, false
		}
		return &ix.entries[i], true
	}
	if found := ix.byTypeID[typeID]; len(found) == 1 {
		return &ix.entries[found[0]], true
	}
	return nil, false
}

// relativeTypeID returns "Type/id" for "Type/id" or "Type/id/_history/v".
func relativeTypeID(ref string) (string, bool) {
	parts := strings.Split(ref, "/")
	if len(parts) == 4 && parts[2] == "_history" && parts[3] != "" {
		parts = parts[:2]
	}
	if len(parts) != 2 || !isResourceType(parts[0]) || parts[1] == "" {
		return "", false
	}
	return parts[0] + "/" + parts[1], true
}

// restBase returns "http://host/fhir/" for a fullUrl such as
// "http://host/fhir/Claim/123", or "" when the fullUrl is not of that form.
func restBase(fullURL string) string {
	if !strings.HasPrefix(fullURL, "http://") && !strings.HasPrefix(fullURL, "https://") {
		return ""
	}
	idSlash := strings.LastIndexByte(fullURL, '/')
	if idSlash <= 0 {
		return ""
	}
	typeSlash := strings.LastIndexByte(fullURL[:idSlash], '/')
	if typeSlash < 0 || !isResourceType(fullURL[typeSlash+1:idSlash]) {
		return ""
	}
	return fullURL[:typeSlash+1]
}

func isResourceType(s string) bool {
	return s != "" && s[0] >= 'A' && s[0] <= 'Z' && isElementName(s)
}

// references returns every Reference.reference string inside a resource
// with the JSON Pointer of the Reference element that holds it, in
// document order. The resource must come from a Bundle that decodeBundle
// accepted, which rejects duplicate member names, so the scan skips the
// per-object name sets that checking them again would allocate.
func references(resource jsontext.Value) ([]reference, error) {
	// The buffer is read in place, not copied.
	dec := jsontext.NewDecoder(bytes.NewBuffer(resource), jsontext.AllowDuplicateNames(true))
	var refs []reference
	// afterName is set while the token just read is the member name
	// "reference", so that the pointer, which costs more than the rest of
	// the scan, is built only for the value that follows it.
	afterName := false
	for {
		tok, err := dec.ReadToken()
		if errors.Is(err, io.EOF) {
			return refs, nil
		}
		if err != nil {
			return nil, err
		}
		valueOfReference := afterName
		afterName = false
		if tok.Kind() != '"' {
			continue
		}
		// Inside an object, the length is odd right after a member name
		// and even right after a member value.
		kind, n := dec.StackIndex(dec.StackDepth())
		switch {
		case kind != '{':
		case n%2 == 1:
			afterName = tok.String() == "reference"
		case valueOfReference:
			refs = append(refs, reference{at: dec.StackPointer().Parent(), value: tok.String()})
		}
	}
}

type reference struct {
	at    jsontext.Pointer
	value string
}

// closure returns the start entries followed by every entry they reach
// through references that resolve inside the Bundle, each once, in the
// order found.
func (ix *bundleIndex) closure(start ...*Entry) []*Entry {
	seen := map[int]bool{}
	var out []*Entry
	queue := append([]*Entry(nil), start...)
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		if e == nil || seen[e.Index] {
			continue
		}
		seen[e.Index] = true
		out = append(out, e)

		refs, err := references(e.Resource)
		if err != nil {
			continue
		}
		for _, r := range refs {
			if target, ok := ix.resolve(e.Index, r.value); ok && !seen[target.Index] {
				queue = append(queue, target)
			}
		}
	}
	return out
}

func hasProfile(profiles []string, want ...string) bool {
	for _, p := range profiles {
		p, _, _ = strings.Cut(p, "|")
		for _, w := range want {
			if p == w {
				return true
			}
		}
	}
	return false
}
