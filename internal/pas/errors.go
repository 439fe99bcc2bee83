package pas

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// ErrInvalid marks a document that is not a well-formed PAS Bundle of the
// kind expected, such as a wrong resource type, a missing required element
// or a broken reference. A server responds with 400.
var ErrInvalid = errors.New("invalid PAS bundle")

// ErrBusinessRule marks a well-formed Bundle that requests something this
// package does not handle, such as a Claim whose use is not
// preauthorization. A server responds with 422.
var ErrBusinessRule = errors.New("PAS business rule not met")

// BundleError is the rejection of a Bundle, with its location and reason.
// Reasons are fixed text without identifiers, references or codes. Paths
// hold element names and indexes, and a member name that is not a
// plausible FHIR element name is printed as "?".
type BundleError struct {
	// Path is a FHIRPath-like location, such as
	// "Bundle.entry[0].resource.use".
	Path   string
	Reason string
	Err    error // ErrInvalid or ErrBusinessRule
}

func (e *BundleError) Error() string { return "pas: " + e.Path + ": " + e.Reason }

// Unwrap returns ErrInvalid or ErrBusinessRule.
func (e *BundleError) Unwrap() error { return e.Err }

func invalid(path, format string, args ...any) *BundleError {
	return &BundleError{Path: path, Reason: fmt.Sprintf(format, args...), Err: ErrInvalid}
}

func businessRule(path, format string, args ...any) *BundleError {
	return &BundleError{Path: path, Reason: fmt.Sprintf(format, args...), Err: ErrBusinessRule}
}

func entryPath(i int) string { return "Bundle.entry[" + itoa(i) + "].resource" }

func itoa(i int) string { return strconv.Itoa(i) }

// decodeError turns a JSON decoding error into a BundleError located at
// the element whose type was wrong. The decoder's own message is dropped
// because it may quote the offending value.
func decodeError(root string, err error) *BundleError {
	var se *json.SemanticError
	if errors.As(err, &se) {
		return invalid(pointerPath(root, se.JSONPointer), "value has the wrong JSON type")
	}
	return invalid(root, "unreadable JSON")
}

// pointerPath converts a JSON Pointer below root into FHIRPath-like
// notation: "/item/0/sequence" becomes "root.item[0].sequence". Member
// names come from the document, so a name that is not a plausible FHIR
// element name is printed as "?".
func pointerPath(root string, p jsontext.Pointer) string {
	var b strings.Builder
	b.WriteString(root)
	for tok := range p.Tokens() {
		switch {
		case isIndex(tok):
			b.WriteString("[" + tok + "]")
		case isElementName(tok):
			b.WriteString("." + tok)
		default:
			b.WriteString(".?")
		}
	}
	return b.String()
}

func isIndex(tok string) bool {
	if tok == "" || len(tok) > 9 {
		return false
	}
	for _, c := range tok {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isElementName reports whether tok looks like a FHIR JSON member name:
// ASCII letters, digits and "_", at most 64 bytes.
func isElementName(tok string) bool {
	if tok == "" || len(tok) > 64 {
		return false
	}
	for _, c := range tok {
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}
