package gateway

import (
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirjson"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// strictApplies reports whether strict mode covers this exchange.
func (g *Gateway) strictApplies(ex *exchange) bool {
	return g.opts.Strict != nil && ex.partner != nil && ex.partner.Strict && ex.fhir != nil &&
		!ex.partner.StrictSkip[ex.fhir.Describe()]
}

// strictChecker returns the checker for the exchange's partner: its own
// when set, otherwise Options.Strict.
func (g *Gateway) strictChecker(ex *exchange) StrictChecker {
	if ex.partner != nil && ex.partner.StrictChecker != nil {
		return ex.partner.StrictChecker
	}
	return g.opts.Strict
}

// checkConformance refuses a request body that does not conform to FHIR R4
// and the interaction's profiles, with the validator's issues.
func (g *Gateway) checkConformance(ex *exchange) *Refusal {
	if !g.strictApplies(ex) || len(ex.body) == 0 || isSearch(ex.fhir) {
		return nil
	}
	oo, err := g.strictChecker(ex).CheckRequest(ex.fhir.Describe(), ex.body)
	if err != nil {
		g.log.Error("strict mode could not validate a request", "exchange", ex.entry.ExchangeID, "error", err)
		return &Refusal{Status: http.StatusInternalServerError, Code: "exception", Rule: "strict.unavailable",
			Message: "the request could not be validated; it was not forwarded"}
	}
	if oo != nil {
		msg := "the request body does not conform to the profiles of " + ex.fhir.Describe() + "; it was not forwarded"
		issues := append([]outcome.Issue{{Severity: outcome.Error, Code: outcome.CodeInvalid, Diagnostics: msg}}, oo.Issue...)
		return &Refusal{Status: http.StatusUnprocessableEntity, Code: "invalid", Rule: "strict.request",
			Message: msg, Outcome: outcome.FromIssues(issues)}
	}
	ex.conformed = true
	return nil
}

// checkResponse decides whether an upstream response may be released. The
// upstream's own redirects, bodies that are not FHIR JSON, and, in strict
// mode, bodies that do not conform are turned into 502; the original stays
// in the record. Strict mode checks a successful body against the
// interaction's profiles and any other body as an R4 OperationOutcome, so
// an error status carries no other resource past it. A successful
// response of an operation with a response profile must have a body.
// Its resource type, and for a read its id, must fit the interaction. A
// 304 without a body, in response to a conditional read, is released.
func (g *Gateway) checkResponse(ex *exchange, status int, header http.Header, body []byte) *Refusal {
	if status == http.StatusNotModified && len(body) == 0 && isConditionalRead(ex.r) {
		return nil
	}
	if status >= 300 && status < 400 {
		return &Refusal{Status: http.StatusBadGateway, Code: "exception", Rule: "upstream.redirect",
			Message: "the upstream returned a redirect, which is not passed on"}
	}
	if len(body) > 0 && !isFHIRJSONResponse(header.Get("Content-Type")) {
		return &Refusal{Status: http.StatusBadGateway, Code: "exception", Rule: "upstream.media-type",
			Message: "the upstream returned a body that is not FHIR JSON"}
	}
	if !g.strictApplies(ex) {
		return checkResponseJSON(body)
	}
	if len(body) == 0 {
		if status >= 200 && status < 300 && g.strictChecker(ex).RequiresResponseBody(ex.fhir.Describe()) {
			msg := "the upstream responded to " + ex.fhir.Describe() + " with no body, but its profile requires one, so nothing was released"
			return &Refusal{Status: http.StatusBadGateway, Code: "exception", Rule: "strict.response", Message: msg}
		}
		return nil
	}
	var oo *outcome.OperationOutcome
	var err error
	if status >= 200 && status < 300 {
		oo, err = g.strictChecker(ex).CheckResponse(ex.fhir.Describe(), body)
	} else {
		oo, err = g.strictChecker(ex).CheckErrorResponse(body)
	}
	if err != nil {
		g.log.Error("strict mode could not validate a response", "exchange", ex.entry.ExchangeID, "error", err)
		return &Refusal{Status: http.StatusBadGateway, Code: "exception", Rule: "strict.unavailable",
			Message: "the upstream response could not be validated, so it was not released"}
	}
	if oo != nil {
		issues := append([]outcome.Issue{{Severity: outcome.Error, Code: outcome.CodeException,
			Diagnostics: "the upstream response does not conform to the profiles of " + ex.fhir.Describe() + "; it was not released"}}, oo.Issue...)
		return &Refusal{Status: http.StatusBadGateway, Code: "exception", Rule: "strict.response",
			Message: issues[0].Diagnostics, Outcome: outcome.FromIssues(issues)}
	}
	if status >= 200 && status < 300 {
		return checkResponseType(ex, body)
	}
	return nil
}

// checkResponseJSON applies the JSON intake to a body strict mode does
// not check. The partner then never receives bytes the upstream labelled
// FHIR JSON that are not one well-formed JSON object, such as a
// compressed body sent without Content-Encoding, or one cut short by a
// Content-Length below its size.
func checkResponseJSON(body []byte) *Refusal {
	if len(body) == 0 {
		return nil
	}
	lim := fhirjson.Limits{MaxBytes: int64(len(body)), MaxDepth: fhirjson.DefaultLimits.MaxDepth, MaxStringLength: len(body)}
	if err := fhirjson.CheckObject(body, lim); err != nil {
		return &Refusal{Status: http.StatusBadGateway, Code: "exception", Rule: "upstream.json",
			Message: "the upstream returned a body that is not well-formed JSON, so it was not released"}
	}
	return nil
}

// isConditionalRead reports whether r is a read to which the upstream may
// respond with 304 Not Modified.
func isConditionalRead(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != ""
}

// isFHIRJSONResponse accepts the FHIR JSON media types with no charset
// other than UTF-8 and no FHIR version other than R4's. Strict mode reads
// the body as UTF-8 R4, so a body labelled otherwise could be read
// differently at the partner. Other parameters are allowed, because the
// partner receives the label canonicalJSONType makes, without them.
func isFHIRJSONResponse(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/fhir+json" && mt != "application/json") {
		return false
	}
	for _, k := range []string{"charset", "fhirversion"} {
		if v, ok := params[k]; ok && !servedParameter(k, v) {
			return false
		}
	}
	return true
}

// rewriteLocation maps a Location header from the upstream's base to the
// gateway's own path, and returns "" for one that points anywhere else or
// is not a resource or version location, [base]/Type/id or
// [base]/Type/id/_history/vid. The record does not contain the header, so
// a query or other path would let the target send data past it.
func rewriteLocation(loc string, t *target) string {
	u, err := url.Parse(loc)
	if err != nil {
		return ""
	}
	base := strings.TrimRight(t.base.Path, "/")
	if u.IsAbs() && (u.Scheme != t.base.Scheme || u.Host != t.base.Host) {
		return ""
	}
	rest, ok := strings.CutPrefix(u.Path, base+"/")
	if !ok || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || !isResourceLocation(rest) {
		return ""
	}
	return t.prefix + "/" + rest
}

// isResourceLocation reports whether path is Type/id or
// Type/id/_history/vid, with a known resource type and FHIR ids.
func isResourceLocation(path string) bool {
	segs := strings.Split(path, "/")
	if len(segs) != 2 && len(segs) != 4 {
		return false
	}
	if !fhirreq.IsResourceType(segs[0]) || !isFHIRID(segs[1]) {
		return false
	}
	return len(segs) == 2 || segs[2] == "_history" && isFHIRID(segs[3])
}
