// Package fhirreq parses an HTTP request addressed to a FHIR base into the
// FHIR interaction it performs, once, so that policy decides on FHIR
// semantics rather than on URL patterns.
//
// Only canonical requests parse. Dot segments, encoded slashes or dots,
// empty segments, matrix parameters, resource types that differ from a known
// type only in case, method-override headers and methods FHIR does not define
// are rejected with an error; none is normalised into something that might
// then be allowed. The query string is parsed as strictly (see ParseQuery),
// and so is every entry of a batch, transaction or operation Bundle (see
// ParseBundle), by the same code.
//
// The package is pure: it reads the values it is given and does no I/O.
package fhirreq

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Kind is a FHIR RESTful interaction.
type Kind string

const (
	Capabilities      Kind = "capabilities"
	Read              Kind = "read"
	VRead             Kind = "vread"
	SearchType        Kind = "search-type"
	SearchSystem      Kind = "search-system"
	Create            Kind = "create"
	Update            Kind = "update"
	Patch             Kind = "patch"
	Delete            Kind = "delete"
	HistoryInstance   Kind = "history-instance"
	HistoryType       Kind = "history-type"
	HistorySystem     Kind = "history-system"
	OperationSystem   Kind = "operation-system"
	OperationType     Kind = "operation-type"
	OperationInstance Kind = "operation-instance"
	BatchTransaction  Kind = "batch-transaction"
)

// Request is the FHIR view of one HTTP request.
type Request struct {
	Kind      Kind
	Type      string // resource type, empty at system level
	ID        string // resource id, for instance-level interactions
	VersionID string // for vread
	Operation string // operation name without "$"
	Method    string

	// Query contains the query string's parameters, merged with the form body
	// of a POST _search. It is never nil on a parsed request.
	Query *Query
	// Conditional marks a conditional update, patch or delete: Type is set,
	// ID is empty and Query contains the match criteria.
	Conditional bool
	// IfNoneExist contains the criteria of a conditional create, from the
	// If-None-Exist header (or Bundle.entry.request.ifNoneExist); nil when
	// absent.
	IfNoneExist *Query
}

// Error is a request that cannot be accepted as a FHIR interaction. Status is
// the HTTP status the gateway answers with.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return "fhirreq: " + e.Reason }

// ErrNotFHIR marks a path outside the FHIR base.
var ErrNotFHIR = errors.New("fhirreq: path is not under the FHIR base")

var overrideHeaders = []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"}

// Parse classifies r, whose URL path must start with base (for example
// "/fhir"). It reads the method, the escaped path, the query string and a
// few headers, never the body. It rejects a POST _search, whose parameters
// are in the body: parse that with ParseWithBody.
func Parse(r *http.Request, base string) (*Request, error) {
	return parseHTTP(r, base, nil, false)
}

// ParseWithBody is Parse for a request whose body the caller has read. The
// body is used only by a POST _search, as an
// application/x-www-form-urlencoded form whose parameters join those of the
// query string under the same rules (a single-valued parameter may appear
// once across both).
func ParseWithBody(r *http.Request, base string, body []byte) (*Request, error) {
	return parseHTTP(r, base, body, true)
}

func parseHTTP(r *http.Request, base string, body []byte, haveBody bool) (*Request, error) {
	for _, h := range overrideHeaders {
		if _, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
			return nil, &Error{http.StatusBadRequest, "method-override headers are not accepted"}
		}
	}
	segs, err := pathSegments(r.URL.EscapedPath(), base)
	if err != nil {
		return nil, err
	}
	req, err := (&Request{}).classify(r.Method, segs, r.URL.RawQuery != "")
	if err != nil {
		return nil, err
	}

	raw := r.URL.RawQuery
	if isSearchPost(r.Method, segs) {
		if !haveBody {
			return nil, &Error{http.StatusBadRequest, "POST _search must be parsed with its form body"}
		}
		form, err := searchForm(r.Header.Get("Content-Type"), body)
		if err != nil {
			return nil, err
		}
		raw = joinQuery(raw, form)
	}
	if req.Query, err = ParseQuery(raw); err != nil {
		return nil, err
	}
	if err := req.conditionalCreate(r.Header.Values("If-None-Exist")); err != nil {
		return nil, err
	}
	return req, nil
}

// pathSegments splits the path below base, rejecting non-canonical forms.
func pathSegments(escaped, base string) ([]string, error) {
	rest, ok := strings.CutPrefix(escaped, base)
	if !ok || (rest != "" && rest[0] != '/') {
		return nil, ErrNotFHIR
	}
	return splitSegments(nil, strings.TrimPrefix(rest, "/"))
}

// splitSegments appends the "/"-separated segments of path to dst,
// rejecting non-canonical forms. An empty path has no segments.
func splitSegments(dst []string, path string) ([]string, error) {
	if path == "" {
		return dst, nil
	}
	for s := range strings.SplitSeq(path, "/") {
		switch {
		case s == "":
			return nil, &Error{http.StatusBadRequest, "empty path segment"}
		case s == "." || s == "..":
			return nil, &Error{http.StatusBadRequest, "dot segment in path"}
		case pathEscapes.in(s):
			return nil, &Error{http.StatusBadRequest, "encoded characters or matrix parameters in path"}
		}
		dst = append(dst, s)
	}
	return dst, nil
}

