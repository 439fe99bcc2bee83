// Package outcome builds FHIR R4 OperationOutcome resources, the body of every
// refusal Gatehouse and its built-in payer service send.
//
// Messages placed in an OperationOutcome travel to the partner, so they must
// name the rule that failed and never echo request content: no identifiers,
// no query strings, no token text.
package outcome

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// Severity is the FHIR issue-severity code.
type Severity string

const (
	Fatal       Severity = "fatal"
	Error       Severity = "error"
	Warning     Severity = "warning"
	Information Severity = "information"
)

// Code is a FHIR issue-type code (http://hl7.org/fhir/issue-type).
type Code string

const (
	CodeInvalid       Code = "invalid"
	CodeStructure     Code = "structure"
	CodeRequired      Code = "required"
	CodeValue         Code = "value"
	CodeInvariant     Code = "invariant"
	CodeSecurity      Code = "security"
	CodeLogin         Code = "login"
	CodeExpired       Code = "expired"
	CodeForbidden     Code = "forbidden"
	CodeProcessing    Code = "processing"
	CodeNotSupported  Code = "not-supported"
	CodeDuplicate     Code = "duplicate"
	CodeNotFound      Code = "not-found"
	CodeTooLong       Code = "too-long"
	CodeTooCostly     Code = "too-costly"
	CodeThrottled     Code = "throttled"
	CodeTransient     Code = "transient"
	CodeTimeout       Code = "timeout"
	CodeException     Code = "exception"
	CodeBusinessRule  Code = "business-rule"
	CodeConflict      Code = "conflict"
	CodeInformational Code = "informational"
)

// Issue is one OperationOutcome.issue.
type Issue struct {
	Severity    Severity `json:"severity"`
	Code        Code     `json:"code"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	// Expression holds FHIRPath locations of the problem, when it has one.
	Expression []string `json:"expression,omitempty"`
}

// OperationOutcome is the FHIR resource. Only the elements Gatehouse emits
// are modelled.
type OperationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []Issue `json:"issue"`
}

// New returns an OperationOutcome with one issue of severity error.
func New(code Code, diagnostics string) *OperationOutcome {
	return &OperationOutcome{
		ResourceType: "OperationOutcome",
		Issue:        []Issue{{Severity: Error, Code: code, Diagnostics: diagnostics}},
	}
}

// FromIssues returns an OperationOutcome holding issues. An empty list
// becomes a single informational "all ok" issue, because FHIR requires at
// least one issue.
func FromIssues(issues []Issue) *OperationOutcome {
	if len(issues) == 0 {
		issues = []Issue{{Severity: Information, Code: CodeInformational, Diagnostics: "all ok"}}
	}
	return &OperationOutcome{ResourceType: "OperationOutcome", Issue: issues}
}

// HasErrors reports whether any issue is of severity error or fatal.
func (o *OperationOutcome) HasErrors() bool {
	for _, is := range o.Issue {
		if is.Severity == Error || is.Severity == Fatal {
			return true
		}
	}
	return false
}

// Marshal returns the JSON encoding. Encoding a value of this type cannot
// fail, so a failure is a programming error and panics.
func (o *OperationOutcome) Marshal() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Keep <, > and & readable: the body is JSON for API clients, not HTML.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(o); err != nil {
		panic("outcome: marshal: " + err.Error())
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// ContentType is the media type of FHIR JSON responses.
const ContentType = "application/fhir+json; charset=utf-8"

// Write sends o with the given HTTP status and returns the bytes written as
// the body, so that callers can record exactly what the client received.
func Write(w http.ResponseWriter, status int, o *OperationOutcome) []byte {
	body := o.Marshal()
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return body
}
