package payer

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirjson"
	"github.com/gatehouse-health/gatehouse/internal/httpbody"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
	"github.com/gatehouse-health/gatehouse/internal/pas"
)

// readBody applies the intake every POST shares: a FHIR JSON media type
// (415 otherwise), the body cap (413) and the strict JSON rules of
// fhirjson (400). On failure it has written the OperationOutcome.
//
// A request the gateway hands over in process, after its own JSON intake
// and strict validation accepted the body, carries the body in its context
// (fhirjson.WithCheckedObject). When the gateway's limits imply this
// service's, readBody returns those bytes, and neither copies them nor
// checks them again. Every other request, from a client on the listener
// or from the gateway with strict mode off, is read and checked here.
func (s *Service) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if !fhirJSON(r.Header.Get("Content-Type")) {
		fail(w, http.StatusUnsupportedMediaType, outcome.CodeNotSupported,
			"the body must be FHIR JSON: Content-Type application/fhir+json or application/json, charset utf-8 if given")
		return nil, false
	}
	if r.ContentLength > s.maxBody {
		failTooLarge(w, s.maxBody)
		return nil, false
	}
	limits := fhirjson.DefaultLimits
	limits.MaxBytes = s.maxBody
	if body, ok := fhirjson.CheckedObject(r.Context(), limits); ok && int64(len(body)) == r.ContentLength {
		return body, true
	}

	// A presized read: io.ReadAll would copy the body as its buffer grows.
	body, err := httpbody.Read(http.MaxBytesReader(w, r.Body, s.maxBody), r.ContentLength, s.maxBody)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		failTooLarge(w, s.maxBody)
		return nil, false
	case err != nil:
		fail(w, http.StatusBadRequest, outcome.CodeStructure, "the request body could not be read")
		return nil, false
	}

	if err := fhirjson.CheckObject(body, limits); err != nil {
		// fhirjson errors name an offset and a rule, never content.
		fail(w, http.StatusBadRequest, outcome.CodeStructure, err.Error())
		return nil, false
	}
	return body, true
}

// fhirJSON reports whether a Content-Type names FHIR JSON. A charset
// parameter must be UTF-8; the FHIR fhirVersion parameter must be 4.0.
func fhirJSON(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || (mt != "application/fhir+json" && mt != "application/json") {
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false
	}
	if v, ok := params["fhirversion"]; ok && v != "4.0" {
		return false
	}
	return true
}

func failTooLarge(w http.ResponseWriter, limit int64) {
	fail(w, http.StatusRequestEntityTooLarge, outcome.CodeTooLong,
		"the request body is larger than "+strconv.FormatInt(limit, 10)+" bytes")
}

// failBundle writes the response to a pas parse error: 422 for a business
// rule, 400 otherwise, with the error's location as the issue expression.
func failBundle(w http.ResponseWriter, err error) {
	var be *pas.BundleError
	if !errors.As(err, &be) {
		fail(w, http.StatusBadRequest, outcome.CodeInvalid, "the Bundle is not a valid PAS Bundle")
		return
	}
	status, code := http.StatusBadRequest, outcome.CodeInvalid
	if errors.Is(err, pas.ErrBusinessRule) {
		status, code = http.StatusUnprocessableEntity, outcome.CodeBusinessRule
	}
	fail(w, status, code, be.Reason, be.Path)
}

// fail is the one path by which the service refuses a request: it sets
// the status and writes an OperationOutcome with one error issue.
func fail(w http.ResponseWriter, status int, code outcome.Code, diagnostics string, expression ...string) {
	oo := outcome.New(code, diagnostics)
	oo.Issue[0].Expression = expression
	w.Header().Set("Cache-Control", "no-store")
	outcome.Write(w, status, oo)
}

// writeFHIR sends a FHIR JSON resource with status 200.
func writeFHIR(w http.ResponseWriter, body []byte) {
	writeFHIRHeader(w, len(body))
	_, _ = w.Write(body)
}

// writeFHIRString is writeFHIR for a resource held as a string.
func writeFHIRString(w http.ResponseWriter, body string) {
	writeFHIRHeader(w, len(body))
	_, _ = io.WriteString(w, body)
}

func writeFHIRHeader(w http.ResponseWriter, length int) {
	h := w.Header()
	h.Set("Content-Type", outcome.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(length))
	w.WriteHeader(http.StatusOK)
}