// classify sets the interaction of req, which must be zero, from the
// method and path segments, and returns req.
func (req *Request) classify(method string, segs []string, hasQuery bool) (*Request, error) {
	if !knownMethod(method) {
		return nil, &Error{http.StatusMethodNotAllowed, fmt.Sprintf("method %q is not a FHIR interaction", method)}
	}
	req.Method = method
	if len(segs) == 0 {
		return req.system(method)
	}
	if op, ok := operationName(segs[0]); ok {
		return req.operation(OperationSystem, "", "", op, len(segs) == 1)
	}
	if segs[0] == "metadata" || segs[0] == "_history" || segs[0] == "_search" {
		return req.systemPath(method, segs)
	}
	typ, err := resourceType(segs[0])
	if err != nil {
		return nil, err
	}
	req.Type = typ
	if len(segs) == 1 && hasQuery && isConditionalMethod(method) {
		req.Kind, req.Conditional = conditionalKinds[method], true
		return req, nil
	}
	return req.typed(method, segs[1:])
}

func (req *Request) system(method string) (*Request, error) {
	switch method {
	case http.MethodGet:
		req.Kind = SearchSystem
	case http.MethodPost:
		req.Kind = BatchTransaction
	default:
		return nil, methodNotAllowed(method, "the FHIR base")
	}
	return req, nil
}

func (req *Request) systemPath(method string, segs []string) (*Request, error) {
	if len(segs) != 1 {
		return nil, notFound()
	}
	switch {
	case segs[0] == "metadata" && method == http.MethodGet:
		req.Kind = Capabilities
	case segs[0] == "_history" && method == http.MethodGet:
		req.Kind = HistorySystem
	case segs[0] == "_search" && method == http.MethodPost:
		req.Kind = SearchSystem
	default:
		return nil, methodNotAllowed(method, segs[0])
	}
	return req, nil
}

// The interaction each method performs on each kind of path.
var (
	typeKinds            = map[string]Kind{http.MethodGet: SearchType, http.MethodPost: Create}
	typeSearchKinds      = map[string]Kind{http.MethodPost: SearchType}
	typeHistoryKinds     = map[string]Kind{http.MethodGet: HistoryType}
	instanceKinds        = map[string]Kind{http.MethodGet: Read, http.MethodPut: Update, http.MethodPatch: Patch, http.MethodDelete: Delete}
	instanceHistoryKinds = map[string]Kind{http.MethodGet: HistoryInstance}
	versionKinds         = map[string]Kind{http.MethodGet: VRead}
)

// typed classifies the segments after a resource type.
func (req *Request) typed(method string, segs []string) (*Request, error) {
	switch len(segs) {
	case 0:
		return req.byMethod(method, typeKinds)
	case 1:
		if op, ok := operationName(segs[0]); ok {
			return req.operation(OperationType, req.Type, "", op, true)
		}
		if segs[0] == "_search" {
			return req.byMethod(method, typeSearchKinds)
		}
		if segs[0] == "_history" {
			return req.byMethod(method, typeHistoryKinds)
		}
		if err := checkID(segs[0]); err != nil {
			return nil, err
		}
		req.ID = segs[0]
		return req.byMethod(method, instanceKinds)
	}
	if err := checkID(segs[0]); err != nil {
		return nil, err
	}
	req.ID = segs[0]
	if op, ok := operationName(segs[1]); ok && len(segs) == 2 {
		return req.operation(OperationInstance, req.Type, req.ID, op, true)
	}
	if segs[1] != "_history" {
		return nil, notFound()
	}
	if len(segs) == 2 {
		return req.byMethod(method, instanceHistoryKinds)
	}
	if len(segs) == 3 {
		if err := checkID(segs[2]); err != nil {
			return nil, err
		}
		req.VersionID = segs[2]
		return req.byMethod(method, versionKinds)
	}
	return nil, notFound()
}

func (req *Request) byMethod(method string, kinds map[string]Kind) (*Request, error) {
	k, ok := kinds[method]
	if !ok {
		return nil, methodNotAllowed(method, "this path")
	}
	req.Kind = k
	return req, nil
}

func (req *Request) operation(kind Kind, typ, id, op string, last bool) (*Request, error) {
	if !last {
		return nil, notFound()
	}
	if req.Method != http.MethodGet && req.Method != http.MethodPost {
		return nil, methodNotAllowed(req.Method, "an operation")
	}
	req.Kind, req.Type, req.ID, req.Operation = kind, typ, id, op
	return req, nil
}

func operationName(seg string) (string, bool) {
	name, ok := strings.CutPrefix(seg, "$")
	if !ok {
		return "", false
	}
	if name == "" || len(name) > 64 {
		return "", false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", false
		}
	}
	return name, true
}

// checkID enforces the FHIR id syntax: [A-Za-z0-9\-\.]{1,64}.
func checkID(id string) error {
	if len(id) == 0 || len(id) > 64 {
		return &Error{http.StatusBadRequest, "invalid resource id"}
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return &Error{http.StatusBadRequest, "invalid resource id"}
		}
	}
	return nil
}

func knownMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

func methodNotAllowed(method, what string) error {
	return &Error{http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s", method, what)}
}

func notFound() error { return &Error{http.StatusNotFound, "no FHIR interaction at this path"} }

// lowerTypes maps the lower-cased spelling of every resource type to the
// canonical one, so that case variants are recognised and rejected.
var lowerTypes = func() map[string]string {
	m := make(map[string]string, len(resourceTypes))
	for t := range resourceTypes {
		m[strings.ToLower(t)] = t
	}
	return m
}()

// IsResourceType reports whether t is a concrete FHIR R4 resource type,
// spelled exactly.
func IsResourceType(t string) bool { return resourceTypes[t] }

func resourceType(seg string) (string, error) {
	if resourceTypes[seg] {
		return seg, nil
	}
	if _, ok := lowerTypes[strings.ToLower(seg)]; ok {
		return "", &Error{http.StatusBadRequest, "resource type is not spelled with its canonical case"}
	}
	return "", &Error{http.StatusNotFound, "unknown resource type"}
}
